"""``equicr``: one command for every job, as installed by ``pip install equicr[cpu]`` (or ``[gpu]``).

    equicr --version
    equicr decloud --collection data/scenes.zarr --model equicr.onnx
    python -m equicr train --help

Each subcommand is a module of :mod:`equicr.commands`; the scripts in ``jobs/`` and ``export/``
run the same modules for ``ray job submit --working-dir .``.
"""

from __future__ import annotations

import importlib
import sys
from importlib.metadata import PackageNotFoundError, version

from equicr.cli import run_job
from equicr.commands import COMMANDS
from equicr.errors import USAGE_ERROR


def package_version() -> str:
    """The installed version of equicr (or "unknown" when run from a source tree that is not installed)."""
    try:
        return version("equicr")
    except PackageNotFoundError:
        return "unknown"


def overview() -> str:
    """The usage text: every subcommand with the first line of its description."""
    lines = ["usage: equicr [--version] COMMAND [options]   (equicr COMMAND --help for a command's options)", "",
             "commands:"]  # fmt: skip
    for name, (module, _) in COMMANDS.items():
        summary = (importlib.import_module(module).__doc__ or "").strip().splitlines()[0]
        lines.append(f"  {name:<24}{summary}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Dispatch ``equicr COMMAND ...`` to the command's ``main`` under the jobs' error policy."""
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help"):
        print(overview())
        return 0 if argv else USAGE_ERROR
    if argv[0] == "--version":
        print(f"equicr {package_version()}")
        return 0
    if argv[0] not in COMMANDS:
        print(f"equicr: unknown command {argv[0]!r}; one of {', '.join(COMMANDS)}", file=sys.stderr)
        return USAGE_ERROR
    command = importlib.import_module(COMMANDS[argv[0]][0])
    sys.argv[0] = f"equicr {argv[0]}"  # argparse's usage line names the subcommand
    return run_job(command.main, argv[1:])


if __name__ == "__main__":
    sys.exit(main())
