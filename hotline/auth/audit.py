"""The audit log: append-only entries chained by HMAC-SHA256, so edits and deletions show.

Each entry's hash is an HMAC, under HOTLINE_AUDIT_KEY, of a canonical JSON of its fields plus
the previous entry's hash. Without the key, someone who can write to the database cannot
recompute the chain after altering it. Deleting the newest entries (and moving the head back)
leaves a valid chain, so anchors kept outside the database catch that (hotline.auth.anchors).
The single `audit_head` row holds the newest sequence number and hash; an append first updates
that row, which takes a row lock on PostgreSQL and the write lock on SQLite, so concurrent
appends queue up behind each other and the chain never forks.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import current_app, has_request_context, request
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from hotline.auth.models import AuditEntry, AuditHead, User
from hotline.extensions import db, runtime
from hotline.models import utcnow

GENESIS = "0" * 64
_HEAD_ID = 1
# Words that must never name a `detail` key: the log is for who did what, not for secrets.
_FORBIDDEN = frozenset({"password", "passwd", "code", "otp", "totp", "secret", "token", "pin", "key"})


def record(
    action: str,
    *,
    user: User | None = None,
    target_type: str | None = None,
    target_id: str | int | None = None,
    detail: dict[str, Any] | None = None,
) -> AuditEntry:
    """Append an entry in the current request's session; it is saved when the caller commits."""
    ip = request.remote_addr if has_request_context() else None
    return append(db.session, action, user=user, target_type=target_type, target_id=target_id, detail=detail, ip=ip)


def current_key() -> bytes:
    """The chain's HMAC key from the current app's settings."""
    return str(runtime.get(current_app).settings.audit_key).encode("utf-8")


def append(
    session: Session,
    action: str,
    *,
    user: User | None = None,
    target_type: str | None = None,
    target_id: str | int | None = None,
    detail: dict[str, Any] | None = None,
    ip: str | None = None,
    key: bytes | None = None,
) -> AuditEntry:
    """Append an entry using an explicit session (CLI, jobs); the caller commits.

    key: the chain's HMAC key; by default the current app's.
    """
    detail = dict(detail or {})
    # Whole words of the key ("pin_hash", "totpCode" -> "pin", "totp"), so "shipping" passes.
    bad = [k for k in detail if _FORBIDDEN & set(re.findall(r"[a-z]+", re.sub(r"([A-Z])", r"_\1", k).lower()))]
    if bad:
        raise ValueError(f"audit detail must not carry secrets: {bad}")
    seq, prev_hash = _lock_head(session)
    entry = AuditEntry(
        seq=seq,
        # Truncated to whole microseconds and naive UTC: exactly what every backend stores,
        # so the hash recomputed from the stored row matches.
        at=utcnow(),
        action=action,
        user_id=user.id if user else None,
        user_email=user.email if user else None,
        ip=ip,
        target_type=target_type,
        target_id=None if target_id is None else str(target_id),
        detail=detail,
        prev_hash=prev_hash,
    )
    entry.hash = entry_hash(entry, key or current_key())
    session.add(entry)
    session.execute(update(AuditHead).where(AuditHead.id == _HEAD_ID).values(last_hash=entry.hash))
    session.flush()
    return entry


def _lock_head(session: Session) -> tuple[int, str]:
    """Claim the next sequence number, holding the head row's lock until commit."""
    for _ in range(3):
        # Writing first is the lock: nobody else can read-then-append until we commit.
        bumped = session.execute(update(AuditHead).where(AuditHead.id == _HEAD_ID).values(seq=AuditHead.seq + 1))
        if getattr(bumped, "rowcount", 0) == 1:
            head = session.execute(select(AuditHead.seq, AuditHead.last_hash).where(AuditHead.id == _HEAD_ID)).one()
            return int(head.seq), str(head.last_hash)
        # No head yet (a new database): create it. If another process creates it at the same
        # moment, our insert fails inside its savepoint and the next round updates theirs.
        try:
            with session.begin_nested():
                session.add(AuditHead(id=_HEAD_ID, seq=0, last_hash=GENESIS))
        except IntegrityError:
            continue
    raise RuntimeError("could not lock the audit log head")


