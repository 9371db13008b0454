"""The dialect every job script speaks: shared option groups, and one way to end in an error.

Jobs parse their arguments with only light imports (this module, configs, band tables), so
``--help`` and argument errors answer at once; the heavy work (torch, escnn, Ray) is imported
afterwards. Every job has ``main(argv) -> int`` run through :func:`run_job`: a failure a user can
fix (a missing file, a wrong band count, a checkpoint of another architecture) prints one line
``error: ...`` naming the file and exits 2; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from equicr.actor_pool import ActorPool

#: Exit status of a job stopped by bad arguments or bad input (argparse uses the same).
USAGE_ERROR = 2
#: Failures of input a user can fix; the library raises these with messages that name the culprit.
USER_ERRORS: tuple[type[BaseException], ...] = (FileNotFoundError, NotADirectoryError, IsADirectoryError, ValueError)


def parser_for(doc: str | None) -> argparse.ArgumentParser:
    """An argument parser whose description is the script's docstring, layout kept."""
    return argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)


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
    """Run a job's ``main``; a user's error becomes one line on stderr and exit status 2."""
    try:
        return main(argv)
    except USER_ERRORS as error:
        print(f"error: {error}", file=sys.stderr)
        return USAGE_ERROR
