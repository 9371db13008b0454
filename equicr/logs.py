"""Quiet by default: the known-harmless log lines of the libraries a job uses, silenced at their loggers.

A job prints its own lines and the warnings and errors that matter; ``--verbose`` (or
``EQUICR_VERBOSE=1``) keeps everything.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator

#: Ray Train's logger of the "run snapshot found" paragraph (see :data:`QUIET_LOGGERS`).
RUN_SNAPSHOT_LOGGER = "ray.train.v2._internal.execution.checkpoint.checkpoint_manager"
#: Library loggers whose known-harmless lines every job silences (``--verbose`` shows them), with the
#: level they keep: Ray's start and token-authentication notices for the embedded instance a job starts, Ray
#: Data's per-dataset INFO lines, the "run snapshot found ... if you meant to start a brand new
#: training job" paragraph Ray Train logs whenever a finished run is read back (export, verify and
#: evaluate read the best checkpoint that way), and torch.onnx's "torchvision is not installed" lines.
QUIET_LOGGERS: dict[str, int] = {
    "ray._private.authentication.authentication_token_setup": logging.ERROR,
    "ray._private.worker": logging.WARNING,  # "Started a local Ray instance" for every embedded run
    "ray.data": logging.WARNING,
    RUN_SNAPSHOT_LOGGER: logging.WARNING,
    "torch.onnx._internal.exporter._registration": logging.ERROR,
}
#: Set (by ``--verbose``) to keep every library's log lines, in this process and the Ray workers it starts.
VERBOSE_ENV = "EQUICR_VERBOSE"


@contextlib.contextmanager
def quiet_logger(name: str) -> Iterator[None]:
    """Within the block, the logger ``name`` keeps only the level :data:`QUIET_LOGGERS` gives it (unless verbose).

    For library calls a notebook makes without a job's set-up: the noise is silenced where it is made.
    """
    logger = logging.getLogger(name)
    before = logger.level
    if not os.environ.get(VERBOSE_ENV):
        logger.setLevel(max(before, QUIET_LOGGERS[name]))
    try:
        yield
    finally:
        logger.setLevel(before)


def quiet_known_noise() -> None:
    """Raise the level of :data:`QUIET_LOGGERS` unless ``--verbose`` (or ``EQUICR_VERBOSE``) asked for everything."""
    if not os.environ.get(VERBOSE_ENV):
        for name, level in QUIET_LOGGERS.items():
            logging.getLogger(name).setLevel(level)
