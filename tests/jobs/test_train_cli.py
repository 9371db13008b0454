"""The real CLI path: `ray start --head` in a private folder, then `ray job submit -- python jobs/train.py`."""

import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import pytest

from equicr.checkpoint import load_model
from equicr.ingest.simulated import write_synthetic_patches
from tests.fixtures.paths import REPO_ROOT

_TAKEN: set[int] = set()


def free_port() -> int:
    """A free port outside the kernel's ephemeral range (32768-60999) and Ray's worker ports (10002-19999).

    Ports the kernel hands out for port 0 come from the ephemeral range, where another Ray on this
    host (another test worker's) may take one between our choice and `ray start`; these it never hands out.
    """
    rng = random.Random()
    while True:
        port = rng.randrange(20000, 32000)
        if port in _TAKEN:
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        _TAKEN.add(port)
        return port


def stop_cluster(folder: str) -> None:
    """Kill only the Ray processes of the cluster rooted at ``folder`` (never `ray stop`: it kills every Ray)."""
    mine = {}
    for process in psutil.process_iter(["cmdline"]):
        try:
            if folder in " ".join(process.info["cmdline"] or []):
                # Agents and workers rename themselves ("ray::DashboardAgent"): take the daemons' children too.
                for member in [process, *process.children(recursive=True)]:
                    mine[member.pid] = member
        except psutil.Error:
            continue
    mine = list(mine.values())
    for process in mine:
        process.terminate()
    _, alive = psutil.wait_procs(mine, timeout=10)
    for process in alive:
        process.kill()


@pytest.fixture
def ray_cluster():
    folder = tempfile.mkdtemp(prefix="rc", dir="/tmp")  # short: Ray's socket paths have a length limit
    # A clean environment: this process may have joined another Ray (tests/conftest.py) and inherited its settings.
    env = {
        **{key: value for key, value in os.environ.items() if not key.startswith("RAY_")},
        "HOME": folder,
        "RAY_TMPDIR": folder,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "RAY_USAGE_STATS_ENABLED": "0",
    }
    dashboard_port = free_port()
    start = [
        "ray", "start", "--head", f"--port={free_port()}", f"--temp-dir={folder}", "--num-cpus=2",
        "--include-dashboard=true", "--dashboard-host=127.0.0.1", f"--dashboard-port={dashboard_port}",
        f"--ray-client-server-port={free_port()}", "--disable-usage-stats",
        # Agents default to fixed ports, which another Ray on this host (the test session's own) already holds.
        f"--dashboard-agent-listen-port={free_port()}", f"--dashboard-agent-grpc-port={free_port()}",
        f"--metrics-export-port={free_port()}", f"--runtime-env-agent-port={free_port()}",
    ]  # fmt: skip
    try:
        started = subprocess.run(start, env=env, capture_output=True, text=True, timeout=120)
        assert started.returncode == 0, started.stdout + started.stderr
        yield env, f"http://127.0.0.1:{dashboard_port}", Path(folder)
    finally:
        stop_cluster(folder)
        # Exited processes whose parent has not reaped them yet (zombies) hold nothing: only live ones count.
        live = [p for p in psutil.process_iter(["cmdline", "status"]) if p.info["status"] != psutil.STATUS_ZOMBIE]
        assert not [p for p in live if folder in " ".join(p.info["cmdline"] or [])]
        shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.slow
def test_ray_job_submit_trains_and_leaves_a_loadable_checkpoint(ray_cluster):
    env, address, folder = ray_cluster
    data = write_synthetic_patches(folder / "data.zarr", count=20, size=24, seed=4)
    storage = folder / "runs"
    submit = [
        "ray", "job", "submit", f"--address={address}", "--working-dir", ".", "--",
        "python", "jobs/train.py", "--data", str(data), "--width", "2", "--blocks", "1", "--epochs", "2",
        "--workers", "2", "--cpus-per-worker", "1", "--storage", str(storage), "--run-name", "cli",
    ]  # fmt: skip
    started = time.time()
    for _ in range(15):  # the job agent comes up a little after `ray start` returns
        result = subprocess.run(submit, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=420)
        if "No available agent to submit job" not in result.stderr:
            break
        time.sleep(2)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    assert "succeeded" in output, output[-2000:]
    assert "epoch 2/2" in output
    # The project's lines stay readable: Ray Train's two INFO lines per epoch are silenced, and the
    # closing line names the same epoch as the last epoch line.
    assert "Checkpoint successfully created" not in output and "Reporting training result" not in output
    assert "final: epoch 2/2" in output, output[-2000:]
    checkpoints = sorted(storage.glob("cli/checkpoint_*/model.pt"))
    assert checkpoints, f"no checkpoint under {storage} after {time.time() - started:.0f} s"
    model, checkpoint = load_model(checkpoints[-1])
    assert checkpoint.config.width == 2 and checkpoint.metadata["epoch"] in (0, 1)  # 0-based index, printed 1-based
