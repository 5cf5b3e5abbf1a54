"""`launcher match` end to end: the repository's own examples against a moto server."""

from __future__ import annotations

import json

from launcher.adapters.ec2 import EC2
from launcher.sandbox.moto import launch_tagged

WEB = "deployments/dev/web-frontend.yaml"
ALL = [
    WEB,
    "deployments/dev/batch-workers.yaml",
    "deployments/gpu/train-resnet.yaml",
    "deployments/prod/api.yaml",
]


def test_every_example_request_has_a_placement(moto_server, example_repo, cli):
    result = cli(example_repo, "match", *ALL)
    assert result.code == 0, result.err
    assert result.out.splitlines() == [
        f"{WEB}: dev/web-frontend -> dev-use1 (us-east-1)",
        "  web: 2 x t3.medium in us-east-1a, ami-bb9a6bc2, 2 vCPU / 4 GiB each",
        "deployments/dev/batch-workers.yaml: dev/batch-workers -> dev-use1 (us-east-1)",
        "  worker: 3 x m6i.xlarge, ami-785db401, 4 vCPU / 16 GiB each",
        "  coordinator: 1 x t3.medium, ami-785db401, 2 vCPU / 4 GiB each",
        "deployments/gpu/train-resnet.yaml: gpu/train-resnet -> gpu-use1 (us-east-1)",
        "  trainer: 1 x g4dn.xlarge, ami-999844e0, 4 vCPU / 16 GiB each",
        "deployments/prod/api.yaml: prod/api -> prod-use1 (us-east-1)",
        "  api: 3 x c6i.xlarge, ami-04681a1dbd79675a5, 4 vCPU / 8 GiB each",
    ]


def test_json_format(moto_server, example_repo, cli):
    result = cli(example_repo, "match", "--format", "json", WEB)
    assert result.code == 0
    body = json.loads(result.out)
    assert body["ok"] is True
    [entry] = body["results"]
    assert entry["placement"]["groups"][0] == {
        "name": "web",
        "count": 2,
        "instance_type": "t3.medium",
        "image_id": "ami-bb9a6bc2",
        "zone": "us-east-1a",
        "vcpus": 2,
        "memory_gib": 4.0,
    }
    assert entry["providers"][1]["reasons"] == [
        "dev-euw1: availability zone us-east-1a is not in eu-west-1"
    ]


def test_full_quota_means_no_match_and_exit_1(moto_server, example_repo, cli):
    client = EC2().client("us-east-1")
    launch_tagged(client, "dev", "older", image_id="ami-bb9a6bc2", count=19)
    result = cli(example_repo, "match", WEB)
    assert result.code == 1
    assert result.out.splitlines() == [
        f"{WEB}: no placement for dev/web-frontend",
        "  pool dev: quota reached (19 running + 2 requested > 20 instances)",
        "  dev-euw1: availability zone us-east-1a is not in eu-west-1",
    ]


def test_without_aws_it_says_so_and_exits_2(no_aws, example_repo, cli):
    result = cli(example_repo, "match", WEB)
    assert result.code == 2
    assert result.err == (
        "launcher match: cannot match: no AWS credentials or endpoint "
        "(set AWS_ENDPOINT_URL or AWS credentials)\n"
    )


def test_unreadable_or_invalid_input_exits_2(no_aws, example_repo, cli):
    result = cli(example_repo, "match", "deployments/dev/missing.yaml")
    assert (result.code, result.err) == (
        2,
        "launcher match: cannot read deployments/dev/missing.yaml: No such file or directory\n",
    )
    (example_repo / "deployments/dev/bad.yaml").write_text("name: bad\npool: dev\n")
    result = cli(example_repo, "match", "deployments/dev/bad.yaml")
    assert result.code == 2
    assert "deployments/dev/bad.yaml:1:1: error:" in result.err
    result = cli(example_repo, "match", "--pools", "nope.yaml", WEB)
    assert result.code == 2 and "cannot read nope.yaml" in result.err
    result = cli(example_repo, "match")
    assert result.code == 2  # argparse: PATH is required
