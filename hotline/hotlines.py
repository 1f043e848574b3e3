"""Each configured hotline with its validated flow and the engine that runs it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from hotline.flows.engine import Context, Engine
from hotline.flows.loader import load_hotline_flows
from hotline.flows.model import Flow
from hotline.flows.twiml import Timing, Transfer, Urls
from hotline.settings import Hotline, Settings


@dataclass(frozen=True)
class Line:
    """A hotline as the webhooks see it."""

    config: Hotline
    flow: Flow
    engine: Engine

    @property
    def name(self) -> str:
        return self.config.name.get(self.flow.default_language) or next(iter(self.config.name.values()))


class Lines:
    """Look hotlines up by the number Twilio says was dialled, or by id."""

    def __init__(self, settings: Settings) -> None:
        flows = load_hotline_flows(Path(settings.flows_dir), settings.hotlines)
        timing = Timing(
            gather_timeout=settings.voice.gather_timeout,
            record_max_seconds=settings.voice.record_max_seconds,
            record_silence_timeout=settings.voice.record_silence_timeout,
        )
        self._by_id: dict[str, Line] = {}
        for hotline in settings.hotlines:
            group = settings.dispatcher_groups.get(hotline.dispatcher_group or "")
            transfer = None
            if group is not None and flows[hotline.id].dispatcher_key is not None:
                transfer = Transfer(
                    hotline.number, tuple(group.numbers), group.timeout, group.max_wait, group.machine_detection
                )
            ctx = Context(
                flow=flows[hotline.id],
                urls=Urls(settings.public_url, hotline.id),
                timing=timing,
                transfer=transfer,
                reprompts=settings.voice.reprompts,
            )
            self._by_id[hotline.id] = Line(hotline, flows[hotline.id], Engine(ctx))
        self._by_number = {line.config.number: line for line in self._by_id.values()}

    def by_number(self, number: str) -> Line | None:
        return self._by_number.get(number)

    def by_id(self, hotline_id: str) -> Line | None:
        return self._by_id.get(hotline_id)

    def __iter__(self) -> Iterator[Line]:
        return iter(self._by_id.values())
