"""Webhook throughput and latency: the hotline's voice webhooks against a bare Flask app.

Run from the project root:

    .venv/bin/python bench/webhooks.py [--calls-per-level N] [--levels 16,64,256]

It starts a throwaway Redis and SQLite database, migrates the schema, serves `app:app` and
`bench/bare_app.py` under the same gunicorn settings, then, for each level, keeps that many
simulated calls running back to back (no think time) over keep-alive connections and prints
requests/s with p50/p99 latency for both apps and the hotline/bare throughput ratio.

Targets (reported, never asserted): hotline throughput >= 0.5x bare, and hotline p99 < 100 ms
at 64 concurrent calls. The exit status is non-zero only when requests failed.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import functools
import math
import os
import random
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parents[1]
# Run as a script: the project root (which holds `hotline`, not installed in the venv) is not
# on sys.path yet, and bench/ itself is, where bench/queue.py would shadow the stdlib `queue`.
sys.path[:] = [str(ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import redis  # noqa: E402
from twilio.request_validator import RequestValidator  # noqa: E402

from bench.databases import DEFAULT_PG_URL, database  # noqa: E402
from hotline.embedded_redis import server_binary  # noqa: E402
from hotline.simulator.webhooks import Line, Place, recording_params, signed  # noqa: E402

SAFE_SCHOOLS = "+13148897233"
CALLER = "+13145550123"
ACCOUNT_SID = "AC" + "b" * 32
# A fresh token each run: nothing here is a real secret, but nothing should look reusable.
AUTH_TOKEN = secrets.token_hex(16)
QUESTIONS = 5  # recorded questions in the Safe Schools flow
# incoming, language, topic, (record action + recording status) per question, district,
# tip number, PIN skipped with '#', call status.
REQUESTS_PER_CALL = 3 + 2 * QUESTIONS + 4
BARE_PATH = "/twiml"


@dataclass(frozen=True)
class GunicornSettings:
    """Identical for both apps, so the ratio measures only what the hotline does per request."""

    workers: int = 2
    # gthread, because only it keeps Twilio's keep-alive connections open (sync closes each
    # one). One thread per worker, because the webhooks are CPU-bound under the GIL: on this
    # 2-core machine threads=1 served as much or more than 2, and 4-16 lost 20-50% of the
    # throughput and multiplied p99 (more GIL hand-offs, more SQLite writers queuing on the
    # write lock). `--threads` overrides it to compare.
    worker_class: str = "gthread"
    threads: int = 1
    keepalive: int = 30

    def args(self) -> list[str]:
        return [
            "--workers",
            str(self.workers),
            "--worker-class",
            self.worker_class,
            "--threads",
            str(self.threads),
            # Twilio reuses connections; a long keep-alive also stops gunicorn closing a
            # connection between two levels while the client is about to reuse it.
            "--keep-alive",
            str(self.keepalive),
            # 256 calls connect at once; the default backlog (2048) covers it, said explicitly.
            # Each worker binds its own SO_REUSEPORT socket, so the kernel spreads connections
            # across workers. With one shared socket, whichever worker wakes first accepts all
            # the keep-alive connections opened at once: one worker did all the work at 1.0 core.
            "--reuse-port",
            "--backlog",
            "2048",
            "--graceful-timeout",
            "5",
        ]


# ---------------------------------------------------------------------------------------------
# Processes: everything started here is stopped in `finally`, also on Ctrl-C and SIGTERM.


class Processes:
    """The child processes of this run; each in its own session so it can be stopped whole."""

    def __init__(self) -> None:
        self.running: list[tuple[str, subprocess.Popen[bytes]]] = []

    def start(self, name: str, cmd: list[str], log: Path, env: dict[str, str] | None = None) -> None:
        with open(log, "wb") as out:
            # A new session: Ctrl-C in the terminal reaches only this script, which then stops
            # the children in order, and killpg() reaches gunicorn's workers too.
            proc = subprocess.Popen(
                cmd, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=ROOT, start_new_session=True
            )
        self.running.append((name, proc))

    def pid(self, name: str) -> int:
        return next(proc.pid for n, proc in self.running if n == name)

    def stop_all(self) -> None:
        for name, proc in reversed(self.running):
            if proc.poll() is None:
                # SIGTERM first: gunicorn's master stops its workers gracefully.
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    print(f"{name} did not stop on SIGTERM; killing it", file=sys.stderr)
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
            # Workers of a master that died would keep the session alive: end them too.
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.running.clear()

    def check_alive(self) -> None:
        for name, proc in self.running:
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
            continue  # exited meanwhile
        # Fields after the parenthesised command name: state, ppid, pgrp, ... utime (12th), stime.
        fields = stat[stat.rfind(b")") + 2 :].split()
        if int(fields[2]) == pgid:
            ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def machine_cpu() -> float:
    """Busy CPU seconds of the whole machine (all cores), from the first line of /proc/stat."""
    with open("/proc/stat", "rb") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_redis(procs: Processes, workdir: Path) -> str:
    port = free_port()
    cmd = [str(server_binary()), "--port", str(port), "--bind", "127.0.0.1"]
    cmd += ["--save", "", "--appendonly", "no", "--dir", str(workdir)]
    procs.start("redis", cmd, workdir / "redis.log")
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url)
    deadline = time.monotonic() + 10
    while True:
        try:
            client.ping()
            return url
        except redis.ConnectionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def start_gunicorn(
    procs: Processes, name: str, target: str, port: int, settings: GunicornSettings, log: Path, env: dict[str, str]
) -> None:
    cmd = [sys.executable, "-m", "gunicorn", target, "--chdir", str(ROOT)]
    cmd += ["--bind", f"127.0.0.1:{port}", *settings.args()]
    procs.start(name, cmd, log, env)


def wait_until_serving(procs: Processes, port: int, path: str, timeout: float = 30.0) -> None:
    """Wait until both workers answer (an unsigned POST: the hotline replies 403, bare 200)."""
    deadline = time.monotonic() + timeout
    answered = 0
    while answered < 8:  # several answers, so both workers have most likely loaded the app
        procs.check_alive()
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
                s.sendall(f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".encode())
                if s.recv(64).startswith(b"HTTP/1.1 "):
                    answered += 1
                    continue
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"nothing answered on port {port} within {timeout:.0f} s")
        time.sleep(0.1)


# ---------------------------------------------------------------------------------------------
# HTTP/1.1 client: hand-written framing over asyncio streams, because the load generator shares
# the two cores with the servers and must cost as little as possible per request.


class HTTPError(Exception):
    """The connection broke or the response could not be framed."""


class Connection:
    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.reconnects = 0

    async def _open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        sock = self.writer.get_extra_info("socket")
        if sock is not None:
            # Requests are one write each: waiting for Nagle would only add latency.
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None

    async def post(self, path: str, body: bytes, signature: str) -> tuple[int, bytes]:
        request = (
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\n"
            "Content-Type: application/x-www-form-urlencoded\r\n"
            f"X-Twilio-Signature: {signature}\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode("latin-1") + body
        for attempt in range(2):
            reused = self.writer is not None
            if not reused:
                await self._open()
            assert self.reader is not None and self.writer is not None
            self.writer.write(request)
            try:
                status, data, keep = await self._response(self.reader)
            except asyncio.IncompleteReadError as exc:
                self.close()
                # The server closed an idle keep-alive connection before reading anything:
                # the request was never seen, so sending it again on a new one is safe.
                if reused and attempt == 0 and not exc.partial:
                    self.reconnects += 1
                    continue
                raise HTTPError(f"connection closed mid-response ({len(exc.partial)} bytes read)") from exc
            except (ConnectionError, asyncio.LimitOverrunError, ValueError) as exc:
                self.close()
                raise HTTPError(f"{type(exc).__name__}: {exc}") from exc
            if not keep:
                self.close()
            return status, data
        raise HTTPError("unreachable")

    @staticmethod
    async def _response(reader: asyncio.StreamReader) -> tuple[int, bytes, bool]:
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        status = int(lines[0].split(b" ", 2)[1])
        length = -1
        chunked = False
        keep = True
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding":
                chunked = b"chunked" in value.lower()
            elif name == b"connection":
                keep = value.strip().lower() != b"close"
        if chunked:
            parts = []
            while True:
                size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
                if size == 0:
                    await reader.readuntil(b"\r\n")  # no trailers are sent to us
                    break
                parts.append(await reader.readexactly(size))
                await reader.readexactly(2)
            return status, b"".join(parts), keep
        if length >= 0:
            return status, await reader.readexactly(length), keep
        if status in (204, 304) or 100 <= status < 200:
            return status, b"", keep
        return status, await reader.read(), False  # framed by closing the connection


# ---------------------------------------------------------------------------------------------
# Measurement


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of an already sorted list."""
    if not sorted_values:
        return math.nan
    return sorted_values[min(len(sorted_values) - 1, max(0, math.ceil(q * len(sorted_values)) - 1))]


