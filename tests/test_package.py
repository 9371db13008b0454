"""The package stands alone: every import declared, and the wheel working from an empty folder.

A user's ``pip install`` has no checkout and no ``../shared``: the package must find what it ships
inside itself, write only where the user says (or under the working directory), and import only
what it declares.
"""

import ast
import importlib.metadata
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import numpy as np
import pytest
import rasterio

from equicr.commands import COMMANDS
from tests.fixtures.paths import REPO_ROOT

PACKAGE = REPO_ROOT / "equicr"
#: Imported only behind a check that it is there, each with what it is for and how it is installed.
OPTIONAL_IMPORTS = {
    "satellite_cloud_generator": "composites; installed without its declared dependencies (README)",
    "boto3": "equicr cluster-security-group on AWS; `ray up` on AWS needs it too, and the command says so",
}


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def imported_top_level_modules() -> set[str]:
    names = set()
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return names - set(sys.stdlib_module_names) - {"equicr", "__future__"}


def test_every_module_the_package_imports_is_a_declared_dependency():
    declared = {canonical(re.split(r"[ ;<>=!~\[]", requirement)[0]) for requirement in
                importlib.metadata.requires("equicr")}  # fmt: skip
    providers = importlib.metadata.packages_distributions()
    undeclared = {}
    for module in sorted(imported_top_level_modules() - set(OPTIONAL_IMPORTS)):
        distributions = {canonical(d) for d in providers.get(module, [])}
        if not distributions & declared:
            undeclared[module] = sorted(distributions) or "not installed"
    assert not undeclared, f"imported by equicr but not declared in pyproject.toml: {undeclared}"


DECLOUD_FROM_AN_EMPTY_FOLDER = """
import json, sys
from pathlib import Path
import equicr
from equicr.executors import ActorPool
from equicr.data.collection import open_collection
from equicr.ingest.simulated import write_synthetic_scenes
from equicr.decloud.output import OUTPUT_ARRAY, is_complete
from equicr.decloud.settings import DecloudSettings
from equicr.decloud.pipeline import decloud_whole_image, run_decloud
from equicr.paths import SHIPPED_MODEL

write_synthetic_scenes("scenes.zarr", [(70, 90)], seed=3)
summary = run_decloud("scenes.zarr", SHIPPED_MODEL, DecloudSettings(tile_size=64, precision="fp32"),
                      pool=ActorPool(use_ray=False),
                      progress=False)
scene = open_collection("scenes.zarr", "scenes")["scenes"]["scene_0"]
output = scene[OUTPUT_ARRAY][:]
whole = decloud_whole_image(SHIPPED_MODEL, scene["s1"][:], scene["s2_cloudy"][:])
print(json.dumps({"package": equicr.__file__, "model": str(SHIPPED_MODEL), "done": summary.scenes_done,
                  "complete": is_complete(scene), "shape": list(output.shape),
                  "tiled_error": int(abs(output.astype(int) - whole.astype(int)).max())}))
"""


THREE_LINES_FROM_AN_EMPTY_FOLDER = """
import numpy as np
from equicr.data.synthetic import make_scene, write_geotiff
from pathlib import Path
scene = make_scene(np.random.default_rng(2), (80, 70))
write_geotiff(Path("cloudy.tif"), scene.s2_cloudy, scene.geo)
write_geotiff(Path("s1.tif"), scene.s1, scene.geo)

import equicr
equicr.decloud_geotiff("cloudy.tif", "declouded.tif", tile_size=64, progress=False)
"""

OPEN_THE_DECLOUDED_SCENE = """
import json
import equicr
scene = equicr.open_scene("scenes.zarr", "tile")
print(json.dumps({"crs": scene.s2_decloud.rio.crs.to_string(), "nodata": int(scene.s2_decloud.rio.encoded_nodata),
                  "shape": list(scene.s2_decloud.shape)}))
"""


def site_listing(folder: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*")
            if p.is_file() and "__pycache__" not in p.parts}  # fmt: skip


