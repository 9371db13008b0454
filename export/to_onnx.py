"""``equicr export`` as a script: for ``ray job submit --working-dir .`` and checkouts.

    python export/to_onnx.py --help

Everything is in :mod:`equicr.commands.export`.
"""

import sys

from equicr.cli import run_job
from equicr.commands.export import main

if __name__ == "__main__":
    sys.exit(run_job(main))
