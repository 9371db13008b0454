"""The dialect every job script speaks: shared option groups, and one way to end in an error.

Jobs parse their arguments with only light imports (this module, configs, band tables), so
``--help`` and argument errors answer at once; the heavy work (torch, escnn, Ray) is imported
afterwards. Every job has ``main(argv) -> int`` run through :func:`run_job`, which applies the
error policy of :mod:`equicr.errors`: a failure a user can fix (a :class:`~equicr.errors.UserError`,
a missing file, a read-only or full disk) prints one line ``error: ...`` naming the path and exits
2; Ctrl-C prints one line and exits 130 (leases are released on the way out); anything else is a
bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import traceback
from collections.abc import Callable
from pathlib import Path

from equicr.errors import CRASHED, INTERRUPTED, USAGE_ERROR, UserError, user_error_line
from equicr.executors import ActorPool
from equicr.logs import QUIET_LOGGERS, VERBOSE_ENV, quiet_known_noise
from equicr.paths import REAL_DATA_ENV, real_data_dir


class _Verbose(argparse.Action):
    def __call__(self, parser, namespace, values, option_string=None) -> None:
        os.environ[VERBOSE_ENV] = "1"
        for name in QUIET_LOGGERS:
            logging.getLogger(name).setLevel(logging.NOTSET)


def parser_for(doc: str | None) -> argparse.ArgumentParser:
    """An argument parser whose description is the script's docstring, layout kept, with ``--verbose``."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--verbose", action=_Verbose, nargs=0, help="show every library's log lines too")
    return parser


def add_real_patch_options(parser: argparse.ArgumentParser) -> None:
    """``--skip-real-patches`` and ``--real-patches DIR``: what export and verify check parity on."""
    parser.add_argument("--skip-real-patches", action="store_true", help="parity on random inputs only")
    parser.add_argument(
        "--real-patches", type=Path, metavar="DIR",
        help="SEN12MS-CR tree for the real-patch parity (default: the real patches shipped in the package)",
    )  # fmt: skip


def add_actor_pool_options(parser: argparse.ArgumentParser, ray_default: str) -> None:
    """The actor-pool options of every job that maps work over Ray Data actors.

    Args:
        parser: the job's parser.
        ray_default: how the job decides when neither ``--ray`` nor ``--no-ray`` is given, for the help text.
    """
    group = parser.add_argument_group("actor pool")
    group.add_argument("--actors", type=positive_int, default=1, help="actors, each with its own model (default: 1)")
    group.add_argument(
        "--cpus-per-actor", type=positive_int, default=1, help="CPU cores (torch threads) per actor (default: 1)"
    )
    group.add_argument("--gpus-per-actor", type=non_negative_float, default=0, help="GPUs per actor (default: 0, CPU)")
    add_ray_option(group, ray_default)


def add_ray_option(parser: argparse.ArgumentParser | argparse._ArgumentGroup, default: str) -> None:
    """``--ray/--no-ray``: run on the Ray cluster ``ray.init()`` joins, or in this process."""
    parser.add_argument(
        "--ray", action=argparse.BooleanOptionalAction, default=None,
        help=f"run on the Ray cluster that ray.init() joins, or (--no-ray) in this process (default: {default})",
    )  # fmt: skip


def actor_pool_from_args(args: argparse.Namespace, ray_by_default: bool) -> ActorPool:
    """The :class:`ActorPool` the options of :func:`add_actor_pool_options` ask for."""
    use_ray = ray_by_default if args.ray is None else args.ray
    return ActorPool(args.actors, args.cpus_per_actor, args.gpus_per_actor, use_ray)


def add_real_data_option(parser: argparse.ArgumentParser, flag: str = "--root") -> None:
    """The option naming a folder of real Sentinel data; its default is the folder ``$EQUICR_REAL_DATA`` names."""
    parser.add_argument(
        flag, type=Path, default=real_data_dir(), metavar="DIR",
        help=f"folder of real Sentinel data: SEN12MS-CR patches, real pairs, clear backgrounds "
        f"(default: ${REAL_DATA_ENV}, {real_data_dir() or 'not set'})",
    )  # fmt: skip


def require_real_data(folder: Path | None, flag: str = "--root") -> Path:
    """``folder`` if it is a folder, else a UserError saying how to name one."""
    if folder is None:
        raise UserError(f"this needs a folder of real Sentinel data: pass {flag} DIR or set {REAL_DATA_ENV}")
    if not folder.is_dir():
        raise UserError(f"{folder} is not a folder: pass {flag} DIR, a folder of real Sentinel data")
    return folder


def positive_int(text: str) -> int:
    """An argparse type: a whole number of at least 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def non_negative_int(text: str) -> int:
    """An argparse type: a whole number of at least 0."""
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative, got {value}")
    return value


def non_negative_float(text: str) -> float:
    """An argparse type: a number of at least 0."""
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative, got {value}")
    return value


def run_job(main: Callable[[list[str] | None], int], argv: list[str] | None = None) -> int:
    """Run a job's ``main`` under the error policy of :mod:`equicr.errors`.

    A user's error becomes one line on stderr and exit status 2, Ctrl-C one line and 130; any other
    exception prints its traceback with the credentials of every URI in it removed (a traceback
    quotes the arguments it failed on) and exits :data:`~equicr.errors.CRASHED`.
    """
    quiet_known_noise()
    try:
        return main(argv)
    except KeyboardInterrupt:  # context managers (leases, temporary outputs) have been unwound by now
        print("interrupted: finished items are kept; rerun the same command to resume", file=sys.stderr)
        return INTERRUPTED
    except Exception as error:
        from equicr.storage import redact_text

        line = user_error_line(error)
        if line is None:
            print(redact_text(traceback.format_exc()), file=sys.stderr, end="")
            return CRASHED
        print(redact_text(line), file=sys.stderr)
        return USAGE_ERROR
