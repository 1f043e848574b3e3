"""A broken flow stops `make run` before anything starts: one line naming the file and step,
exit status 1, no traceback, no Redis or database started."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT


def test_make_run_refuses_a_broken_flow_with_one_line(tmp_path: Path) -> None:
    flows = tmp_path / "ivr_flows"
    flows.mkdir()
    for path in (ROOT / "ivr_flows").glob("*.yaml"):
        (flows / path.name).write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
    prea = flows / "prea.yaml"
    prea.write_text(prea.read_text(encoding="utf-8").replace("type: hangup", "type: hangupp"), encoding="utf-8")
    (tmp_path / "config.yaml").write_text((ROOT / "config.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HOTLINE_", "FLASK_", "DATABASE_URL", "REDIS_URL"))}
    env.update(HOTLINE_CONFIG=str(tmp_path / "config.yaml"), HOTLINE_INSTANCE_PATH=str(tmp_path / "instance"))
    done = subprocess.run(
        [sys.executable, "-m", "hotline.devserver"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1
    assert f"hotline cannot start: {prea}: step 'thanks': unknown step type 'hangupp'" in done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    assert not (tmp_path / "instance" / "redis").exists()  # refused before starting anything
    assert not (tmp_path / "instance" / "hotline.db").exists()
