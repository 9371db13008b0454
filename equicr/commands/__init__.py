"""The jobs, one module each: ``equicr <command>`` runs them, and so do the thin scripts in ``jobs/`` and ``export/``.

Each module's ``main(argv) -> exit status`` parses its own arguments with light imports only (the
heavy work is imported after parsing), so ``--help`` answers at once.
"""

#: Subcommand name -> (module, the script in the checkout that runs it for ``ray job submit``).
COMMANDS: dict[str, tuple[str, str]] = {
    "ingest": ("equicr.commands.ingest", "jobs/ingest.py"),
    "train": ("equicr.commands.train", "jobs/train.py"),
    "decloud": ("equicr.commands.decloud", "jobs/decloud.py"),
    "evaluate": ("equicr.commands.evaluate", "jobs/evaluate.py"),
    "experiments": ("equicr.commands.experiments", "jobs/experiments.py"),
    "export": ("equicr.commands.export", "export/to_onnx.py"),
    "verify": ("equicr.commands.verify", "export/verify.py"),
    "demo": ("equicr.commands.demo", "jobs/demo.py"),
    "cluster-security-group": ("equicr.commands.cluster_security_group", "jobs/cluster_security_group.py"),
}
