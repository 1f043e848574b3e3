"""The many-node soak: two web nodes, three workers, faults on a schedule, nothing lost.

Run from the project root:

    .venv/bin/python bench/soak.py [--calls 1000] [--think 2.0] [--concurrency 32] [--keep]

It starts, on this machine: a PostgreSQL database of its own on the local server (created and
dropped here), a Redis with AOF, SeaweedFS serving S3, two gunicorn web nodes, three RQ workers
(`flask --app app worker`) and a Twilio stand-in (the simulator's FakeTwilio, in this process).
Then it places simulated calls through the signed webhooks (each request to either node at
random, as behind a load balancer), with recordings, press-0 transfers and call-backs, while it
injects faults: SIGKILL a web node and restart it, SIGKILL a worker in the middle of jobs and
start another, restart Redis, stop SeaweedFS and start it again, make Twilio answer 500. At the
end it waits (bounded) for the pipeline to drain, checks that every recording was stored once,
every report routed and every agency notified once, prints the figures, and exits non-zero if
anything was lost or duplicated. Every process it starts is stopped, also on Ctrl-C.
"""

from __future__ import annotations

import argparse
import base64
import os
import random
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[1]
# Run as a script: the project root is not on sys.path, and bench/ is (bench/queue.py would
# shadow the stdlib's queue for everything imported below).
sys.path[:] = [str(ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import redis  # noqa: E402
import requests  # noqa: E402
import yaml  # noqa: E402

from bench.pipeline import Processes, free_port  # noqa: E402
from hotline.embedded_redis import server_binary  # noqa: E402
from hotline.simulator.driver import AppTwilio, CallDriver  # noqa: E402
from hotline.simulator.fake_twilio import FakeTwilio  # noqa: E402
from hotline.simulator.webhooks import Line, Reply  # noqa: E402
from hotline.simulator.webhooks import Twilio as WebhookSender  # noqa: E402
from tests.seaweed import SeaweedServer  # noqa: E402

UTTERANCES = ROOT / "tests" / "data" / "utterances"
SAFE_SCHOOLS = "+13148897233"
ACCOUNT_SID = "AC" + "e" * 32
AUTH_TOKEN = secrets.token_hex(16)  # fresh each run: nothing here is real
PUBLIC_URL = "http://hotline.soak.invalid"
BUCKET = "soak"
PREFIX = "hotline"
QUESTIONS = 5  # recorded questions in the Safe Schools flow
ADMIN_DSN = os.environ.get("SOAK_ADMIN_DSN", "postgresql://postgres@127.0.0.1:5432/test")
PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/{name}"


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


def epoch(moment: datetime) -> float:
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


# ---------------------------------------------------------------------------------------------
# The system under test


class Phase:
    """Which fault is in progress now: each webhook's latency is filed under it."""

    def __init__(self) -> None:
        self.name = "normal"
        self.lock = threading.Lock()

    @contextmanager
    def during(self, name: str) -> Iterator[None]:
        with self.lock:
            self.name = name
        try:
            yield
        finally:
            with self.lock:
                self.name = "normal"


@dataclass
class Cluster:
    """Every server of the run, and how to kill and restart each."""

    tmp: Path
    procs: Processes
    db_name: str
    scale: float
    redis_port: int = 0
    seaweed: SeaweedServer | None = None
    twilio: FakeTwilio | None = None
    web_ports: list[int] = field(default_factory=list)
    workers: list[str] = field(default_factory=list)
    worker_seq: int = 0
    env: dict[str, str] = field(default_factory=dict)

    @property
    def redis_url(self) -> str:
        return f"redis://127.0.0.1:{self.redis_port}/0"

    @property
    def database_url(self) -> str:
        return PG_URL.format(name=self.db_name)

    # Redis with AOF: a restart keeps the queues.
    def start_redis(self) -> None:
        self.redis_port = self.redis_port or free_port()
        cmd = [str(server_binary()), "--port", str(self.redis_port), "--bind", "127.0.0.1", "--save", ""]
        cmd += ["--appendonly", "yes", "--appendfsync", "always", "--dir", str(self.tmp / "redis")]
        (self.tmp / "redis").mkdir(exist_ok=True)
        self.procs.start("redis", cmd, self.tmp / "redis.log")
        conn = redis.Redis.from_url(self.redis_url)
        deadline = time.monotonic() + 30
        while True:
            try:
                conn.ping()
                return
            except redis.BusyLoadingError:
                pass  # replaying the AOF
            except redis.ConnectionError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("redis did not come back")
            time.sleep(0.05)

    def start_seaweed(self) -> None:
        import boto3

        self.seaweed = SeaweedServer(self.tmp / "seaweed")
        (self.tmp / "seaweed").mkdir(exist_ok=True)
        self.seaweed.start()
        client = boto3.client("s3", endpoint_url=self.seaweed.endpoint, **self.s3_credentials())
        deadline = time.monotonic() + 60
        while True:
            try:
                client.create_bucket(Bucket=BUCKET)
                client.put_object(Bucket=BUCKET, Key="probe", Body=b"x")
                client.delete_object(Bucket=BUCKET, Key="probe")
                return
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)

    def s3_credentials(self) -> dict[str, str]:
        assert self.seaweed is not None
        env = self.seaweed.env()
        return {
            "aws_access_key_id": env["AWS_ACCESS_KEY_ID"],
            "aws_secret_access_key": env["AWS_SECRET_ACCESS_KEY"],
            "region_name": env["AWS_DEFAULT_REGION"],
        }

    def s3_keys(self) -> set[str]:
        import boto3

        assert self.seaweed is not None
        client = boto3.client("s3", endpoint_url=self.seaweed.endpoint, **self.s3_credentials())
        keys: set[str] = set()
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=PREFIX + "/"):
            keys.update(item["Key"][len(PREFIX) + 1 :] for item in page.get("Contents", []))
        return keys

    def stop_seaweed(self) -> None:
        """Stop `weed` and keep its data directory (SeaweedServer.stop would delete it)."""
        assert self.seaweed is not None and self.seaweed.proc is not None
        proc = self.seaweed.proc
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=3)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        self.seaweed.proc = None

    def configure(self) -> None:
        raw = yaml.safe_load((ROOT / "config.yaml").read_text())
        raw["flows_dir"] = str(ROOT / raw.get("flows_dir", "ivr_flows"))
        # Short sweeps and liveness, so a killed worker's jobs and a lost callback are found
        # again within the run, not after production's minutes.
        raw["pipeline"] = {
            **raw.get("pipeline", {}),
            "reconcile_seconds": 3,
            "liveness_seconds": 15,
            "recording_callback_grace_seconds": 20,
            "twilio_reconcile_seconds": 15,
            "recording_grace_seconds": 30,
        }
        raw["notifications"] = {**raw.get("notifications", {}), "sms": True, "sms_from": SAFE_SCHOOLS}
        config = self.tmp / "config.yaml"
        config.write_text(yaml.safe_dump(raw, sort_keys=False))
        assert self.seaweed is not None and self.twilio is not None
        self.env = {
            **os.environ,
            **self.seaweed.env(),
            "HOTLINE_ENV": "production",
            "HOTLINE_LOG_FORMAT": "json",
            "HOTLINE_CONFIG": str(config),
            "DATABASE_URL": self.database_url,
            "REDIS_URL": self.redis_url,
            "HOTLINE_PUBLIC_URL": PUBLIC_URL,
            "HOTLINE_STORAGE_URL": f"s3://{BUCKET}/{PREFIX}",
            "TWILIO_API_BASE_URL": self.twilio.base_url,
            "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
            "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
            "HOTLINE_MASTER_KEY": base64.b64encode(secrets.token_bytes(32)).decode(),
            "HOTLINE_SECRET_KEY": secrets.token_hex(32),
            "HOTLINE_AUDIT_KEY": secrets.token_hex(32),
            "HOTLINE_INSTANCE_PATH": str(self.tmp / "instance"),
        }

    # Web nodes: the README's production gunicorn command, two workers each (2 cores here).
    def start_web(self, index: int) -> None:
        port = self.web_ports[index]
        cmd = [sys.executable, "-m", "gunicorn", "app:app", "--workers", "2", "--worker-class", "gthread"]
        cmd += ["--threads", "2", "--keep-alive", "30", "--logger-class", "hotline.tipweb.accesslog.TipPrivacyLogger"]
        cmd += ["--bind", f"127.0.0.1:{port}"]
        self.procs.start(f"web{index + 1}", cmd, self.tmp / f"web{index + 1}.log", self.env)

    def wait_web(self, index: int, timeout: float = 60) -> None:
        url = f"http://127.0.0.1:{self.web_ports[index]}/healthz"
        deadline = time.monotonic() + timeout
        while True:
            self.procs.check_alive()
            try:
                if requests.get(url, timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"web node {index + 1} not serving after {timeout:.0f} s")
            time.sleep(0.1)

    def start_worker(self) -> str:
        self.worker_seq += 1
        name = f"soak-w{self.worker_seq}"
        cmd = [sys.executable, "-m", "flask", "--app", "app", "worker", "--name", name]
        self.procs.start(name, cmd, self.tmp / f"{name}.log", self.env)
        self.workers.append(name)
        return name

    def wait_workers(self, timeout: float = 60, only: list[str] | None = None) -> None:
        from rq import Worker

        deadline = time.monotonic() + timeout
        conn = redis.Redis.from_url(self.redis_url)
        while True:
            self.procs.check_alive()
            try:
                # `flask worker --name N` registers as N.<random suffix>.
                registered = {w.name.split(".")[0] for w in Worker.all(connection=conn)}
            except redis.RedisError:
                registered = set()
            wanted = set(only or self.workers)
            if wanted <= registered:
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"workers {sorted(wanted - registered)} did not register")
            time.sleep(0.2)

    def kill(self, name: str) -> None:
        """SIGKILL a process and everything in its session (a gunicorn's or RQ's children)."""
        proc = self.procs.running.pop(name)
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()


