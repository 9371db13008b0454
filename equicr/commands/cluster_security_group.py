r"""Create the Ray cluster's security group before ``ray up``: SSH from one network, nothing else from outside.

    equicr cluster-security-group --ssh-cidr 203.0.113.0/24
    equicr cluster-security-group --ssh-cidr 203.0.113.7/32 --vpc-id vpc-0abc1234

Without it, ``ray up`` creates the group named in cluster.yaml itself, with SSH open to 0.0.0.0/0.
With it, Ray finds the group, leaves its rules alone, and puts every node in it. Rerunning checks
the existing group and fails (exit 2) if it opens more than this. Uses the AWS credentials and
region that ``ray up`` would (region from cluster.yaml).
"""

from __future__ import annotations

from pathlib import Path

from equicr.cli import parser_for
from equicr.errors import UserError


def main(argv: list[str] | None = None) -> int:
    from equicr.cluster import CLUSTER_CONFIG

    parser = parser_for(__doc__)
    parser.add_argument("--ssh-cidr", required=True, help="the only network SSH is accepted from, e.g. 203.0.113.0/24")
    parser.add_argument("--vpc-id", help="VPC the cluster runs in (default: the region's default VPC)")
    parser.add_argument("--config", type=Path, default=CLUSTER_CONFIG, help="cluster config (default: %(default)s)")
    args = parser.parse_args(argv)

    from equicr.cluster import ClusterNetwork, check_ssh_cidr, default_vpc_id, ensure_security_group

    check_ssh_cidr(args.ssh_cidr)
    network = ClusterNetwork.from_config(args.config)
    try:
        import boto3  # after the checks: a bad network is refused without touching AWS
    except ImportError:
        raise UserError("this needs boto3, as `ray up` on AWS does: pip install boto3") from None

    ec2 = boto3.client("ec2", region_name=network.region)
    vpc_id = args.vpc_id or default_vpc_id(ec2)
    group_id = ensure_security_group(ec2, network, vpc_id, args.ssh_cidr)
    print(f"security group {network.group_name} ({group_id}) in {vpc_id}: SSH from {args.ssh_cidr} only")
    print("now: ray up cluster.yaml")
    return 0