def canonical(entry: AuditEntry) -> bytes:
    """Serialise an entry's content (everything but its own hash) deterministically."""
    body = {
        "seq": entry.seq,
        "at": _iso(entry.at),
        "action": entry.action,
        "user_id": entry.user_id,
        "user_email": entry.user_email,
        "ip": entry.ip,
        "target_type": entry.target_type,
        "target_id": entry.target_id,
        "detail": entry.detail,
        "prev_hash": entry.prev_hash,
    }
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode("ascii")


def entry_hash(entry: AuditEntry, key: bytes) -> str:
    """Return the HMAC-SHA256 (hex) chaining this entry to the previous one."""
    return hmac.new(key, canonical(entry), hashlib.sha256).hexdigest()


def _iso(at: datetime) -> str:
    return at.replace(tzinfo=None).isoformat(timespec="microseconds")


@dataclass(frozen=True)
class VerifyResult:
    """The outcome of walking the chain."""

    ok: bool
    count: int
    problem: str = ""


def verify(session: Session, key: bytes, anchors: Mapping[int, str] | None = None) -> VerifyResult:
    """Walk the whole chain; report the first entry whose content, order or link is wrong.

    anchors: entry number -> chain HMAC recorded outside the database (hotline.auth.anchors);
    the chain must agree with every one, so rewritten history and a cut-off tail both show.
    """
    anchors = anchors or {}
    prev = GENESIS
    count = 0
    for entry in iter_entries(session):
        count += 1
        where = f"entry #{entry.seq} (id {entry.id}, {entry.action})"
        if entry.seq != count:
            return VerifyResult(False, count, f"{where}: expected sequence number {count}; entries are missing")
        if entry.prev_hash != prev:
            return VerifyResult(False, count, f"{where}: prev_hash does not match the previous entry")
        if not hmac.compare_digest(entry_hash(entry, key), entry.hash):
            return VerifyResult(False, count, f"{where}: content does not match its HMAC (edited, or another key)")
        if entry.seq in anchors and not hmac.compare_digest(anchors[entry.seq], entry.hash):
            return VerifyResult(False, count, f"{where}: differs from its anchor (history rewritten)")
        prev = entry.hash
    head = session.get(AuditHead, _HEAD_ID)
    head_seq, head_hash = (head.seq, head.last_hash) if head else (0, GENESIS)
    # The head catches what the chain alone cannot: the newest entries deleted off the end.
    if head_seq != count or head_hash != prev:
        return VerifyResult(False, count, f"the log ends at entry #{count} but its head names #{head_seq}")
    beyond = [seq for seq in anchors if seq > count]
    if beyond:
        problem = f"the log ends at entry #{count} but an anchor names #{max(beyond)} (truncated)"
        return VerifyResult(False, count, problem)
    return VerifyResult(True, count)


def iter_entries(session: Session) -> Iterator[AuditEntry]:
    """Yield every entry in order, in batches so a long log does not fill memory."""
    last = 0
    while True:
        batch = session.scalars(
            select(AuditEntry).where(AuditEntry.seq > last).order_by(AuditEntry.seq).limit(500)
        ).all()
        if not batch:
            return
        yield from batch
        last = batch[-1].seq


def as_dict(entry: AuditEntry) -> dict[str, Any]:
    """Represent an entry for export."""
    return {
        "seq": entry.seq,
        "at": _iso(entry.at) + "Z",
        "action": entry.action,
        "user_id": entry.user_id,
        "user_email": entry.user_email,
        "ip": entry.ip,
        "target_type": entry.target_type,
        "target_id": entry.target_id,
        "detail": entry.detail,
        "prev_hash": entry.prev_hash,
        "hash": entry.hash,
    }
