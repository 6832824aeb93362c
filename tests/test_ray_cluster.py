"""Joining an existing Ray cluster (``--address``): a head node started with ``ray start
--head`` on 127.0.0.1, with Ray's token authentication on (the token passed to the driver
as ``RAY_AUTH_TOKEN``) and off, runs a smoke sweep whose trials write their records."""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.test_sweeps import QUIET, SWEEPS, tiny  # noqa: F401 - the tiny-store fixture

RAY = str(Path(sys.executable).parent / "ray")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(params=["token", "disabled"])
def cluster(request) -> Iterator[tuple[str, dict[str, str]]]:
    """A one-node Ray cluster: its address and the environment a driver needs to join it.

    ``ray start --block`` in its own process group, ended by signalling that group: not
    ``ray stop``, which stops every Ray process on the machine.
    """
    auth = {"RAY_AUTH_MODE": request.param}
    if request.param == "token":
        auth["RAY_AUTH_TOKEN"] = secrets.token_hex(16)
    port, tmp = _free_port(), tempfile.mkdtemp(prefix="lbiray", dir="/tmp")  # short socket paths
    env = {**os.environ, **QUIET, **auth}
    env.pop("RAY_ADDRESS", None)
    cmd = [RAY, "start", "--head", "--block", "--port", str(port), "--node-ip-address",
           "127.0.0.1", "--num-cpus", "2", "--include-dashboard", "false", "--temp-dir", tmp,
           "--disable-usage-stats"]  # fmt: skip
    head = subprocess.Popen(cmd, env=env, start_new_session=True, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)  # fmt: skip
    address = f"127.0.0.1:{port}"
    try:
        for _ in range(60):
            st = subprocess.run([RAY, "status", "--address", address], env=env,
                                capture_output=True, text=True)  # fmt: skip
            if st.returncode == 0:
                break
            assert head.poll() is None, head.stdout.read() if head.stdout else ""
            time.sleep(2)
        else:
            pytest.fail(f"ray head at {address} not up: {st.stdout}{st.stderr}")
        yield address, auth
    finally:
        for sig, wait in ((signal.SIGTERM, 30), (signal.SIGKILL, 10)):
            try:
                os.killpg(head.pid, sig)
                head.wait(wait)
                break
            except (ProcessLookupError, subprocess.TimeoutExpired):
                continue
        left = subprocess.run(["pgrep", "-f", tmp], capture_output=True, text=True).stdout
        for pid in left.split():  # ours: their command lines name our temp dir
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid), signal.SIGKILL)
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.mark.slow
def test_smoke_sweep_joins_a_running_cluster(cluster, tiny, tmp_path):  # noqa: F811
    from lbi.record import read_records

    address, auth = cluster
    env = {**os.environ, **QUIET, **auth, "PYTHONPATH": str(SWEEPS.parent),
           "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}"}  # fmt: skip
    env.pop("RAY_ADDRESS", None)
    cmd = [sys.executable, str(SWEEPS / "ablate_retention.py"), "--params",
           str(tiny / "params.yaml"), "--smoke", "--values", "0.3", "1.0", "--out",
           str(tmp_path / "out"), "--results-dir", str(tmp_path / "results"), "--address",
           address, "--cpus-per-trial", "1", "--quiet"]  # fmt: skip
    p = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
    log = p.stdout[-3000:] + p.stderr[-3000:]
    assert p.returncode == 0, log
    joined = re.search(
        r"Connecting to existing Ray cluster at address: (\S+):(\d+)", p.stdout + p.stderr
    )
    assert joined and joined[2] == address.split(":")[1], log  # (the head names its node IP)
    recs = read_records(tmp_path / "results" / "retention.jsonl")
    assert sorted(r.column for r in recs) == ["0.3", "1"]
    assert all(r.smoke and r.status == "finished" for r in recs)
    if auth["RAY_AUTH_MODE"] == "token":  # without the cluster's token the driver is refused
        bad = {**env, "RAY_AUTH_TOKEN": secrets.token_hex(16)}
        q = subprocess.run(cmd, cwd=tmp_path, env=bad, capture_output=True, text=True,
                           timeout=300)  # fmt: skip
        assert q.returncode != 0 and "token" in (q.stdout + q.stderr).lower()
