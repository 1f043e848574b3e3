"""The periodic sweep job: runs every duty in hotline.pipeline.sweep once."""

from __future__ import annotations

from hotline.pipeline import sweep as duties
from workers.common import job


@job
def sweep() -> dict[str, int]:
    """Run every periodic duty once."""
    return duties.run()
