"""The secure voicemail pipeline: storage throughput, transcription speed, end-to-end latency.

Run from the project root:

    .venv/bin/python bench/pipeline.py [--recordings 200] [--calls 200] [--rate 1.5] [--keep]

It prints three figures, each measured in this run on this machine:

1. Recordings stored per second by 1 and by 2 real worker processes (`flask --app app worker`):
   fetch a 30-second 8 kHz WAV from a local server playing Twilio's REST API, check it,
   encrypt it, store it, read it back and verify it, delete it at "Twilio" (the production
   setting `pipeline.delete_from_twilio: true`). Against it, the same bytes fetched from the
   same server and simply written to disk with fsync, by 1 and by 2 processes (the ratio).
2. The transcription real-time factor (CPU seconds per audio second) on one pinned core.
3. End-to-end seconds from a call's final `completed` status callback to every assignment of
   its report notified, p50/p95 over simulated calls placed through the signed webhooks at a
   steady rate, with 2 workers running continuously.

Targets (reported, never asserted): storage >= 0.5x the plain copy; transcription faster
than real time on one core; end-to-end p95 < 10 s plus the transcription time of a call. The
exit status is non-zero only when something failed: a recording not stored, a report never
routed or notified, a webhook refused, an error in a worker's log.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import io
import json
import math
import multiprocessing
import os
import random
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
import wave
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
# Run as a script: the project root (which holds `hotline`, not installed in the venv) is not
# on sys.path yet, and bench/ itself is, where a module named like a stdlib one (queue.py)
# would shadow it for everything imported below.
sys.path[:] = [str(ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import numpy as np  # noqa: E402
import redis  # noqa: E402
import requests  # noqa: E402
import yaml  # noqa: E402

from hotline.embedded_redis import server_binary  # noqa: E402
from hotline.queueing import QUEUE_NAMES  # noqa: E402
from hotline.simulator.driver import AppTwilio, CallDriver  # noqa: E402
from hotline.simulator.webhooks import Line, Reply, WsgiTransport  # noqa: E402
from hotline.simulator.webhooks import Twilio as WebhookSender  # noqa: E402

UTTERANCES = ROOT / "tests" / "data" / "utterances"
SAFE_SCHOOLS = "+13148897233"
CALLER = "+13145550123"
ACCOUNT_SID = "AC" + "d" * 32
# Fresh secrets each run: nothing here is real, and nothing should look reusable.
AUTH_TOKEN = secrets.token_hex(16)
PUBLIC_URL = "http://hotline.bench.invalid"
QUESTIONS = 5  # recorded questions in the Safe Schools flow
LONG_SECONDS = 30
SAMPLE_RATE = 8000


# ---------------------------------------------------------------------------------------------
# Processes: everything started here is stopped in `finally`, also on Ctrl-C and SIGTERM.


class Processes:
    """The child processes of this run; each in its own session so it can be stopped whole."""

    def __init__(self) -> None:
        self.running: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str, cmd: list[str], log: Path, env: dict[str, str] | None = None) -> None:
        with open(log, "ab") as out:
            # A new session: Ctrl-C in the terminal reaches only this script, which then stops
            # the children itself.
            self.running[name] = subprocess.Popen(
                cmd, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=ROOT, start_new_session=True
            )

    def pid(self, name: str) -> int:
        return self.running[name].pid

    def stop(self, name: str, grace: float = 10.0) -> None:
        """SIGTERM, then SIGKILL after `grace` seconds; the whole process group either way."""
        proc = self.running.pop(name)
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            except ProcessLookupError:
                pass
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # anything left in its session
        except ProcessLookupError:
            pass

    def stop_all(self) -> None:
        for name in reversed(list(self.running)):
            self.stop(name, grace=5.0)

    def check_alive(self) -> None:
        for name, proc in self.running.items():
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited with status {proc.returncode}")


def group_cpu(pgid: int) -> float:
    """CPU seconds (user + system) of every live process in a process group, from /proc."""
    ticks = 0
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rfind(b")") + 2 :].split()
        if int(fields[2]) == pgid:
            ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def machine_cpu() -> float:
    """Busy CPU seconds of the whole machine (all cores), from the first line of /proc/stat."""
    with open("/proc/stat", "rb") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    return (sum(fields[:8]) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")  # minus idle, iowait


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(procs: Processes, port: int, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        procs.check_alive()
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"nothing listens on port {port} after {timeout:.0f} s") from None
            time.sleep(0.05)


def start_redis(procs: Processes, workdir: Path) -> str:
    port = free_port()
    cmd = [str(server_binary()), "--port", str(port), "--bind", "127.0.0.1"]
    cmd += ["--save", "", "--appendonly", "no", "--dir", str(workdir)]
    procs.start("redis", cmd, workdir / "redis.log")
    wait_for_port(procs, port)
    return f"redis://127.0.0.1:{port}/0"


def start_fake_twilio(procs: Processes, tmp: Path, recordings: dict[str, Path]) -> str:
    """FakeTwilio in its own process, so its GIL is nobody else's: serves `recordings`."""
    manifest = tmp / "fake-twilio.json"
    manifest.write_text(json.dumps({sid: str(path) for sid, path in recordings.items()}))
    port = free_port()
    cmd = [sys.executable, str(Path(__file__).resolve()), "--serve-fake-twilio", str(manifest), "--port", str(port)]
    procs.start("fake-twilio", cmd, tmp / "fake-twilio.log")
    wait_for_port(procs, port)
    return f"http://127.0.0.1:{port}"


