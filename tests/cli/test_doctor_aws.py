"""`launcher doctor` with pools.yaml beside it: which OIDC subject form the repository uses,
providers without subnets, and the accounts' vCPU quotas (warnings never fail the run)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from launcher.sandbox.pytest_plugin import github_sandbox  # noqa: F401
from tests.cli.test_doctor import Repo, complete, failing, github_sandbox_checks  # noqa: F401
from tests.fixtures_ec2 import MotoServer

POOLS = """\
version: 1
admins: ["@acme/platform"]
pools:
  dev:
    permissions: {create: [alice]}
    quota: {vcpus: 64}
    providers:
      - {name: dev-use1, region: us-east-1, instance_types: ["t3.*"], subnet_ids: [subnet-0aaa]}
      - {name: dev-euw1, region: eu-west-1, instance_types: ["t3.*"]}
"""


def test_the_oidc_line_names_the_subject_form_and_the_command_that_writes_the_trust(
    complete: Repo,  # noqa: F811
) -> None:
    result = complete.doctor()
    assert re.search(
        r"^ok   OIDC subject of the launch jobs: repo:acme@\d+/infra@\d+:environment:"
        r"launcher-launch \(.*GitHub's immutable form, repo:OWNER@OWNER_ID/REPO@REPO_ID; "
        r"`launcher iam-policy --subject-prefix repo:acme@\d+/infra@\d+` writes",
        result.out,
        re.M,
    ), result.out
    complete.api()._requester.requestJsonAndCheck(
        "PUT",
        f"{complete.api().url}/actions/oidc/customization/sub",
        input={"use_default": True, "use_immutable_subject": False},
    )
    result = complete.doctor()
    assert re.search(
        r"^ok   OIDC subject of the launch jobs: repo:acme/infra:environment:launcher-launch "
        r"\(.*the classic form, repo:OWNER/REPO .*--subject-prefix repo:acme/infra`",
        result.out,
        re.M,
    ), result.out


def test_pools_lines_warn_without_failing(
    complete: Repo,  # noqa: F811
    moto_server: MotoServer,
) -> None:
    (complete.tmp / "pools.yaml").write_text(POOLS)
    result = complete.doctor()
    assert result.code == 0, result.out + result.err
    assert failing(result) == []
    out = result.out
    assert "ok   subnets of dev/dev-use1: pinned to subnet-0aaa" in out
    assert re.search(
        r"^warn subnets of dev/dev-euw1: no subnet_ids: .* any subnet in eu-west-1", out, re.M
    )
    # moto keeps no EC2 quotas: doctor says it cannot read them, and still passes
    assert re.search(
        r"^warn EC2 vCPU quota in the launch role's account us-east-1: Running On-Demand "
        r"Standard .*\(L-1216C47A\): cannot read it \(NoSuchResource",
        out,
        re.M,
    ), out
    assert "warnings (launcher works, less tightly)" in out
    without = complete.doctor("--no-aws")
    assert "EC2 vCPU quota" not in without.out and "subnets of dev/dev-euw1" in without.out


POOLS_WITH_PROVIDER = """\
version: 1
admins: ["@acme/platform"]
pools:
  dev:
    permissions: {create: [alice]}
    quota: {vcpus: 64}
    providers:
      - {name: dev-use1, region: us-east-1, instance_types: ["t3.*"], subnet_ids: [subnet-0aaa]}
  prod:
    permissions: {create: [carol]}
    quota: {vcpus: 16}
    providers:
      - name: prod-use1
        region: us-east-1
        instance_types: ["c6i.*"]
        role_arn: arn:aws:iam::210987654321:role/launcher
        subnet_ids: [subnet-0ccc]
"""


def test_each_accounts_quota_is_read_and_compared_with_the_pools(
    complete: Repo,  # noqa: F811
    moto_server: MotoServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """moto's Service Quotas knows no EC2 quota: here it answers the standard on-demand one
    per account (32 vCPUs in the launch role's, 1152 in the provider's), so the request goes
    over HTTP as on AWS, and the provider account is reached through its read-only role."""
    from moto.servicequotas.models import ServiceQuotasBackend

    asked: list[tuple[str, str, str]] = []

    def get_service_quota(self: Any, service_code: str, quota_code: str) -> dict[str, Any]:
        asked.append((self.account_id, self.region_name, quota_code))
        value = 32.0 if self.account_id == "123456789012" else 1152.0
        return {"ServiceCode": service_code, "QuotaCode": quota_code, "Value": value}

    monkeypatch.setattr(ServiceQuotasBackend, "get_service_quota", get_service_quota)
    from moto.sts.models import STSBackend

    assumed: list[str] = []
    original = STSBackend.assume_role

    def assume_role(self: Any, **kwargs: Any) -> Any:
        assumed.append(kwargs["role_arn"])
        return original(self, **kwargs)

    monkeypatch.setattr(STSBackend, "assume_role", assume_role)
    (complete.tmp / "pools.yaml").write_text(POOLS_WITH_PROVIDER)
    result = complete.doctor()
    assert result.code == 0, result.out + result.err
    assert assumed == ["arn:aws:iam::210987654321:role/launcher-read"]  # never the launching one
    assert sorted(asked) == [
        ("123456789012", "us-east-1", "L-1216C47A"),
        ("210987654321", "us-east-1", "L-1216C47A"),
    ]
    assert re.search(
        r"^warn EC2 vCPU quota in the launch role's account us-east-1: .*\(L-1216C47A\): "
        r"the pools allow 64 vCPUs here \(dev 64\), EC2 allows 32",
        result.out,
        re.M,
    ), result.out
    assert re.search(
        r"^ok   EC2 vCPU quota in 210987654321 us-east-1: .*EC2 allows 1152 vCPUs, the pools at "
        r"most 16 \(prod 16\)",
        result.out,
        re.M,
    ), result.out


def test_a_provider_without_a_scheduler_role_is_warned(
    complete: Repo,  # noqa: F811
) -> None:
    role = "arn:aws:iam::123456789012:role/launcher-scheduler"
    (complete.tmp / "pools.yaml").write_text(
        POOLS.replace("[subnet-0aaa]}", f"[subnet-0aaa], scheduler_role: {role}}}")
    )
    result = complete.doctor("--no-aws")
    assert result.code == 0, result.out + result.err
    assert f"ok   expiry backstop of dev/dev-use1: scheduler_role {role}" in result.out
    assert re.search(
        r"^warn expiry backstop of dev/dev-euw1: pools.yaml: pool dev, provider dev-euw1 has no "
        r"scheduler_role: no expiry backstop on AWS, .* sweep alone .*\n"
        r"     fix: give provider dev-euw1 of pool dev a scheduler_role in pools.yaml .*"
        r"`launcher iam-policy`",
        result.out,
        re.M,
    ), result.out
