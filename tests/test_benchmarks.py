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