def serve_fake_twilio(manifest: Path, port: int) -> None:
    """Child process: FakeTwilio with every recording of the manifest, until SIGTERM."""
    from hotline.simulator.fake_twilio import FakeTwilio

    entries: dict[str, str] = json.loads(manifest.read_text())
    blobs = {path: Path(path).read_bytes() for path in set(entries.values())}  # one copy per file
    fake = FakeTwilio(ACCOUNT_SID, os.environ["TWILIO_AUTH_TOKEN"], port=port)
    for sid, path in entries.items():
        fake.add_recording(ACCOUNT_SID, sid, blobs[path])
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    fake.start()
    while True:
        time.sleep(3600)


# ---------------------------------------------------------------------------------------------
# Audio


def read_samples(path: Path) -> np.ndarray:
    with wave.open(str(path), "rb") as w:
        assert (w.getframerate(), w.getsampwidth(), w.getnchannels()) == (SAMPLE_RATE, 2, 1), path
        return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")


def wav_bytes(samples: np.ndarray) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(SAMPLE_RATE)
        w.writeframes(samples.astype("<i2").tobytes())
    return out.getvalue()


def long_recording(clips: list[Path], seconds: int = LONG_SECONDS) -> bytes:
    """A 30 s, 8 kHz, 16-bit mono WAV of real speech: the test utterances, 0.4 s apart, looped."""
    gap = np.zeros(int(0.4 * SAMPLE_RATE), dtype=np.int16)
    parts: list[np.ndarray] = []
    total = 0
    while total < seconds * SAMPLE_RATE:
        for clip in clips:
            parts += [read_samples(clip), gap]
            total += len(parts[-2]) + len(gap)
    return wav_bytes(np.concatenate(parts)[: seconds * SAMPLE_RATE])


# ---------------------------------------------------------------------------------------------
# Measurement helpers


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    if not ordered:
        return math.nan
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def epoch(moment: datetime) -> float:
    """Seconds since the epoch of a UTC datetime, naive (the database's) or aware (RQ's)."""
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


@dataclass
class Rate:
    label: str
    count: int
    seconds: float
    cpu: float = math.nan  # CPU seconds of the processes doing the work
    machine: float = math.nan  # busy CPU seconds of the whole machine over the same window

    @property
    def per_second(self) -> float:
        return self.count / self.seconds if self.seconds > 0 else math.nan


# ---------------------------------------------------------------------------------------------
# 1a. The plain copy: the same fetch from the same server, then write + fsync, no crypto.


_DEFAULT_SIGTERM = (signal.SIGTERM, signal.SIG_DFL)