@pytest.mark.slow
def test_the_wheel_in_a_fresh_environment_declouds_a_scene_from_an_empty_folder(tmp_path):
    source = tmp_path / "source"  # a copy, so that building leaves nothing in the checkout
    source.mkdir()
    shutil.copy(REPO_ROOT / "pyproject.toml", source)
    shutil.copy(REPO_ROOT / "README.md", source)
    shutil.copytree(PACKAGE, source / "equicr", ignore=shutil.ignore_patterns("__pycache__"))
    wheels = tmp_path / "wheels"
    build = [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", "-w", str(wheels),
             str(source)]  # fmt: skip
    subprocess.run(build, check=True, capture_output=True, timeout=300)
    (wheel,) = wheels.glob("equicr-*.whl")

    fresh = tmp_path / "fresh-env"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(fresh)], check=True, timeout=120)
    python = fresh / "bin" / "python"
    install = [sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", "--no-deps", str(wheel)]
    subprocess.run(install, check=True, capture_output=True, timeout=300)
    where = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    site = Path(subprocess.check_output([str(python), "-c", where], text=True).strip())
    # The dependencies come from the development environment (a path, not its .pth hooks, so the
    # checkout's editable install stays out); equicr itself comes from the wheel.
    (site / "zz-dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    before = site_listing(site)

    empty = tmp_path / "empty"  # no checkout around it, and no ../shared beside it
    empty.mkdir()
    environment = {key: value for key, value in os.environ.items() if not key.startswith(("EQUICR_", "PYTHON"))}
    environment.update(HOME=str(tmp_path / "home"), RAY_TMPDIR=str(tmp_path / "ray"))
    result = subprocess.run([str(python), "-c", DECLOUD_FROM_AN_EMPTY_FOLDER], cwd=empty, env=environment,
                            capture_output=True, text=True, timeout=600)  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    outcome = json.loads(result.stdout.strip().splitlines()[-1])
    assert outcome["package"].startswith(str(site)) and outcome["model"].startswith(str(site)), outcome
    assert outcome["done"] == ["scene_0"] and outcome["complete"] and outcome["shape"] == [13, 70, 90]
    assert outcome["tiled_error"] <= 1  # tiles of 64 px with their halo: the whole image through the model, to 1 DN
    assert site_listing(site) == before, "the package wrote into site-packages"
    assert [p.name for p in empty.iterdir()] == ["scenes.zarr"]  # what it was asked to write, and no more

    command = fresh / "bin" / "equicr"  # the console script the wheel installs
    version = subprocess.run([str(command), "--version"], env=environment, capture_output=True, text=True)
    assert version.returncode == 0 and version.stdout.strip() == f"equicr {importlib.metadata.version('equicr')}"
    for name in COMMANDS:  # every subcommand answers from the installed wheel, in an empty folder
        listed = subprocess.run([str(command), name, "--help"], cwd=empty, env=environment, capture_output=True,
                                text=True, timeout=120)  # fmt: skip
        assert listed.returncode == 0 and f"usage: equicr {name}" in listed.stdout, (name, listed.stderr[-1000:])
    notebook = tmp_path / "notebook"
    notebook.mkdir()
    result = subprocess.run([str(python), "-c", THREE_LINES_FROM_AN_EMPTY_FOLDER], cwd=notebook, env=environment,
                            capture_output=True, text=True, timeout=600)  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert sorted(p.name for p in notebook.iterdir()) == ["cloudy.tif", "declouded.tif", "s1.tif"]

    # The installed command on a small GeoTIFF pair, as a user types it.
    ingest = ["ingest", "scenes", "--pair", "tile", "s1.tif", "cloudy.tif", "--out", "scenes.zarr"]
    decloud = ["decloud", "--collection", "scenes.zarr", "--no-ray", "--tile-size", "64", "--cog-dir", "cogs"]
    for argv in (ingest, decloud):
        ran = subprocess.run([str(command), *argv], cwd=notebook, env=environment, capture_output=True, text=True,
                             timeout=600)  # fmt: skip
        assert ran.returncode == 0, (argv, ran.stdout[-2000:], ran.stderr[-2000:])
    with rasterio.open(notebook / "cogs" / "tile.tif") as cog, rasterio.open(notebook / "declouded.tif") as api:
        assert cog.count == 13 and cog.nodata == 0 and cog.crs == api.crs
        assert np.abs(cog.read().astype(int) - api.read().astype(int)).max() <= 1  # command and API agree
    opened = subprocess.run([str(python), "-c", OPEN_THE_DECLOUDED_SCENE], cwd=notebook, env=environment,
                            capture_output=True, text=True, timeout=300)  # fmt: skip
    assert opened.returncode == 0, opened.stderr[-3000:]
    with rasterio.open(notebook / "cloudy.tif") as source:
        expected = {"crs": source.crs.to_string(), "nodata": 0, "shape": [13, source.height, source.width]}
    assert json.loads(opened.stdout.strip().splitlines()[-1]) == expected
    assert site_listing(site) == before
