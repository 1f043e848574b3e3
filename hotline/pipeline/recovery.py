"""The backstop for "every recording Twilio made reaches a report".

A recording can miss the database in two ways: its status callback never came or failed
(the row exists, stuck `in-progress`, with the URL its <Record> action gave), or nothing of
the call reached us at all (a database outage over the whole call). Twilio keeps every
recording until we delete it, and we delete one only after it is stored, so listing the
account's recordings finds everything still missing. This module repairs both cases; the
sweep runs it, and `flask reports recover` runs it on demand.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from hotline.hotlines import Lines
from hotline.models import Call, Recording, utcnow
from hotline.reports import events, service
from hotline.states import EventKind, FetchState, RecordingStatus
from hotline.twilio_api import TwilioApi, TwilioCall, TwilioError, TwilioRecording
from hotline.voice import callback, calls

log = logging.getLogger(__name__)

# Twilio's terminal call statuses; a call in any other state may still send its callbacks.
_ENDED = calls.TERMINAL_CALL_STATUSES
# The question a recovered recording answers: which <Record> made it is not knowable.
RECOVERED_QUESTION = "recovered"


@dataclass
class Recovered:
    """What a pass repaired, and the jobs to queue once it is committed."""

    adopted: int = 0  # recordings the database did not know at all
    completed: int = 0  # known recordings whose completed callback never came
    foreign: int = 0  # recordings of calls to numbers that are not hotlines: left alone
    fetch: list[tuple[str, str]] = field(default_factory=list)  # (recording SID, urgency)
    finalize: list[int] = field(default_factory=list)  # report ids whose call ended here

    @property
    def changed(self) -> int:
        return self.adopted + self.completed

    def add(self, other: Recovered) -> None:
        """Fold another pass's findings into this one."""
        self.adopted += other.adopted
        self.completed += other.completed
        self.foreign += other.foreign
        self.fetch += other.fetch
        self.finalize += other.finalize


def complete_overdue(session: Session, now: datetime, grace: timedelta) -> Recovered:
    """Treat as completed a recording whose <Record> action gave its URL long ago but whose
    completed callback never arrived. The action comes after the recording has ended, so by
    now Twilio has the media; a callback that arrives after all changes nothing."""
    found = Recovered()
    overdue = session.scalars(
        select(Recording).where(
            Recording.fetch_state == FetchState.WAITING,  # indexed; a row in progress is always waiting
            Recording.status == RecordingStatus.IN_PROGRESS,
            Recording.media_url.is_not(None),
            Recording.created_at < now - grace,
        )
    ).all()
    for rec in overdue:
        if calls.mark_recording(session, rec, RecordingStatus.COMPLETED, None):
            events.record(session, rec.report_id, EventKind.RECORDING_CALLBACK_MISSED, recording_sid=rec.recording_sid)
            found.completed += 1
            found.fetch.append((rec.recording_sid, service.urgency_of(session, rec.report_id)))
    session.commit()
    return found


def adopt_from_twilio(
    session: Session, lines: Lines, twilio: TwilioApi, since: datetime, now: datetime, grace: timedelta
) -> Recovered:
    """List Twilio's recordings created since `since` and bring each missing one into a report.

    Recordings younger than `grace` are left to their own callbacks. Each recording is
    committed on its own, so one failure does not undo the others; running this twice, or
    on two workers at once, adds nothing twice (the SIDs are unique, updates conditional).
    """
    found = Recovered()
    call_cache: dict[str, TwilioCall | None] = {}
    for item in twilio.list_recordings(since.date()):
        if item.status != RecordingStatus.COMPLETED or (item.created is not None and item.created > now - grace):
            continue
        try:
            _adopt(session, lines, twilio, item, call_cache, found)
            session.commit()
        except TwilioError as exc:
            # One call Twilio will not describe now must not hold up the recordings after it.
            session.rollback()
            log.warning("could not adopt recording %s yet: %s", item.sid, exc)
        except Exception:
            session.rollback()
            raise
    return found


