"""A seeded scenario with a request in every state, shared by the status CLI and dashboard
tests: the GitHub stand-in and a moto EC2 server, driven by the real gate, launch and sweep."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import timedelta

import pytest

from launcher.sandbox.moto import BUILTIN_AMIS
from tests.conftest import Result, run_cli
from tests.jobs.conftest import World
from tests.jobs.test_launch import NOW, launch, merged, request
from tests.jobs.test_sweep_deployments import sweep

AMI = BUILTIN_AMIS["x86_64"]
LATER = NOW + timedelta(hours=2)  # when the scenario is looked at: 2026-12-01 11:00 UTC
POOLS = f"""\
version: 1
admins: ["@acme/platform"]
groups:
  dev-owners: [dave, erin]
pools:
  dev:
    description: Developer sandboxes
    permissions:
      create: [alice]
      create_with_approval: [bob, carol]
      modify: ["group:dev-owners", "@acme/dev-leads"]
    quota: {{instances: 6}}
    max_runtime: 7d
    request_ttl: 14d
    providers:
      - {{name: dev-use1, region: us-east-1, priority: 1, instance_types: ["t3.*"]}}
    images: {{rhel9: {{us-east-1: {AMI}}}}}
    hardware_profiles:
      small: {{vcpus: 2, memory_gib: 4}}
  ml:
    description: Training jobs
    permissions:
      create_with_approval: [bob]
      modify: [frank]
    quota: {{instances: 2, vcpus: 8}}
    providers:
      - {{name: ml-use1, region: us-east-1, priority: 1, instance_types: ["t3.*"]}}
    images: {{rhel9: {{us-east-1: {AMI}}}}}
    hardware_profiles:
      small: {{vcpus: 2, memory_gib: 4}}
"""


def path(key: str) -> str:
    pool, name = key.split("/")
    return f"deployments/{pool}/{name}.yaml"


def ml_request(name: str) -> str:
    return request(name).replace("pool: dev", "pool: ml")


@dataclass
class Scenario:
    world: World
    prs: dict[str, int] = field(default_factory=dict)

    def cli(self, *args: str) -> Result:
        return run_cli(self.world.tmp, *args)

    def created(self, key: str):  # type: ignore[no-untyped-def]
        return self.world.repo("alice").get_pull(self.prs[key]).created_at


def build_scenario(world: World, monkeypatch: pytest.MonkeyPatch) -> Scenario:
    s = Scenario(world)
    world.sb.push_files(world.repo_name, "main", {"pools.yaml": POOLS}, "pools", "pat")
    # RUNNING, SCHEDULED, FAILED (quota), and soon EXPIRED and TERMINATED
    s.prs["dev/web"] = merged(world, "alice", {path("dev/web"): request("web", count=2)})
    s.prs["dev/short"] = merged(
        world, "alice", {path("dev/short"): request("short", max_runtime="1h")}
    )
    s.prs["dev/later"] = merged(
        world, "alice", {path("dev/later"): request("later", launch_at="2026-12-05T09:00:00Z")}
    )
    s.prs["dev/big"] = merged(world, "alice", {path("dev/big"): request("big", count=7)})
    s.prs["dev/gone"] = merged(world, "bob", {path("dev/gone"): request("gone")}, approver="dave")
    launch(world)
    merged(world, "alice", {path("dev/gone"): None}, approver="dave")  # not her request
    launch(world)
    # waiting: pending (dev, scheduled), rejected (dev), pending (ml), and one auto-rejected
    s.prs["dev/wait"] = world.open_pr(
        "bob", {path("dev/wait"): request("wait", launch_at="2026-12-02T09:00:00Z")}
    )
    s.prs["dev/nope"] = world.open_pr("carol", {path("dev/nope"): request("nope")})
    world.review("dave", s.prs["dev/nope"], "REQUEST_CHANGES", "use the shared <b>staging</b>")
    s.prs["ml/train"] = world.open_pr("bob", {path("ml/train"): ml_request("train")})
    world.review("dave", s.prs["ml/train"], "APPROVE")  # not an ml approver: not counted
    s.prs["dev/late"] = world.open_pr(
        "carol", {path("dev/late"): request("late", launch_at="2026-12-01T10:00:00Z")}
    )
    for key in ("dev/wait", "dev/nope", "ml/train", "dev/late"):
        world.gate(s.prs[key])
    # the sweep two hours on: dev/short expires, dev/late is auto-rejected
    report, _ = sweep(world, LATER)
    assert report.exit_code == 0, report.errors
    # LAUNCHING: instances up, but the run stopped before recording them
    s.prs["dev/crash"] = merged(world, "alice", {path("dev/crash"): request("crash")})
    world.sb.inject_fault("POST", "/repos/{owner}/{repo}/deployments", status=502)
    assert launch(world, now=LATER).exit_code == 1
    world.sb.clear_faults()
    for name, value in {
        "GITHUB_REPOSITORY": world.repo_name,
        "GITHUB_API_URL": world.sb.url,
        "LAUNCHER_GITHUB_THROTTLE": "0",
        **world.app_env(),  # app mode, as the jobs that wrote the record
    }.items():
        monkeypatch.setenv(name, value)
    assert os.environ.get("AWS_ENDPOINT_URL")
    return s