def _copy_some(args: tuple[str, list[str], str, bool]) -> tuple[float, float, float, int]:
    """Worker process: fetch each recording (or reuse `data`) and write it with fsync."""
    base_url, sids, outdir, fetch = args
    data = b""
    if not fetch:
        data = Path(outdir, "source.wav").read_bytes()
    cpu0 = time.process_time()
    started = time.time()
    written = 0
    for sid in sids:
        if fetch:
            # Like the hotline's adapter: a new session (and connection) per request, basic auth.
            url = f"{base_url}/2010-04-01/Accounts/{ACCOUNT_SID}/Recordings/{sid}.wav"
            response = requests.get(url, auth=(ACCOUNT_SID, AUTH_TOKEN), timeout=20)
            if response.status_code != 200:
                raise RuntimeError(f"plain copy: HTTP {response.status_code} for {sid}")
            data = response.content
        with open(Path(outdir, f"{sid}.wav"), "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        written += len(data)
    return started, time.time(), time.process_time() - cpu0, written


def plain_copy(label: str, base_url: str, sids: list[str], outdir: Path, streams: int, fetch: bool) -> Rate:
    """`streams` forked processes share the recordings; the window is first start to last end."""
    outdir.mkdir(parents=True, exist_ok=True)
    chunks = [(base_url, sids[i::streams], str(outdir), fetch) for i in range(streams)]
    # Forked children inherit this process's SIGTERM handler (raise SystemExit): a child that
    # raised it while exiting hung on a lock. They get the default action back, and the pool is
    # closed and joined rather than terminated.
    pool = multiprocessing.get_context("fork").Pool(streams, initializer=signal.signal, initargs=_DEFAULT_SIGTERM)
    try:
        busy = machine_cpu()
        results = pool.map(_copy_some, chunks)
        busy = machine_cpu() - busy
        pool.close()
    except BaseException:
        pool.terminate()
        raise
    finally:
        pool.join()
    seconds = max(r[1] for r in results) - min(r[0] for r in results)
    rate = Rate(label, len(sids), seconds, cpu=sum(r[2] for r in results), machine=busy)
    for entry in outdir.iterdir():
        entry.unlink()
    return rate


# ---------------------------------------------------------------------------------------------
# Calls through the signed webhooks (Flask's test client in this process, like the tests)


class WebhookError(Exception):
    pass


@dataclass
class PlacedCall:
    call_sid: str
    recordings: list[str]
    clips: list[str]
    hung_up_at: float = math.nan  # time.time() just before the `completed` status was posted


class Twilio:
    """Posts to the app the way Twilio does, in process: the simulator's call driver over the
    Flask test client (form-encoded, signed over the public URL)."""

    def __init__(self, app: Any, media_base: str) -> None:
        self.poster = AppTwilio(WebhookSender(AUTH_TOKEN, WsgiTransport(app.test_client())), PUBLIC_URL)
        self.media_base = media_base

    def place_call(
        self, recordings: list[str], durations: list[int], topic: str, district: str, hang_up: bool
    ) -> PlacedCall:
        """One Safe Schools call: language, topic, the answers, district, tip number, no PIN."""
        line = Line(ACCOUNT_SID, CALLER, SAFE_SCHOOLS)
        driver = CallDriver(self.poster, line, media_base=self.media_base)
        call = PlacedCall(driver.call_sid, recordings, [])

        def expect(reply: Reply, status: int = 200) -> None:
            if reply.status != status:
                raise WebhookError(f"{driver.url or 'callback'}: HTTP {reply.status}, expected {status}")
            if status == 200 and driver.root is None:
                raise WebhookError(f"{driver.url}: not a TwiML <Response>")

        try:
            expect(driver.start())
            expect(driver.press("1"))  # English
            expect(driver.silence())  # not calling back: the offer times out
            expect(driver.press(topic))
            for sid, seconds in zip(recordings, durations, strict=True):
                # The driver posts the <Record>'s action, then its recording status callback.
                expect(driver.answer("#", seconds, recording_sid=sid))
                assert driver.callback_reply is not None
                expect(driver.callback_reply, 204)
            for _ in range(QUESTIONS - len(recordings)):
                expect(driver.press("#"))  # skip the question
            expect(driver.press(district))
            expect(driver.press("9"))  # no tip-number repeat
            expect(driver.press("", "#"))  # no PIN
            driver.verb("Hangup")
        except AssertionError as exc:  # the driver's "no <Gather> in ..."
            raise WebhookError(f"{call.call_sid}: {exc}") from None
        if hang_up:
            call.hung_up_at = time.time()
            expect(driver.hang_up(95), 204)
        return call


# ---------------------------------------------------------------------------------------------
# The hotline: configuration, a phase's database, workers


@dataclass
class Context:
    tmp: Path
    procs: Processes
    redis_url: str
    media_base: str
    master_key: str = field(default_factory=lambda: base64.b64encode(secrets.token_bytes(32)).decode())
    secret_key: str = field(default_factory=lambda: secrets.token_hex(32))
    audit_key: str = field(default_factory=lambda: secrets.token_hex(32))
    worker_logs: list[Path] = field(default_factory=list)

    def config(self, name: str, reconcile_seconds: int) -> Path:
        """config.yaml as shipped, plus this run's pipeline settings and SMS to the fake Twilio."""
        raw = yaml.safe_load((ROOT / "config.yaml").read_text())
        raw["flows_dir"] = str(ROOT / raw.get("flows_dir", "ivr_flows"))
        raw["pipeline"] = {**raw.get("pipeline", {}), "reconcile_seconds": reconcile_seconds}
        # SMS through the local Twilio, so notifying is a network call, as in production.
        raw["notifications"] = {**raw.get("notifications", {}), "sms": True, "sms_from": SAFE_SCHOOLS}
        path = self.tmp / f"{name}.yaml"
        path.write_text(yaml.safe_dump(raw, sort_keys=False))
        return path

    def env(self, phase: Path, config: Path) -> dict[str, str]:
        return {
            **os.environ,
            "HOTLINE_CONFIG": str(config),
            "DATABASE_URL": f"sqlite:///{phase / 'hotline.db'}",
            "REDIS_URL": self.redis_url,
            "HOTLINE_PUBLIC_URL": PUBLIC_URL,
            "TWILIO_API_BASE_URL": self.media_base,
            "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
            "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
            "HOTLINE_MASTER_KEY": self.master_key,
            "HOTLINE_SECRET_KEY": self.secret_key,
            "HOTLINE_AUDIT_KEY": self.audit_key,
            "HOTLINE_STORAGE_PATH": str(phase / "storage"),
            "HOTLINE_INSTANCE_PATH": str(phase / "instance"),
        }


@contextmanager
def phase_app(env: dict[str, str], redis_url: str) -> Iterator[Any]:
    """The app in this process (for the webhooks and for reading results), on a fresh database."""
    import logging

    from hotline import create_app
    from hotline.cli.database import upgrade
    from hotline.extensions import db
    from hotline.settings import load_settings

    upgrade(env["DATABASE_URL"])
    settings = load_settings(env["HOTLINE_CONFIG"], environ={**env, "REDIS_URL": redis_url})
    app = create_app(settings)
    logging.getLogger().setLevel(logging.WARNING)  # the webhooks' INFO lines would drown the output
    try:
        with app.app_context():
            yield app
    finally:
        db.dispose()


def start_workers(ctx: Context, phase: Path, env: dict[str, str], count: int) -> list[str]:
    names = []
    for i in range(count):
        name = f"{phase.name}-w{i + 1}"
        log = phase / f"{name}.log"
        ctx.worker_logs.append(log)
        ctx.procs.start(name, [sys.executable, "-m", "flask", "--app", "app", "worker", "--name", name], log, env)
        names.append(name)
    return names


def wait_workers_idle(ctx: Context, conn: redis.Redis, names: list[str], timeout: float = 60.0) -> None:
    """Until every worker is registered and idle and no job is queued or running (its first sweep)."""
    from rq import Queue, Worker

    deadline = time.monotonic() + timeout
    quiet_since = None
    while True:
        ctx.procs.check_alive()
        workers = {w.name: w for w in Worker.all(connection=conn)}
        idle = all(
            n in workers and str(getattr(workers[n].get_state(), "value", workers[n].get_state())) == "idle"
            for n in names
        )
        busy = any(
            Queue(q, connection=conn).count or Queue(q, connection=conn).started_job_registry.count for q in QUEUE_NAMES
        )
        if idle and not busy:
            quiet_since = quiet_since or time.monotonic()
            if time.monotonic() - quiet_since > 0.5:
                return
        else:
            quiet_since = None
        if time.monotonic() > deadline:
            raise RuntimeError(f"workers {names} not idle after {timeout:.0f} s")
        time.sleep(0.1)


def worker_cpu(ctx: Context, names: list[str]) -> float:
    return sum(group_cpu(ctx.procs.pid(n)) for n in names)


# ---------------------------------------------------------------------------------------------
# 1b. The hotline's storage path, by real worker processes


@dataclass
class StorageResult:
    rate: Rate
    stored: int
    expected: int
    transcriptions_overlapping: int
    first_job_seconds: float
    verified: int


def storage_phase(ctx: Context, workers: int, sids: list[str], long_wav: bytes) -> StorageResult:
    """Fetch + check + encrypt + store + verify + delete `sids` with `workers` worker processes.

    The webhooks of this phase enqueue into an unused Redis database, so that every fetch job
    can be enqueued at t0 in one MULTI/EXEC while the workers wait idle. The fetch jobs then
    all precede, in the FIFO `recordings` queue, every transcription job they enqueue: no
    transcription runs until the last fetch has been taken. The window is t0 to the end of the
    last fetch job (RQ's ended_at); a transcription that a second worker starts while the last
    fetch is still running is counted and printed.
    """
    from rq import Queue
    from rq.job import Job
    from sqlalchemy import func, select

    from hotline.extensions import db, runtime
    from hotline.jobs.declarations import FETCH
    from hotline.models import Recording
    from hotline.pipeline.services import services_for

    phase = ctx.tmp / f"storage-{workers}w"
    phase.mkdir()
    env = ctx.env(phase, ctx.config(f"storage-{workers}w", reconcile_seconds=3600))
    conn = redis.Redis.from_url(ctx.redis_url)
    conn.flushall()
    side_redis = ctx.redis_url.rsplit("/", 1)[0] + "/1"
    with phase_app(env, side_redis) as app:
        names = start_workers(ctx, phase, env, workers)
        # Idle first: each worker's first sweep must not find (and enqueue) these recordings.
        wait_workers_idle(ctx, conn, names)
        twilio = Twilio(app, ctx.media_base)
        for i in range(0, len(sids), QUESTIONS):
            batch = sids[i : i + QUESTIONS]
            twilio.place_call(batch, [LONG_SECONDS] * len(batch), topic="6", district="3", hang_up=False)
        queue = Queue("recordings", connection=conn)
        jobs = [
            queue.create_job(
                FETCH.func,
                args=(sid,),
                job_id=FETCH.id(sid),
                failure_ttl=86400,
                timeout=600,
                retry=FETCH.retry.rq() if FETCH.retry else None,
            )
            for sid in sids
        ]
        cpu0, busy0 = worker_cpu(ctx, names), machine_cpu()
        with conn.pipeline() as pipe:  # MULTI/EXEC: the workers see all of them at once
            for job in jobs:
                queue.enqueue_job(job, pipeline=pipe)
            t0 = time.time()
            pipe.execute()
        deadline = time.monotonic() + 300
        stored = 0
        while time.monotonic() < deadline:
            ctx.procs.check_alive()
            stored = db.session.scalar(select(func.count()).where(Recording.fetch_state == "stored")) or 0
            settled = db.session.scalar(
                select(func.count()).where(Recording.fetch_state.in_(("stored", "dead", "refused")))
            )
            db.remove()
            if settled == len(sids):
                break
            time.sleep(0.05)
        # The job ends after the stored row is committed: wait for RQ to record its end.
        ends: list[float] = []
        while time.monotonic() < deadline:
            fetched = [j for j in Job.fetch_many([FETCH.id(s) for s in sids], connection=conn) if j is not None]
            ends = [epoch(j.ended_at) for j in fetched if j.ended_at is not None]
            if len(ends) == len(sids) or stored < len(sids):
                break
            time.sleep(0.05)
        t_end = max(ends) if ends else time.time()
        cpu, busy = worker_cpu(ctx, names) - cpu0, machine_cpu() - busy0
        for name in names:  # a worker may be transcribing by now: nothing more to measure
            ctx.procs.stop(name, grace=0.5)
        transcribing = Job.fetch_many([f"transcribe-{s}" for s in sids], connection=conn)
        overlapping = sum(1 for j in transcribing if j is not None and j.started_at and epoch(j.started_at) < t_end)
        first_job = (sorted(ends)[0] - t0) if ends else math.nan
        # Spot-check what the workers stored: decrypts to exactly the bytes "Twilio" served.
        store = services_for(runtime.get(app).settings).store
        verified = 0
        for rec in db.session.scalars(select(Recording).where(Recording.fetch_state == "stored").limit(5)):
            audio = store.get_decrypted(rec.blob_key or "", f"recording:{rec.recording_sid}".encode())
            verified += audio == long_wav and rec.sha256 == hashlib.sha256(long_wav).hexdigest()
        db.remove()
    label = f"hotline, {workers} worker{'s' if workers > 1 else ''}"
    return StorageResult(
        Rate(label, stored, t_end - t0, cpu, busy), stored, len(sids), overlapping, first_job, verified
    )


def component_costs(long_wav: bytes, tmp: Path, repeat: int = 10) -> tuple[float, float]:
    """CPU ms, in this process, of the fetch job's two heavy steps on one 30 s recording."""
    from hotline.crypto.envelope import MasterKeyRing
    from hotline.speech.audio import check_wav
    from hotline.storage.encrypted import EncryptedStore
    from hotline.storage.local import LocalBlobStore

    store = EncryptedStore(LocalBlobStore(tmp / "costs"), MasterKeyRing(secrets.token_bytes(32), []))
    check_wav(long_wav, max_seconds=3600)
    started = time.process_time()
    for _ in range(repeat):
        check_wav(long_wav, max_seconds=3600)
    check = (time.process_time() - started) / repeat * 1000
    started = time.process_time()
    for i in range(repeat):
        store.put_and_verify(f"recordings/1/RE{i:032x}.wav", long_wav, b"recording:bench")
    put = (time.process_time() - started) / repeat * 1000
    shutil.rmtree(tmp / "costs", ignore_errors=True)
    return check, put


# ---------------------------------------------------------------------------------------------
# 2. Transcription real-time factor, on one pinned core


@dataclass
class Transcription:
    cpu: dict[str, float]  # CPU seconds per clip name (and "long" for the 30 s clip)
    audio: dict[str, float]

    def rtf(self, names: list[str]) -> float:
        return sum(self.cpu[n] for n in names) / sum(self.audio[n] for n in names)


def transcription_rtf(clips: list[Path], long_wav: bytes) -> Transcription:
    from hotline.speech.transcriber import Transcriber

    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {min(before)})  # restored before any child process is started
    try:
        transcriber = Transcriber()
        transcriber.transcribe(clips[0].read_bytes())  # warm-up: first-call allocations
        result = Transcription({}, {})
        for name, data in [(c.name, c.read_bytes()) for c in clips] + [("long", long_wav)]:
            t = transcriber.transcribe(data)
            result.cpu[name], result.audio[name] = t.cpu_seconds, t.audio_seconds
        return result
    finally:
        os.sched_setaffinity(0, before)


