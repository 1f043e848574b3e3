"""Outside attack on the queue's filters (urgencies now ordered by rank): odd query strings
are ignored or clamped, never a 500, on the page and on its refresh."""

from __future__ import annotations

import pytest
from flask import Flask

from tests.review.conftest import Login

QUERIES = [
    "date_to=9999-12-31",
    "date_from=9999-12-31&date_to=9999-12-31",
    "date_from=0001-01-01&date_to=0001-01-01",
    "page=-5",
    "page=99999999999999999999",
    "page=1e3",
    "status=in_call",
    "status=closed&urgency=critical%27--",
    "urgency=CRITICAL",
    "urgency=critical&urgency=normal",
    "category=%25",
    "hotline=prea",
    "date_from=2026-02-30",
]


@pytest.mark.parametrize("query", QUERIES)
def test_odd_filters_are_not_a_500(rapp: Flask, report_id: int, login: Login, query: str) -> None:
    ann = login("ann@riverbend.example.org")
    for path in ("/queue", "/queue/rows"):
        got = ann.get(f"{path}?{query}")
        assert got.status_code == 200, (path, query, got.status_code)
