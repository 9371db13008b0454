"""Verification reports beside the files they verify, and the check that a file has a passing one.

The report of ``model.onnx`` is ``model.verification.json`` beside it and names the file's SHA-256
(:mod:`equicr.deploy.gate` writes both). :func:`require_passing_report` is what decloud and
evaluation ask before they run a file: a report that is missing, failed, or made for other bytes
(an old report beside a new file, a file replaced after export) is refused.
"""

from __future__ import annotations

import json
from pathlib import Path

from equicr.errors import UserError
from equicr.storage import local_path, redact

#: The report of ``model.onnx`` is ``model.verification.json`` beside it.
REPORT_SUFFIX = ".verification.json"


class UnverifiedModelError(UserError):
    """An ONNX file has no passing verification report for its exact content."""


def report_location(onnx_location: str | Path) -> str:
    """Where the verification report of an ONNX file (path or URI) lies: beside it."""
    text = str(onnx_location)
    return (text[: -len(".onnx")] if text.endswith(".onnx") else text) + REPORT_SUFFIX


def require_passing_report(location: str | Path, sha256: str) -> dict:
    """The passing verification report of the ONNX file at ``location`` (path or URI), or an error.

    The report must lie beside the file, pass, and name ``sha256``, the content of the file as read.
    """
    where = report_location(location)
    fix = f"verify it: python export/verify.py {redact(location)} --checkpoint CHECKPOINT"
    try:
        report = json.loads(local_path(where).read_text())
    except (FileNotFoundError, OSError, json.JSONDecodeError) as error:
        raise UnverifiedModelError(
            f"{redact(location)} has no readable verification report ({redact(where)}: {error}); {fix}"
        ) from error
    if report.get("sha256") != sha256:
        raise UnverifiedModelError(
            f"{redact(where)} verified other bytes (SHA-256 {str(report.get('sha256'))[:12]}...) than "
            f"{redact(location)} (SHA-256 {sha256[:12]}...): the file changed after verification; {fix}"
        )
    if report.get("passed") is not True:
        failed = [check["name"] for check in report.get("checks", []) if not check.get("passed")]
        raise UnverifiedModelError(f"{redact(location)} failed verification ({', '.join(failed)}); {fix}")
    return report
