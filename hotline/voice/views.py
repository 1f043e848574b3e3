"""The voice webhooks. Views only look up state, call the engine and store what it says."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import replace

from flask import Blueprint, Response, abort, g, request
from sqlalchemy.orm import Session
from twilio.twiml.voice_response import VoiceResponse
from werkzeug.exceptions import HTTPException

from hotline.extensions import db, runtime
from hotline.flows.engine import CallState, Engine, Outcome
from hotline.flows.twiml import CALLBACK_OVERRIDES
from hotline.hotlines import Line
from hotline.jobs.declarations import FETCH, FINALIZE, ON_CALL
from hotline.models import Call
from hotline.ops.metrics import TWIML_ERRORS
from hotline.reports import service
from hotline.states import EventKind, RecordingStatus
from hotline.voice import callback, calls, recordings
from hotline.voice.callback import PhoneFollowup
from hotline.voice.privacy import scrub
from hotline.voice.safety import goodbye_twiml, not_in_service_twiml, salvage_twiml, thanks_twiml, unconfirmed_twiml
from hotline.voice.signature import is_signed, public_url_of

log = logging.getLogger(__name__)
bp = Blueprint("voice", __name__, url_prefix="/voice")

_SID = re.compile(r"^[A-Z]{2}[0-9a-fA-F]{32}$")
# Twilio's AnsweredBy values for a voicemail or fax ("human" and "unknown" hear the whisper).
MACHINE_ANSWERS = frozenset({"machine_start", "machine_end_beep", "machine_end_silence", "machine_end_other", "fax"})


# Callbacks that carry data and expect no TwiML: a failure must not be answered 200, or
# Twilio takes the data as delivered. A 5xx makes Twilio retry (see CALLBACK_OVERRIDES).
_DATA_CALLBACKS = frozenset({"voice.recording_status", "voice.call_status"})


def twiml(response: VoiceResponse) -> Response:
    return Response(response.to_xml(), mimetype="text/xml")


def no_content() -> Response:
    return Response(status=204)


@bp.before_request
def verify_twilio() -> Response | None:
    """Reject anything not signed by Twilio before it can touch state."""
    rt = runtime.get()
    form = request.form.to_dict(flat=True)
    url = public_url_of(request, rt.settings.public_url)
    # Callback URLs may carry connection overrides, which Twilio keeps to itself (see is_signed).
    fragment = CALLBACK_OVERRIDES if request.endpoint in _DATA_CALLBACKS else ""
    if not is_signed(rt.validator, url, form, request.headers.get("X-Twilio-Signature", ""), fragment):
        # Anyone can send this path: quoted and cut short, it can neither break a log line
        # into forged ones (console logs) nor flood the log.
        log.warning("rejected a voice request without a valid Twilio signature: %r", request.path[:200])
        return Response("invalid signature", status=403, mimetype="text/plain")
    # Identity fields leave here: nothing after this point can store or log them.
    g.params = scrub(form)
    return None


def _call_sid() -> str:
    sid = g.params.get("CallSid", "")
    if not _SID.match(sid):
        abort(400, "missing or malformed CallSid")
    return str(sid)


@bp.errorhandler(Exception)
def voice_error(exc: Exception) -> Response:
    """Log without caller identity, then still help the caller: 911 advice and a message."""
    if isinstance(exc, HTTPException):
        return Response(exc.description or exc.name, status=exc.code or 400, mimetype="text/plain")
    log.exception("voice webhook failed on %s (call %s)", request.path, g.get("params", {}).get("CallSid"))
    try:
        db.session.rollback()
    except Exception:  # noqa: BLE001 - the database may be the thing that failed
        log.warning("rollback failed after a voice error")
    if request.endpoint in _DATA_CALLBACKS:
        return Response("not stored; please retry", status=503, mimetype="text/plain")
    rt = runtime.get()
    line = rt.lines.by_number(g.get("params", {}).get("To", ""))
    TWIML_ERRORS.labels("error").inc()
    return twiml(salvage_twiml(rt.settings.public_url, line.config.id if line else None))


@bp.post("/incoming")
def incoming() -> Response:
    """Answer a new call on whichever hotline was dialled."""
    line = runtime.get().lines.by_number(g.params.get("To", ""))
    if line is None:
        log.warning("call to a number that is not a configured hotline: %s", g.params.get("To"))
        return twiml(not_in_service_twiml())
    sid = _call_sid()
    session = db.session
    call = calls.find_call(session, sid)
    if call is not None:  # Twilio retried the first request
        return _replay(call, line)
    call = calls.create_call(session, sid, line.config.id, line.flow.start)
    if call.turn:  # created concurrently by a twin request
        return _replay(call, line)
    state = calls.state_of(call)
    outcome = line.engine.start(state)
    return _finish(call, state, outcome)


def _finish(call: Call, state: CallState, outcome: Outcome) -> Response:
    xml = outcome.response.to_xml()
    calls.save_state(call, state)
    call.last_response = xml
    calls.apply_effects(db.session, call, outcome.effects, g.params)
    db.session.commit()
    return Response(xml, mimetype="text/xml")


def _replay(call: Call, line: Line) -> Response:
    """Answer a retried or out-of-order request with what we last said; change nothing."""
    if call.last_response:
        return Response(call.last_response, mimetype="text/xml")
    return twiml(line.engine.current(calls.state_of(call)))


def _line_of(call: Call) -> Line:
    line = runtime.get().lines.by_id(call.hotline_id)
    if line is None:
        raise RuntimeError(f"call {call.call_sid} belongs to hotline {call.hotline_id}, no longer configured")
    return line


@bp.post("/input/<int:turn>")
def caller_input(turn: int) -> Response:
    """Apply a key press, a recording or a fall-through for the current turn."""
    call = calls.find_call(db.session, _call_sid())
    if call is None:
        rt = runtime.get()
        hotline = rt.lines.by_number(g.params.get("To", ""))
        return twiml(salvage_twiml(rt.settings.public_url, hotline.config.id if hotline else None))
    line = _line_of(call)
    if turn != call.turn:
        # A recording such a request carries is stored from its status callback anyway.
        return _replay(call, line)
    state = calls.state_of(call)
    return _finish(call, state, _engine(line).handle_input(state, g.params))


def _engine(line: Line) -> Engine:
    """The line's engine with this request's database behind a call back (cheap to build)."""
    ctx = replace(line.engine.ctx, followup=PhoneFollowup(db.session, line.config.id))
    return Engine(ctx)


@bp.post("/dial/<int:turn>")
def dial_result(turn: int) -> Response:
    """Branch on DialCallStatus after a transfer to the dispatchers."""
    call = calls.find_call(db.session, _call_sid())
    if call is None:
        return twiml(goodbye_twiml())
    line = _line_of(call)
    if turn != call.turn:
        return _replay(call, line)
    state = calls.state_of(call)
    status = g.params.get("DialCallStatus", "")
    # Who picked up in this wave and whether they accepted: written by the whisper requests.
    picked_up, accepted = calls.wave_outcome(db.session, call, turn)
    outcome = line.engine.handle_dial(state, status, picked_up, accepted, caller_gone=call.ended_at is not None)
    response = _finish(call, state, outcome)
    if any(effect.kind == EventKind.TRANSFER_FAILED for effect in outcome.effects):
        # Nobody took the caller: wake the on-call person (after the commit, as always).
        ON_CALL.enqueue_now(ON_CALL.id(call.call_sid, turn), call.report_id)
    return response


@bp.post("/recording/<hotline_id>/<step_id>")
def recording_status(hotline_id: str, step_id: str) -> Response:
    """Store a recording's metadata; once completed, queue it for the pipeline."""
    rt = runtime.get()
    line = rt.lines.by_id(hotline_id)
    if line is None:
        abort(404, "unknown hotline")
    recording_sid = g.params.get("RecordingSid", "")
    if not _SID.match(recording_sid):
        abort(400, "missing or malformed RecordingSid")
    try:
        status = RecordingStatus(g.params.get("RecordingStatus", ""))
    except ValueError:
        abort(400, "unknown RecordingStatus")
    if status == RecordingStatus.IN_PROGRESS:
        return no_content()
    _call_sid()  # a callback without a well-formed CallSid is refused before any write
    done = recordings.record_status(db.session, line, step_id, status, g.params)
    db.session.commit()
    # Commit first, then enqueue: a job must find the rows it is given. If Redis is down,
    # the rows stay pending and the reconciler enqueues them later.
    if done.ended_here:
        FINALIZE.enqueue_now(FINALIZE.id(done.report_id, "call"), done.report_id)
    if done.fetch:
        FETCH.enqueue_now(FETCH.id(recording_sid), recording_sid, urgency=done.urgency)
    return no_content()


