"""`flask users ...` and `flask audit ...`: accounts and the audit log from the terminal."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
import redis
from flask.cli import AppGroup
from sqlalchemy import select
from sqlalchemy.orm import Session

from hotline.auth import accounts, anchors, audit, totp

# Re-exported: the benchmarks still import create_user from here.
from hotline.auth.accounts import create_user as create_user
from hotline.auth.models import ROLES, User
from hotline.auth.throttle import Throttle
from hotline.crypto import columns
from hotline.crypto.envelope import MasterKeyRing
from hotline.crypto.fields import FieldCipher
from hotline.db import make_engine
from hotline.extensions import db, queues, runtime
from hotline.settings import Settings

users_group = AppGroup("users", help="Manage the accounts of people who review reports.")
audit_group = AppGroup("audit", help="Check and export the tamper-evident audit log.")

# Every change made from the terminal is marked as such in the log (there is no signed-in user).
VIA_CLI = {"via": "cli"}


def create_demo_users(settings: Settings) -> list[tuple[str, str, str, str]]:
    """Create one demo user per role (development only); skip any that already exist.

    Returns (email, role, password, TOTP secret) for each user created now.
    """
    agencies = sorted(a.id for a in settings.agencies)
    created: list[tuple[str, str, str, str]] = []
    # Run before any app exists in this process (make run): seal TOTP secrets with these keys.
    columns.install({}, FieldCipher(MasterKeyRing(settings.master_key, settings.old_master_keys)))
    engine = make_engine(settings.database_url)
    try:
        with Session(engine) as session:
            for role in ROLES:
                email = f"{role}@demo.hotline.invalid"
                if session.scalar(select(User.id).where(User.email == email)) is not None:
                    continue
                new = create_user(session, settings, email, role, agencies)
                audit.append(
                    session,
                    "user.created",
                    target_type="user",
                    target_id=new.user.id,
                    detail={"via": "demo", "email": email, "role": role, "agencies": agencies},
                    key=settings.audit_key.encode("utf-8"),
                )
                session.commit()
                created.append((email, role, new.password, new.secret))
    finally:
        engine.dispose()
    return created


def _find(email: str) -> User:
    user = accounts.find_user(db.session, email)
    if user is None:
        raise click.ClickException(f"no user with email {email}")
    return user


@users_group.command("create")
@click.option("--email", required=True, help="Sign-in address (stored lower-cased).")
@click.option("--role", required=True, type=click.Choice(ROLES), help="What the user may do.")
@click.option("--agency", "agencies", multiple=True, required=True, help="Agency id from the configuration; repeat.")
def create_command(email: str, role: str, agencies: tuple[str, ...]) -> None:
    """Create a user; print the generated password and TOTP secret once."""
    settings = runtime.get().settings
    try:
        new = create_user(db.session, settings, email, role, list(agencies))
    except ValueError as exc:
        db.session.rollback()
        raise click.ClickException(str(exc)) from exc
    audit.append(
        db.session,
        "user.created",
        target_type="user",
        target_id=new.user.id,
        detail={**VIA_CLI, "email": new.user.email, "role": role, "agencies": new.user.agencies},
    )
    db.session.commit()
    click.echo(f"created {new.user.email} ({role}; agencies: {', '.join(new.user.agencies)})")
    click.echo("Give these to the user over a safe channel; they are not shown again.")
    click.echo(f"password: {new.password}")
    click.echo(f"TOTP secret: {new.secret}")
    click.echo(f"otpauth URI: {totp.provisioning_uri(new.secret, new.user.email)}")
    click.echo("On first sign-in the user scans the QR code (or types the secret) and enters a code.")


@users_group.command("list")
def list_command() -> None:
    """List every user: email, role, agencies, state."""
    for user in db.session.scalars(select(User).order_by(User.email)):
        if user.disabled:
            state = "disabled"
        elif user.totp_enrolled_at is None:
            state = "not enrolled"
        else:
            state = "active"
        click.echo(f"{user.email}\t{user.role}\t{','.join(user.agencies)}\t{state}")


@users_group.command("disable")
@click.argument("email")
def disable_command(email: str) -> None:
    """Disable a user and end their sessions."""
    user = _find(email)
    accounts.disable(user)
    audit.append(db.session, "user.disabled", target_type="user", target_id=user.id, detail={**VIA_CLI})
    db.session.commit()
    click.echo(f"disabled {user.email}")


@users_group.command("reset-password")
@click.argument("email")
def reset_password_command(email: str) -> None:
    """Give a user a new generated password (printed once) and lift any lockout."""
    user = _find(email)
    password = accounts.reset_password(user)
    audit.append(db.session, "user.password_reset", target_type="user", target_id=user.id, detail={**VIA_CLI})
    db.session.commit()
    click.echo(f"new password for {user.email}; give it to them over a safe channel")
    click.echo(f"password: {password}")
    try:
        Throttle(queues.redis).clear(user.email)
    except (redis.RedisError, OSError) as exc:
        click.echo(f"could not clear failed sign-ins ({type(exc).__name__}); they expire within a day", err=True)


@users_group.command("unlock")
@click.argument("email")
def unlock_command(email: str) -> None:
    """Forget a user's failed sign-in attempts, from every client."""
    user = _find(email)
    cleared = Throttle(queues.redis).clear(user.email)
    audit.append(
        db.session,
        "user.unlocked",
        target_type="user",
        target_id=user.id,
        detail={**VIA_CLI, "failed_attempts": cleared},
    )
    db.session.commit()
    click.echo(f"cleared {cleared} failed attempt(s) of {user.email}")


@users_group.command("reset-totp")
@click.argument("email")
def reset_totp_command(email: str) -> None:
    """Give a user a new TOTP secret (lost phone); they enrol again at next sign-in."""
    user = _find(email)
    secret = accounts.reset_totp(user, runtime.get().settings)
    audit.append(db.session, "user.totp_reset", target_type="user", target_id=user.id, detail={**VIA_CLI})
    db.session.commit()
    click.echo(f"new TOTP secret for {user.email}; they enrol again at next sign-in")
    click.echo(f"TOTP secret: {secret}")
    click.echo(f"otpauth URI: {totp.provisioning_uri(secret, user.email)}")


@audit_group.command("verify")
@click.option(
    "--anchors",
    "anchors_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Anchor file (or a copy kept elsewhere); default: the sweep's file under the instance path, if any.",
)
def verify_command(anchors_file: Path | None) -> None:
    """Walk the HMAC chain and check it against the anchors; exit 1 naming the first problem."""
    settings = runtime.get().settings
    if anchors_file is None and anchors.default_path(settings.instance_path).exists():
        anchors_file = anchors.default_path(settings.instance_path)
    try:
        known = anchors.read_anchors(anchors_file) if anchors_file else {}
    except (OSError, anchors.AnchorFileError) as exc:
        raise click.ClickException(str(exc)) from exc
    result = audit.verify(db.session, audit.current_key(), known)
    if not result.ok:
        click.echo(f"audit log FAILED verification: {result.problem}", err=True)
        sys.exit(1)
    against = f", agrees with {len(known)} anchor(s) in {anchors_file}" if anchors_file else ", no anchors checked"
    click.echo(f"audit log OK: {result.count} entries, chain intact{against}")


@audit_group.command("export")
@click.option("--format", "fmt", type=click.Choice(["jsonl"]), default="jsonl", show_default=True)
def export_command(fmt: str) -> None:
    """Print every entry, one JSON object a line, oldest first."""
    for entry in audit.iter_entries(db.session):
        click.echo(json.dumps(audit.as_dict(entry), sort_keys=True))