# ---------------------------------------------------------------------------------------------
# Twilio's side: signed requests to either node, the other one as the fallback


@dataclass
class Stats:
    lock: threading.Lock = field(default_factory=threading.Lock)
    latency: dict[str, list[float]] = field(default_factory=dict)
    requests: int = 0
    valid: int = 0  # answered 2xx (TwiML where TwiML was expected)
    retried_on_other_node: int = 0  # refused by a node that was down; answered by the other
    to_fallback: int = 0  # neither node answered: Twilio would have used the fallback URL
    failures: list[str] = field(default_factory=list)

    def add(self, phase: str, seconds: float) -> None:
        with self.lock:
            self.latency.setdefault(phase, []).append(seconds)


class TwoNodes:
    """A Transport that sends each request to one of the web nodes at random; a node that
    refuses the connection or fails (down, killed mid-request) gets the request sent to the
    other node, as Twilio would to the fallback URL."""

    def __init__(self, ports: list[int], stats: Stats, phase: Phase, seed: int) -> None:
        self.ports = ports
        self.stats = stats
        self.phase = phase
        self.local = threading.local()
        self.rng = random.Random(seed)

    def session(self) -> requests.Session:
        if not hasattr(self.local, "session"):
            self.local.session = requests.Session()
        return self.local.session  # type: ignore[no-any-return]

    def _send(self, port: int, method: str, url: str, params: dict[str, str], headers: dict[str, str]) -> Reply:
        parts = urlsplit(url)
        target = urlunsplit(("http", f"127.0.0.1:{port}", parts.path, parts.query, ""))
        try:
            response = self.session().request(
                method, target, data=params if method == "POST" else None, headers=headers, timeout=15
            )
        except requests.RequestException as exc:
            self.local.session = requests.Session()  # a dead node's pooled connection
            return Reply(None, f"{type(exc).__name__}: {exc}")
        content_type = response.headers.get("Content-Type", "").split(";")[0].strip()
        return Reply(response.status_code, response.text, content_type, response)

    def request(self, method: str, url: str, params: dict[str, str], headers: dict[str, str]) -> Reply:
        phase = self.phase.name
        first = self.rng.choice(range(len(self.ports)))
        began = time.monotonic()
        reply = self._send(self.ports[first], method, url, params, headers)
        failed = reply.status is None or reply.status >= 500
        if failed:
            # The same request (same idempotency token), to the other node.
            reply = self._send(self.ports[1 - first], method, url, params, headers)
        self.stats.add(phase, time.monotonic() - began)
        with self.stats.lock:
            self.stats.requests += 1
            if reply.status is None or reply.status >= 500:
                self.stats.to_fallback += 1
                self.stats.failures.append(f"{phase}: {urlsplit(url).path}: {reply.status} {reply.body[:120]}")
            else:
                self.stats.retried_on_other_node += failed
        return reply


