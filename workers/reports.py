"""Report jobs: finalize a report (hotline.pipeline.finalize), send an assignment's notices
(hotline.pipeline.delivery), alert the on-call person (hotline.pipeline.on_call)."""

from __future__ import annotations

from hotline.jobs.locks import exclusive
from hotline.pipeline import delivery, finalize, on_call
from workers.common import job


@job
def finalize_report(report_id: int) -> str:
    """Classify and route a complete report, re-classify it when a transcript lands late,
    then queue its notifications (safe to repeat)."""
    return finalize.finalize(report_id)


@job
def notify_assignment(assignment_id: int, level: int, round_: int | None = None) -> int:
    """Send the notices for an assignment at an escalation level of a round; each one at most once."""
    return delivery.send_notices(assignment_id, level, round_)


@job
def alert_on_call(report_id: int) -> str:
    """Tell the hotline's on-call person that a caller asked for a dispatcher and nobody answered."""
    with exclusive(f"oncall-{report_id}"):  # the webhook's job and the sweep's may run at once
        return on_call.alert(report_id)
