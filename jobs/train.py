"""``equicr train`` as a script: for ``ray job submit --working-dir .`` and checkouts.

    python jobs/train.py --help

Everything is in :mod:`equicr.commands.train`.
"""

import sys

from equicr.cli import run_job
from equicr.commands.train import main

if __name__ == "__main__":
    sys.exit(run_job(main))
