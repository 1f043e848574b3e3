"""Audit anchors: the chain's newest entry number and HMAC, written outside the database.

The HMAC chain stops anyone without HOTLINE_AUDIT_KEY from altering entries, but deleting
the newest entries and moving the head back leaves a chain that still verifies. The periodic
sweep therefore appends the head (entry number + chain HMAC) to a file under the instance
path and to the log; `flask audit verify --anchors FILE` fails when the database disagrees
with any anchor. Keep copies of the file or the log lines where the database's
administrators cannot edit them (log shipping, a write-once bucket).

One line per anchor: `<UTC time> <entry number> <chain HMAC hex>`.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from hotline.auth.models import AuditHead
from hotline.models import utcnow

log = logging.getLogger("hotline.audit")

FILE_NAME = "audit-anchors.log"
_LINE = re.compile(r"^(\S+) (\d+) ([0-9a-f]{64})$")


def default_path(instance_path: str | Path) -> Path:
    """Where the sweep writes anchors."""
    return Path(instance_path) / FILE_NAME


class AnchorFileError(ValueError):
    """The anchor file cannot be read as anchors."""


def read_anchors(path: Path) -> dict[int, str]:
    """Entry number -> chain HMAC for every line of the file."""
    anchors: dict[int, str] = {}
    for number, line in enumerate(path.read_text(encoding="ascii").splitlines(), 1):
        if not line.strip():
            continue
        match = _LINE.match(line.strip())
        if match is None:
            raise AnchorFileError(f"{path}:{number}: not an anchor line")
        seq, chain = int(match.group(2)), match.group(3)
        if anchors.get(seq, chain) != chain:
            raise AnchorFileError(f"{path}:{number}: entry #{seq} anchored twice with different HMACs")
        anchors[seq] = chain
    return anchors


def _last_anchored(path: Path) -> int:
    if not path.exists():
        return 0
    lines = [line for line in path.read_text(encoding="ascii").splitlines() if line.strip()]
    match = _LINE.match(lines[-1].strip()) if lines else None
    return int(match.group(2)) if match else 0


def write_anchor(session: Session, path: Path) -> tuple[int, str] | None:
    """Append the chain's head to the file (and the log) if it moved since the last anchor."""
    head = session.execute(select(AuditHead.seq, AuditHead.last_hash)).first()
    if head is None or head.seq == 0 or head.seq == _last_anchored(path):
        return None
    seq, chain = int(head.seq), str(head.last_hash)
    path.parent.mkdir(parents=True, exist_ok=True)
    line = f"{utcnow().isoformat(timespec='seconds')}Z {seq} {chain}\n"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o640)
    try:
        os.write(fd, line.encode("ascii"))
        os.fsync(fd)
    finally:
        os.close(fd)
    log.info("audit anchor: entry #%d chain %s", seq, chain)
    return seq, chain