@bp.post("/status")
def call_status() -> Response:
    """Record the end of a call; repeated or late callbacks change nothing twice."""
    status = g.params.get("CallStatus", "")
    call = calls.find_call(db.session, _call_sid())
    if call is None or status not in calls.TERMINAL_CALL_STATUSES:
        return no_content()
    if service.end_call(db.session, call, status, g.params.get("CallDuration")):
        db.session.commit()
        report_id = call.report_id
        # A call back's report was finalized after its first call: a job id of its own.
        round_ = call.call_sid if callback.is_call_back(call) else "call"
        FINALIZE.enqueue_now(FINALIZE.id(report_id, round_), report_id)
    return no_content()


@bp.post("/whisper/<hotline_id>", defaults={"turn": None, "phone": None})
@bp.post("/whisper/<hotline_id>/<int:turn>", defaults={"phone": None})
@bp.post("/whisper/<hotline_id>/<int:turn>/<int:phone>")
def whisper(hotline_id: str, turn: int | None, phone: int | None) -> Response:
    """Private announcement for the dispatcher who answers: the hotline's name, never the caller."""
    line = runtime.get().lines.by_id(hotline_id)
    if line is None:
        abort(404, "unknown hotline")
    # Twilio's answering-machine detection (when the group enables it) names a voicemail.
    machine = g.params.get("AnsweredBy", "") in MACHINE_ANSWERS
    if turn is not None and phone is not None:
        _on_dispatcher_leg(
            hotline_id, lambda session, call: calls.note_transfer_picked_up(session, call, turn, phone, machine)
        )
    if machine:
        response = VoiceResponse()
        response.hangup()  # the dial webhook then rings the phones not yet tried
        return twiml(response)
    return twiml(line.engine.whisper(line.name, turn, phone))


