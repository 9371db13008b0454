"""``equicr verify`` as a script: for ``ray job submit --working-dir .`` and checkouts.

    python export/verify.py --help

Everything is in :mod:`equicr.commands.verify`.
"""

import sys

from equicr.cli import run_job
from equicr.commands.verify import main

if __name__ == "__main__":
    sys.exit(run_job(main))
