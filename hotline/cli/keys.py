"""`flask keys rotate`: re-wrap every data key under the current master key."""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from hotline.extensions import runtime
from hotline.pipeline.services import services_for


@click.group("keys")
def keys_group() -> None:
    """Manage encryption keys."""


@keys_group.command("rotate")
@with_appcontext
def rotate_command() -> None:
    """Re-wrap every stored data key under HOTLINE_MASTER_KEY (audio is not re-encrypted).

    Set HOTLINE_MASTER_KEY to the new key and HOTLINE_OLD_MASTER_KEYS to the old one(s),
    run this, then remove the old keys from the environment.
    """
    store = services_for(runtime.get().settings).store
    changed = store.rotate(store.ring)
    click.echo(f"re-wrapped {changed} data key(s) under key {store.ring.current_id}")