# ---------------------------------------------------------------------------------------------
# 3. End to end: calls at a steady rate, 2 workers running continuously


@dataclass
class EndToEnd:
    calls: list[PlacedCall]
    latency: dict[str, float]  # call sid -> seconds from `completed` posted to last notified
    stages: dict[str, list[float]]
    failures: list[str]
    placing_seconds: float
    worker_cpu: float
    max_backlog: int
    repeated: dict[str, int]  # event kind -> recordings it happened to more than once
    window: float  # seconds from the first call to the last notice (or the timeout)
    machine: float  # busy CPU seconds of the whole machine over the window


def plan_calls(count: int, clips: list[Path], seed: int = 7) -> list[tuple[list[str], list[str], str, str]]:
    """Per call: recording sids, clip names, topic key, district key (seeded, so runs compare)."""
    rng = random.Random(seed)
    plans = []
    for _ in range(count):
        chosen = rng.sample(clips, rng.choice((1, 2)))
        sids = ["RE" + uuid.UUID(int=rng.getrandbits(128)).hex for _ in chosen]
        plans.append((sids, [c.name for c in chosen], rng.choice("123456"), rng.choice("1234")))
    return plans


def end_to_end(
    ctx: Context, plans: list[tuple[list[str], list[str], str, str]], rate: float, reconcile: int, workers: int
) -> EndToEnd:
    from rq import Queue
    from sqlalchemy import func, select

    from hotline.extensions import db
    from hotline.models import Assignment, Call, Event

    phase = ctx.tmp / "end-to-end"
    phase.mkdir()
    env = ctx.env(phase, ctx.config("end-to-end", reconcile_seconds=reconcile))
    conn = redis.Redis.from_url(ctx.redis_url)
    conn.flushall()
    durations = {c.name: max(1, round(len(read_samples(c)) / SAMPLE_RATE)) for c in UTTERANCES.glob("u*.wav")}
    placed: list[PlacedCall] = []
    failures: list[str] = []
    with phase_app(env, ctx.redis_url) as app:
        names = start_workers(ctx, phase, env, workers)
        wait_workers_idle(ctx, conn, names)
        twilio = Twilio(app, ctx.media_base)
        cpu0, busy0 = worker_cpu(ctx, names), machine_cpu()
        max_backlog = 0
        started = time.monotonic()
        for i, (sids, clip_names, topic, district) in enumerate(plans):
            delay = started + i / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            if i % 10 == 0:
                ctx.procs.check_alive()
                max_backlog = max(max_backlog, sum(Queue(q, connection=conn).count for q in QUEUE_NAMES))
            call = twilio.place_call(sids, [durations[c] for c in clip_names], topic, district, hang_up=True)
            call.clips = clip_names
            placed.append(call)
        placing = time.monotonic() - started
        print(f"  {len(placed)} calls placed in {placing:.1f} s; waiting for the last notices", file=sys.stderr)

        def snapshot() -> tuple[dict[int, str], dict[int, int], dict[int, dict[str, list[float]]]]:
            report_of = {r: c for c, r in db.session.execute(select(Call.call_sid, Call.report_id))}
            assignments: dict[int, int] = {}
            for report_id in db.session.scalars(select(Assignment.report_id)):
                assignments[report_id] = assignments.get(report_id, 0) + 1
            events: dict[int, dict[str, list[float]]] = {}
            for report_id, kind, at, detail in db.session.execute(
                select(Event.report_id, Event.kind, Event.at, Event.detail)
            ):
                if kind == "notified" and (detail or {}).get("level", 0) != 0:
                    continue
                events.setdefault(report_id, {}).setdefault(kind, []).append(epoch(at))
            db.remove()
            return report_of, assignments, events

        def done(report_id: int, assignments: dict[int, int], events: dict[int, dict[str, list[float]]]) -> bool:
            notified = len(events.get(report_id, {}).get("notified", []))
            return report_id in assignments and notified >= assignments[report_id]

        deadline = time.monotonic() + 300
        while True:
            ctx.procs.check_alive()
            max_backlog = max(max_backlog, sum(Queue(q, connection=conn).count for q in QUEUE_NAMES))
            report_of, assignments, events = snapshot()
            if all(done(r, assignments, events) for r in report_of):
                break
            if time.monotonic() > deadline:
                break
            time.sleep(0.25)
        cpu, busy, window = worker_cpu(ctx, names) - cpu0, machine_cpu() - busy0, time.monotonic() - started
        # Every job is meant to do its work once: count recordings stored or transcribed twice.
        repeated: dict[str, int] = {}
        for kind, sid, times in db.session.execute(
            select(Event.kind, Event.detail["recording_sid"].as_string(), func.count())
            .where(Event.kind.in_(("recording_stored", "transcribed")))
            .group_by(Event.kind, Event.detail["recording_sid"].as_string())
        ):
            if sid and times > 1:
                repeated[kind] = repeated.get(kind, 0) + 1
        db.remove()
        for name in names:
            ctx.procs.stop(name)
    report_by_call = {call_sid: report_id for report_id, call_sid in report_of.items()}
    latency: dict[str, float] = {}
    stages: dict[str, list[float]] = {k: [] for k in ("recording_stored", "transcribed", "routed", "notified")}
    for call in placed:
        report_id = report_by_call.get(call.call_sid)
        if report_id is None:
            failures.append(f"call {call.call_sid}: no report")
            continue
        if not done(report_id, assignments, events):
            routed = "routed" in events.get(report_id, {})
            failures.append(f"report {report_id}: {'not every assignment notified' if routed else 'never routed'}")
            continue
        for kind in stages:
            if kind in events[report_id]:
                stages[kind].append(max(events[report_id][kind]) - call.hung_up_at)
        latency[call.call_sid] = max(events[report_id]["notified"]) - call.hung_up_at
    return EndToEnd(placed, latency, stages, failures, placing, cpu, max_backlog, repeated, window, busy)


