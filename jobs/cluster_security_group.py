"""``equicr cluster-security-group`` as a script: for ``ray job submit --working-dir .`` and checkouts.

    python jobs/cluster_security_group.py --help

Everything is in :mod:`equicr.commands.cluster_security_group`.
"""

import sys

from equicr.cli import run_job
from equicr.commands.cluster_security_group import main

if __name__ == "__main__":
    sys.exit(run_job(main))
