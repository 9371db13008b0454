"""Every benchmark script imports: a name moved in the package or in benchlib breaks them before they run."""

import importlib.util
import sys

import pytest

from tests.fixtures.paths import REPO_ROOT

SCRIPTS = sorted(path for path in (REPO_ROOT / "bench").glob("*.py") if path.name != "benchlib.py")


@pytest.mark.parametrize("script", SCRIPTS, ids=[path.stem for path in SCRIPTS])
def test_a_benchmark_script_imports(script, monkeypatch):
    monkeypatch.syspath_prepend(str(script.parent))  # as `python bench/x.py` finds benchlib
    spec = importlib.util.spec_from_file_location(f"bench_{script.stem}", script)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)
    spec.loader.exec_module(module)  # the import lines and module constants; `main` runs only as a script
    assert callable(getattr(module, "main", None)), f"{script.name} has no main()"


def test_the_capacity_plan_is_computed_from_the_committed_measurements(monkeypatch):
    monkeypatch.syspath_prepend(str(REPO_ROOT / "bench"))
    spec = importlib.util.spec_from_file_location("bench_capacity_plan", REPO_ROOT / "bench" / "capacity.py")
    capacity = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, capacity)
    spec.loader.exec_module(capacity)
    result = capacity.plan()
    text = capacity.markdown(result)
    for job in ("training", "europe"):  # AMX CPU nodes priced beside the GPUs, for both jobs
        devices = {row["device"] for row in result[job]}
        assert set(capacity.GPUS) <= devices and set(capacity.AMX_NODES) <= devices
    europe = {(row["device"], row["precision"]): row for row in result["europe"] if row["work"] == "Europe, EquiCR"}
    node, spec_ = next(iter(capacity.AMX_NODES.items()))
    bf16 = europe[(node, "bf16")]
    flop = bf16["EFLOP"] * 1e18
    assert bf16["machine-hours"] == pytest.approx(
        flop / (capacity.AMX_GFLOPS_PER_VCPU["bf16"] * 1e9 * spec_["vcpus"]) / 3600
    )
    assert bf16["USD"] == pytest.approx(bf16["machine-hours"] * spec_["usd_per_hour"])
    assert "on AMX CPU nodes" in text and (REPO_ROOT / "docs" / "capacity.md").read_text() == text  # committed as made
