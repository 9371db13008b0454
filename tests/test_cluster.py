"""cluster.yaml, validated offline: Ray's schema and config validation, plus what the schema cannot check."""

import copy

import pytest
import yaml
from ray.autoscaler._private.util import prepare_config, validate_config

from equicr.training.config import PRESETS
from tests.fixtures.paths import REPO_ROOT

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


def test_the_dashboard_stays_local_and_the_object_store_has_shared_memory(config):
    start = " ".join(config["head_start_ray_commands"])
    assert "--dashboard-host=127.0.0.1" in start and "0.0.0.0" not in start
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


# ------------------------------------------------------------------------- network exposure, on moto's EC2


@pytest.fixture
def ec2(s3_bucket, config):
    """A boto3 EC2 client on moto's server on loopback (the session's AWS endpoint), in cluster.yaml's region.

    Each test names its own security group (the server lives for the session); Ray's cached clients
    are dropped so they reach the same server.
    """
    import uuid

    import boto3
    from ray.autoscaler._private.aws import config as aws_config
    from ray.autoscaler._private.aws import utils

    config["provider"]["security_group"]["GroupName"] = f"equicr-test-{uuid.uuid4().hex[:8]}"
    for cached in (utils.resource_cache, utils.client_cache, aws_config._get_subnets_or_die):
        cached.cache_clear()
    return boto3.client("ec2", region_name=config["provider"]["region"])


def ray_configures_the_network(config):
    """What `ray up` does to the network part of the config: pick subnets, then find or create the group."""
    from ray.autoscaler._private.aws import config as aws_config

    prepared = aws_config._configure_subnet(prepare_config(copy.deepcopy(config)))
    return aws_config._configure_security_group(prepared)


def test_nodes_join_the_premade_group_which_opens_ssh_to_the_named_network_only(config, ec2):
    from equicr.cluster import ClusterNetwork, default_vpc_id, ensure_security_group, exposure_problems

    group_id = ensure_security_group(ec2, ClusterNetwork.from_dict(config), default_vpc_id(ec2), "203.0.113.0/24")
    configured = ray_configures_the_network(config)
    assert {tuple(node["node_config"]["SecurityGroupIds"]) for node in configured["available_node_types"].values()} \
        == {(group_id,)}  # fmt: skip
    assert exposure_problems(ec2, group_id, "203.0.113.0/24") == []  # Ray added nothing
    rules = ec2.describe_security_groups(GroupIds=[group_id])["SecurityGroups"][0]["IpPermissions"]
    ssh = [rule for rule in rules if rule.get("FromPort") == 22]
    assert [r["CidrIp"] for r in ssh[0]["IpRanges"]] == ["203.0.113.0/24"] and len(ssh) == 1
    again = ensure_security_group(ec2, ClusterNetwork.from_dict(config), default_vpc_id(ec2), "203.0.113.0/24")
    assert again == group_id  # a rerun checks the group and changes nothing


def test_a_group_ray_makes_itself_opens_ssh_to_everyone_and_the_audit_says_so(config, ec2):
    from equicr.cluster import ClusterNetwork, default_vpc_id, ensure_security_group, exposure_problems

    configured = ray_configures_the_network(config)
    group_id = configured["available_node_types"]["head"]["node_config"]["SecurityGroupIds"][0]
    assert "tcp 22-22 open to 0.0.0.0/0" in exposure_problems(ec2, group_id)
    with pytest.raises(ValueError, match="open to 0.0.0.0/0"):  # the script refuses such a group; it never edits it
        ensure_security_group(ec2, ClusterNetwork.from_dict(config), default_vpc_id(ec2), "203.0.113.0/24")


@pytest.mark.parametrize(
    ("cidr", "message"),
    [("0.0.0.0/0", "whole internet"), ("::/0", "whole internet"), ("0.0.0.0/1", "2.15e\\+09 addresses"),
     ("10.0.0.0/8", "prefix of /16 or longer"), ("2001::/16", "/32 or longer for IPv6"),
     ("203.0.113.5/24", "not a network"), ("ssh", "not a network")],
)  # fmt: skip
def test_the_ssh_network_must_be_narrower_than_the_internet(cidr, message):
    from equicr.cluster import check_ssh_cidr

    with pytest.raises(ValueError, match=message):
        check_ssh_cidr(cidr)
    assert check_ssh_cidr("172.16.0.0/16") == "172.16.0.0/16"
