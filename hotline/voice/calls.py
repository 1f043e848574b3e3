"""Read and write call state and report data for the voice webhooks."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any, cast

from sqlalchemy import CursorResult, bindparam, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from hotline.flows.engine import TRANSFER, CallState, Effect
from hotline.flows.followup import CB_REPORT
from hotline.models import Call, Event, Recording, Report
from hotline.reports import events
from hotline.states import TERMINAL_CALL_STATUSES as TERMINAL_CALL_STATUSES
from hotline.states import URGENCY_RANK as URGENCY_RANK
from hotline.states import EventKind, FetchState, RecordingStatus, Urgency, rank_of
from hotline.twilio_params import whole_number
from hotline.voice import callback


def new_tip_number() -> str:
    """Return a random 8-digit tip number (not sequential, so it cannot be guessed)."""
    return str(10_000_000 + secrets.randbelow(90_000_000))


# Statements every webhook runs are built once, with bound parameters: building and
# coercing a select() per request cost about a quarter of its execution (measured ~45 us).
_FIND_CALL = select(Call).where(Call.call_sid == bindparam("sid"))
_FIND_RECORDING = select(Recording).where(Recording.recording_sid == bindparam("sid"))


def find_call(session: Session, call_sid: str) -> Call | None:
    return session.scalar(_FIND_CALL, {"sid": call_sid})


def create_call(session: Session, call_sid: str, hotline_id: str, start_step: str) -> Call:
    """Create the report and the call row for a new call; tip numbers are retried on a clash."""
    for _ in range(5):
        report = Report(hotline_id=hotline_id, tip_number=new_tip_number(), keypad={}, categories=[])
        call = Call(call_sid=call_sid, hotline_id=hotline_id, step=start_step, report=report, flags={})
        session.add(call)
        try:
            session.flush()
            return call
        except IntegrityError:
            session.rollback()
            existing = find_call(session, call_sid)
            if existing is not None:
                return existing  # the same CallSid arrived twice at once
    raise RuntimeError("could not allocate a unique tip number")


def state_of(call: Call) -> CallState:
    """Copy a call row into the engine's state object."""
    report = call.report
    return CallState(
        step=call.step,
        turn=call.turn,
        language=call.language,
        retries=call.retries,
        mode=call.mode,
        phase=call.phase,
        return_step=call.return_step,
        pending=call.pending,
        tip_number=report.tip_number,
        answers=dict(report.keypad),
        flags=dict(call.flags),
    )


def save_state(call: Call, state: CallState) -> None:
    """Copy the engine's state back onto the call and report rows."""
    call.step, call.turn, call.retries = state.step, state.turn, state.retries
    call.language, call.mode, call.phase = state.language, state.mode, state.phase
    call.return_step, call.pending = state.return_step, state.pending
    if state.flags != call.flags:
        call.flags = dict(state.flags)
    if state.flags.get(CB_REPORT):
        # A call back belongs to an earlier report: its keypad, language, urgency and
        # categories are that report's own, never this call's.
        return
    report = call.report
    if state.language and report.language != state.language:
        report.language = state.language
    if state.answers != report.keypad:
        report.keypad = dict(state.answers)
    urgency = state.flags.get("urgency")
    if urgency in URGENCY_RANK and URGENCY_RANK[urgency] > rank_of(report.urgency):
        report.urgency = urgency
    category = state.flags.get("category")
    if category and category not in report.categories:
        report.categories = [*report.categories, category]


def apply_effects(session: Session, call: Call, effects: list[Effect], params: dict[str, str]) -> None:
    """Write what the engine reported: timeline events, the PIN hash, recordings."""
    for effect in effects:
        if effect.kind == "called_back":
            callback.move_to(session, call, effect.detail["report_id"], messages_allowed=effect.detail["messages"])
        elif effect.kind == "messages_heard":
            callback.heard(session, call, list(effect.detail["ids"]))
        elif effect.kind == "secret":
            call.report.pin_hash = effect.detail["hash"]
            events.record(session, call.report_id, EventKind.PIN_SET, key=effect.detail["key"])
        elif effect.kind == "recording":
            upsert_recording(session, call.report_id, effect.detail["key"], params)
            events.record(
                session,
                call.report_id,
                EventKind.ANSWER_RECORDED,
                question=effect.detail["key"],
                recording_sid=params.get("RecordingSid"),
            )
        else:
            # The engine's other effects are timeline events of the same name.
            events.record(session, call.report_id, EventKind(effect.kind), **effect.detail)