def _adopt(
    session: Session,
    lines: Lines,
    twilio: TwilioApi,
    item: TwilioRecording,
    call_cache: dict[str, TwilioCall | None],
    found: Recovered,
) -> None:
    rec = calls.find_recording(session, item.sid)
    if rec is not None:
        if rec.status == RecordingStatus.COMPLETED:
            return  # ours, in the pipeline already
        if rec.media_url is None:
            rec.media_url = item.media_url
        if calls.mark_recording(session, rec, RecordingStatus.COMPLETED, None):
            events.record(session, rec.report_id, EventKind.RECORDING_CALLBACK_MISSED, recording_sid=item.sid)
            found.completed += 1
            found.fetch.append((item.sid, service.urgency_of(session, rec.report_id)))
        return
    call = calls.find_call(session, item.call_sid)
    if call is None:
        call = _recover_call(session, lines, twilio, item.call_sid, call_cache, found)
        if call is None:
            found.foreign += 1
            return
    params: dict[str, str] = {"RecordingSid": item.sid, "RecordingUrl": item.media_url}
    if item.duration is not None:
        params["RecordingDuration"] = str(item.duration)
    rec = calls.upsert_recording(session, call.report_id, RECOVERED_QUESTION, params)
    session.flush()
    if calls.mark_recording(session, rec, RecordingStatus.COMPLETED, None):
        events.record(
            session, call.report_id, EventKind.RECORDING_RECOVERED, recording_sid=item.sid, duration=item.duration
        )
        found.adopted += 1
        found.fetch.append((item.sid, call.report.urgency))
        # Made on a call back that has ended: the caller added information nobody announced.
        callback.added_late(session, call, rec)


def _recover_call(
    session: Session,
    lines: Lines,
    twilio: TwilioApi,
    call_sid: str,
    call_cache: dict[str, TwilioCall | None],
    found: Recovered,
) -> Call | None:
    """Make the report of a call the database never saw, from the number it dialled.

    Only `to` is read from Twilio's Call resource: the caller's number is never looked at.
    """
    if call_sid not in call_cache:
        call_cache[call_sid] = twilio.fetch_call(call_sid)
    remote = call_cache[call_sid]
    line = lines.by_number(remote.to) if remote is not None else None
    if remote is None or line is None:
        return None
    call = calls.create_call(session, call_sid, line.config.id, line.flow.start)
    if call.ended_at is None:
        calls.without_flow(session, call, EventKind.RECOVERED_CALL)
        if remote.status in _ENDED and service.end_call(session, call, remote.status, None):
            found.finalize.append(call.report_id)
    return call


def end_finished_calls(session: Session, twilio: TwilioApi, now: datetime, after: timedelta) -> Recovered:
    """Ask Twilio about calls still open here after `after`: one whose final status callback
    was lost would otherwise wait for the stale-call sweep (hours) before being routed.

    No transaction is open while Twilio is asked (on SQLite a write would hold the whole
    database's lock through every lookup, and a live caller's next webhook would fail), and
    each ended call is committed on its own.
    """
    found = Recovered()
    open_sids = session.scalars(
        select(Call.call_sid).where(Call.ended_at.is_(None), Call.started_at < now - after).order_by(Call.id).limit(200)
    ).all()
    session.rollback()
    for call_sid in open_sids:
        try:
            remote = twilio.fetch_call(call_sid)
        except TwilioError as exc:
            log.warning("could not ask Twilio about call %s: %s", call_sid, exc)
            continue
        if remote is None or remote.status not in _ENDED:
            continue
        call = calls.find_call(session, call_sid)
        if call is not None and service.end_call(session, call, remote.status, None):
            events.record(session, call.report_id, EventKind.CALL_END_RECOVERED)
            session.commit()
            found.finalize.append(call.report_id)
        else:
            session.rollback()
    return found


def window_start(now: datetime | None = None, days: int = 7) -> datetime:
    """The oldest creation date the reconciler lists (Twilio filters by whole days)."""
    return (now or utcnow()) - timedelta(days=days)