class CallCut(Exception):
    """Twilio would have played the fallback: the call ends here."""


@dataclass
class Placed:
    call_sid: str
    kind: str  # tip, transfer, callback
    recordings: list[str]
    hung_up_at: float = float("nan")
    cut: bool = False
    report_id: int | None = None  # the report a call-back added to


class Caller:
    """Places the soak's calls, each a Safe Schools call of one of three kinds."""

    def __init__(
        self, poster: AppTwilio, twilio: FakeTwilio, think: float, stats: Stats, tips: Callable[[], list[str]]
    ) -> None:
        self.poster = poster
        self.twilio = twilio
        self.think = think
        self.stats = stats
        self.tips = tips
        self.clips = [p.read_bytes() for p in sorted(UTTERANCES.glob("u*.wav"))]

    def pause(self, rng: random.Random) -> None:
        time.sleep(rng.uniform(0.5, 1.5) * self.think)

    def place(self, index: int, seed: int) -> Placed:
        rng = random.Random(seed * 100_003 + index)
        roll = rng.random()
        kind = "transfer" if roll < 0.15 else "callback" if roll < 0.3 else "tip"
        tips = self.tips() if kind == "callback" else []
        if kind == "callback" and not tips:
            kind = "tip"
        caller = f"+1314555{index % 10000:04d}"

        def record(sid: str) -> None:
            self.twilio.add_recording(ACCOUNT_SID, sid, rng.choice(self.clips))

        driver = CallDriver(
            self.poster, Line(ACCOUNT_SID, caller, SAFE_SCHOOLS), media_base=self.twilio.base_url, on_record=record
        )
        placed = Placed(driver.call_sid, kind, driver.recordings)

        def step(action: Callable[[], Reply], status: int = 200) -> None:
            self.pause(rng)
            reply = action()
            if reply.status != status or (status == 200 and driver.root is None):
                raise CallCut(f"{driver.url}: {reply.status}")

        try:
            step(driver.start)
            step(lambda: driver.press("1"))  # English
            if kind == "callback":
                step(lambda: driver.press("9"))
                step(lambda: driver.press(rng.choice(tips), "#"))
                step(lambda: driver.press("", "#"))  # no PIN: "to add information, press 1"
                step(lambda: driver.press("1"))
                step(lambda: driver.answer("#", 4))
                if driver.callback_reply is None or driver.callback_reply.status != 204:
                    raise CallCut("recording callback refused")
                step(lambda: driver.press("#"))
            else:
                step(driver.silence)  # not calling back: the offer times out
                if kind == "transfer":
                    step(lambda: driver.press("0"))
                    for _ in range(4):  # nobody picks up, wave after wave: back to the questions
                        if driver.root is None or driver.root.find("Dial") is None:
                            break
                        step(lambda: driver.dial_result("no-answer"))
                step(lambda: driver.press(rng.choice("123456")))  # the topic
                answered = rng.choice((1, 2))
                for _ in range(answered):
                    step(lambda: driver.answer("#", 4))
                    if driver.callback_reply is None or driver.callback_reply.status != 204:
                        raise CallCut("recording callback refused")
                for _ in range(QUESTIONS - answered):
                    step(lambda: driver.press("#"))
                step(lambda: driver.press(rng.choice("1234")))  # the district
                step(lambda: driver.press("9"))  # no tip-number repeat
                step(lambda: driver.press("", "#"))  # no PIN
            driver.verb("Hangup")
        except (CallCut, AssertionError) as exc:
            placed.cut = True
            with self.stats.lock:
                self.stats.failures.append(f"call {placed.call_sid} ({kind}) cut: {exc}")
        # Twilio's final status callback; Twilio does not give up on a status callback after
        # one refusal here either (both nodes down would be an outage, not a soak).
        placed.hung_up_at = time.time()
        for _ in range(30):
            if driver.hang_up(95).status == 204:
                break
            time.sleep(1)
        return placed


