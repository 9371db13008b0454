"""The deployment gate: an ONNX file is published only verified, and used only with a passing report.

An exported file and its verification report travel together: the report lies beside the file as
``<name>.verification.json`` and names the file's SHA-256 (:mod:`equicr.deploy.reports`).
:func:`export_and_publish` exports into a folder of its own (unique per run, so two exports to one
name never share a file), verifies there, and only when every check passes puts the file and then
its report where the user asked; a file whose verification failed or never ran is never at that
location. Decloud and evaluation run a file only with a passing report for its exact bytes
(:func:`equicr.deploy.reports.require_passing_report`).
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from torch import nn

from equicr.deploy.export import export_onnx
from equicr.deploy.reports import report_location
from equicr.deploy.verify import VerificationReport, verify_onnx
from equicr.models import ModelConfig
from equicr.storage import atomic_output, file_sha256, is_remote, private_cache_dir, redact, write_json


@dataclass(frozen=True)
class ExportOutcome:
    """What :func:`export_and_publish` did: the report, and where the file is (published or kept aside)."""

    report: VerificationReport
    published: bool
    file: str  # the requested location when published, else the kept-aside copy for inspection
    report_file: str
    variants: list[ExportOutcome] = field(default_factory=list)  # reduced-precision files, each gated alike

    @property
    def all_published(self) -> bool:
        """Whether the file and every requested variant passed and were published."""
        return self.published and all(variant.published for variant in self.variants)


def export_and_publish(
    model: nn.Module,
    config: ModelConfig,
    checkpoint_file: Path,
    out: str,
    weights_dtype: str = "float32",
    filters: str = "basis",
    real_patches: bool = True,
    patches_root: Path | None = None,
    reduced: tuple[str, ...] = (),
) -> ExportOutcome:
    """Export ``model`` to a private folder of this run, verify it there, and publish it to ``out`` only if it passes.

    Published: ``out`` is replaced by the file, then its report is written beside it (a reader in
    between sees a report for other bytes and refuses). Failed: ``out`` and its report are left as
    they were, and the file with its failed report stays in the run's folder under the cache.
    Each precision of ``reduced`` ("int8", "float16") is then made from the verified float32 file,
    verified against it (:func:`equicr.deploy.verify.verify_reduced`) and published the same way
    beside it as ``<name>.<precision>.onnx``.
    """
    if not is_remote(out) and Path(out).is_dir():
        raise IsADirectoryError(f"--out {out} is a folder; name the .onnx file to write")
    exports = private_cache_dir() / "exports"
    exports.mkdir(exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix="export-", dir=exports))  # this run's alone
    staged = staging / Path(str(out).rstrip("/")).name
    export_onnx(model, config, staged, file_sha256(checkpoint_file), weights_dtype, filters)
    report = verify_onnx(staged, reference=model, checkpoint=checkpoint_file, real_patches=real_patches,
                         patches_root=patches_root)  # fmt: skip
    outcome = _publish_if_passed(staged, str(out), report)
    if not outcome.published:
        return outcome
    for precision in reduced:
        outcome.variants.append(_export_reduced(staged, precision, str(out), patches_root))
    if outcome.all_published:
        shutil.rmtree(staging, ignore_errors=True)
    return outcome


def _publish_if_passed(staged: Path, out: str, report: VerificationReport) -> ExportOutcome:
    """Keep the staged file's report beside it; if it passed, put the file at ``out``, then its report beside it."""
    report.file = redact(out)
    staged_report = Path(report_location(staged))
    write_json(staged_report, report.to_dict())
    if not report.passed:
        return ExportOutcome(report, False, str(staged), str(staged_report))
    with atomic_output(out) as temporary:
        shutil.copyfile(staged, temporary)
    write_json(report_location(out), report.to_dict())
    return ExportOutcome(report, True, out, report_location(out))


def _export_reduced(float32_file: Path, precision: str, out: str, patches_root: Path | None) -> ExportOutcome:
    """Make, verify and (when it passes) publish one reduced-precision variant of a verified float32 file."""
    from equicr.deploy.reduced import make_reduced, reduced_location
    from equicr.deploy.runtime import CloudRemovalSession
    from equicr.deploy.verify import real_patch_inputs, verify_reduced

    target = reduced_location(out, precision)
    staged = Path(reduced_location(str(float32_file), precision))
    calibration = real_patch_inputs(CloudRemovalSession(float32_file), patches_root) if precision == "int8" else None
    make_reduced(float32_file, precision, staged, calibration)
    return _publish_if_passed(staged, target, verify_reduced(staged, float32_file, patches_root))
