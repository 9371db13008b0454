"""cluster.yaml, validated offline: Ray's schema and config validation, plus what the schema cannot check."""

import copy

import pytest
import yaml
from ray.autoscaler._private.util import prepare_config, validate_config

from equicr.paths import REPO_ROOT
from equicr.training.config import PRESETS

#: Resources one unit of each cluster job asks for (a training worker of the paper preset; a GPU decloud actor).
PAPER = PRESETS["paper"]
JOB_REQUESTS = {
    "train --preset paper": ({"CPU": PAPER.cpus_per_worker, "GPU": 1}, PAPER.num_workers),
    "decloud --gpus-per-actor 1": ({"CPU": 1, "GPU": 1}, 1),
}


@pytest.fixture
def config():
    return yaml.safe_load((REPO_ROOT / "cluster.yaml").read_text())


def validated(config):
    prepared = prepare_config(copy.deepcopy(config))
    validate_config(prepared)
    return prepared


def test_schema_and_ray_validation_pass(config):
    prepared = validated(config)
    assert prepared["head_node_type"] == "head"


def test_every_job_request_fits_a_node_type_and_the_worker_counts(config):
    node_types = config["available_node_types"]
    for job, (request, count) in JOB_REQUESTS.items():
        fitting = [
            name
            for name, node in node_types.items()
            if all(node["resources"].get(k, 0) >= v for k, v in request.items())
        ]
        assert fitting, f"{job} asks for {request}, which no node type provides"
        capacity = sum(
            node_types[name]["max_workers"]
            * min(node_types[name]["resources"][k] // v for k, v in request.items() if v)
            for name in fitting
        )
        assert capacity >= count, f"{job} needs {count} x {request}; the cluster can hold {capacity}"


def test_worker_counts_are_consistent(config):
    node_types = config["available_node_types"]
    for name, node in node_types.items():
        assert node.get("min_workers", 0) <= node["max_workers"], name
    assert (
        sum(node["max_workers"] for node in node_types.values())
        <= config["max_workers"] + node_types[config["head_node_type"]]["max_workers"]
    )


def test_no_port_but_ssh_is_opened_and_the_object_store_has_shared_memory(config):
    start = " ".join(config["head_start_ray_commands"])
    assert "--dashboard-host=127.0.0.1" in start and "0.0.0.0" not in start
    assert "security_group" not in config["provider"]  # Ray's default group opens SSH only
    assert any(option.startswith("--shm-size=") for option in config["docker"]["run_options"])
    assert any('".[gpu]"' in command for command in config["setup_commands"])
    assert {".git", ".venv", "runs", "data", "outputs"} <= set(config["rsync_exclude"])  # never uploaded


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda c: c.__setitem__("head_node_type", "nonexistent"), "head_node_type"),
        (lambda c: c["available_node_types"]["gpu_worker"].__setitem__("instance", "x"), "Additional properties"),
        (
            lambda c: c["available_node_types"]["gpu_worker"]["resources"].__setitem__("GPU", 0.5),
            "is not of type 'integer'",
        ),
        (lambda c: c.pop("provider"), "provider"),
    ],
)
def test_validation_can_fail(config, change, message):
    change(config)
    with pytest.raises(Exception, match=message):
        validated(config)


def test_the_stated_request_is_what_the_paper_preset_makes():
    """cluster.yaml's header says what training asks of a node; it must be what the preset really asks."""
    import re

    from equicr.experiments.presets import PRESETS as EXPERIMENT_PRESETS

    stated = re.search(
        r"--preset paper\s+(\d+) workers x \{CPU: (\d+), GPU: (\d+)\}", (REPO_ROOT / "cluster.yaml").read_text()
    )
    assert stated is not None
    assert tuple(map(int, stated.groups())) == (PAPER.num_workers, PAPER.cpus_per_worker, 1) and PAPER.use_gpu
    assert EXPERIMENT_PRESETS["paper"].training == PAPER  # the experiments train with the same preset
