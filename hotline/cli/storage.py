"""`flask storage migrate --to URL`: copy every stored object to another backend, verified."""

from __future__ import annotations

import hashlib
from pathlib import Path

import click
from flask.cli import with_appcontext

from hotline.extensions import runtime
from hotline.pipeline.services import services_for
from hotline.storage.base import BlobNotFound, BlobStore, StorageUnavailable
from hotline.storage.urls import open_blob_store


@click.group("storage")
def storage_group() -> None:
    """Manage the object storage (HOTLINE_STORAGE_URL)."""


@storage_group.command("migrate")
@click.option("--to", "target_url", required=True, help="Destination: s3://bucket/prefix or file:///path.")
@click.option("--prune", is_flag=True, help="Delete objects at the destination that the source no longer has.")
@with_appcontext
def migrate_command(target_url: str, prune: bool) -> None:
    """Copy every object from the configured storage to --to, reading each back to verify it.

    Objects are copied as stored (ciphertext and wrapped data keys): nothing is decrypted
    and the master key is not needed. Safe to interrupt and run again: objects already at
    the destination with the same bytes are skipped. Run it once while the hotline is up,
    then stop the web nodes and workers, run it again (it copies only what changed), and
    start them with HOTLINE_STORAGE_URL set to the destination. An object shredded at the
    source after an earlier run copied it is still at the destination: the last run, with
    the hotline stopped, should say --prune.
    """
    source = services_for(runtime.get().settings).blobs
    try:
        target = open_blob_store(target_url)
    except ValueError as exc:
        raise click.ClickException(f"--to: {exc}") from None
    for name, store in (("source", source), ("destination", target)):
        reason = store.check()
        if reason:
            raise click.ClickException(f"the {name} storage cannot be used: {reason}")
    here, there = _location(source), _location(target)
    if here == there:
        raise click.ClickException("--to names the storage already in use")
    if here.startswith(there) or there.startswith(here):
        # The outer store lists the inner one's objects under other keys: --prune would
        # delete every object of the source, and copies would land inside the source.
        raise click.ClickException("--to overlaps the storage in use (one holds the other): choose a separate place")
    keys = list(source.keys())
    copied = skipped = 0
    with click.progressbar(keys, label=f"copying {len(keys)} objects", show_pos=True) as bar:
        for key in bar:
            try:
                was_there = copy_verified(source, target, key)
            except StorageUnavailable as exc:
                raise click.ClickException(f"{key}: {exc}; run the command again to resume") from None
            except MigrationError as exc:
                raise click.ClickException(str(exc)) from None
            if was_there is None:
                continue  # deleted (shredded) at the source since the listing: nothing to copy
            skipped += was_there
            copied += not was_there
    click.echo(f"{copied} object(s) copied and verified, {skipped} already there and identical")
    extra = sorted(set(target.keys()) - set(keys))
    if extra and prune:
        for key in extra:
            target.delete(key)
        click.echo(f"{len(extra)} object(s) the source no longer has deleted from the destination")
    elif extra:
        click.echo(f"{len(extra)} object(s) at the destination are not at the source (shredded?): --prune deletes them")


class MigrationError(Exception):
    """An object read back from the destination is not what the source holds."""


def copy_verified(source: BlobStore, target: BlobStore, key: str) -> bool | None:
    """Copy one object unless the destination already holds the same bytes, then verify.

    True if it was already there, False if copied, None if the source no longer has it.
    """
    try:
        data = source.get(key)
    except BlobNotFound:
        return None
    digest = hashlib.sha256(data).digest()
    if _digest(target, key) == digest:
        return True
    target.put(key, data)
    if _digest(target, key) != digest:
        raise MigrationError(f"{key}: the copy read back from the destination differs from the source")
    return False


def _digest(store: BlobStore, key: str) -> bytes | None:
    try:
        return hashlib.sha256(store.get(key)).digest()
    except BlobNotFound:
        return None


def _location(store: BlobStore) -> str:
    """Where a store's objects live, ending in "/": a store's location starts with that of any store holding it."""
    root = getattr(store, "root", None)
    if isinstance(root, Path):
        return "file://" + root.resolve().as_posix().rstrip("/") + "/"
    bucket = getattr(store, "bucket", None)
    if isinstance(bucket, str):
        return f"s3://{bucket}/{getattr(store, 'prefix', '')}"
    return repr(store)
