"""``equicr experiments`` as a script: for ``ray job submit --working-dir .`` and checkouts.

    python jobs/experiments.py --help

Everything is in :mod:`equicr.commands.experiments`.
"""

import sys

from equicr.cli import run_job
from equicr.commands.experiments import main

if __name__ == "__main__":
    sys.exit(run_job(main))