# ---------------------------------------------------------------------------------------------
# Faults


@dataclass
class FaultLog:
    done: list[tuple[str, float, float]] = field(default_factory=list)  # name, start, seconds
    errors: list[str] = field(default_factory=list)


def run_faults(cluster: Cluster, phase: Phase, progress: Callable[[], float], faults: FaultLog, only: set[str]) -> None:
    """The schedule: each fault when this share of the calls has been started."""
    from rq import Worker

    scale = cluster.scale

    def web() -> None:
        victim = 0
        cluster.kill(f"web{victim + 1}")
        time.sleep(max(2.0, 20 * scale))
        cluster.start_web(victim)
        cluster.wait_web(victim)

    def worker() -> None:
        conn = redis.Redis.from_url(cluster.redis_url)
        deadline = time.monotonic() + 30
        victim = cluster.workers[0]
        while time.monotonic() < deadline:  # one in the middle of a job
            busy = [
                w.name.split(".")[0]
                for w in Worker.all(connection=conn)
                if w.name.split(".")[0] in cluster.workers and w.get_current_job_id() is not None
            ]
            if busy:
                victim = busy[0]
                break
            time.sleep(0.05)
        cluster.kill(victim)
        cluster.workers.remove(victim)
        log(f"  killed worker {victim}")
        cluster.start_worker()
        cluster.wait_workers(only=cluster.workers[-1:])

    def redis_restart() -> None:
        cluster.procs.stop("redis", grace=10)
        time.sleep(max(1.0, 5 * scale))
        cluster.start_redis()

    def storage() -> None:
        assert cluster.seaweed is not None
        cluster.stop_seaweed()
        time.sleep(max(3.0, 30 * scale))
        cluster.seaweed.start()

    def twilio() -> None:
        assert cluster.twilio is not None
        cluster.twilio.fail_next("", times=10**9, status=500)
        time.sleep(max(5.0, 60 * scale))
        cluster.twilio.clear_faults()

    schedule: list[tuple[float, str, Callable[[], None]]] = [
        (0.10, "web node killed", web),
        (0.25, "worker killed", worker),
        (0.40, "redis restarted", redis_restart),
        (0.55, "storage down", storage),
        (0.70, "twilio 500", twilio),
    ]
    for share, name, action in schedule:
        if name not in only:
            continue
        while progress() < share:
            time.sleep(0.1)
        log(f"fault: {name}")
        began = time.monotonic()
        with phase.during(name):
            try:
                action()
            except Exception as exc:
                faults.errors.append(f"{name}: {exc!r}")
                traceback.print_exc()
        faults.done.append((name, began, time.monotonic() - began))
        log(f"fault over: {name} ({time.monotonic() - began:.1f} s)")


