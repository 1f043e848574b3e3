"""Tables for reviewers' accounts and the tamper-evident audit log."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column

from hotline.models import Base, utcnow

ROLES = ("investigator", "dispatcher", "admin")


class User(Base):
    """A person who signs in to review reports; always with a password and a TOTP code."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Stored lower-cased so "Ann@X.org" and "ann@x.org" are one account.
    email: Mapped[str] = mapped_column(String(254), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    agencies: Mapped[list[str]] = mapped_column(default=list)
    password_hash: Mapped[str] = mapped_column(String(200))
    # An envelope (base64) under the master key ring, bound to the email (hotline.auth.totp).
    totp_secret: Mapped[str] = mapped_column(String(200))
    totp_enrolled_at: Mapped[datetime | None]
    # The last TOTP time step accepted: a code is good for one sign-in only.
    last_totp_step: Mapped[int | None]
    # Failed sign-ins are counted in Redis per (account, client): see hotline.auth.throttle.
    # Bumped on sign-out, disable and TOTP reset: every cookie carrying an older value is void.
    session_generation: Mapped[int] = mapped_column(default=0)
    disabled: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class AuditEntry(Base):
    """One append-only line of the audit log, chained to the previous one by HMAC."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_user_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # 1, 2, 3...: gaps or repeats show that entries were deleted or inserted.
    seq: Mapped[int] = mapped_column(unique=True)
    at: Mapped[datetime]
    action: Mapped[str] = mapped_column(String(64))
    # No foreign key: the log must outlive any account it mentions, and the email is copied
    # so an entry still says who acted after the account is gone.
    user_id: Mapped[int | None]
    user_email: Mapped[str | None] = mapped_column(String(254))
    ip: Mapped[str | None] = mapped_column(String(64))
    target_type: Mapped[str | None] = mapped_column(String(64))
    target_id: Mapped[str | None] = mapped_column(String(128))
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditHead(Base):
    """The single row naming the newest audit entry; appends lock it to stay in order."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(primary_key=True)
    seq: Mapped[int] = mapped_column(default=0)
    last_hash: Mapped[str] = mapped_column(String(64))