def upsert_recording(session: Session, report_id: int, question: str, params: dict[str, str]) -> Recording:
    """Create or update a recording row from a <Record> action or a status callback."""
    sid = params["RecordingSid"]
    duration = whole_number(params.get("RecordingDuration"))
    facts: dict[str, Any] = {}
    if duration is not None and duration >= 0:
        facts["duration"] = duration
    if params.get("RecordingUrl"):
        facts["media_url"] = params["RecordingUrl"][:500]
    recording = find_recording(session, sid)
    if recording is None:
        # Inserted with what this request knows: no UPDATE right after the INSERT.
        recording = _insert_recording(
            session, {"recording_sid": sid, "report_id": report_id, "question": question, **facts}
        )
    for name, value in facts.items():
        if getattr(recording, name) != value:
            setattr(recording, name, value)
    return recording


def find_recording(session: Session, recording_sid: str) -> Recording | None:
    return session.scalar(_FIND_RECORDING, {"sid": recording_sid})


def _insert_recording(session: Session, values: dict[str, Any]) -> Recording:
    """Insert a recording row, or take the one a concurrent request inserted first.

    The <Record> action and the recordingStatusCallback for one RecordingSid often arrive
    together; both may find no row and insert. ON CONFLICT DO NOTHING on the SID lets the
    loser carry on with the winner's row, the rest of its transaction (the call's state, a
    `completed` status) intact; any other constraint still fails. One statement instead of
    a savepoint around an ORM flush.
    """
    stmt = (
        _dialect_insert(session)(Recording)
        .values(**values)
        .on_conflict_do_nothing(index_elements=[Recording.recording_sid])
        .returning(Recording)
    )
    recording = session.scalars(stmt).one_or_none()
    if recording is None:
        recording = find_recording(session, values["recording_sid"])
        if recording is None:  # pragma: no cover - a conflict means the row exists
            raise RuntimeError(f"recording {values['recording_sid']} conflicted but is not there")
    return recording


def _dialect_insert(session: Session) -> Callable[..., Any]:
    """The INSERT construct with ON CONFLICT for the database in use (SQLite or PostgreSQL)."""
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert
    return sqlite.insert


def mark_recording(session: Session, recording: Recording, status: str, error_code: str | None) -> bool:
    """Move a recording to a callback's status; return False if that changes nothing.

    A conditional UPDATE, not read-then-write: of two duplicate callbacks running at once
    only one changes the row, so only that one writes the event and enqueues the fetch.
    A completed recording stays completed: a late absent or failed cannot undo it.
    """
    params: dict[str, Any] = {"rid": recording.id}
    if status == RecordingStatus.COMPLETED:
        stmt = _COMPLETE_RECORDING
    else:
        stmt = _FAIL_RECORDING
        params.update(new_status=status, code=error_code)
    result = cast("CursorResult[Any]", session.execute(stmt, params))
    return result.rowcount == 1


# Built once (see _FIND_CALL). Nothing reads the row's status back in the request, so the
# session's copy needs no synchronising.
_COMPLETE_RECORDING = (
    update(Recording)
    .where(Recording.id == bindparam("rid"), Recording.status != RecordingStatus.COMPLETED)
    .values(status=RecordingStatus.COMPLETED, fetch_state=FetchState.PENDING)
    .execution_options(synchronize_session=False)
)
_FAIL_RECORDING = (
    update(Recording)
    .where(
        Recording.id == bindparam("rid"), Recording.status.not_in([bindparam("new_status"), RecordingStatus.COMPLETED])
    )
    .values(status=bindparam("new_status"), error_code=bindparam("code"))
    .execution_options(synchronize_session=False)
)


