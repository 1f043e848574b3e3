"""Every database cell the app seals, found from the models, and their rotation.

The sealed columns are found in the metadata by their type (hotline.crypto.columns), so a
column sealed later is rotated without anyone remembering to list it here. TOTP secrets are
sealed by hand (bound to the account's address) and named explicitly.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import String, column, select, table, update
from sqlalchemy.orm import Session
from sqlalchemy.sql.expression import TableClause
from sqlalchemy.types import TypeEngine

from hotline.crypto.columns import SealedJSON, SealedPending, SealedText
from hotline.crypto.envelope import DecryptionError
from hotline.crypto.fields import FieldCipher, is_sealed

_BATCH = 500
# Sealed by hotline.auth.totp rather than by a column type.
HAND_SEALED = (("users", "totp_secret"),)


@dataclass(frozen=True)
class SealedColumn:
    """Where sealed cells live, how they are stored, and which values are left plain."""

    table: str
    column: str
    # The stored type (JSON for keypad answers: the envelope is a JSON string).
    stored: TypeEngine[Any]
    kept: Callable[[str], bool]

    @property
    def name(self) -> str:
        return f"{self.table}.{self.column}"


def _never(value: str) -> bool:
    return False


@dataclass(frozen=True)
class CellError(Exception):
    """A cell could not be re-wrapped (its master key is not in the ring, or it is damaged)."""

    table: str
    column: str
    row_id: int
    reason: str

    def __str__(self) -> str:
        return f"{self.table}.{self.column} of row {self.row_id}: {self.reason}"


def sealed_columns() -> list[SealedColumn]:
    """Every column of the schema that holds sealed cells."""
    # Imported here: the models import this package's column types. Every module that
    # declares tables is loaded so that none is missed.
    for module in ("hotline.auth.models", "hotline.review.models"):
        importlib.import_module(module)
    from hotline.models import Base

    found = [
        SealedColumn(tbl.name, col.name, col.type.impl_instance, col.type.kept)
        for tbl in Base.metadata.sorted_tables
        for col in tbl.columns
        if isinstance(col.type, SealedText | SealedPending | SealedJSON)
    ]
    found += [SealedColumn(name, col, String(), _never) for name, col in HAND_SEALED]
    return sorted(found, key=lambda c: c.name)


def _raw(where: SealedColumn) -> TableClause:
    """The table with just the id and the stored type: nothing is decrypted on the way."""
    return table(where.table, column("id"), column(where.column, where.stored))


def _raw_cells(session: Session, where: SealedColumn) -> Iterator[list[tuple[int, str]]]:
    """Batches of (id, stored text)."""
    raw = _raw(where)
    cell = raw.c[where.column]
    last = 0
    while True:
        query = select(raw.c.id, cell).where(raw.c.id > last, cell.is_not(None))
        rows = session.execute(query.order_by(raw.c.id).limit(_BATCH)).all()
        if not rows:
            return
        yield [(int(r[0]), r[1]) for r in rows]
        last = int(rows[-1][0])


def rotate_cells(session: Session, cipher: FieldCipher) -> dict[str, int]:
    """Re-wrap every sealed cell under the ring's current key; return counts per column.

    Commits after each batch, so an interrupted rotation keeps its progress and is finished
    by running it again (cells already under the current key are skipped).
    """
    counts: dict[str, int] = {}
    for where in sealed_columns():
        raw = _raw(where)
        cell = raw.c[where.column]
        changed = 0
        for batch in _raw_cells(session, where):
            for row_id, stored in batch:
                if not isinstance(stored, str) or not is_sealed(stored):
                    if isinstance(stored, str) and where.kept(stored):
                        continue
                    raise CellError(where.table, where.column, row_id, "not sealed (run `flask db upgrade` first)")
                try:
                    fresh = cipher.rewrap(stored)
                except DecryptionError as exc:
                    raise CellError(where.table, where.column, row_id, str(exc)) from exc
                if fresh is None:
                    continue
                # Only if unchanged meanwhile: a webhook may have just written a new value.
                # (Compared by id and a re-read, not by value: JSON columns have no equality.)
                current = session.execute(select(cell).where(raw.c.id == row_id).with_for_update()).scalar()
                if current == stored:
                    session.execute(update(raw).where(raw.c.id == row_id).values({where.column: fresh}))
                    changed += 1
            session.commit()
        counts[where.name] = changed
    return counts
