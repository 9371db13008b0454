"""Verification of an exported ONNX file: the deployment gate.

Checks, each against a stated tolerance:

- parity: ONNX Runtime against the PyTorch model on random inputs and on real Sentinel patches
  (the real patches shipped in the package, or a SEN12MS-CR tree the user names), as the largest
  absolute error relative to the largest absolute reference output;
- rotation equivariance of the graph itself in ONNX Runtime, ``|ORT(rot_k x) - rot_k ORT(x)| /
  |ORT(x)|`` for k = 1, 2, 3 on an even and an odd size, and for p4m the reflections too. What is
  required follows from the architecture and group of the file's model config, never from a flag
  beside it: EquiCR must be equivariant; DSen2-CR gets its error measured and reported;
- the metadata describes that model: input bands, output bands, symmetry group and the
  equivariance flag are what the config implies (a file whose metadata lies is refused);
- the checkpoint, when given, is the one the file was exported from (SHA-256 in the metadata).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from equicr.bands import S2_BANDS, input_bands
from equicr.data.rasters import read_raster
from equicr.data.real import shipped_backgrounds
from equicr.data.sen12mscr import index_tree, read_triplet
from equicr.deploy.metadata import REDUCED_PRECISIONS, reference_pair
from equicr.deploy.runtime import CloudRemovalSession
from equicr.equivariance import EQUIVARIANCE_TOLERANCE, QUARTER_TURNS, relative_equivariance_error
from equicr.metrics import image_metrics
from equicr.models import ModelConfig
from equicr.scaling import network_to_reflectance, optical_dn_to_reflectance
from equicr.storage import file_sha256

#: Largest ORT-vs-PyTorch error relative to the output's scale, per stored weight precision.
#: float32 measured about 2e-6 at full size; float16 weights round each weight to 11 significant bits.
PARITY_TOLERANCE = {"float32": 1e-4, "float16": 2e-2}
#: A reduced-precision file may lose at most this much against the float32 file on real patches
#: (mean over patches, each scored against its clear target): PSNR in dB, SAM in degrees.
REDUCED_QUALITY_TOLERANCE = {"psnr_db": 0.1, "sam_deg": 0.1}
#: Rotation-equivariance error a reduced file may show: rounding to 8 bit (per-channel weights,
#: calibrated activations) or to half precision is not exactly equivariant.
REDUCED_EQUIVARIANCE_TOLERANCE = {"int8": 3e-2, "float16": 2e-3}
#: Outputs recorded at export against a rerun of the same reduced graph: integer kernels differ
#: slightly between CPUs (VNNI or not), half-precision ones between GPUs.
REDUCED_RECORDED_TOLERANCE = {"int8": 2e-2, "float16": 2e-3}
#: Sizes of the equivariance inputs: one even, one odd.
EQUIVARIANCE_SIZES = ((32, 32), (33, 33))


@dataclass
class Check:
    """One verification result."""

    name: str
    passed: bool
    measured: float | None = None
    tolerance: float | None = None
    detail: str = ""


@dataclass
class VerificationReport:
    """All checks of one file, and what ran them."""

    file: str
    sha256: str
    provider: str
    metadata: dict[str, Any]
    checks: list[Check] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        """Whether every check passed."""
        return all(check.passed for check in self.checks)

    def to_dict(self) -> dict[str, Any]:
        """The report as plain values, with the overall verdict."""
        return {**asdict(self), "passed": self.passed}

    def summary(self) -> str:
        """A few lines for a person."""
        lines = [f"{'PASSED' if self.passed else 'FAILED'}: {self.file} on {self.provider}"]
        for check in self.checks:
            measured = "" if check.measured is None else f" {check.measured:.2e}"
            bound = "" if check.tolerance is None else f" (tolerance {check.tolerance:.0e})"
            lines.append(
                f"  [{'ok' if check.passed else 'FAIL'}] {check.name}{measured}{bound} {check.detail}".rstrip()
            )
        return "\n".join(lines)


def real_patch_inputs(session: CloudRemovalSession, root: Path | None = None, with_targets: bool = False):
    """Network inputs of real patches for this file's input mode, (N, C, 256, 256) (and their clear targets).

    With ``with_targets`` the clear targets come too, as reflectance tensors (N, 13, 256, 256).

    ``root`` names a SEN12MS-CR tree (its triplets' SAR and cloudy images); without it, the real
    Sentinel-1 and Sentinel-2 patches shipped in the package (clear ground: parity needs real pixel
    statistics, not clouds).
    """
    if root is not None:
        records, problems = index_tree(root)
        if not records:
            raise FileNotFoundError(f"{root} holds no complete SEN12MS-CR triplet to verify on ({problems[:1]})")
        triplets = [read_triplet(record.paths) for record in records]
        s1, s2_cloudy = np.stack([t.s1 for t in triplets]), np.stack([t.s2_cloudy for t in triplets])
        clear = np.stack([t.s2 for t in triplets])
    else:
        patches = [patch for patch in shipped_backgrounds() if patch.s1 is not None]
        s1 = np.stack([read_raster(patch.s1, "s1").data for patch in patches])
        s2_cloudy = np.stack([read_raster(patch.s2, "s2_cloudy").data for patch in patches])
        clear = s2_cloudy  # clear ground: the target is the input itself
    inputs = session.network_inputs(s1, s2_cloudy)
    return (inputs, torch.from_numpy(optical_dn_to_reflectance(clear))) if with_targets else inputs


def parity_check(name: str, session: CloudRemovalSession, reference: nn.Module, inputs: np.ndarray) -> Check:
    """ORT against the PyTorch model on ``inputs``."""
    with torch.no_grad():
        expected = reference(torch.from_numpy(inputs)).numpy()
    got = session.run_network(inputs)
    error = float(np.abs(got - expected).max())
    scale = float(np.abs(expected).max()) or 1.0
    tolerance = PARITY_TOLERANCE[session.metadata["weights_dtype"]]
    detail = f"max abs error {error:.2e} on {inputs.shape[0]}x{inputs.shape[2]}x{inputs.shape[3]} px"
    return Check(name, error / scale < tolerance, error / scale, tolerance, detail)


def metadata_check(session: CloudRemovalSession) -> Check:
    """The metadata's descriptive fields are what the file's model config implies."""
    config = ModelConfig.from_dict(session.metadata["model_config"])
    implied = {
        "input_bands": list(input_bands(config.input_mode)),
        "output_bands": list(S2_BANDS),
        "symmetry_group": config.group,
        "rotation_equivariant": config.architecture == "equicr",
    }
    wrong = [f"{key} is {session.metadata.get(key)!r}, the model's is {value!r}"
             for key, value in implied.items() if session.metadata.get(key) != value]  # fmt: skip
    return Check("metadata describes the model", not wrong, detail="; ".join(wrong))


def group_transforms(config: ModelConfig) -> list[tuple[int, bool]]:
    """The grid transforms (quarter turns, flip) a model of ``config`` must commute with: none for DSen2-CR."""
    if config.architecture != "equicr":
        return []
    rotations = [(k, False) for k in QUARTER_TURNS]
    return rotations + [(k, True) for k in (0, *QUARTER_TURNS)] if config.group == "p4m" else rotations


def equivariance_checks(
    session: CloudRemovalSession, rng: np.random.Generator, tolerance: float = EQUIVARIANCE_TOLERANCE
) -> list[Check]:
    """Equivariance of the ONNX graph in ONNX Runtime, required as the model's architecture and group say."""
    config = ModelConfig.from_dict(session.metadata["model_config"])
    required = group_transforms(config)
    measured = required or [(k, False) for k in QUARTER_TURNS]  # a plain CNN: measured and reported

    def network(x: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(session.run_network(x.numpy()))

    checks = []
    for height, width in EQUIVARIANCE_SIZES:
        x = torch.from_numpy(rng.uniform(0, 2, (1, config.in_channels, height, width)).astype(np.float32))
        error = max(relative_equivariance_error(network, x, k, flip) for k, flip in measured)
        kind = "rotation and reflection" if any(flip for _, flip in measured) else "rotation"
        name = f"{kind} equivariance {height}x{width} ({config.group}), k=1,2,3"
        if required:
            checks.append(Check(name, error < tolerance, error, tolerance))
        else:
            detail = f"not required: the {config.architecture} model ({config.group}) has no rotation symmetry"
            checks.append(Check(name, True, error, None, detail))
    return checks


def verify_onnx(
    path: str | Path,
    reference: nn.Module | None = None,
    checkpoint: str | Path | None = None,
    real_patches: bool = True,
    seed: int = 0,
    patches_root: Path | None = None,
) -> VerificationReport:
    """Verify an ONNX file; parity needs the ``reference`` PyTorch model (or the ``checkpoint`` to load it from).

    ``real_patches`` adds parity on real patches: the SEN12MS-CR tree ``patches_root``, or the real
    patches shipped in the package when none is named.
    """
    session = CloudRemovalSession(path)
    report = VerificationReport(str(path), file_sha256(path), session.active_provider, session.metadata)
    rng = np.random.default_rng(seed)
    report.checks.append(metadata_check(session))
    report.checks.append(recorded_output_check(session))
    if checkpoint is not None:
        from equicr.checkpoint import load_model, read_checkpoint_config

        recorded = session.metadata.get("checkpoint_sha256")
        actual = file_sha256(checkpoint)
        detail = "" if recorded == actual else f"file was exported from {recorded}, checkpoint is {actual}"
        report.checks.append(Check("exported from this checkpoint", recorded == actual, detail=detail))
        saved = read_checkpoint_config(checkpoint)
        exported = ModelConfig.from_dict(session.metadata["model_config"])
        if saved != exported:  # parity between two different networks has no meaning: say so, do not crash
            differences = ", ".join(
                f"{k}: checkpoint {a!r}, file {b!r}" for k, (a, b) in saved.differences(exported).items()
            )
            report.checks.append(Check("checkpoint describes the file's model", False, detail=differences))
        elif reference is None:
            reference, _ = load_model(checkpoint)
    if reference is not None:
        reference.eval()
        random_inputs = rng.uniform(0, 2, (2, len(session.input_bands), 37, 46)).astype(np.float32)
        report.checks.append(parity_check("parity with PyTorch, random inputs", session, reference, random_inputs))
        if real_patches:
            where = f"the SEN12MS-CR tree {patches_root}" if patches_root is not None else "the shipped patches"
            inputs = real_patch_inputs(session, patches_root)
            report.checks.append(
                parity_check(f"parity with PyTorch, real patches ({where})", session, reference, inputs)
            )
    report.checks.extend(equivariance_checks(session, rng))
    return report


def verify_reduced(path: str | Path, float32_file: str | Path, patches_root: Path | None = None) -> VerificationReport:
    """Verify a reduced-precision file against the float32 file it was made from.

    Checks: the metadata describes the model and names a reduced precision; the file reproduces its
    own recorded outputs; on real patches (shipped, or the SEN12MS-CR tree ``patches_root``) its
    mean PSNR and SAM against the clear targets are within :data:`REDUCED_QUALITY_TOLERANCE` of the
    float32 file's; and it is rotation-equivariant within :data:`REDUCED_EQUIVARIANCE_TOLERANCE`.
    """
    session, reference = CloudRemovalSession(path), CloudRemovalSession(float32_file)
    report = VerificationReport(str(path), file_sha256(path), session.active_provider, session.metadata)
    precision = session.metadata.get("precision")
    report.checks.append(metadata_check(session))
    same_model = session.metadata["model_config"] == reference.metadata["model_config"]
    report.checks.append(Check(f"a reduced precision ({precision}) of the float32 file's model",
                               precision in REDUCED_PRECISIONS and same_model))  # fmt: skip
    if precision not in REDUCED_PRECISIONS:
        return report
    report.checks.append(recorded_output_check(session, REDUCED_RECORDED_TOLERANCE[precision]))
    report.checks.extend(quality_checks(session, reference, patches_root))
    report.checks.extend(
        equivariance_checks(session, np.random.default_rng(0), REDUCED_EQUIVARIANCE_TOLERANCE[precision])
    )
    return report


def quality_checks(
    session: CloudRemovalSession, reference: CloudRemovalSession, patches_root: Path | None
) -> list[Check]:
    """Mean PSNR and SAM of ``session`` and of the float32 ``reference`` on real patches, scored on clear targets."""
    inputs, targets = real_patch_inputs(session, patches_root, with_targets=True)
    scores = {}
    for name, candidate in (("reduced", session), ("float32", reference)):
        prediction = torch.from_numpy(network_to_reflectance(candidate.run_network(inputs)))
        scores[name] = {key: float(value.mean()) for key, value in image_metrics(prediction, targets).items()}
    psnr_loss = scores["float32"]["psnr"] - scores["reduced"]["psnr"]
    sam_loss = scores["reduced"]["sam"] - scores["float32"]["sam"]
    where = f"on {len(inputs)} real patches"
    psnr_tolerance, sam_tolerance = REDUCED_QUALITY_TOLERANCE["psnr_db"], REDUCED_QUALITY_TOLERANCE["sam_deg"]
    psnr_detail = f"{scores['float32']['psnr']:.3f} -> {scores['reduced']['psnr']:.3f} dB {where}"
    sam_detail = f"{scores['float32']['sam']:.3f} -> {scores['reduced']['sam']:.3f} degrees {where}"
    return [
        Check("PSNR lost against float32 (dB)", psnr_loss <= psnr_tolerance, psnr_loss, psnr_tolerance, psnr_detail),
        Check("SAM lost against float32 (degrees)", sam_loss <= sam_tolerance, sam_loss, sam_tolerance, sam_detail),
    ]


def recorded_output_check(session: CloudRemovalSession, tolerance: float | None = None) -> Check:
    """The file's outputs on its recorded reference input against the outputs recorded at export.

    Needs nothing but the file: a trained coefficient changed after export (which keeps the graph
    equivariant, so only parity would notice) changes these outputs.
    """
    name = "outputs recorded at export"
    if "reference_output" not in session.metadata:
        return Check(name, False, detail="the file records no reference outputs: export it again")
    inputs, expected = reference_pair(session.metadata)
    got = session.run_network(inputs)
    error = float(np.abs(got - expected).max()) / (float(np.abs(expected).max()) or 1.0)
    tolerance = PARITY_TOLERANCE[session.metadata["weights_dtype"]] if tolerance is None else tolerance
    return Check(name, error < tolerance, error, tolerance, f"on a seeded {inputs.shape[2]}x{inputs.shape[3]} px input")
