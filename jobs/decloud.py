"""``equicr decloud`` as a script: for ``ray job submit --working-dir .`` and checkouts.

    python jobs/decloud.py --help

Everything is in :mod:`equicr.commands.decloud`.
"""

import sys

from equicr.cli import run_job
from equicr.commands.decloud import main

if __name__ == "__main__":
    sys.exit(run_job(main))