# ---------------------------------------------------------------------------------------------
# Checks


@dataclass
class Verdict:
    lost: list[str] = field(default_factory=list)
    duplicated: list[str] = field(default_factory=list)
    figures: dict[str, Any] = field(default_factory=dict)

    @property
    def settled(self) -> bool:
        return not self.lost and not self.duplicated


def check(cluster: Cluster, engine: Any, placed: list[Placed]) -> Verdict:
    """What the database, the bucket and Twilio hold, against what the calls did."""
    from sqlalchemy import func, select
    from sqlalchemy.orm import Session

    from hotline.models import Assignment, Call, Event, Notification, Recording

    v = Verdict()
    with Session(engine) as s:
        recordings = {r.recording_sid: r for r in s.scalars(select(Recording))}
        report_of = {sid: report_id for sid, report_id in s.execute(select(Call.call_sid, Call.report_id))}
        assignments: dict[int, set[str]] = {}
        for report_id, agency in s.execute(select(Assignment.report_id, Assignment.agency_id)):
            assignments.setdefault(report_id, set()).add(agency)
        notified: dict[tuple[int, str, int], list[float]] = {}
        details: dict[tuple[int, str, int], list[dict[str, Any]]] = {}
        routed: set[int] = set()
        stored_events: dict[str, int] = {}
        for report_id, kind, at, detail in s.execute(select(Event.report_id, Event.kind, Event.at, Event.detail)):
            detail = detail or {}
            if kind == "notified" and detail.get("level", 0) == 0:
                # One notice per agency per round (a call-back's new information opens a round).
                key = (report_id, detail.get("agency", ""), detail.get("round", 0))
                notified.setdefault(key, []).append(epoch(at))
                details.setdefault(key, []).append(detail)
            elif kind == "routed":
                routed.add(report_id)
            elif kind == "recording_stored" and detail.get("recording_sid"):
                stored_events[detail["recording_sid"]] = stored_events.get(detail["recording_sid"], 0) + 1
        sms_sent = (
            s.scalar(
                select(func.count())
                .select_from(Notification)
                .where(Notification.channel == "sms", Notification.status == "sent")
            )
            or 0
        )
    keys = cluster.s3_keys()
    expected_sids = [sid for call in placed for sid in call.recordings]
    blob_keys = {r.blob_key for r in recordings.values() if r.blob_key}
    transcript_keys = {r.transcript_key for r in recordings.values() if r.transcript_key}
    stored = 0
    for sid in expected_sids:
        row = recordings.get(sid)
        if row is None:
            v.lost.append(f"recording {sid}: no Recording row")
        elif row.fetch_state != "stored" or not row.blob_key:
            v.lost.append(f"recording {sid}: {row.fetch_state} ({row.last_error})")
        elif row.blob_key not in keys:
            v.lost.append(f"recording {sid}: object {row.blob_key} missing")
        else:
            stored += 1
        if stored_events.get(sid, 0) > 1:
            v.duplicated.append(f"recording {sid}: stored {stored_events[sid]} times")
    # Each object has its wrapped data key beside it (envelope encryption): KEY.dek.
    referenced = blob_keys | transcript_keys
    referenced |= {k + ".dek" for k in referenced}
    orphans = sorted(keys - referenced)
    if not v.lost:
        # Before the pipeline has drained, an object just written by a job that has not
        # committed yet is work in flight; once everything is stored, it is a duplicate.
        v.duplicated.extend(f"object {key}: no row refers to it" for key in orphans)
    reports = routed_count = 0
    to_notified: list[float] = []
    for call in placed:
        if call.kind == "callback":
            continue
        report_id = report_of.get(call.call_sid)
        if report_id is None:
            v.lost.append(f"call {call.call_sid}: no report")
            continue
        reports += 1
        if report_id not in routed:
            v.lost.append(f"report {report_id}: never routed")
            continue
        routed_count += 1
        agencies = assignments.get(report_id, set())
        if not agencies:
            v.lost.append(f"report {report_id}: routed to no agency")
        times = []
        for agency in agencies:
            sent = notified.get((report_id, agency, 0), [])
            if not sent:
                v.lost.append(f"report {report_id}: {agency} never notified")
            else:
                times.append(min(sent))
        if times and len(times) == len(agencies):
            to_notified.append(max(times) - call.hung_up_at)
    # A delivery whose SMS failed records the channels that worked (the log) and is retried
    # for the rest: a duplicate is a channel notified twice for one agency in one round.
    for key, found in details.items():
        channels = [c for d in found for c in d.get("channels", [])]
        twice = sorted({c for c in channels if channels.count(c) > 1})
        if twice:
            report_id, agency, round_ = key
            v.duplicated.append(f"report {report_id}: {agency} notified by {twice} twice in round {round_}: {found}")
    twilio = cluster.twilio
    assert twilio is not None
    sms_at_twilio = len(twilio.messages)
    # The same text to the same phone twice is a notice sent twice (call-backs' "new
    # information" notices and escalations say something else).
    seen: dict[tuple[str, str], int] = {}
    for message in list(twilio.messages):
        pair = (message["to"], message["body"])
        seen[pair] = seen.get(pair, 0) + 1
    for (_to, body), times in seen.items():
        if times > 1:
            v.duplicated.append(f"SMS sent {times} times to one phone: {body[:60]!r}")
    v.figures = {
        "recordings": len(expected_sids),
        "stored": stored,
        "objects": len(keys & blob_keys),
        "reports": reports,
        "routed": routed_count,
        "notices": sum(len(t) for t in notified.values()),
        "sms_at_twilio": sms_at_twilio,
        "sms_sent": sms_sent,
        "to_notified": to_notified,
    }
    return v


