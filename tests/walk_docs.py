"""Walk the README and docs/ as a user would: run every command block as written, in a fresh clone.

    .venv/bin/python tests/walk_docs.py                      # every page, about half an hour here
    .venv/bin/python tests/walk_docs.py --pages README.md    # one page

Each shell block runs as one bash script (so a block's variables and exports carry over, and the
first failing command stops it, named) in a clone of the committed checkout with ``.venv`` linked
in and ``../shared`` beside it, with its own ``HOME`` and ``RAY_TMPDIR``; Python blocks run with
the project's interpreter. Pages run in the order of :data:`PAGES`, so later pages use what earlier
ones made (``make demo``'s run, the exported ``equicr.onnx``). Lines that need what this machine
does not have (a cloud account, a bucket, the 250 GB dataset, a GPU cluster, an hour) are not
run, each with its reason; ``tests/test_docs.py`` still parses their job commands.
It runs the docs' ``ray stop``, which stops every Ray on the host: walk where no other Ray runs.
Prints a table and writes the results as JSON (``--out``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.fixtures.doc_commands import PAGES, Block, code_blocks, shell_lines  # noqa: E402
from tests.fixtures.paths import REPO_ROOT  # noqa: E402

#: Words that mark a line this machine cannot run, and why.
NOT_RUN_HERE = {
    "make test": "the test suite itself (CI runs it)",
    "pip install": "installs packages (tests/test_package.py installs the wheel into a fresh environment)",
    "YOUR-BUCKET": "needs your bucket and cluster",
    "earth-search.aws.element84.com": "needs the internet and an AWS account (tests/stac/test_recorded_items.py runs "
    "the same command against two loopback STAC APIs)",
    "s3://bucket": "needs your bucket",
    "/data/SEN12MS-CR": "needs the 250 GB SEN12MS-CR download",
    " /shared/": "needs a cluster's shared file system",
    "ray up": "needs an AWS account",
    "ray dashboard": "needs the AWS cluster",
    "ray down": "needs the AWS cluster",
    "security_group": "needs an AWS account",
    "security-group": "needs an AWS account",
    "bench/": "a benchmark: run by hand, its results are committed in bench/results",
    "--preset cpu": "the paper's experiments at CPU scale: about 30 minutes here",
    "--preset real": "preset real: about 1.5 hours here",
    "--preset paper": "the paper's scale: a GPU cluster",
}
BLOCK_TIMEOUT_S = 1800


def not_run_reason(line: str) -> str | None:
    """Why a documented line is not run here, or None when it is."""
    return next((reason for words, reason in NOT_RUN_HERE.items() if words in line), None)


def make_clone(scratch: Path) -> Path:
    """A clone of the committed checkout with ``.venv`` linked in and ``../shared`` beside it."""
    checkout = scratch / "checkout"
    subprocess.run(["git", "clone", "--quiet", str(REPO_ROOT), str(checkout)], check=True)
    (checkout / ".venv").symlink_to(REPO_ROOT / ".venv")
    stamps = list((REPO_ROOT / ".venv").glob(".installed-*"))
    if stamps:  # the linked environment is set up: the clone's fresh files must not make `make` set up again
        older = stamps[0].stat().st_mtime - 60
        for name in ("pyproject.toml", "constraints.txt"):
            os.utime(checkout / name, (older, older))
    shared = REPO_ROOT.parent / "shared"
    if shared.exists():
        (scratch / "shared").symlink_to(shared)
    return checkout


def block_script(block: Block) -> tuple[str, list[dict]]:
    """The bash script of a shell block, and the lines it leaves out with their reasons."""
    lines, left_out = ["set -euo pipefail", "trap 'echo \"walk: failed: $BASH_COMMAND\" >&2' ERR"], []
    for line in shell_lines(block):
        reason = not_run_reason(line)
        if reason:
            left_out.append({"command": line, "reason": reason})
        else:
            lines.append(line)
    return "\n".join(lines) + "\n", left_out


def run_block(block: Block, checkout: Path, environment: dict[str, str]) -> dict:
    """Run one block as written; return its record (status, seconds, what failed, what was left out)."""
    if block.language == "python":
        command, script, left_out = [str(checkout / ".venv" / "bin" / "python"), "-"], block.text, []
    else:
        script, left_out = block_script(block)
        command = ["bash", "-s"]
    record = {"where": block.where, "language": block.language, "left_out": left_out}
    ran = [line for line in script.splitlines()[2:] if line.strip()] if block.language != "python" else [script]
    if not ran:
        return {**record, "status": "not run", "seconds": 0.0}
    started = time.perf_counter()
    try:
        result = subprocess.run(command, input=script, cwd=checkout, env=environment, capture_output=True, text=True,
                                timeout=BLOCK_TIMEOUT_S)  # fmt: skip
        status, tail = ("passed" if result.returncode == 0 else f"failed (exit {result.returncode})"), result.stderr
    except subprocess.TimeoutExpired as expired:
        status, tail = f"failed (over {BLOCK_TIMEOUT_S} s)", str(expired.stderr or "")
    seconds = time.perf_counter() - started
    return {**record, "status": status, "seconds": round(seconds, 1), "commands_run": len(ran),
            "stderr_tail": "" if status == "passed" else tail[-1500:]}  # fmt: skip


def walk(pages: list[str], scratch: Path) -> list[dict]:
    """Run every block of ``pages`` in order in a fresh clone under ``scratch``; print a line per block."""
    checkout = make_clone(scratch)
    home, ray_tmp = scratch / "home", Path(tempfile.mkdtemp(prefix="rw-", dir="/tmp"))
    home.mkdir()
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("EQUICR_", "RAY_", "VIRTUAL_ENV"))}
    environment.update(HOME=str(home), RAY_TMPDIR=str(ray_tmp), PYTHONDONTWRITEBYTECODE="1")
    records = []
    for page in pages:
        for block in code_blocks(page):
            if block.language not in ("bash", "sh", "shell", "python"):
                continue
            record = run_block(block, checkout, environment)
            records.append(record)
            print(f"{record['where']:<28} {block.language:<7} {record['status']:<22} {record['seconds']:>7.1f} s  "
                  f"{len(record['left_out'])} line(s) not run here", flush=True)  # fmt: skip
            if record["status"].startswith("failed"):
                print("    " + record["stderr_tail"].strip().replace("\n", "\n    ")[-1200:], flush=True)
    return records


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pages", nargs="+", default=list(PAGES), help="pages to walk, in order (default: all)")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "docs" / "walk.json", help="where the results go")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="equicr-walk-") as scratch:
        started = time.perf_counter()
        records = walk(args.pages, Path(scratch))
    failed = [r["where"] for r in records if r["status"].startswith("failed")]
    summary = {
        "commit": subprocess.check_output(["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, text=True).strip(),
        "machine": platform.processor() or platform.machine(),
        "minutes": round((time.perf_counter() - started) / 60, 1),
        "blocks": len(records), "passed": sum(r["status"] == "passed" for r in records), "failed": failed,
        "lines_not_run_here": sum(len(r["left_out"]) for r in records), "records": records,
    }  # fmt: skip
    args.out.write_text(json.dumps(summary, indent=1) + "\n")
    print(f"{summary['passed']} of {summary['blocks']} blocks passed, {len(failed)} failed, "
          f"{summary['lines_not_run_here']} lines not run here; {summary['minutes']} min; {args.out}")  # fmt: skip
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
