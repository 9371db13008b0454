"""``equicr demo`` as a script: for ``ray job submit --working-dir .`` and checkouts.

    python jobs/demo.py --help

Everything is in :mod:`equicr.commands.demo`.
"""

import sys

from equicr.cli import run_job
from equicr.commands.demo import main

if __name__ == "__main__":
    sys.exit(run_job(main))