# ---------------------------------------------------------------------------------------------
# The run


@contextmanager
def database(name: str, keep: bool = False) -> Iterator[None]:
    import psycopg

    with psycopg.connect(ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield
    finally:
        if keep:
            log(f"database {name} kept")
        else:
            with psycopg.connect(ADMIN_DSN, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def sigterm_as_exit() -> Iterator[None]:
    def handler(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


FAULTS = ("web node killed", "worker killed", "redis restarted", "storage down", "twilio 500")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--think", type=float, default=2.0, help="mean seconds between a caller's steps")
    parser.add_argument("--concurrency", type=int, default=32, help="calls in progress at once")
    parser.add_argument(
        "--drain", type=float, default=0, help="seconds to wait for the pipeline (default: 3 s a call, at least 150)"
    )
    parser.add_argument("--skip-fault", action="append", default=[], choices=FAULTS, help="leave a fault out")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--keep", action="store_true", help="keep the logs' directory and the database")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # Faults last as long as in the issue for 1,000 calls and shrink with the run.
    scale = min(1.0, max(0.05, args.calls / 1000))
    tmp = Path(tempfile.mkdtemp(prefix="hotline-soak-"))
    procs = Processes()
    db_name = f"hotline_soak_{os.getpid()}_{secrets.token_hex(3)}"
    cluster = Cluster(tmp, procs, db_name, scale)
    twilio = FakeTwilio(ACCOUNT_SID, AUTH_TOKEN)
    cluster.twilio = twilio
    stats, phase, faults = Stats(), Phase(), FaultLog()
    placed: list[Placed] = []
    began = time.monotonic()
    with sigterm_as_exit(), database(db_name, keep=args.keep):
        engine = None
        try:
            from sqlalchemy import create_engine, select

            from hotline.cli.database import upgrade
            from hotline.models import Report

            twilio.start()
            log(f"logs in {tmp}; database {db_name}")
            cluster.start_redis()
            cluster.start_seaweed()
            cluster.configure()
            upgrade(cluster.database_url)
            engine = create_engine(cluster.database_url)
            cluster.web_ports = [free_port(), free_port()]
            for i in range(2):
                cluster.start_web(i)
            for _ in range(3):
                cluster.start_worker()
            for i in range(2):
                cluster.wait_web(i)
            cluster.wait_workers()
            log(f"up in {time.monotonic() - began:.1f} s: 2 web nodes, 3 workers, redis, seaweedfs, twilio")

            transport = TwoNodes(cluster.web_ports, stats, phase, args.seed)
            poster = AppTwilio(WebhookSender(AUTH_TOKEN, transport), PUBLIC_URL)
            tip_cache: list[str] = []
            tip_lock = threading.Lock()
            tip_checked = [0.0]

            def tips() -> list[str]:
                """Tip numbers of earlier reports, for call-backs (refreshed now and then)."""
                with tip_lock:
                    if time.monotonic() - tip_checked[0] > 2:
                        tip_checked[0] = time.monotonic()
                        with engine.connect() as conn:  # type: ignore[union-attr]
                            found = conn.scalars(
                                select(Report.tip_number).where(
                                    Report.call_ended_at.is_not(None), Report.pin_hash.is_(None)
                                )
                            ).all()
                        tip_cache[:] = [t for t in found if t]
                    return list(tip_cache)

            caller = Caller(poster, twilio, args.think, stats, tips)
            started = [0]
            next_lock = threading.Lock()

            def progress() -> float:
                return started[0] / args.calls

            def worker_thread() -> None:
                while True:
                    with next_lock:
                        index = started[0]
                        if index >= args.calls:
                            return
                        started[0] += 1
                    call = caller.place(index, args.seed)
                    with next_lock:
                        placed.append(call)

            only = set(FAULTS) - set(args.skip_fault)
            fault_thread = threading.Thread(
                target=run_faults, args=(cluster, phase, progress, faults, only), daemon=True
            )
            fault_thread.start()
            threads = [threading.Thread(target=worker_thread, daemon=True) for _ in range(args.concurrency)]
            placing = time.monotonic()
            for t in threads:
                t.start()
            for t in threads:
                while t.is_alive():
                    t.join(1)
            placing = time.monotonic() - placing
            log(f"{len(placed)} calls placed in {placing:.1f} s; waiting for the faults to end")
            # The faults still due (a short run places its calls faster than they play out).
            started[0] = args.calls
            fault_thread.join()
            # Transcription is the slow part (about 3-4 s of CPU a recording on these shared
            # cores): the bound grows with the calls.
            drain = args.drain or max(150.0, 3.0 * args.calls)
            log(f"draining (up to {drain:.0f} s)")
            deadline = time.monotonic() + drain
            drained = time.monotonic()
            while True:
                verdict = check(cluster, engine, placed)
                if verdict.settled or time.monotonic() > deadline:
                    break
                time.sleep(2)
            drained = time.monotonic() - drained
            # A last look a little later: a duplicate shows up after "everything done".
            time.sleep(3)
            verdict = check(cluster, engine, placed)
            for name in list(procs.running):
                if procs.running[name].poll() is not None:
                    verdict.lost.append(f"process {name} exited with {procs.running[name].returncode}")
            return report(args, cluster, stats, faults, placed, verdict, placing, drained)
        finally:
            if engine is not None:
                engine.dispose()
            procs.stop_all()
            if cluster.seaweed is not None:
                cluster.seaweed.stop()
            twilio.stop()
            if args.keep:
                log(f"logs kept in {tmp}")
            else:
                import shutil

                shutil.rmtree(tmp, ignore_errors=True)


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


def report(
    args: argparse.Namespace,
    cluster: Cluster,
    stats: Stats,
    faults: FaultLog,
    placed: list[Placed],
    verdict: Verdict,
    placing: float,
    drained: float,
) -> int:
    f = verdict.figures
    kinds = {k: sum(1 for c in placed if c.kind == k) for k in ("tip", "transfer", "callback")}
    cut = sum(1 for c in placed if c.cut)
    print(f"\nSoak: {args.calls} calls, 2 web nodes, 3 workers, PostgreSQL, Redis (AOF), SeaweedFS S3")
    print(
        f"calls placed: {len(placed)} in {placing:.0f} s ({kinds['tip']} tips, {kinds['transfer']} press-0 transfers, "
        f"{kinds['callback']} call-backs); cut off by the fallback: {cut}"
    )
    print(
        f"webhook requests: {stats.requests}; answered with valid TwiML: {stats.requests - stats.to_fallback}; "
        f"retried on the other node (fallback URL): {stats.retried_on_other_node}; "
        f"would have gone to the fallback: {stats.to_fallback}"
    )
    print(f"recordings: {f['recordings']} made, {f['stored']} stored once, {f['objects']} objects")
    print(
        f"reports: {f['reports']}, routed {f['routed']}; notices (once per agency): {f['notices']}; "
        f"SMS notices sent {f['sms_sent']}, SMS at Twilio {f['sms_at_twilio']}"
    )
    print(f"pipeline drained {drained:.0f} s after the last call and the last fault ended")
    print("faults: " + (", ".join(f"{n} ({s:.0f} s)" for n, _, s in faults.done) or "none"))
    for error in faults.errors:
        print(f"  fault FAILED: {error}")
    print("webhook latency per phase:")
    for name in ("normal", *FAULTS):
        values = stats.latency.get(name, [])
        if values:
            print(
                f"  {name:16} {len(values):6} requests  p50 {ms(percentile(values, 50)):>8}  "
                f"p99 {ms(percentile(values, 99)):>8}"
            )
    t = f["to_notified"]
    print(
        f"call end -> every agency notified: p50 {percentile(t, 50):.1f} s, p95 {percentile(t, 95):.1f} s "
        f"({len(t)} reports)"
    )
    for line in stats.failures[:10]:
        print(f"  refused: {line}")
    for what, items in (("LOST", verdict.lost), ("DUPLICATED", verdict.duplicated)):
        for item in items[:20]:
            print(f"  {what}: {item}")
    print(f"lost = {len(verdict.lost)}, duplicated = {len(verdict.duplicated)}")
    ok = verdict.settled and not faults.errors
    return 0 if ok else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
