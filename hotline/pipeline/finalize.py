"""Finalizing a report: once it is complete, classify it and route it to its agencies;
when a transcript or a tipster's reply lands after routing, re-classify it; when the
tipster added information, open a new round of notices once it is in; then queue notices.

A phone report is complete when its call and recordings have settled; a web report
(channel "web") at once: its written answers are classified directly, no transcription.
Run by the finalize job (workers.reports.finalize_report), queued after each recording
settles, after the tipster adds information, and by the sweep; safe to repeat.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select

from hotline.extensions import db, runtime
from hotline.followup import news
from hotline.models import Assignment, Call, Event, Recording, Report, TipsterMessage, utcnow
from hotline.pipeline.assign import assign, deadline
from hotline.pipeline.classify import classify
from hotline.pipeline.delivery import enqueue_notify, plan
from hotline.pipeline.services import services_of
from hotline.reports import events
from hotline.reports.service import SETTLED
from hotline.states import (
    Channel,
    EventKind,
    FetchState,
    MessageDirection,
    RecordingStatus,
    TranscriptState,
    Urgency,
)
from hotline.storage.keys import transcript_aad


def is_complete(
    report: Report, recordings: list[Recording], grace: timedelta, now: datetime, since: datetime | None = None
) -> bool:
    """A report is complete when the call has ended and every recording has settled.

    `since` (default: the end of the call) is when the grace below starts: for information
    added on a call back, the end of that call.

    Twilio can send a recording's callback after the call's final status: a recording still
    in progress holds the report back for `grace` after the call ended, then it is routed
    on what there is (a recording landing later re-classifies it, see finalize).
    A recording Twilio will not hand over yet (an outage, retried for days) holds the report
    for the same grace, and a critical one not at all: its deadline matters more than the
    audio. It is routed marked "awaiting audio"; the audio, when it comes, re-classifies it.
    """
    start = since or report.call_ended_at
    if start is None:
        return False
    for rec in recordings:
        if rec.status == RecordingStatus.IN_PROGRESS:
            if now < start + grace:
                return False
            continue
        if rec.status != RecordingStatus.COMPLETED:
            continue  # absent or failed at Twilio: nothing to fetch
        if awaiting_twilio(rec):
            if report.urgency != Urgency.CRITICAL and now < start + grace:
                return False
            continue
        if rec.fetch_state not in SETTLED:
            return False
        if rec.fetch_state == FetchState.STORED and rec.transcript_state == TranscriptState.NONE:
            return False
    return True


def awaiting_twilio(rec: Recording) -> bool:
    """A completed recording whose download keeps failing transiently (Twilio unreachable)."""
    return rec.status == RecordingStatus.COMPLETED and rec.fetch_state not in SETTLED and rec.failing_since is not None


def unclassified(rec: Recording) -> bool:
    """A readable transcript not yet taken into its report's classification."""
    return rec.transcript_state == TranscriptState.DONE and rec.classified_at is None and rec.shredded_at is None


def news_settled(report: Report, recordings: list[Recording], grace: timedelta, now: datetime) -> bool:
    """Whether the information the tipster added is all in: text at once; a call back's
    recordings once the call back has ended and they are stored and transcribed (or given up).
    """
    if report.tipster_added_at is None:
        return False
    ends = list(db.session.execute(select(Call.ended_at).where(Call.report_id == report.id)).scalars())
    if any(end is None for end in ends):
        return False  # a call back still going on: more may come
    since = max([report.tipster_added_at, *(end for end in ends if end is not None)])
    return is_complete(report, recordings, grace, now, since=since)


def finalize(report_id: int) -> str:
    """Classify and route a complete report, re-classify it when a transcript or a reply
    lands late, open a round when the tipster added information, then queue its
    notifications (safe to repeat)."""
    report = db.session.get(Report, report_id)
    if report is None:
        return "missing"
    recordings = list(db.session.scalars(select(Recording).where(Recording.report_id == report_id)))
    cfg = runtime.get().settings
    now = utcnow()
    grace = timedelta(seconds=cfg.pipeline.recording_grace_seconds)
    if report.routed_at is None:
        web = report.channel == Channel.WEB
        if not web and not is_complete(report, recordings, grace, now):
            return "waiting"
        _classify(report, recordings, EventKind.CLASSIFIED, written=True)
        assign(db.session, cfg, report)
        waiting = [rec.recording_sid for rec in recordings if awaiting_twilio(rec)]
        if waiting:
            # Said on the timeline: routed before all its audio was in, not as if complete.
            events.record(db.session, report.id, EventKind.ROUTED_AWAITING_AUDIO, recordings=waiting)
    elif any(unclassified(rec) for rec in recordings) or _replies(report.id, _texts_through(report.id)):
        _reclassify(report, recordings, now)
    if news.pending(db.session, report) and news_settled(report, recordings, grace, now):
        # After re-classification: the round's deadline is that of the (possibly raised) urgency.
        news.open_round(db.session, cfg, report, now)
    assignments = list(db.session.scalars(select(Assignment).where(Assignment.report_id == report_id)))
    # Planned in the routing transaction: if Redis is down after the commit, the unsent
    # rows are what the sweep finds and sends.
    due = [a for a in assignments if plan(a)]
    db.session.commit()
    for assignment in due:
        enqueue_notify(assignment, report.urgency)
    return "routed"


