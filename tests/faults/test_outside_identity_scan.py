"""From the outside attack: after calls recovered by the reconciler (which reads Twilio's Call resource,
`from` included), look for the caller's identity in every table cell, Redis value and log line."""

from __future__ import annotations

import logging
import traceback

import pytest
import redis
from sqlalchemy import text

from hotline.extensions import db
from hotline.models import Base
from tests.faults.conftest import Hotline
from tests.faults.harness import place_safe_schools_call
from tests.faults.test_fault_suite import database_down, recover

IDENTITY = ("5555550100", "555-0100", "SAINT LOUIS", "SIMULATED CALLER", "63101")


def _cells(line: Hotline) -> str:
    out = []
    with line.app.app_context():
        for table in Base.metadata.sorted_tables:
            for row in db.session.execute(text(f"SELECT * FROM {table.name}")):
                out.append(f"{table.name}: {row!r}")
        db.session.rollback()
    return "\n".join(out)


def _redis(line: Hotline) -> str:
    client = redis.Redis.from_url(line.redis.url)
    out = []
    for key in client.scan_iter():
        kind = client.type(key)
        if kind == b"string":
            out.append(repr(client.get(key)))
        elif kind == b"hash":
            out.append(repr(client.hgetall(key)))
        elif kind == b"list":
            out.append(repr(client.lrange(key, 0, -1)))
        elif kind in (b"set",):
            out.append(repr(client.smembers(key)))
        elif kind == b"zset":
            out.append(repr(client.zrange(key, 0, -1)))
        out.append(repr(key))
    return "\n".join(out)


def test_no_caller_identity_after_recovery(hotline: Hotline, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with database_down(hotline):
        outage = place_safe_schools_call(hotline.url, hotline.fake, answers=1)
    db.dispose()
    normal = place_safe_schools_call(hotline.url, hotline.fake, answers=2)
    recover(hotline)
    assert outage.recordings and normal.recordings
    logs = "\n".join(r.getMessage() for r in caplog.records)
    logs += "".join("".join(traceback.format_exception(*r.exc_info)) for r in caplog.records if r.exc_info)
    cells, values = _cells(hotline), _redis(hotline)
    assert "recovered" in cells or "salvaged" in cells
    for needle in IDENTITY:
        assert needle not in cells, needle
        assert needle not in values, needle
        assert needle not in logs, [x for x in logs.splitlines() if needle in x][:3]
