"""Every job speaks one dialect: help before heavy imports, shared pool options, one-line errors with exit 2."""

import re
import subprocess
import sys

import pytest

from tests.fixtures.paths import REPO_ROOT

JOBS = ["jobs/train.py", "jobs/decloud.py", "jobs/evaluate.py", "jobs/ingest.py", "jobs/experiments.py",
        "jobs/demo.py", "export/to_onnx.py", "export/verify.py", "jobs/cluster_security_group.py"]  # fmt: skip
HELP_PROBE = """
import runpy, sys
sys.argv = [sys.argv[1], "--help"]
try:
    runpy.run_path(sys.argv[0], run_name="__main__")
except SystemExit as stop:
    assert stop.code == 0, stop.code
heavy = sorted(m for m in ("torch", "escnn", "ray", "onnxruntime", "zarr") if m in sys.modules)
print("HEAVY:", ",".join(heavy))
"""


def run(*argv, **kwargs):
    return subprocess.run([sys.executable, *argv], cwd=REPO_ROOT, capture_output=True, text=True, **kwargs)


@pytest.mark.parametrize("job", JOBS)
def test_help_answers_before_any_heavy_import(job):
    result = run("-c", HELP_PROBE, job)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "usage:" in result.stdout
    assert result.stdout.strip().endswith("HEAVY:"), result.stdout[-300:]


def test_one_command_runs_every_job_as_the_scripts_do():
    from equicr.commands import COMMANDS

    overview = run("-m", "equicr", "--help")
    assert overview.returncode == 0 and all(f"  {name} " in overview.stdout for name in COMMANDS)
    assert run("-m", "equicr", "--version").stdout.startswith("equicr ")
    for name, (_, script) in COMMANDS.items():
        assert script in JOBS  # every command keeps its script for `ray job submit --working-dir .`
        via_command, via_script = run("-m", "equicr", name, "--help"), run(script, "--help")
        assert via_command.returncode == 0 and f"usage: equicr {name}" in via_command.stdout
        options = [set(re.findall(r"--[a-z][a-z0-9-]*", result.stdout)) for result in (via_command, via_script)]
        assert options[0] == options[1] and options[0], name  # the same options either way
    unknown = run("-m", "equicr", "declod")
    assert unknown.returncode == 2 and "unknown command 'declod'" in unknown.stderr


@pytest.mark.parametrize("job", ["jobs/decloud.py", "jobs/evaluate.py"])
def test_pool_jobs_share_the_actor_pool_options(job):
    text = run(job, "--help").stdout
    for option in ("--actors", "--cpus-per-actor", "--gpus-per-actor", "--ray, --no-ray"):
        assert option in text, option


@pytest.mark.slow
def test_a_wrong_checkpoint_is_one_line_and_exit_2(tmp_path):
    from equicr.checkpoint import save_checkpoint
    from equicr.deploy.export import export_onnx
    from equicr.models import ModelConfig, build_model

    small, other = ModelConfig("dsen2cr", width=2, num_blocks=1), ModelConfig("dsen2cr", width=3, num_blocks=1)
    save_checkpoint(tmp_path / "small.pt", build_model(small), small)
    save_checkpoint(tmp_path / "other.pt", build_model(other), other)
    export_onnx(build_model(small).eval(), small, tmp_path / "small.onnx")
    (tmp_path / "not-a-checkpoint.pt").write_text("hello")
    cases = [
        ("export/verify.py", str(tmp_path / "small.onnx"), "--checkpoint", str(tmp_path / "not-a-checkpoint.pt")),
        ("export/to_onnx.py", "--checkpoint", str(tmp_path / "not-a-checkpoint.pt"), "--out", str(tmp_path / "x.onnx")),
        ("jobs/train.py", "--data", str(tmp_path / "missing.zarr"), "--epochs", "1"),
        ("jobs/decloud.py", "--collection", str(tmp_path / "missing.zarr"), "--model", str(tmp_path / "small.pt")),
    ]  # fmt: skip
    for argv in cases:
        result = run(*argv)
        assert result.returncode == 2, (argv, result.stderr[-2000:])
        lines = result.stderr.strip().splitlines()
        assert lines[-1].startswith("error: ") and "Traceback" not in result.stderr, (argv, result.stderr[-2000:])
        assert str(tmp_path) in lines[-1], lines[-1]  # the error names the file
    # A checkpoint of another model is a failed verification (exit 1, the report says why), not a crash.
    mismatch = run("export/verify.py", str(tmp_path / "small.onnx"), "--checkpoint", str(tmp_path / "other.pt"),
                   "--skip-real-patches")  # fmt: skip
    assert mismatch.returncode == 1 and "Traceback" not in mismatch.stderr and "FAIL" in mismatch.stdout.upper()
    assert not (tmp_path / "x.onnx").exists()


def test_bad_numbers_are_refused_by_argparse():
    result = run("jobs/decloud.py", "--collection", "c", "--model", "m", "--tile-size", "0")
    assert result.returncode == 2 and "--tile-size: must be at least 1, got 0" in result.stderr


def test_training_settings_without_a_meaning_are_one_line_errors():
    for flags, message in ((["--subset-size", "0"], "subset_size must be at least 1"),
                           (["--epochs", "0"], "epochs must be at least 1")):  # fmt: skip
        result = run("jobs/train.py", *flags)
        assert result.returncode == 2 and result.stderr.strip().splitlines()[-1] == f"error: {message}, got 0"


@pytest.mark.slow
def test_bad_requests_do_nothing_and_say_why(tmp_path, mini_dir):
    """Exit 2 with one line naming the culprit, and nothing written: the request was invalid."""
    existing = tmp_path / "notes.txt"
    existing.write_text("keep me")
    empty_root = tmp_path / "empty-root"
    empty_root.mkdir()
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"\x00not a model")
    cases = [
        (["jobs/ingest.py", "synthetic", "--count", "4", "--size", "16", "--out", str(existing)], "is a file"),
        (["jobs/ingest.py", "sen12mscr", "--root", str(empty_root), "--out", str(tmp_path / "e.zarr")],
         "holds no complete triplet"),
        (["jobs/decloud.py", "--collection", "c", "--model", "m", "--halo", "-1"], "must not be negative"),
        (["export/verify.py", str(garbage)], "garbage.onnx"),
        (["jobs/cluster_security_group.py", "--ssh-cidr", "0.0.0.0/0"], "opens SSH to the whole internet"),
    ]  # fmt: skip
    for argv, message in cases:
        result = run(*argv)
        assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr, (
            argv, result.stderr[-1500:])  # fmt: skip
    assert existing.read_text() == "keep me" and not (tmp_path / "e.zarr").exists()


def test_an_empty_split_is_not_a_finished_report(tmp_path):
    from equicr.ingest.simulated import write_synthetic_patches

    collection = write_synthetic_patches(tmp_path / "p.zarr", count=5, size=16, seed=2, split_fractions=(1.0, 0.0))
    out = tmp_path / "report"
    result = run("jobs/evaluate.py", "--model", "cloudy-input", "--collection", str(collection), "--split", "test",
                 "--out", str(out))  # fmt: skip
    assert result.returncode == 2 and "no complete test patches" in result.stderr
    assert not (out / "summary.json").exists()
