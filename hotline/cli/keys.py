"""`flask keys rotate`: re-wrap every data key under the current master key."""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from hotline.crypto.cells import CellError, rotate_cells
from hotline.extensions import db, runtime
from hotline.pipeline.services import services_for


@click.group("keys")
def keys_group() -> None:
    """Manage encryption keys."""


@keys_group.command("rotate")
@with_appcontext
def rotate_command() -> None:
    """Re-wrap every data key under HOTLINE_MASTER_KEY; nothing is re-encrypted.

    Covers the stored recordings and transcripts and every sealed database cell (TOTP
    secrets, keypad answers, notes, call state). Set HOTLINE_MASTER_KEY to the new key and
    HOTLINE_OLD_MASTER_KEYS to the old one(s), run this, then remove the old keys from the
    environment. Safe to run again after an interruption.
    """
    rt = runtime.get()
    store = services_for(rt.settings).store
    changed = store.rotate(store.ring)
    where = f"stored recordings and transcripts under key {store.ring.current_id}"
    click.echo(f"re-wrapped {changed} data key(s) of {where}")
    try:
        counts = rotate_cells(db.session, rt.fields)
    except CellError as exc:
        db.session.rollback()
        raise click.ClickException(f"could not re-wrap {exc}") from exc
    for where, count in counts.items():
        click.echo(f"re-wrapped {count} {where} cell(s)")
