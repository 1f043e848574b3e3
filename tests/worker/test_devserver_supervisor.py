"""`make run`: a worker that dies is started again; the web app keeps running meanwhile."""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Iterator

import pytest

from hotline.devserver import Supervisor

SLEEP = [sys.executable, "-c", "import time; time.sleep(600)"]
CRASH = [sys.executable, "-c", "raise SystemExit(3)"]


@pytest.fixture
def group() -> Iterator[Supervisor]:
    sup = Supervisor(dict(os.environ))
    sup.FIRST_WAIT = 0.05  # the delays' growth is what is checked, not their length
    yield sup
    sup.stop()


def _poll_until(group: Supervisor, done: object, within: float = 30) -> None:
    deadline = time.monotonic() + within
    while not done():  # type: ignore[operator]
        assert group.poll(), "the supervisor gave up"
        assert time.monotonic() < deadline
        time.sleep(0.02)


def test_a_killed_worker_is_restarted_and_the_web_app_stays(group: Supervisor) -> None:
    group.start("worker", SLEEP, restart=True)
    group.start("web", SLEEP, restart=False)
    web, first = group.procs["web"], group.procs["worker"]
    first.send_signal(signal.SIGKILL)
    _poll_until(group, lambda: group.procs["worker"] is not first)
    assert group.procs["worker"].poll() is None  # a new worker runs
    assert group.procs["web"] is web and web.poll() is None  # the same web app, untouched
    assert group.restarts["worker"] == 1 and not group.failed


def test_a_crashing_worker_is_restarted_with_growing_capped_delays(group: Supervisor) -> None:
    group.start("worker", CRASH, restart=True)
    group.start("web", SLEEP, restart=False)
    _poll_until(group, lambda: group.restarts.get("worker", 0) >= 4)
    assert group.waits["worker"] == pytest.approx(0.05 * 2 ** _exits(group))  # doubled at each exit
    group.waits["worker"] = group.MAX_WAIT  # as after many crashes
    before = _exits(group)
    _poll_until(group, lambda: _exits(group) > before)
    assert group.waits["worker"] == group.MAX_WAIT  # capped: no longer growing
    assert group.procs["web"].poll() is None


def _exits(group: Supervisor) -> int:
    return group.restarts.get("worker", 0) + ("worker" in group.due)


def test_the_web_app_dying_stops_everything(group: Supervisor) -> None:
    group.start("worker", SLEEP, restart=True)
    group.start("web", CRASH, restart=False)
    deadline = time.monotonic() + 30
    while group.poll():
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert group.failed
