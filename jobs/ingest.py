"""``equicr ingest`` as a script: for ``ray job submit --working-dir .`` and checkouts.

    python jobs/ingest.py --help

Everything is in :mod:`equicr.commands.ingest`.
"""

import sys

from equicr.cli import run_job
from equicr.commands.ingest import main

if __name__ == "__main__":
    sys.exit(run_job(main))
