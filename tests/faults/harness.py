"""The fault suite's parts: a hotline served on a real port, calls placed by the simulator,
a database that can be made to fail, and a tally of what every call left behind.

A call is *complete* when its report is routed and every recording Twilio made of it is
stored; a recording is *lost* when it is on no report's stored recordings once the system
has had its chance to recover (the sweep and the workers have run); a report, recording or
notice that exists twice for one call is *duplicated*.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
from flask import Flask
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url

from hotline.extensions import db
from hotline.models import Call, Event, Recording, Report
from hotline.simulator.call import CallResult, SimulatedCall
from hotline.simulator.callers import ScriptedCaller
from hotline.simulator.fake_twilio import FakeTwilio
from tests.conftest import ACCOUNT_SID, AUTH_TOKEN, SAFE_SCHOOLS

UTTERANCES = Path(__file__).resolve().parents[1] / "data" / "utterances"
# Every scenario's tally, printed at the end of the run (see conftest.py).
TALLIES: list[Tally] = []


@dataclass
class Tally:
    scenario: str
    placed: int = 0
    complete: int = 0
    lost: int = 0
    duplicated: int = 0
    notes: list[str] = field(default_factory=list)

    def line(self) -> str:
        return (
            f"{self.scenario:<44} calls placed {self.placed:>2}  complete {self.complete:>2}  "
            f"lost {self.lost}  duplicated {self.duplicated}"
        )


def place_safe_schools_call(
    app_url: str,
    fake: FakeTwilio,
    answers: int = 2,
    http: requests.Session | None = None,
    clips: list[Path] | None = None,
) -> CallResult:
    """An English Safe Schools call: topic 1 (weapons), `answers` recorded answers (or the
    given clips), district 2."""
    clips = clips or [UTTERANCES / f"u0{i + 1}.wav" for i in range(answers)]
    caller = ScriptedCaller(keys=["1", "-", "1", "2", "9", "#"], says=clips)
    call = SimulatedCall(app_url, AUTH_TOKEN, ACCOUNT_SID, SAFE_SCHOOLS, caller, fake, http=http)
    call.callback_retry_delay = 0.2
    return call.run()


def tally(app: Flask, scenario: str, results: list[CallResult]) -> Tally:
    """Count what the calls left behind; the caller's data is never read, only states."""
    found = Tally(scenario, placed=len(results))
    with app.app_context():
        session = db.session
        for result in results:
            made = set(result.recordings)
            report_ids = set(session.scalars(select(Call.report_id).where(Call.call_sid == result.call_sid)))
            rows = session.scalars(select(Recording).where(Recording.recording_sid.in_(made))).all() if made else []
            report_ids |= {r.report_id for r in rows}
            stored = {r.recording_sid for r in rows if r.fetch_state == "stored"}
            found.lost += len(made - stored)
            found.duplicated += max(0, len(report_ids) - 1)
            reports = [session.get(Report, rid) for rid in report_ids]
            routed = bool(reports) and all(r is not None and r.routed_at is not None for r in reports)
            if routed and stored == made:
                found.complete += 1
            elif made - stored:
                found.notes.append(f"{result.call_sid}: {sorted(made - stored)} not stored")
        found.duplicated += _twice_stored(session, [s for r in results for s in r.recordings])
    TALLIES.append(found)
    return found


def _twice_stored(session: Any, recording_sids: list[str]) -> int:
    """Recordings stored (or deleted at Twilio) more than once, from the timeline."""
    extra = 0
    for kind in ("recording_stored", "recording_deleted_at_twilio"):
        events = session.scalars(select(Event.detail).where(Event.kind == kind)).all()
        sids = [e.get("recording_sid") for e in events if e.get("recording_sid") in recording_sids]
        extra += len(sids) - len(set(sids))
    return extra


class TcpProxy:
    """A TCP relay to a database server that can refuse connections, like a server that is
    down: `refuse()` closes the listening port and cuts every open connection."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        self.port = probe.getsockname()[1]
        probe.close()
        self._listener: socket.socket | None = None
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()

    def accept(self) -> None:
        """Listen (again) on the same port."""
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._serve, args=(listener,), daemon=True).start()

    def refuse(self) -> None:
        """Stop listening and cut every relayed connection."""
        if self._listener is not None:
            # shutdown() wakes the thread blocked in accept(); close() alone would not.
            try:
                self._listener.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self._listener.close()
            self._listener = None
        with self._lock:
            conns, self._conns = self._conns, []
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            conn.close()

    def _serve(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=_pipe, args=(a, b), daemon=True).start()


def _pipe(source: socket.socket, sink: socket.socket) -> None:
    try:
        while chunk := source.recv(65536):
            sink.sendall(chunk)
    except OSError:
        pass
    finally:
        for s in (source, sink):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


@contextmanager
def sqlite_write_lock(database_url: str) -> Iterator[None]:
    """Hold SQLite's write lock from another connection, as a long migration or backup would."""
    engine = create_engine(database_url, connect_args={"timeout": 1})
    conn = engine.raw_connection()
    try:
        conn.execute("BEGIN IMMEDIATE")  # type: ignore[attr-defined]
        yield
    finally:
        conn.rollback()
        conn.close()
        engine.dispose()


@contextmanager
def postgres_table_lock(database_url: str) -> Iterator[None]:
    """Hold an ACCESS EXCLUSIVE lock on the call tables, as a long migration would."""
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            conn.execute(text("LOCK TABLE calls, reports, recordings IN ACCESS EXCLUSIVE MODE"))
            try:
                yield
            finally:
                conn.rollback()
    finally:
        engine.dispose()


def is_postgres(database_url: str) -> bool:
    return make_url(database_url).get_backend_name() == "postgresql"


def via_proxy(database_url: str, proxy: TcpProxy) -> str:
    url = make_url(database_url).set(host="127.0.0.1", port=proxy.port)
    return url.render_as_string(hide_password=False)
