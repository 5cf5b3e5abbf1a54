"""`launcher iam-policy` writes one document per role from pools.yaml, --check catches drift,
and every permission policy passes parliament (AWS's service authorization reference) with
only the one documented waiver."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import REPO, run_cli
from tests.iam_lint import lint_folder as _lint

POOLS = """\
version: 1
admins: ["@acme/platform"]
pools:
  dev:
    permissions: {create: [alice]}
    providers:
      - {name: dev-use1, region: us-east-1, instance_types: ["t3.*"], subnet_ids: [subnet-0aaa]}
    images:
      rhel9: {us-east-1: ami-0000000000000aaaa}
  prod:
    permissions: {create: [carol]}
    providers:
      - name: prod-use1
        region: us-east-1
        role_arn: arn:aws:iam::210987654321:role/launcher
    images:
      amzn2: {us-east-1: ami-0000000000000cccc}
"""


def test_writes_one_document_per_role_and_check_detects_drift(tmp_path: Path) -> None:
    (tmp_path / "pools.yaml").write_text(POOLS)
    assert run_cli(tmp_path, "iam-policy", "--check").code == 1
    result = run_cli(tmp_path, "iam-policy")
    assert result.code == 0, result.err
    assert sorted(p.name for p in (tmp_path / "iam").iterdir()) == [
        "launch-role.json",
        "launch-role.trust.json",
        "provider-210987654321-launcher-read.json",
        "provider-210987654321-launcher-read.trust.json",
        "provider-210987654321-launcher.json",
        "provider-210987654321-launcher.trust.json",
        "read-role.json",
        "read-role.trust.json",
    ]
    assert run_cli(tmp_path, "iam-policy", "--check").code == 0
    # a new instance type in pools.yaml: the committed launch policy no longer matches
    (tmp_path / "pools.yaml").write_text(POOLS.replace('["t3.*"]', '["t3.*", "g5.*"]'))
    result = run_cli(tmp_path, "iam-policy", "--check")
    assert (result.code, result.out) == (
        1,
        "iam/launch-role.json is out of date\nrun `launcher iam-policy` and commit the result\n",
    )
    # the provider leaves pools.yaml: its documents are stale, and removed when regenerated
    (tmp_path / "pools.yaml").write_text(POOLS.split("  prod:")[0])
    result = run_cli(tmp_path, "iam-policy", "--check")
    assert result.code == 1
    assert "iam/provider-210987654321-launcher.json is no longer generated" in result.out
    assert run_cli(tmp_path, "iam-policy").code == 0
    assert not list((tmp_path / "iam").glob("provider-*"))


def test_the_trust_policies_take_the_repositorys_subject_and_account(tmp_path: Path) -> None:
    (tmp_path / "pools.yaml").write_text(POOLS)
    prefix = "repo:acme@1001/infra@2002"
    args = ("iam-policy", "--account", "123456789012", "--subject-prefix", prefix)
    assert run_cli(tmp_path, *args).code == 0
    trust = json.loads((tmp_path / "iam/launch-role.trust.json").read_text())
    condition = trust["Statement"][0]["Condition"]["StringEquals"]
    assert condition["token.actions.githubusercontent.com:sub"] == (
        f"{prefix}:environment:launcher-launch"
    )
    provider = json.loads((tmp_path / "iam/provider-210987654321-launcher.trust.json").read_text())
    assert provider["Statement"][0]["Principal"] == {
        "AWS": "arn:aws:iam::123456789012:role/launcher-launch"
    }
    assert run_cli(tmp_path, "iam-policy", "--account", "12345").code == 2
    bad = run_cli(tmp_path, "iam-policy", "--subject-prefix", "repo:acme/infra:environment:x")
    assert bad.code == 2 and "is not repo:OWNER/REPO" in bad.err


def test_the_repositorys_committed_documents_are_current() -> None:
    result = run_cli(REPO, "iam-policy", "--check")
    assert result.code == 0, result.out


def test_parliament_finds_nothing_but_the_split_run_instances_statements(
    tmp_path: Path,
) -> None:
    pytest.importorskip("parliament")
    assert _lint(REPO / "iam") == []
    (tmp_path / "pools.yaml").write_text(POOLS)
    assert run_cli(tmp_path, "iam-policy").code == 0
    assert _lint(tmp_path / "iam") == []


def test_parliament_is_not_waived_for_anything_else(tmp_path: Path) -> None:
    """The waiver is by code and statement id: a wrong action or condition key is reported."""
    pytest.importorskip("parliament")
    (tmp_path / "pools.yaml").write_text(POOLS)
    assert run_cli(tmp_path, "iam-policy").code == 0
    path = tmp_path / "iam/launch-role.json"
    doc = json.loads(path.read_text())
    for statement in doc["Statement"]:
        if statement["Sid"] == "RunInstanceUsEast1":
            statement["Condition"]["StringEquals"]["ec2:NoSuchKey"] = "x"
        if statement["Sid"] == "TerminateOnlyLauncherInstancesUsEast1":
            statement["Action"] = "ec2:TerminateInstance"
    path.write_text(json.dumps(doc, indent=2) + "\n")
    codes = {(code, sid) for _, code, sid, _ in _lint(tmp_path / "iam")}
    assert ("UNKNOWN_CONDITION_FOR_ACTION", "RunInstanceUsEast1") in codes
    assert ("UNKNOWN_ACTION", "TerminateOnlyLauncherInstancesUsEast1") in codes
