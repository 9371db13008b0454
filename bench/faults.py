"""Fault injection: ``kill -9`` each resumable job mid-run, rerun the same command, compare with a clean run.

    python bench/faults.py            # a few minutes; prints the table, writes bench/results/faults.json

Jobs: SEN12MS-CR ingest (a synthetic tree in the official layout), scenes ingest, STAC ingest
(a 2048 px per-band-COG product of ``bench/scenes.py``, 16 windows), and declouding (in this
process and on a local Ray). Each is started as a real process, killed with SIGKILL (its
whole process group) once it has written part of its output, rerun with the same command, and its
result compared with an uninterrupted run of the same command: items lost, items done twice (the
rerun redoing what the killed run had finished), and whether the outputs are byte-identical.

Concurrency: two decloud jobs on one scene started at once, the second with ``--overwrite`` and
another model. One holds the scene's lease and finishes; the other is refused (exit 2: it did
nothing). For that row "done twice" counts tiles that differ from a clean run of the winner's model
(tiles of the two models mixed), and "killed after s" is the time both jobs took.

Integrity (a second table): outputs that would be wrong yet look right. A scene whose ``s2_cloudy``
chunk was deleted after ingest (an interrupted copy or sync) is declouded with ``--cog-dir``: the
tiles that read it must fail, the scene must not be complete or exported, and once the chunk is
back a rerun must finish it byte-identical to a clean run. Two ``export/to_onnx.py`` runs to
object-store paths with the same file name (an EquiCR and a DSen2-CR model), started at once
against a loopback S3 server: each location must end with its own model and a passing report for
exactly that file's SHA-256.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import zarr
from benchlib import REPO_ROOT, print_table, write_results

from equicr.checkpoint import save_checkpoint
from equicr.data.collection import open_collection
from equicr.data.scenes import scene_names
from equicr.data.synthetic import write_geotiff, write_sen12mscr_tree
from equicr.decloud.output import DONE_ARRAY, OUTPUT_ARRAY
from equicr.ingest.simulated import write_synthetic_scenes
from equicr.models import ModelConfig, build_model

PYTHON = sys.executable


def run_killed(command: list[str], ready: Callable[[], bool], env: dict, timeout: float = 300) -> float:
    """Start ``command``, SIGKILL its process group once ``ready()``; return seconds until the kill."""
    started = time.perf_counter()
    job = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           start_new_session=True)  # fmt: skip
    while not ready():
        if job.poll() is not None:
            raise RuntimeError(f"{command[1]} finished before it could be killed; make the job larger")
        if time.perf_counter() - started > timeout:
            break
        time.sleep(0.05)
    os.killpg(job.pid, signal.SIGKILL)
    job.wait()
    return time.perf_counter() - started


def run(command: list[str], env: dict) -> str:
    result = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=900)
    if result.returncode not in (0, 1):
        raise RuntimeError(f"{command} failed: {result.stderr[-2000:]}")
    return result.stdout


def patches_case(folder: Path, env: dict) -> dict:
    tree = folder / "tree"
    write_sen12mscr_tree(tree, {"ROIs1158_spring": [1, 2], "ROIs2017_winter": [22, 5]}, patches_per_scene=6, seed=1)
    command = [PYTHON, "jobs/ingest.py", "sen12mscr", "--root", str(tree), "--out"]
    run([*command, str(folder / "clean.zarr")], env)
    out = folder / "killed.zarr"

    def ready() -> bool:
        try:
            return int(zarr.open_group(str(out), mode="r")["complete"][:].sum()) >= 6
        except Exception:  # not created yet
            return False

    seconds = run_killed([*command, str(out)], ready, env)
    done_at_kill = int(open_collection(out, "patches")["complete"][:].sum())
    rerun = run([*command, str(out)], env)
    clean, resumed = open_collection(folder / "clean.zarr", "patches"), open_collection(out, "patches")
    arrays = ("s1", "s2_cloudy", "s2", "patch_id", "split", "cloud_cover", "transform", "complete")
    identical = all(np.array_equal(clean[name][:], resumed[name][:], equal_nan=name in ("cloud_cover", "transform"))
                    for name in arrays)  # fmt: skip
    total = int(clean["complete"][:].sum())
    written_again = int(rerun.split(" written")[0].rsplit(" ", 1)[-1]) - (total - done_at_kill)
    return {"job": "ingest sen12mscr (24 patches)", "killed after s": seconds, "done at kill": done_at_kill,
            "items": total, "lost": total - int(resumed["complete"][:].sum()), "done twice": written_again,
            "byte-identical": identical}  # fmt: skip


def scenes_case(folder: Path, env: dict) -> dict:
    source = write_synthetic_scenes(folder / "source.zarr", [(300, 300)] * 8, seed=2)
    pairs = []
    for name in scene_names(open_collection(source, "scenes")):
        scene = open_collection(source, "scenes")["scenes"][name]
        geo = scene.attrs
        from equicr.data.rasters import GeoReference

        reference = GeoReference(geo["crs"], tuple(geo["transform"]))
        s1, s2 = folder / f"{name}_s1.tif", folder / f"{name}_s2.tif"
        write_geotiff(s1, scene["s1"][:], reference)
        write_geotiff(s2, scene["s2_cloudy"][:], reference)
        pairs += ["--pair", name, str(s1), str(s2)]
    run([PYTHON, "jobs/ingest.py", "scenes", *pairs, "--out", str(folder / "clean.zarr")], env)
    out = folder / "killed.zarr"

    def ready() -> bool:
        try:
            return len(scene_names(open_collection(out, "scenes"))) >= 3
        except Exception:
            return False

    seconds = run_killed([PYTHON, "jobs/ingest.py", "scenes", *pairs, "--out", str(out)], ready, env)
    done_at_kill = len(scene_names(open_collection(out, "scenes")))
    rerun = run([PYTHON, "jobs/ingest.py", "scenes", *pairs, "--out", str(out)], env)
    clean, resumed = open_collection(folder / "clean.zarr", "scenes"), open_collection(out, "scenes")
    names = scene_names(clean)
    identical = scene_names(resumed) == names and all(
        np.array_equal(clean["scenes"][n][a][:], resumed["scenes"][n][a][:]) for n in names for a in ("s1", "s2_cloudy")
    )
    written_again = int(rerun.split(" written")[0].rsplit(" ", 1)[-1]) - (len(names) - done_at_kill)
    return {"job": "ingest scenes (8 scenes)", "killed after s": seconds, "done at kill": done_at_kill,
            "items": len(names), "lost": len(names) - len(scene_names(resumed)), "done twice": written_again,
            "byte-identical": identical}  # fmt: skip


def stac_case(folder: Path, env: dict) -> dict:
    """STAC ingest killed mid-scene: the rerun redoes only the windows not marked done."""
    from scenes import write_product

    catalog = write_product(folder, 2048)
    command = [PYTHON, "jobs/ingest.py", "stac", "--catalog", str(catalog), "--out"]
    run([*command, str(folder / "clean.zarr")], env)
    out = folder / "killed.zarr"
    markers = out / "scenes" / "S2_2048" / "ingest_done" / "c"

    def ready() -> bool:
        return markers.exists() and sum(p.is_file() for p in markers.rglob("*")) >= 4

    seconds = run_killed([*command, str(out)], ready, env)
    scene = zarr.open_group(str(out), mode="r")["scenes/S2_2048"]
    done = scene["ingest_done"][:]
    pixels = out / "scenes" / "S2_2048" / "s2_cloudy" / "c"
    before = {path: path.stat().st_mtime_ns for path in pixels.rglob("*") if path.is_file()}
    run([*command, str(out)], env)
    rows, cols = np.nonzero(done)
    rewritten = {(int(p.parts[-2]), int(p.parts[-1])) for p in pixels.rglob("*")
                 if p.is_file() and p in before and p.stat().st_mtime_ns != before[p]}  # fmt: skip
    clean, resumed = (open_collection(p, "scenes")["scenes"]["S2_2048"] for p in (folder / "clean.zarr", out))
    identical = all(
        np.array_equal(clean[a][:], resumed[a][:]) for a in ("s1", "s2_cloudy", "s1_valid", "s2_cloudy_valid")
    )
    return {"job": f"ingest stac (2048 px, {done.size} windows)", "killed after s": seconds,
            "done at kill": int(done.sum()), "items": int(done.size), "lost": int((~resumed["ingest_done"][:]).sum()),
            "done twice": len(rewritten & set(zip(rows.tolist(), cols.tolist(), strict=True))),
            "byte-identical": bool(identical and resumed.attrs["complete"])}  # fmt: skip


def decloud_case(folder: Path, env: dict, use_ray: bool) -> dict:
    config = ModelConfig("dsen2cr", width=8, num_blocks=2)
    checkpoint = save_checkpoint(folder / "model.pt", build_model(config), config)
    write_synthetic_scenes(folder / "clean.zarr", [(256, 288)], seed=3)
    shutil.copytree(folder / "clean.zarr", folder / "killed.zarr")
    command = [PYTHON, "jobs/decloud.py", "--model", str(checkpoint), "--tile-size", "16", "--precision", "fp32",
               "--ray" if use_ray else "--no-ray", "--collection"]  # fmt: skip
    run([*command, str(folder / "clean.zarr")], env)
    out = folder / "killed.zarr"
    markers = out / "scenes" / "scene_0" / DONE_ARRAY / "c"

    def ready() -> bool:
        return markers.exists() and sum(p.is_file() for p in markers.rglob("*")) >= 100

    seconds = run_killed([*command, str(out)], ready, env)
    done = zarr.open_group(str(out), mode="r")["scenes/scene_0"][DONE_ARRAY][:]
    rerun = run([*command, str(out)], env)
    processed = int(rerun.split(" unit(s) processed")[0].rsplit(" ", 1)[-1])
    clean, resumed = (open_collection(p, "scenes")["scenes"]["scene_0"] for p in (folder / "clean.zarr", out))
    identical = np.array_equal(clean[OUTPUT_ARRAY][:], resumed[OUTPUT_ARRAY][:])
    return {"job": f"decloud ({'Ray Data' if use_ray else 'in process'}, {done.size} tiles)", "killed after s": seconds,
            "done at kill": int(done.sum()), "items": int(done.size),
            "lost": int((~zarr.open_group(str(out), mode="r")["scenes/scene_0"][DONE_ARRAY][:]).sum()),
            "done twice": processed - (int(done.size) - int(done.sum())),
            "byte-identical": bool(identical)}  # fmt: skip


def concurrent_decloud_case(folder: Path, env: dict) -> dict:
    """Two decloud jobs on one scene started together, the second with --overwrite and another model."""
    models = {}
    for name, width in (("first", 8), ("second", 6)):
        config = ModelConfig("dsen2cr", width=width, num_blocks=2)
        models[name] = save_checkpoint(folder / f"{name}.pt", build_model(config), config)
        write_synthetic_scenes(folder / f"clean-{name}.zarr", [(256, 288)], seed=3)
    shutil.copytree(folder / "clean-first.zarr", folder / "both.zarr")
    command = [PYTHON, "jobs/decloud.py", "--tile-size", "16", "--precision", "fp32", "--no-ray", "--collection"]
    for name in models:
        run([*command, str(folder / f"clean-{name}.zarr"), "--model", str(models[name])], env)
    started = time.perf_counter()
    jobs = {name: subprocess.Popen([*command, str(folder / "both.zarr"), "--model", str(models[name]),
                                    *(["--overwrite"] if name == "second" else [])], cwd=REPO_ROOT, env=env,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for name in models}  # fmt: skip
    codes = {name: job.wait(timeout=900) for name, job in jobs.items()}
    seconds = time.perf_counter() - started
    scene = open_collection(folder / "both.zarr", "scenes")["scenes"]["scene_0"]
    winner = next(name for name, path in models.items() if scene.attrs["decloud"]["model"] == str(path))
    clean = open_collection(folder / f"clean-{winner}.zarr", "scenes")["scenes"]["scene_0"][OUTPUT_ARRAY][:]
    output, done = scene[OUTPUT_ARRAY][:], scene[DONE_ARRAY][:]
    tiles = [(r, c) for r in range(done.shape[0]) for c in range(done.shape[1])]
    mixed = sum(not np.array_equal(output[:, 16 * r : 16 * r + 16, 16 * c : 16 * c + 16],
                                   clean[:, 16 * r : 16 * r + 16, 16 * c : 16 * c + 16]) for r, c in tiles)  # fmt: skip
    print(f"exit codes {codes}; the {winner} job kept the scene, the other was refused", flush=True)
    one_refused = sorted(codes.values()) == [0, 2]  # the refused job did nothing: exit 2
    return {"job": f"decloud, 2 jobs at once, 2nd --overwrite ({done.size} tiles)", "killed after s": seconds,
            "done at kill": 0, "items": int(done.size), "lost": int((~done).sum()), "done twice": int(mixed),
            "byte-identical": bool(mixed == 0 and scene.attrs["decloud"]["complete"] and one_refused)}  # fmt: skip


def deleted_chunk_case(folder: Path, env: dict) -> dict:
    """One `s2_cloudy` chunk deleted after ingest: failed tiles, no complete scene or COG; restored, a rerun ends it."""
    config = ModelConfig("dsen2cr", width=4, num_blocks=1)
    checkpoint = save_checkpoint(folder / "model.pt", build_model(config), config)
    write_synthetic_scenes(folder / "clean.zarr", [(1100, 300)], seed=5)  # three chunk rows
    shutil.copytree(folder / "clean.zarr", folder / "damaged.zarr")
    chunk = folder / "damaged.zarr" / "scenes" / "scene_0" / "s2_cloudy" / "c" / "0" / "1" / "0"
    saved = chunk.read_bytes()
    chunk.unlink()
    command = [PYTHON, "jobs/decloud.py", "--model", str(checkpoint), "--tile-size", "128", "--precision", "fp32",
               "--no-ray", "--collection"]  # fmt: skip
    run([*command, str(folder / "clean.zarr")], env)
    started = time.perf_counter()
    result = subprocess.run([*command, str(folder / "damaged.zarr"), "--cog-dir", str(folder / "cogs")], cwd=REPO_ROOT,
                            env=env, capture_output=True, text=True, timeout=900)  # fmt: skip
    seconds = time.perf_counter() - started
    scene = open_collection(folder / "damaged.zarr", "scenes")["scenes"]["scene_0"]
    done = scene[DONE_ARRAY][:]
    exported = (folder / "cogs" / "scene_0.tif").exists()
    wrong = int(bool(scene.attrs["decloud"]["complete"]) or exported)  # anything that looks finished is wrong
    chunk.write_bytes(saved)  # the copy is repaired
    run([*command, str(folder / "damaged.zarr")], env)
    paths = (folder / "clean.zarr", folder / "damaged.zarr")
    clean, repaired = (open_collection(p, "scenes")["scenes"]["scene_0"] for p in paths)
    return {"case": f"s2_cloudy chunk deleted, decloud --cog-dir ({done.size} tiles)", "seconds": seconds,
            "exit": result.returncode, "items failed": int((~done).sum()), "items": int(done.size),
            "wrong outputs": wrong, "after repair byte-identical": bool(
                repaired.attrs["decloud"]["complete"] and np.array_equal(clean[OUTPUT_ARRAY][:],
                                                                         repaired[OUTPUT_ARRAY][:]))}  # fmt: skip


def concurrent_export_case(folder: Path, env: dict) -> dict:
    """Two exports to object-store paths of one file name at once: each location gets its own model and report."""
    import json

    import fsspec
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    env = {**env, "AWS_ENDPOINT_URL": f"http://{host}:{port}", "AWS_ACCESS_KEY_ID": "bench",
           "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": "us-east-1"}  # fmt: skip
    os.environ.update({k: v for k, v in env.items() if k.startswith("AWS_")})
    try:
        import boto3

        boto3.client("s3").create_bucket(Bucket="bench")
        models = {}
        for name, config in (("a", ModelConfig("equicr", width=2, num_blocks=1)),
                             ("b", ModelConfig("dsen2cr", width=4, num_blocks=1))):  # fmt: skip
            models[name] = (save_checkpoint(folder / f"{name}.pt", build_model(config), config), config.architecture)
        started = time.perf_counter()
        jobs = {name: subprocess.Popen([PYTHON, "export/to_onnx.py", "--checkpoint", str(path), "--out",
                                        f"s3://bench/{name}/model.onnx", "--skip-real-patches"], cwd=REPO_ROOT,
                                       env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
                for name, (path, _) in models.items()}  # fmt: skip
        codes = {name: job.wait(timeout=900) for name, job in jobs.items()}
        seconds = time.perf_counter() - started
        filesystem = fsspec.filesystem("s3")
        wrong = 0
        from equicr.deploy.predictors import resolve_model
        from equicr.storage import file_sha256

        for name, (_, architecture) in models.items():
            local = folder / f"{name}.onnx"
            filesystem.get(f"bench/{name}/model.onnx", str(local))
            report = json.loads(filesystem.cat_file(f"bench/{name}/model.verification.json"))
            reference = resolve_model(f"s3://bench/{name}/model.onnx")  # the gate decloud applies
            right = (report["passed"] and report["sha256"] == file_sha256(local) == reference.sha256
                     and reference.config.architecture == architecture)  # fmt: skip
            wrong += int(not right)
    finally:
        server.stop()
    return {"case": "2 exports at once to s3://bench/{a,b}/model.onnx", "seconds": seconds,
            "exit": max(codes.values()), "items failed": sum(code != 0 for code in codes.values()), "items": 2,
            "wrong outputs": wrong, "after repair byte-identical": None}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory(prefix="faults", dir="/tmp") as root:
        env = {**{k: v for k, v in os.environ.items() if not k.startswith("RAY_")}, "RAY_TMPDIR": root}
        for name, case in (("patches", patches_case), ("scenes", scenes_case), ("stac", stac_case),
                           ("decloud", lambda f, e: decloud_case(f, e, use_ray=False)),
                           ("decloud-ray", lambda f, e: decloud_case(f, e, use_ray=True)),
                           ("decloud-concurrent", concurrent_decloud_case)):  # fmt: skip
            folder = Path(root) / name
            folder.mkdir()
            rows.append(case(folder, env))
            print_table(rows[-1:], list(rows[-1]))
        integrity = []
        for name, case in (("deleted-chunk", deleted_chunk_case), ("concurrent-export", concurrent_export_case)):
            folder = Path(root) / name
            folder.mkdir()
            integrity.append(case(folder, env))
            print_table(integrity[-1:], list(integrity[-1]))
    print_table(rows, list(rows[0]))
    print_table(integrity, list(integrity[0]))
    write_results("faults", {"rows": rows, "integrity": integrity})
    killed_ok = all(r["lost"] == 0 and r["byte-identical"] for r in rows)
    return 0 if killed_ok and all(r["wrong outputs"] == 0 for r in integrity) else 1


if __name__ == "__main__":
    raise SystemExit(main())