# ---------------------------------------------------------------------------------------------
# Reporting


def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def log_errors(logs: list[Path]) -> list[str]:
    """Errors the workers logged: each failed job with the exception it raised (RQ retries it)."""
    found = []
    for log in logs:
        if not log.exists():
            continue
        lines = log.read_text(errors="replace").splitlines()
        for i, line in enumerate(lines):
            if " ERROR " in line or " CRITICAL " in line:
                # The traceback that follows ends with the exception's own line.
                tail = next((t for t in lines[i + 1 : i + 80] if t and not t.startswith((" ", "Traceback"))), "")
                found.append(f"{log.name}: {line.split(' ', 2)[-1]} -> {tail}")
    return found


def print_storage(
    copies: list[Rate], disk: Rate, hotline: list[StorageResult], size: int, costs: tuple[float, float]
) -> list[bool]:
    print(
        f"1. storage: {hotline[0].expected} recordings per row, {LONG_SECONDS} s 8 kHz 16-bit mono WAV "
        f"({size / 1000:.0f} kB)"
    )
    print(f"   {'path':40} {'rec/s':>7} {'MB/s':>6} {'CPU ms/rec':>10} {'machine busy':>12}")
    for r in [disk, *copies, *(h.rate for h in hotline)]:
        cpu = r.cpu / r.count * 1000 if r.count else math.nan
        busy = f"{r.machine / r.seconds:.2f} cores" if r.seconds > 0 else "-"
        print(f"   {r.label:40} {r.per_second:7.1f} {r.per_second * size / 1e6:6.1f} {cpu:10.1f} {busy:>12}")
    print(
        "   (CPU ms/rec: of the copying processes or of the workers; machine busy: every process on the "
        "machine, FakeTwilio, Redis and other workloads included)"
    )
    results = []
    print()
    for h, copy in zip(hotline, copies, strict=True):
        ratio = h.rate.per_second / copy.per_second
        results.append(ratio >= 0.5)
        print(
            f"   {h.rate.label}: {ratio:.2f}x the plain copy with as many processes "
            f"(target >= 0.50): {verdict(ratio >= 0.5)}"
        )
    for h in hotline:
        print(
            f"   {h.rate.label}: {h.stored}/{h.expected} stored, {h.verified}/5 spot-checked decrypt to the "
            f"served bytes; first job done {h.first_job_seconds * 1000:.0f} ms after t0 (includes the "
            f"job module import); transcriptions started before the last fetch ended: "
            f"{h.transcriptions_overlapping}"
        )
    if len(hotline) == 2:
        print(f"   2 workers / 1 worker: {hotline[1].rate.per_second / hotline[0].rate.per_second:.2f}x")
    print(
        f"   in one process, per recording: the fetch job's WAV check (hotline.speech.audio.check_wav: "
        f"header, format and length) {costs[0]:.1f} ms CPU; put_and_verify (encrypt, two files with fsync, read back, "
        f"decrypt, compare) {costs[1]:.1f} ms CPU"
    )
    return results


