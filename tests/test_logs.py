"""Quiet by default: a job started on an embedded Ray prints its own lines, not the libraries' known chatter."""

import os
import subprocess
import sys
import tempfile

import pytest

from equicr.logs import VERBOSE_ENV

RAY_DATA_JOB = """
import numpy as np
from equicr.executors import ActorPool, map_with_actors

class Double:
    def __init__(self, threads=None):
        pass
    def __call__(self, batch):
        return {"x": batch["x"] * 2}

results = list(map_with_actors([{"x": i} for i in range(4)], Double, {}, 2, ActorPool(actors=1)))
print("DOUBLED", sorted(int(v) for r in results for v in r["x"]))
"""


def run_quietly(verbose: bool) -> subprocess.CompletedProcess:
    with tempfile.TemporaryDirectory(prefix="ray", dir="/tmp") as folder:  # Ray's socket paths must be short
        env = {k: v for k, v in os.environ.items() if not k.startswith(("RAY_", VERBOSE_ENV))}
        env.update(RAY_TMPDIR=folder, HOME=folder, **({VERBOSE_ENV: "1"} if verbose else {}))
        job = "from equicr.logs import quiet_known_noise\nquiet_known_noise()\n" + RAY_DATA_JOB  # as run_job does
        command = [sys.executable, "-c", job]
        return subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_ray_jobs_keep_their_known_chatter_to_themselves_unless_verbose():
    quiet, verbose = run_quietly(False), run_quietly(True)
    for result in (quiet, verbose):
        assert result.returncode == 0 and "DOUBLED [0, 2, 4, 6]" in result.stdout, result.stderr[-2000:]
    assert "Token authentication is enabled" not in quiet.stderr and "Token authentication" in verbose.stderr
    assert "streaming_executor" not in quiet.stderr and "streaming_executor" in verbose.stderr  # Ray Data's INFO
    assert len(quiet.stderr.splitlines()) < len(verbose.stderr.splitlines())


@pytest.mark.slow
def test_a_training_job_and_a_notebook_reading_its_run_print_no_known_noise(tmp_path):
    from equicr.ingest.simulated import write_synthetic_patches
    from tests.fixtures.paths import REPO_ROOT

    data = write_synthetic_patches(tmp_path / "p.zarr", count=12, size=16, seed=1)
    with tempfile.TemporaryDirectory(prefix="ray", dir="/tmp") as folder:  # Ray's socket paths must be short
        env = {k: v for k, v in os.environ.items() if not k.startswith(("RAY_", VERBOSE_ENV))}
        env.update(RAY_TMPDIR=folder, HOME=folder)
        train = [sys.executable, "jobs/train.py", "--data", str(data), "--width", "2", "--blocks", "1", "--epochs", "1",
                 "--storage", str(tmp_path / "runs"), "--run-name", "quiet"]  # fmt: skip
        trained = subprocess.run(train, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300)
        assert trained.returncode == 0 and "final:" in trained.stdout, trained.stderr[-3000:]
        assert "core_worker.cc" not in trained.stderr  # Train's preemption watcher on an embedded Ray
        run = str(tmp_path / "runs" / "quiet")
        read = f"from equicr.checkpoint import resolve_checkpoint\nprint(resolve_checkpoint({run!r}))"
        notebook = subprocess.run([sys.executable, "-c", read], env=env, capture_output=True, text=True, timeout=120)
    assert notebook.returncode == 0 and notebook.stdout.strip().endswith(".pt"), notebook.stderr[-2000:]
    assert "brand new training job" not in notebook.stderr  # reading a finished run is not resuming it
    assert "brand new training job" not in trained.stderr