def _replies(report_id: int, after: int) -> list[TipsterMessage]:
    """The tipster's replies with an id above `after`, oldest first."""
    return list(
        db.session.scalars(
            select(TipsterMessage)
            .where(
                TipsterMessage.report_id == report_id,
                TipsterMessage.direction == MessageDirection.FROM_TIPSTER,
                TipsterMessage.id > after,
            )
            .order_by(TipsterMessage.id)
        )
    )


def _texts_through(report_id: int) -> int:
    """The last reply already counted in a classification event (0: none).

    Replies have no "classified" mark of their own: the classification events say up to
    which reply they read. A reply read by a run that changed nothing (and so recorded no
    event) is read again later; classification only adds, so that gives the same result,
    and its keywords are counted in at most one event.
    """
    details = db.session.scalars(
        select(Event.detail).where(
            Event.report_id == report_id, Event.kind.in_((EventKind.CLASSIFIED, EventKind.RECLASSIFIED))
        )
    )
    return max((int(d.get("texts_through", 0)) for d in details if isinstance(d, dict)), default=0)


def _classify(report: Report, recordings: list[Recording], kind: EventKind, *, written: bool = False) -> bool:
    """Fold the transcripts and replies not yet classified into urgency and categories;
    True if changed. `written`: the web form's answers too (the first classification).

    Classification only adds: keypad choices and earlier results go in as the starting
    point, so reading only the new texts gives the same result as reading them all.
    """
    cfg = runtime.get().settings
    store = services_of().store
    fresh = [rec for rec in recordings if unclassified(rec)]
    language = report.language or "en"
    texts = [
        (language, store.get_decrypted(rec.transcript_key, transcript_aad(rec)).decode())
        for rec in fresh
        if rec.transcript_key
    ]
    if written and report.written:
        texts.extend((language, str(text)) for text in report.written.values() if text)
    replies = _replies(report.id, 0 if written else _texts_through(report.id))
    texts.extend((reply.language or language, reply.body) for reply in replies)
    result = classify(report.categories, report.urgency, texts, cfg.classification.keywords, cfg.classification.urgency)
    changed = (result.urgency, list(result.categories)) != (report.urgency, list(report.categories))
    report.urgency, report.categories = result.urgency, list(result.categories)
    now = utcnow()
    for rec in fresh:
        rec.classified_at = now
    if changed or kind == EventKind.CLASSIFIED:
        through = {"texts_through": replies[-1].id} if replies else {}
        events.record(
            db.session,
            report.id,
            kind,
            urgency=result.urgency,
            categories=list(result.categories),
            # How many, never which: the words are the caller's, and events are not encrypted.
            keywords_matched=sum(len(words) for words in result.matched.values()),
            **through,
        )
    return changed


def _reclassify(report: Report, recordings: list[Recording], now: datetime) -> None:
    """A transcript landed after routing: route to any agency it adds, tighten deadlines."""
    cfg = runtime.get().settings
    before = {a.agency_id: a for a in db.session.scalars(select(Assignment).where(Assignment.report_id == report.id))}
    if not _classify(report, recordings, EventKind.RECLASSIFIED):
        return
    # New assignments are due from now, at the new urgency (assign sets that).
    added = [a.agency_id for a in assign(db.session, cfg, report) if a.agency_id not in before]
    if added:
        events.record(db.session, report.id, EventKind.ROUTED, agencies=added, late=True)
    # Agencies already told keep their one notice; a report that became more urgent must
    # not wait out the old, longer deadline before escalating.
    sooner = now + deadline(cfg, report.urgency)
    for assignment in before.values():
        if assignment.acknowledged_at is None and assignment.due_at > sooner:
            assignment.due_at = sooner
