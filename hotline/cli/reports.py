"""`flask reports ...`: export reports."""

from __future__ import annotations

import json

import click
from flask.cli import with_appcontext
from sqlalchemy import select

from hotline.auth import audit
from hotline.extensions import db
from hotline.jobs.declarations import FETCH
from hotline.jobs.recover import recover_recordings
from hotline.models import Recording, Report
from hotline.pipeline.assign import acknowledge
from hotline.reports.export import iter_reports
from hotline.reports.transcripts import read_transcript

# Report ids are INTEGER columns: 32-bit on PostgreSQL (hotline.review.access.MAX_ID).
MAX_REPORT_ID = 2**31 - 1


def find_report(ref: str) -> Report:
    """Find a report by number (42) or reference (R-2026-00042)."""
    digits = ref.rsplit("-", 1)[-1]
    # ASCII digits only: str.isdigit() also takes "²", which int() refuses.
    if not (digits.isascii() and digits.isdigit()):
        raise click.BadParameter(f"{ref!r} is not a report number or reference like R-2026-00042")
    # A number past the id column's range names nothing (handed to the database it fails).
    report = db.session.get(Report, int(digits)) if int(digits) <= MAX_REPORT_ID else None
    if report is None or (ref.startswith("R-") and report.reference != ref):
        raise click.BadParameter(f"no report {ref}")
    return report


@click.group("reports")
def reports_group() -> None:
    """Work with reports."""


@reports_group.command("export")
@click.option("--format", "fmt", type=click.Choice(["json", "jsonl"]), default="json")
@click.option("--transcripts/--no-transcripts", default=True, help="Include the decrypted transcripts (default: yes).")
@with_appcontext
def export_command(fmt: str, transcripts: bool) -> None:
    """Print every report (no caller identity, no audio, no PINs); the export is audited."""
    reports = iter_reports(db.session, read_transcript=read_transcript if transcripts else None)
    count = 0
    if fmt == "jsonl":
        for item in reports:
            click.echo(json.dumps(item, ensure_ascii=False))
            count += 1
    else:
        items = list(reports)
        count = len(items)
        click.echo(json.dumps(items, indent=2, ensure_ascii=False))
    # Written once the export has been produced: who ran it is the server's operator.
    audit.append(
        db.session,
        "reports.export",
        detail={"via": "cli", "format": fmt, "reports": count, "transcripts": transcripts},
    )
    db.session.commit()


@reports_group.command("ack")
@click.argument("report_ref")
@click.option("--user", required=True, help="Who acknowledges (recorded on the timeline).")
@click.option("--agency", default=None, help="Only this agency's assignment (default: all).")
@with_appcontext
def ack_command(report_ref: str, user: str, agency: str | None) -> None:
    """Acknowledge a report: its escalation stops."""
    report = find_report(report_ref)
    count = acknowledge(db.session, report, user, agency)
    audit.append(
        db.session,
        "report.acknowledged",
        target_type="report",
        target_id=report.id,
        detail={"via": "cli", "by": user, "agency": agency, "assignments": count},
    )
    db.session.commit()
    click.echo(f"{report.reference}: {count} assignment(s) acknowledged by {user}")


@reports_group.command("dead")
@with_appcontext
def dead_command() -> None:
    """List recordings the pipeline gave up on (dead-lettered) or refused."""
    rows = db.session.scalars(select(Recording).where(Recording.fetch_state.in_(("dead", "refused"))))
    found = False
    for rec in rows:
        found = True
        click.echo(
            f"{rec.recording_sid}  report {rec.report_id}  {rec.fetch_state}  "
            f"attempts={rec.attempts}  {rec.last_error or ''}"
        )
    if not found:
        click.echo("no dead-lettered recordings")


@reports_group.command("retry")
@click.argument("recording_sid")
@with_appcontext
def retry_command(recording_sid: str) -> None:
    """Give a dead-lettered recording a fresh set of attempts."""
    rec = db.session.scalar(select(Recording).where(Recording.recording_sid == recording_sid))
    if rec is None:
        raise click.BadParameter(f"no recording {recording_sid}")
    if rec.fetch_state != "dead":
        raise click.BadParameter(f"{recording_sid} is {rec.fetch_state}, not dead")
    rec.fetch_state, rec.attempts = "pending", 0
    rec.transient_failures, rec.failing_since, rec.next_fetch_at = 0, None, None
    report = db.session.get(Report, rec.report_id)
    urgency = report.urgency if report else "normal"
    db.session.commit()
    # Once stored it is transcribed, and a report already routed without it is re-classified
    # and routed to any agency its transcript adds (hotline.pipeline.finalize).
    if FETCH.enqueue(FETCH.id(recording_sid), recording_sid, urgency=urgency):
        click.echo(f"{recording_sid} queued again")
    else:
        click.echo(f"{recording_sid} marked pending (already queued, or Redis is down: the sweep queues it)")


@reports_group.command("recover")
@click.option("--days", type=click.IntRange(1, 400), default=None, help="How far back to list (default: the setting).")
@with_appcontext
def recover_command(days: int | None) -> None:
    """Adopt now every recording Twilio holds that no report has (the sweep does it regularly)."""
    found = recover_recordings(force=True, days=days)
    click.echo(
        f"{found.adopted} recording(s) adopted from Twilio, {found.completed} with a lost callback completed, "
        f"{found.foreign} of other numbers left alone"
    )


@reports_group.command("status")
@click.argument("report_ref")
@click.argument("new_status")
@click.option("--user", "email", required=True, help="Whose change it is: an account that can see the report.")
@click.option("--disposition", default=None, help="How a closed report ended (closing needs one).")
@with_appcontext
def status_command(report_ref: str, new_status: str, email: str, disposition: str | None) -> None:
    """Move a report to NEW_STATUS, by the same rules as the review app's status form."""
    # Imported here, not at the top: this command is kept at the end of the file on its own.
    from hotline.auth.accounts import find_user
    from hotline.reports import status

    report = find_report(report_ref)
    user = find_user(db.session, email)
    if user is None:
        raise click.BadParameter(f"no user with email {email}", param_hint="--user")
    try:
        change = status.change_status(db.session, report, new_status, by=user, disposition=disposition)
    except status.StatusError as exc:
        db.session.rollback()
        if not status.user_agencies_of(db.session, user, report.id):
            # A report out of the user's reach: audited as the review app audits one.
            audit.append(
                db.session,
                "report.denied",
                user=user,
                target_type="report",
                target_id=report.id,
                detail={"via": "cli", "command": "reports status", "reason": "not_assigned"},
            )
            db.session.commit()
        raise click.ClickException(str(exc)) from exc
    if change is None:
        click.echo(f"{report.reference} is already {report.status}; nothing changed")
        return
    audit.append(
        db.session,
        "report.status_changed",
        user=user,
        target_type="report",
        target_id=report.id,
        detail={"via": "cli", **change.audit_detail()},
    )
    db.session.commit()
    how = f" ({change.disposition})" if change.disposition else ""
    click.echo(f"{report.reference}: {change.previous} -> {change.status}{how} by {user.email}")