@bp.post("/whisper/<hotline_id>/answer", defaults={"turn": None, "phone": None})
@bp.post("/whisper/<hotline_id>/<int:turn>/answer", defaults={"phone": None})
@bp.post("/whisper/<hotline_id>/<int:turn>/<int:phone>/answer")
def whisper_answer(hotline_id: str, turn: int | None, phone: int | None) -> Response:
    """Bridge the call when the dispatcher pressed 1; otherwise hang up their leg."""
    response = VoiceResponse()
    if g.params.get("Digits") != "1":
        response.hangup()
    elif turn is not None:  # URLs without a turn come from TwiML rendered before it existed
        _on_dispatcher_leg(hotline_id, lambda session, call: calls.note_transfer_answered(session, call, turn))
    return twiml(response)


def _on_dispatcher_leg(hotline_id: str, note: Callable[[Session, Call], bool]) -> None:
    """Note something on the caller's call from a request on a dispatcher's leg.

    Twilio names the caller's call in ParentCallSid. Nothing of the dispatcher's leg (their
    number is `To`) is stored. A failure here must not stop the whisper or the bridge, so it
    is logged and the dispatcher is still announced and connected.
    """
    parent = g.params.get("ParentCallSid", "")
    if not _SID.match(parent):
        log.warning("dispatcher leg without a ParentCallSid on %s; transfer not marked", request.path)
        return
    session = db.session
    try:
        call = calls.find_call(session, parent)
        if call is not None and call.hotline_id == hotline_id and note(session, call):
            session.commit()
        else:
            session.rollback()
    except Exception:  # whatever failed, the dispatcher must still be announced and bridged
        log.exception("could not mark the transfer of call %s on %s", parent, request.path)
        try:
            session.rollback()
        except Exception:  # noqa: BLE001 - the database may be the thing that failed
            log.warning("rollback failed on a dispatcher leg")


@bp.post("/salvage/<hotline_id>")
def salvage_done(hotline_id: str) -> Response:
    """Thank a caller whose message was taken by the error path; "received" only if it was.

    The <Record> action carries the message's RecordingSid and URL: the row is stored here,
    so the message is ours even if its status callback never comes (the sweep fetches a
    recording whose callback is overdue). If that fails too, the caller is told the message
    was recorded, which is true: Twilio holds it and the reconciler adopts it later.
    """
    line = runtime.get().lines.by_id(hotline_id)
    sid = g.params.get("RecordingSid", "")
    if line is None or not _SID.match(sid) or not _SID.match(g.params.get("CallSid", "")):
        return twiml(unconfirmed_twiml())
    session = db.session
    try:
        call = calls.find_call(session, g.params["CallSid"])
        ended_here = False
        if call is None:
            call, ended_here = recordings.salvaged_call(session, line, g.params["CallSid"])
        calls.upsert_recording(session, call.report_id, recordings.MESSAGE, g.params)
        report_id = call.report_id
        session.commit()
    except Exception:  # the database may still be failing: the caller must hear an answer
        log.exception("could not store the salvaged message of call %s", g.params.get("CallSid"))
        try:
            session.rollback()
        except Exception:  # noqa: BLE001
            log.warning("rollback failed after a salvaged message")
        return twiml(unconfirmed_twiml())
    if ended_here:
        FINALIZE.enqueue_now(FINALIZE.id(report_id, "call"), report_id)
    return twiml(thanks_twiml())


@bp.post("/fallback")
def fallback() -> Response:
    """Twilio's fallback URL: answer without touching the database."""
    rt = runtime.get()
    line = rt.lines.by_number(g.params.get("To", ""))
    log.error(
        "Twilio used the fallback URL: error %s on %s",
        g.params.get("ErrorCode", "?"),
        g.params.get("ErrorUrl", "?"),
    )
    TWIML_ERRORS.labels("fallback").inc()
    return twiml(salvage_twiml(rt.settings.public_url, line.config.id if line else None))
