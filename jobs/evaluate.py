"""``equicr evaluate`` as a script: for ``ray job submit --working-dir .`` and checkouts.

    python jobs/evaluate.py --help

Everything is in :mod:`equicr.commands.evaluate`.
"""

import sys

from equicr.cli import run_job
from equicr.commands.evaluate import main

if __name__ == "__main__":
    sys.exit(run_job(main))