def print_transcription(t: Transcription, clips: list[Path]) -> bool:
    names = [c.name for c in clips]
    rtf = t.rtf(names)
    print("\n2. transcription (pocketsphinx, one pinned core; CPU seconds / audio seconds)")
    print(
        f"   {len(names)} test utterances ({sum(t.audio[n] for n in names):.1f} s of audio): "
        f"real-time factor {rtf:.3f}, {1 / rtf:.1f}x faster than real time"
    )
    print(f"   the 30 s storage clip: real-time factor {t.rtf(['long']):.3f} ({t.cpu['long']:.2f} s CPU)")
    ok = rtf < 1 and t.rtf(["long"]) < 1
    print(f"   target faster than real time on one core: {verdict(ok)}")
    return ok


def print_end_to_end(e: EndToEnd, t: Transcription, rate: float, reconcile: int, workers: int) -> bool:
    latencies = list(e.latency.values())
    per_call = [sum(t.cpu[c] for c in call.clips) for call in e.calls]
    recordings = sum(len(call.clips) for call in e.calls)
    transcribe_mean = statistics.fmean(per_call) if per_call else math.nan
    print(
        f"\n3. end to end: {len(e.calls)} Safe Schools calls with {recordings} recordings (1-2 test "
        f"utterances each, random topic and district, seed 7) placed at {rate:g} per second "
        f"({len(e.calls) / e.placing_seconds:.2f} achieved) through the signed webhooks; {workers} workers, "
        f"reconcile every {reconcile} s, notices by log and SMS to the local Twilio"
    )
    print("   seconds from the `completed` status callback being posted to ... (p50 / p95 / max)")
    for kind, label in (
        ("recording_stored", "last recording stored"),
        ("transcribed", "last transcript stored"),
        ("routed", "routed"),
        ("notified", "every assignment notified"),
    ):
        values = e.stages[kind]
        if values:
            print(f"     {label:28} {percentile(values, 0.5):6.2f} {percentile(values, 0.95):6.2f} {max(values):6.2f}")
    p50, p95 = percentile(latencies, 0.5), percentile(latencies, 0.95)
    print(
        f"   transcription per call: mean {transcribe_mean:.2f} s, p95 {percentile(per_call, 0.95):.2f} s "
        f"(CPU seconds of its clips, from 2.)"
    )
    print(
        f"   over the {e.window:.0f} s from the first call to the last notice: workers busy "
        f"{e.worker_cpu / e.window:.2f} cores, the whole machine {e.machine / e.window:.2f} cores "
        f"(this process placing the calls, FakeTwilio, Redis and other workloads included)"
    )
    print(
        f"   worker CPU: {e.worker_cpu:.1f} s for {len(e.calls)} calls ({e.worker_cpu / max(1, len(e.calls)):.2f} "
        f"s per call); largest queue backlog seen {e.max_backlog} jobs; recordings transcribed more than once: "
        f"{e.repeated.get('transcribed', 0)}, stored more than once: {e.repeated.get('recording_stored', 0)}"
    )
    excess = [e.latency[c.call_sid] - per for c, per in zip(e.calls, per_call, strict=True) if c.call_sid in e.latency]
    limit = 10 + transcribe_mean
    ok = p95 < limit
    print(
        f"   end to end p50 {p50:.2f} s, p95 {p95:.2f} s; target p95 < 10 s + mean transcription "
        f"{transcribe_mean:.2f} s = {limit:.2f} s: {verdict(ok)} (p95 of each call's latency minus its own "
        f"transcription: {percentile(excess, 0.95):.2f} s)"
    )
    return ok


