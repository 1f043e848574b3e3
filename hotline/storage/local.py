"""A BlobStore on the local filesystem, one file per key under a root directory."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from hotline.storage.base import BlobNotFound, BlobStore, validate_key, validate_prefix

TEMP_PREFIX = ".tmp-"


class LocalBlobStore(BlobStore):
    """Files under `root`; writes are atomic and durable (temp file, fsync, rename)."""

    def __init__(self, root: Path | str) -> None:
        """Use (and create, owner-only) the directory root."""
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)

    def __repr__(self) -> str:
        return f"LocalBlobStore({str(self.root)!r})"

    def _path(self, key: str) -> Path:
        """Map a validated key to its file."""
        return self.root / validate_key(key)

    def put(self, key: str, data: bytes) -> None:
        """Write data to a temp file beside the target, fsync it, then rename it into place."""
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        # Same directory as the target: os.replace is only atomic within one filesystem.
        # mkstemp creates the file with mode 0600.
        fd, temp = tempfile.mkstemp(prefix=TEMP_PREFIX, dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temp, path)
        except BaseException:
            # Including KeyboardInterrupt: never leave a half-written temp file behind.
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp)
            raise
        # The rename itself lives in the directory: without this fsync a crash could
        # forget it even though the data blocks are safe.
        _fsync_dir(path.parent)

    def get(self, key: str) -> bytes:
        """Read the whole object."""
        try:
            return self._path(key).read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError) as exc:
            raise BlobNotFound(key) from exc

    def exists(self, key: str) -> bool:
        """Return whether a file (not a directory) is stored under key."""
        return self._path(key).is_file()

    def delete(self, key: str) -> None:
        """Unlink the object's file, if any, and make the unlink durable."""
        path = self._path(key)
        try:
            path.unlink()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            return
        _fsync_dir(path.parent)

    def check(self) -> str | None:
        """None if the root is a directory this process can write, else why not."""
        if not self.root.is_dir():
            return f"{self.root}: not a directory"
        if not os.access(self.root, os.W_OK | os.X_OK):
            return f"{self.root}: not writable by this process"
        return None

    def keys(self, prefix: str = "") -> Iterator[str]:
        """Yield stored keys starting with prefix, sorted, skipping in-flight temp files."""
        validate_prefix(prefix)
        found: list[str] = []
        for directory, dirnames, filenames in os.walk(self.root):
            relative = Path(directory).relative_to(self.root).as_posix()
            base = "" if relative == "." else relative + "/"
            # Prune directories that cannot contain a match: listing one recording's
            # objects should not walk the whole store.
            dirnames[:] = [d for d in dirnames if _could_match(base + d + "/", prefix)]
            found.extend(
                base + name for name in filenames if not name.startswith(".") and (base + name).startswith(prefix)
            )
        return iter(sorted(found))


def _could_match(directory: str, prefix: str) -> bool:
    """Return whether keys under directory (ending in '/') can start with prefix."""
    return directory.startswith(prefix) or prefix.startswith(directory)


def _fsync_dir(directory: Path) -> None:
    """Flush a directory entry change to disk."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
