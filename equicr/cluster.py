"""The cluster's network exposure: a security group that opens SSH to one CIDR only.

When ``ray up`` finds no security group of the name in ``cluster.yaml``, Ray creates one and adds
an SSH rule from 0.0.0.0/0 to it, whatever else the configuration says. It leaves a group alone
that already exists and has rules. So the group is made here, before ``ray up``: SSH (port 22)
from the CIDR the operator names, all traffic between the cluster's own nodes, nothing else. The
group's name and region are read from ``cluster.yaml``, the one place they are defined.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from equicr.errors import UserError

#: The cluster launcher's config, as ``ray up`` is given it: in the working directory (the checkout's root).
CLUSTER_CONFIG = Path("cluster.yaml")
SSH_PORT = 22
OPEN_TO_EVERYONE = ("0.0.0.0/0", "::/0")


@dataclass(frozen=True)
class ClusterNetwork:
    """What ``cluster.yaml`` says about the cluster's network: its region and security group name."""

    region: str
    group_name: str
    cluster_name: str

    @classmethod
    def from_config(cls, path: Path = CLUSTER_CONFIG) -> ClusterNetwork:
        """Read from a cluster config file."""
        return cls.from_dict(yaml.safe_load(Path(path).read_text()), path)

    @classmethod
    def from_dict(cls, config: dict[str, Any], path: str | Path = CLUSTER_CONFIG) -> ClusterNetwork:
        """Read from a parsed cluster config."""
        provider = config["provider"]
        name = provider.get("security_group", {}).get("GroupName")
        if not name:
            raise UserError(
                f"{path}: provider.security_group.GroupName is not set, so Ray would create a group open to 0.0.0.0/0"
            )
        return cls(provider["region"], name, config["cluster_name"])


#: The widest network SSH may be opened to, per IP version: a /16 (65,536 addresses) is a large
#: organisation's; anything wider (0.0.0.0/1 is half the internet) is refused.
MIN_SSH_PREFIX = {4: 16, 6: 32}


def check_ssh_cidr(cidr: str) -> str:
    """``cidr`` if it is a network no wider than :data:`MIN_SSH_PREFIX` allows, else a ValueError saying why."""
    try:
        network = ipaddress.ip_network(cidr, strict=True)
    except ValueError as error:
        raise UserError(f"--ssh-cidr {cidr!r} is not a network in CIDR notation (203.0.113.0/24): {error}") from None
    shortest = MIN_SSH_PREFIX[network.version]
    if network.prefixlen < shortest:
        share = "the whole internet" if network.prefixlen == 0 else f"{network.num_addresses:.3g} addresses"
        raise UserError(
            f"--ssh-cidr {cidr} opens SSH to {share}; name the network you connect from "
            f"(a prefix of /{shortest} or longer for IPv{network.version}, e.g. 203.0.113.0/24)"
        )
    return str(network)


def restricted_rules(group_id: str, ssh_cidr: str) -> list[dict[str, Any]]:
    """Inbound rules: SSH from ``ssh_cidr``, any traffic from nodes of the same group (Ray's own ports)."""
    ssh_range = {"CidrIpv6" if ":" in ssh_cidr else "CidrIp": ssh_cidr, "Description": "SSH for ray up / ray attach"}
    return [
        {"IpProtocol": "tcp", "FromPort": SSH_PORT, "ToPort": SSH_PORT,
         **({"Ipv6Ranges": [ssh_range]} if ":" in ssh_cidr else {"IpRanges": [ssh_range]})},
        {"IpProtocol": "-1", "UserIdGroupPairs": [{"GroupId": group_id, "Description": "between cluster nodes"}]},
    ]  # fmt: skip


def ensure_security_group(ec2: Any, network: ClusterNetwork, vpc_id: str, ssh_cidr: str) -> str:
    """Create the cluster's restricted security group in ``vpc_id`` (or check the existing one); return its id.

    ``ec2`` is a boto3 EC2 client. An existing group with other inbound rules is refused, not changed.
    """
    ssh_cidr = check_ssh_cidr(ssh_cidr)
    found = ec2.describe_security_groups(
        Filters=[{"Name": "group-name", "Values": [network.group_name]}, {"Name": "vpc-id", "Values": [vpc_id]}]
    )["SecurityGroups"]
    if found:
        group_id = found[0]["GroupId"]
    else:
        group_id = ec2.create_security_group(
            GroupName=network.group_name, VpcId=vpc_id,
            Description=f"Ray cluster {network.cluster_name}: SSH from {ssh_cidr} only",
            TagSpecifications=[{"ResourceType": "security-group",
                                "Tags": [{"Key": "ray-cluster-name", "Value": network.cluster_name}]}],
        )["GroupId"]  # fmt: skip
        ec2.authorize_security_group_ingress(GroupId=group_id, IpPermissions=restricted_rules(group_id, ssh_cidr))
    problems = exposure_problems(ec2, group_id, ssh_cidr)
    if problems:
        raise UserError(f"security group {network.group_name} ({group_id}) in {vpc_id}: " + "; ".join(problems))
    return group_id


def exposure_problems(ec2: Any, group_id: str, ssh_cidr: str | None = None) -> list[str]:
    """What the group opens beyond SSH from ``ssh_cidr`` and traffic within itself (empty: nothing)."""
    group = ec2.describe_security_groups(GroupIds=[group_id])["SecurityGroups"][0]
    problems = []
    for rule in group["IpPermissions"]:
        ranges = [r["CidrIp"] for r in rule.get("IpRanges", [])] + [r["CidrIpv6"] for r in rule.get("Ipv6Ranges", [])]
        ports = f"{rule['IpProtocol']} {rule.get('FromPort', 'all')}-{rule.get('ToPort', 'all')}"
        peers = {pair["GroupId"] for pair in rule.get("UserIdGroupPairs", [])}
        if peers - {group_id}:
            problems.append(f"{ports} open to other groups {sorted(peers - {group_id})}")
        for cidr in ranges:
            is_ssh = rule["IpProtocol"] == "tcp" and rule.get("FromPort") == rule.get("ToPort") == SSH_PORT
            if cidr in OPEN_TO_EVERYONE:
                problems.append(f"{ports} open to {cidr}")
            elif not is_ssh or (ssh_cidr is not None and cidr != ssh_cidr):
                problems.append(f"{ports} open to {cidr}" + ("" if is_ssh else " (not SSH)"))
    return problems


def default_vpc_id(ec2: Any) -> str:
    """The region's default VPC, where ``ray up`` launches nodes unless told otherwise."""
    vpcs = ec2.describe_vpcs(Filters=[{"Name": "isDefault", "Values": ["true"]}])["Vpcs"]
    if not vpcs:
        raise UserError("this region has no default VPC; pass --vpc-id")
    return vpcs[0]["VpcId"]
