"""From the outside attack (PostgreSQL): LOCK TABLE on one table only, for a whole call; the webhooks
that do not touch it work, the ones that do fail. Then a lock over `calls` while callbacks
arrive, held past Twilio's retries."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import create_engine, text

from hotline.extensions import db
from tests.faults.conftest import Hotline
from tests.faults.harness import is_postgres, place_safe_schools_call, tally
from tests.faults.test_fault_suite import recover


@contextmanager
def table_locked(url: str, *tables: str) -> Iterator[None]:
    engine = create_engine(url)
    conn = engine.connect()
    trans = conn.begin()
    conn.execute(text(f"LOCK TABLE {', '.join(tables)} IN ACCESS EXCLUSIVE MODE"))
    try:
        yield
    finally:
        trans.rollback()
        conn.close()
        engine.dispose()


@pytest.mark.parametrize("tables", [("recordings",), ("events",), ("reports",)])
def test_one_table_locked_over_a_call(hotline: Hotline, tables: tuple[str, ...]) -> None:
    if not is_postgres(hotline.database_url):
        pytest.skip("PostgreSQL only")
    with table_locked(hotline.database_url, *tables):
        result = place_safe_schools_call(hotline.url, hotline.fake, answers=2)
    db.dispose()
    heard = " ".join(result.transcript)
    assert "application error" not in heard and not [e for e in result.errors if "TwiML" in e], heard
    recover(hotline)
    found = tally(hotline.app, f"PostgreSQL LOCK TABLE {'+'.join(tables)} over a call", [result])
    assert found.lost == 0 and found.duplicated == 0 and found.complete == 1, (found.notes, heard)