@dataclass
class Window:
    """One level on one app: warm-up by request count, then a measured window."""

    warmup_requests: int
    measured_requests: int
    done: int = 0
    measuring: bool = False
    stop: bool = False
    started: float = 0.0
    ended: float = 0.0
    cpu_started: float = 0.0
    cpu_ended: float = 0.0
    # CPU seconds used so far by the server under test (gunicorn master and workers).
    server_cpu: Callable[[], float] = lambda: 0.0
    server_cpu_started: float = 0.0
    server_cpu_ended: float = 0.0
    machine_cpu_started: float = 0.0
    machine_cpu_ended: float = 0.0
    latencies: dict[str, list[float]] = field(default_factory=dict)
    errors: Counter[str] = field(default_factory=Counter)
    finished: asyncio.Event = field(default_factory=asyncio.Event)

    def record(self, kind: str, seconds: float) -> None:
        self.done += 1
        if self.measuring:
            self.latencies.setdefault(kind, []).append(seconds)
            if self.done >= self.warmup_requests + self.measured_requests:
                self.measuring, self.stop = False, True
                self.ended, self.cpu_ended = time.perf_counter(), time.process_time()
                self.server_cpu_ended, self.machine_cpu_ended = self.server_cpu(), machine_cpu()
                self.finished.set()
        elif not self.stop and self.done >= self.warmup_requests:
            self.measuring = True
            self.server_cpu_started, self.machine_cpu_started = self.server_cpu(), machine_cpu()
            self.started, self.cpu_started = time.perf_counter(), time.process_time()

    def error(self, what: str) -> None:
        self.errors[what] += 1
        # Failed requests never fill the window: give up on a level that mostly fails rather
        # than spin until the timeout.
        if self.errors.total() >= max(50, self.measured_requests // 10):
            self.measuring, self.stop = False, True
            self.finished.set()

    @property
    def all_latencies(self) -> list[float]:
        return sorted(x for values in self.latencies.values() for x in values)

    @property
    def count(self) -> int:
        return sum(len(v) for v in self.latencies.values())

    @property
    def rate(self) -> float:
        return self.count / (self.ended - self.started) if self.ended > self.started else 0.0

    @property
    def generator_cpu(self) -> float:
        """Cores this process (the load generator) used during the window."""
        return (self.cpu_ended - self.cpu_started) / (self.ended - self.started) if self.ended else 0.0

    @property
    def other_cpu(self) -> float:
        """Cores used by everything else: Redis, and whatever else runs on this machine."""
        if not self.ended:
            return 0.0
        busy = (self.machine_cpu_ended - self.machine_cpu_started) / (self.ended - self.started)
        return max(0.0, busy - self.app_cpu - self.generator_cpu)

    @property
    def app_cpu(self) -> float:
        """Cores the server used during the window: near 2.0 means CPU-bound, lower means waiting."""
        spent = self.server_cpu_ended - self.server_cpu_started
        return spent / (self.ended - self.started) if self.ended else 0.0


class WalkError(Exception):
    """The app answered something a Twilio call could not follow."""


# The caller every benchmark call comes from, as Twilio describes it (the simulator's wire,
# the same parameters the tests send).
LINE = Line(ACCOUNT_SID, CALLER, SAFE_SCHOOLS, "JANE DOE", Place("CLAYTON", "MO", "63105"))


def call_params(call_sid: str) -> dict[str, str]:
    """Every parameter Twilio sends with each voice request (the identity ones included)."""
    return LINE.params(call_sid)


# Seconds a caller spends listening between requests (0: back to back, a saturation test).
# A real caller hears a prompt of several seconds before each key press.
THINK = 0.0


class Client:
    """One simulated caller's connection: signs like Twilio, times each request."""

    def __init__(self, base_url: str, port: int, window: Window, validator: RequestValidator) -> None:
        self.base_url = base_url
        self.conn = Connection(port)
        self.window = window
        self.validator = validator

    async def post(self, kind: str, url: str, params: dict[str, str]) -> tuple[int, bytes]:
        if not url.startswith(self.base_url):
            raise WalkError(f"{kind}: a URL outside the public base URL: {url}")
        _, signature = signed(self.validator, "POST", url, params)
        body = urlencode(params).encode("ascii")
        started = time.perf_counter()
        status, data = await self.conn.post(url[len(self.base_url) :], body, signature)
        elapsed = time.perf_counter() - started
        if status not in (200, 204):
            raise WalkError(f"{kind}: HTTP {status}")
        self.window.record(kind, elapsed)
        if THINK:
            await asyncio.sleep(THINK * random.uniform(0.5, 1.5))
        return status, data


def twiml(kind: str, status: int, data: bytes) -> ET.Element:
    if status != 200:
        raise WalkError(f"{kind}: HTTP {status} where TwiML was expected")
    try:
        root = ET.fromstring(data)  # noqa: S314 - our own server's reply, over loopback
    except ET.ParseError as exc:
        raise WalkError(f"{kind}: TwiML does not parse") from exc
    if root.tag != "Response":
        raise WalkError(f"{kind}: root element is <{root.tag}>")
    return root


def action_of(root: ET.Element, tag: str, base_url: str, step: str) -> ET.Element:
    """The verb Twilio would act on next; anything else (the salvage path) is a failure."""
    element = root.find(tag)
    if element is None:
        raise WalkError(f"{step}: expected <{tag}>, got {[c.tag for c in root]}")
    if not element.attrib.get("action", "").startswith(f"{base_url}/voice/input/"):
        raise WalkError(f"{step}: <{tag}> action {element.attrib.get('action')!r} leaves the flow")
    return element


async def walk_call(client: Client) -> None:
    """One Safe Schools call, following the action URLs in each reply as Twilio would."""
    base = client.base_url
    call_sid = "CA" + uuid.uuid4().hex
    params = call_params(call_sid)
    root = twiml(
        "incoming", *await client.post("incoming", f"{base}/voice/incoming", {**params, "CallStatus": "ringing"})
    )

    async def press(step: str, digits: str, **extra: str) -> ET.Element:
        url = action_of(root, "Gather", base, step).attrib["action"]
        return twiml(step, *await client.post("gather", url, {**params, "Digits": digits, **extra}))

    async def silence(step: str) -> ET.Element:
        # The <Gather> times out: Twilio follows the <Redirect> after it, without Digits.
        redirect = root.find("Redirect")
        if redirect is None or not redirect.text:
            raise WalkError(f"{step}: expected a <Redirect>, got {[c.tag for c in root]}")
        return twiml(step, *await client.post("gather", redirect.text, params))

    root = await press("language", "1")
    root = await silence("call-back offer")  # not calling back
    root = await press("topic", "1")
    for question in range(QUESTIONS):
        record = action_of(root, "Record", base, f"question {question + 1}")
        recording_sid = "RE" + uuid.uuid4().hex
        media = f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Recordings/{recording_sid}"
        answer = {"RecordingSid": recording_sid, "RecordingUrl": media, "RecordingDuration": "7"}
        status, data = await client.post("record", record.attrib["action"], {**params, **answer, "Digits": "#"})
        root = twiml("record", status, data)
        callback = recording_params(ACCOUNT_SID, call_sid, recording_sid, media, "completed", 7)
        await client.post("recording_status", record.attrib["recordingStatusCallback"], callback)
    root = await press("district", "2")
    root = await press("tip number", "9")  # any key but 1 moves on
    # '#' alone skips the PIN: entering one costs an argon2 hash, a different benchmark.
    root = await press("pin", "#", FinishedOnKey="#")
    if root.find("Hangup") is None:
        raise WalkError(f"goodbye: expected <Hangup>, got {[c.tag for c in root]}")
    end = {**params, "CallStatus": "completed", "CallDuration": "95"}
    await client.post("status", f"{base}/voice/status", end)


async def bare_call(client: Client) -> None:
    """The same number of signed, Twilio-sized form posts to the bare endpoint."""
    params = call_params("CA" + uuid.uuid4().hex)
    for _ in range(REQUESTS_PER_CALL):
        status, data = await client.post("bare", client.base_url + BARE_PATH, {**params, "Digits": "1"})
        twiml("bare", status, data)


async def run_level(
    calls: int,
    per_level: int,
    port: int,
    walker: Callable[[Client], Awaitable[None]],
    validator: RequestValidator,
    server_cpu: Callable[[], float],
) -> Window:
    """`calls` closed loops, each running calls back to back until the window is full."""
    # Warm-up: about one call per loop, so connections are open, workers are hot and the loops
    # have drifted apart (they all start at the same step) before anything is measured.
    window = Window(
        warmup_requests=calls * REQUESTS_PER_CALL,
        measured_requests=per_level * REQUESTS_PER_CALL,
        server_cpu=server_cpu,
    )
    base_url = f"http://127.0.0.1:{port}"

    async def loop() -> None:
        client = Client(base_url, port, window, validator)
        try:
            while not window.stop:
                try:
                    await walker(client)
                except WalkError as exc:
                    window.error(str(exc))
                except HTTPError as exc:
                    window.error(str(exc))
                    client.conn.close()
                    await asyncio.sleep(0.01)  # don't spin on a server that refuses us
                except OSError as exc:
                    window.error(f"{type(exc).__name__}: {exc}")
                    client.conn.close()
                    await asyncio.sleep(0.01)
        finally:
            client.conn.close()

    tasks = [asyncio.create_task(loop()) for _ in range(calls)]
    # Whole run bounded: a stuck server shows as an error instead of a hung benchmark.
    await asyncio.wait(
        [asyncio.create_task(window.finished.wait()), *tasks],
        timeout=600,
        return_when=asyncio.FIRST_COMPLETED,
    )
    window.stop = True
    if not window.finished.is_set():
        window.error("level did not finish (timeout or every loop ended)")
    # Loops stop at their next request; give in-flight requests time to end, then cancel.
    _, pending = await asyncio.wait(tasks, timeout=30)
    for task in pending:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return window


# ---------------------------------------------------------------------------------------------
# Reporting


def ms(seconds: float) -> str:
    return "-" if math.isnan(seconds) else f"{seconds * 1000:.1f}"


def summary(window: Window) -> tuple[str, str, str]:
    values = window.all_latencies
    return f"{window.rate:,.0f}", ms(percentile(values, 0.50)), ms(percentile(values, 0.99))


def print_table(rows: list[tuple[int, Window, Window]]) -> None:
    header = (
        f"{'calls':>5} | {'hotline req/s':>13} {'p50 ms':>7} {'p99 ms':>7} | "
        f"{'bare req/s':>10} {'p50 ms':>7} {'p99 ms':>7} | {'ratio':>5} | {'errors':>6} | "
        f"{'app CPU h/b':>11} | {'gen CPU h/b':>11} | {'other h/b':>9}"
    )
    print(header)
    print("-" * len(header))
    for calls, hot, bare in rows:
        h_rate, h50, h99 = summary(hot)
        b_rate, b50, b99 = summary(bare)
        ratio = hot.rate / bare.rate if bare.rate else math.nan
        errors = sum(hot.errors.values()) + sum(bare.errors.values())
        app = f"{hot.app_cpu:.2f}/{bare.app_cpu:.2f}"
        gen = f"{hot.generator_cpu:.2f}/{bare.generator_cpu:.2f}"
        other = f"{hot.other_cpu:.1f}/{bare.other_cpu:.1f}"
        print(
            f"{calls:>5} | {h_rate:>13} {h50:>7} {h99:>7} | {b_rate:>10} {b50:>7} {b99:>7} | "
            f"{ratio:>5.2f} | {errors:>6} | {app:>11} | {gen:>11} | {other:>9}"
        )
    print(
        "(CPU columns, in cores of the machine's 2, hotline/bare run: app = gunicorn master and workers, "
        "gen = this load generator, other = Redis plus anything else running on the machine)"
    )


def print_breakdown(rows: list[tuple[int, Window, Window]]) -> None:
    """Hotline latency by webhook kind: shows which request type drives the tail."""
    kinds = ("incoming", "gather", "record", "recording_status", "status")
    print("\nhotline latency by webhook, p50/p99 ms")
    print(f"{'calls':>5} | " + " | ".join(f"{k:>17}" for k in kinds))
    for calls, hot, _ in rows:
        cells = []
        for kind in kinds:
            values = sorted(hot.latencies.get(kind, []))
            cells.append(f"{ms(percentile(values, 0.5)) + '/' + ms(percentile(values, 0.99)):>17}")
        print(f"{calls:>5} | " + " | ".join(cells))


def print_targets(rows: list[tuple[int, Window, Window]]) -> None:
    print("\ntargets (reported, not asserted):")
    for calls, hot, bare in rows:
        ratio = hot.rate / bare.rate if bare.rate else math.nan
        line = f"  {calls:>3} calls: throughput {ratio:.2f}x bare (target >= 0.50): "
        line += "met" if ratio >= 0.5 else "MISSED"
        if calls == 64:
            p99 = percentile(hot.all_latencies, 0.99) * 1000
            line += f"; p99 {p99:.1f} ms (target < 100): " + ("met" if p99 < 100 else "MISSED")
        print(line)


def app_log_errors(log: Path) -> list[str]:
    """Failures the app handled itself (it answers salvage TwiML with 200, so count its log)."""
    if not log.exists():
        return []
    lines = log.read_text(errors="replace").splitlines()
    marks = (" ERROR ", "[ERROR]", "[CRITICAL]", "Traceback")
    return [line for line in lines if any(mark in line for mark in marks)]


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
    parser.add_argument(
        "--calls-per-level", type=int, default=300, help="calls measured per level, after warm-up (default 300)"
    )
    parser.add_argument("--levels", default="16,64,256", help="concurrent calls, comma-separated")
    parser.add_argument(
        "--think",
        type=float,
        default=0.0,
        help="mean seconds each caller waits between requests (0 = back to back; try 1 for paced calls)",
    )
    parser.add_argument("--workers", type=int, default=GunicornSettings.workers, help="gunicorn workers (both apps)")
    parser.add_argument("--threads", type=int, default=GunicornSettings.threads, help="gthread threads per worker")
    parser.add_argument("--worker-class", default=GunicornSettings.worker_class, help="gunicorn worker class")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (database, logs)")
    parser.add_argument("--db", default="sqlite", choices=["sqlite", "postgresql"], help="the hotline's database")
    parser.add_argument("--pg-url", default=os.environ.get("PG_URL", DEFAULT_PG_URL), help="PostgreSQL URL")
    args = parser.parse_args()
    args.levels = [int(x) for x in args.levels.split(",") if x.strip()]
    if not args.levels or min(args.levels) < 1 or args.calls_per_level < 1:
        parser.error("levels and --calls-per-level must be positive")
    return args


def main() -> int:
    args = parse_args()
    settings = GunicornSettings(workers=args.workers, threads=args.threads, worker_class=args.worker_class)
    global THINK
    THINK = args.think
    tmp = Path(tempfile.mkdtemp(prefix="hotline-bench-"))
    procs = Processes()
    hot_log, bare_log = tmp / "hotline.log", tmp / "bare.log"
    rows: list[tuple[int, Window, Window]] = []
    finished = False
    try:
        with sigterm_as_exit(), ExitStack() as cleanup:
            redis_url = start_redis(procs, tmp)
            database_url = cleanup.enter_context(database(args.db, tmp, args.pg_url, name="bench_webhooks"))
            # Runs before the database is dropped: no server may still hold a connection.
            cleanup.callback(procs.stop_all)
            hot_port, bare_port = free_port(), free_port()
            env = {
                **os.environ,
                "HOTLINE_CONFIG": str(ROOT / "config.yaml"),
                "DATABASE_URL": database_url,
                "REDIS_URL": redis_url,
                "HOTLINE_PUBLIC_URL": f"http://127.0.0.1:{hot_port}",
                "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
                "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
                "HOTLINE_INSTANCE_PATH": str(tmp / "instance"),
                "HOTLINE_STORAGE_PATH": str(tmp / "storage"),
                "HOTLINE_SECRET_KEY": secrets.token_hex(32),
                "HOTLINE_AUDIT_KEY": secrets.token_hex(32),
                # Set every secret: two workers generating dev secrets at once would race.
                "HOTLINE_MASTER_KEY": base64.b64encode(secrets.token_bytes(32)).decode(),
            }
            start_gunicorn(procs, "hotline", "app:app", hot_port, settings, hot_log, env)
            start_gunicorn(procs, "bare", "bench.bare_app:app", bare_port, settings, bare_log, env)
            wait_until_serving(procs, hot_port, "/voice/incoming")
            wait_until_serving(procs, bare_port, BARE_PATH)

            print(f"gunicorn (both apps): {' '.join(settings.args())}; hotline database: {args.db}", flush=True)
            pacing = f"think time {args.think:g} s" if args.think else "no think time"
            print(
                f"load: {args.calls_per_level} calls measured per level after one call per loop of warm-up; "
                f"{REQUESTS_PER_CALL} requests per call, {pacing}, keep-alive; the PIN is skipped "
                "('#'), so no argon2 hash is measured\n",
                flush=True,
            )
            validator = RequestValidator(AUTH_TOKEN)
            for calls in args.levels:
                hot_cpu = functools.partial(group_cpu, procs.pid("hotline"))
                hot = asyncio.run(run_level(calls, args.calls_per_level, hot_port, walk_call, validator, hot_cpu))
                procs.check_alive()
                bare_cpu = functools.partial(group_cpu, procs.pid("bare"))
                bare = asyncio.run(run_level(calls, args.calls_per_level, bare_port, bare_call, validator, bare_cpu))
                procs.check_alive()
                rows.append((calls, hot, bare))
                print(f"  level {calls} done", file=sys.stderr, flush=True)
        finished = True
    finally:
        procs.stop_all()
        if not finished and not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)  # interrupted: nothing worth keeping

    print_table(rows)
    print_breakdown(rows)
    print_targets(rows)
    failures: Counter[str] = Counter()
    for _, hot, bare in rows:
        failures.update({f"hotline: {k}": v for k, v in hot.errors.items()})
        failures.update({f"bare: {k}": v for k, v in bare.errors.items()})
    logged = app_log_errors(hot_log) + app_log_errors(bare_log)
    if failures or logged:
        print("\nerrors:")
        for what, n in failures.most_common(10):
            print(f"  {n:>6} x {what}")
        for line in logged[:10]:
            print(f"  app log: {line}")
        print(f"  logs kept in {tmp}")
        return 1
    print("\nerrors: none")
    if args.keep:
        print(f"temporary files kept in {tmp}")
    else:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        # main() has already stopped gunicorn and Redis in its `finally`.
        print("\ninterrupted; every process this benchmark started is stopped", file=sys.stderr)
        sys.exit(130)