# ---------------------------------------------------------------------------------------------


@contextmanager
def sigterm_as_exit() -> Iterator[None]:
    """Turn SIGTERM into SystemExit so the `finally` that stops the children still runs."""

    def handler(signum: int, _frame: object) -> None:
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recordings", type=int, default=200, help="30 s recordings per storage row (default 200)")
    parser.add_argument("--calls", type=int, default=200, help="simulated calls end to end (default 200)")
    parser.add_argument("--rate", type=float, default=1.0, help="calls placed per second end to end (default 1)")
    parser.add_argument("--reconcile", type=int, default=2, help="pipeline.reconcile_seconds end to end (default 2)")
    parser.add_argument(
        "--phases", default="storage,transcription,e2e", help="comma-separated subset of storage,transcription,e2e"
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (databases, logs)")
    parser.add_argument("--serve-fake-twilio", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.recordings < 1 or args.calls < 1 or args.rate <= 0 or args.reconcile < 1:
        parser.error("--recordings, --calls, --rate and --reconcile must be positive")
    args.phases = {p.strip() for p in args.phases.split(",") if p.strip()}
    if not args.phases or not args.phases <= {"storage", "transcription", "e2e"}:
        parser.error("--phases takes storage, transcription and/or e2e")
    return args


def main() -> int:
    args = parse_args()
    if args.serve_fake_twilio:
        serve_fake_twilio(args.serve_fake_twilio, args.port)
        return 0
    clips = sorted(UTTERANCES.glob("u*.wav"))
    tmp = Path(tempfile.mkdtemp(prefix="hotline-pipeline-bench-"))
    procs = Processes()
    os.environ["TWILIO_AUTH_TOKEN"] = AUTH_TOKEN  # for the FakeTwilio child only
    workers = 2
    storage = "storage" in args.phases
    e2e_wanted = "e2e" in args.phases
    transcription: Transcription | None = None
    e2e: EndToEnd | None = None
    hotline: list[StorageResult] = []
    copies: list[Rate] = []
    worker_logs: list[Path] = []
    finished = False
    began = time.monotonic()

    def progress(what: str) -> None:
        print(f"  [{time.monotonic() - began:5.0f} s] {what}", file=sys.stderr, flush=True)

    try:
        with sigterm_as_exit():
            long_wav = long_recording(clips)
            (tmp / "long.wav").write_bytes(long_wav)
            print(f"machine: {os.cpu_count()} cores; temporary files in {tmp}", flush=True)
            if e2e_wanted or "transcription" in args.phases:
                progress("transcribing the test clips on one core")
                transcription = transcription_rtf(clips, long_wav)
            copy_sids, one_sids, two_sids = (["RE" + uuid.uuid4().hex for _ in range(args.recordings)] for _ in "123")
            plans = plan_calls(args.calls, clips)
            served: dict[str, Path] = {}
            if storage:
                served.update({sid: tmp / "long.wav" for sid in copy_sids + one_sids + two_sids})
            if e2e_wanted:
                served.update(
                    {sid: UTTERANCES / c for sids, names, _, _ in plans for sid, c in zip(sids, names, strict=True)}
                )
            if storage or e2e_wanted:
                redis_url = start_redis(procs, tmp)
                media_base = start_fake_twilio(procs, tmp, served)
                ctx = Context(tmp, procs, redis_url, media_base)
                worker_logs = ctx.worker_logs
            if storage:
                progress("plain copies")
                costs = component_costs(long_wav, tmp)
                (tmp / "copy").mkdir()
                (tmp / "copy" / "source.wav").write_bytes(long_wav)
                disk = plain_copy("disk only: write + fsync, 1 proc", "", copy_sids, tmp / "copy", 1, fetch=False)
                for n in (1, 2):
                    label = f"plain copy: fetch + write + fsync, {n} proc"
                    copies.append(plain_copy(label, media_base, copy_sids, tmp / "copy", n, fetch=True))
                for n, sids in ((1, one_sids), (2, two_sids)):
                    progress(f"hotline storage, {n} worker{'s' if n > 1 else ''}")
                    hotline.append(storage_phase(ctx, n, sids, long_wav))
            if e2e_wanted:
                assert transcription is not None
                progress(f"end to end: {args.calls} calls at {args.rate:g}/s")
                e2e = end_to_end(ctx, plans, args.rate, args.reconcile, workers)
            procs.check_alive()
            progress("done")
        finished = True
    finally:
        procs.stop_all()
        if not finished and not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)

    failures: list[str] = []
    print()
    if storage:
        print_storage(copies, disk, hotline, len(long_wav), costs)
        for h in hotline:
            if h.stored < h.expected:
                failures.append(f"storage, {h.rate.label}: {h.expected - h.stored} recordings not stored")
            if h.verified < min(5, h.expected):
                failures.append(f"storage, {h.rate.label}: only {h.verified}/5 spot checks decrypted correctly")
    if transcription is not None:
        print_transcription(transcription, clips)
    if e2e is not None and transcription is not None:
        print_end_to_end(e2e, transcription, args.rate, args.reconcile, workers)
        failures += e2e.failures
    failures += [f"worker log: {line}" for line in log_errors(worker_logs)]  # a job raised
    print(f"\ntargets are reported, not asserted; the run took {time.monotonic() - began:.0f} s")
    if failures:
        print(f"errors ({len(failures)}):")
        for line in failures[:20]:
            print(f"  {line}")
        print(f"  logs kept in {tmp}")
        return 1
    print("errors: none")
    if args.keep:
        print(f"temporary files kept in {tmp}")
    else:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        # main() has already stopped every child process in its `finally`.
        print("\ninterrupted; every process this benchmark started is stopped", file=sys.stderr)
        sys.exit(130)