def _transfer_live(session: Session, call: Call, turn: int) -> bool:
    """Whether the transfer wave of `turn` is still ringing; takes the call row's write lock.

    The conditional no-op UPDATE both checks and locks (SQLite and PostgreSQL alike), so of
    two twin requests the second waits, then sees the first one's event and adds none.
    """
    live = cast(
        "CursorResult[Any]",
        session.execute(
            update(Call)
            .where(Call.id == call.id, Call.mode == TRANSFER, Call.turn == turn)
            .values(mode=Call.mode)
            .execution_options(synchronize_session=False)
        ),
    )
    return live.rowcount == 1


def _details(session: Session, call: Call, kind: EventKind) -> list[dict[str, Any]]:
    rows = session.scalars(select(Event.detail).where(Event.report_id == call.report_id, Event.kind == kind))
    return [detail for detail in rows if _of_call(detail, call)]


def _of_call(detail: dict[str, Any], call: Call) -> bool:
    """Whether a transfer event is this call's: a report called back has more than one call,
    and their turn numbers overlap. An event naming no call is the report's first call's."""
    owner = detail.get("call")
    return owner == call.id if owner is not None else not callback.is_call_back(call)


def note_transfer_answered(session: Session, call: Call, turn: int) -> bool:
    """Record once that a dispatcher accepted the transfer of `turn`, while it is live."""
    if not _transfer_live(session, call, turn):
        return False  # a late request: that transfer is over
    if any(detail.get("turn") == turn for detail in _details(session, call, EventKind.TRANSFER_ANSWERED)):
        return False
    events.record(session, call.report_id, EventKind.TRANSFER_ANSWERED, turn=turn, call=call.id)
    return True


def note_transfer_picked_up(session: Session, call: Call, turn: int, position: int, machine: bool) -> bool:
    """Record once that the phone at `position` of the group picked up in the wave of `turn`.

    Twilio hangs up the wave's other phones at that moment, so if this one does not accept
    (a voicemail, a dispatcher who lets the announcement time out) the dial webhook knows
    whom to count as tried and whom to ring again. The position, never the number, is kept.
    """
    if not _transfer_live(session, call, turn):
        return False
    noted = _details(session, call, EventKind.TRANSFER_PICKED_UP)
    if any(d.get("turn") == turn and d.get("position") == position for d in noted):
        return False
    events.record(
        session,
        call.report_id,
        EventKind.TRANSFER_PICKED_UP,
        turn=turn,
        position=position,
        machine=machine,
        call=call.id,
    )
    return True


def wave_outcome(session: Session, call: Call, turn: int) -> tuple[set[int], bool]:
    """The phones that picked up in the wave of `turn`, and whether a dispatcher accepted."""
    rows = session.execute(
        select(Event.kind, Event.detail).where(
            Event.report_id == call.report_id,
            Event.kind.in_((EventKind.TRANSFER_PICKED_UP, EventKind.TRANSFER_ANSWERED)),
        )
    )
    picked: set[int] = set()
    accepted = False
    for kind, detail in rows:
        if detail.get("turn") != turn or not _of_call(detail, call):
            continue
        if kind == EventKind.TRANSFER_ANSWERED:
            accepted = True
        elif isinstance(detail.get("position"), int):
            picked.add(detail["position"])
    return picked, accepted


# A report whose caller never went through the flow (a message taken after a technical
# problem, a recording recovered from Twilio) has no keypad choices to rank it: nobody knows
# what it holds, so it is treated as at least high (PREA's usual level) until classified.
WITHOUT_FLOW_URGENCY = Urgency.HIGH


def without_flow(session: Session, call: Call, kind: EventKind) -> None:
    """Mark a call whose flow never ran: ended here, at least high urgency, one event."""
    call.mode = "ended"
    report = call.report
    if rank_of(report.urgency) < WITHOUT_FLOW_URGENCY.rank:
        report.urgency = WITHOUT_FLOW_URGENCY
    events.record(session, call.report_id, kind)
