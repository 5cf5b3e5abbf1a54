"""`launcher status` and `launcher pending` on a seeded scenario with every state (the GitHub
stand-in and moto, driven by the real gate, launch and sweep), and the pure inference rules."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from launcher.core.deployments import Deployment
from launcher.core.lifecycle import Category, RequestState
from launcher.core.model import Policy, Pool
from launcher.core.status import RequestStatus, build, short_duration
from tests.jobs.conftest import World
from tests.jobs.status_scenario import LATER, Scenario, build_scenario

AT = LATER.isoformat()
DEV = "@dave, @erin, @acme/dev-leads"
# List calls only: repository, branch, tree, pools.yaml, pull requests, deployments x2.
STATUS_CALLS = {
    "GET /repos/{owner}/{repo}": 1,
    "GET /repos/{owner}/{repo}/branches/{branch}": 1,
    "GET /repos/{owner}/{repo}/git/trees/{tree_sha}": 1,
    "GET /repos/{owner}/{repo}/git/blobs/{file_sha}": 1,
    "GET /repos/{owner}/{repo}/pulls": 1,
    # launch records, sweep records, and the gate's records of others' launcher/approval
    "GET /repos/{owner}/{repo}/deployments": 3,
    # app mode: find the app's installation, mint this run's one-hour token
    "GET /repos/{owner}/{repo}/installation": 1,
    "POST /app/installations/{installation_id}/access_tokens": 1,
}


@pytest.fixture
def scenario(launch_world: World, monkeypatch: pytest.MonkeyPatch) -> Scenario:
    return build_scenario(launch_world, monkeypatch)


def _age(s: Scenario, key: str) -> str:
    return short_duration(LATER - s.created(key))


def test_status_in_trial_mode_starts_with_a_banner(
    scenario: Scenario, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("LAUNCHER_APP_ID", "LAUNCHER_APP_PRIVATE_KEY"):
        monkeypatch.delenv(name)
    monkeypatch.setenv("GITHUB_TOKEN", scenario.world.tokens["launcher-bot"])
    result = scenario.cli("status", "--now", AT)
    assert result.code == 0, result.err
    first, second = result.out.splitlines()[:2]
    assert first.startswith("TRIAL MODE: launcher runs with the plain GITHUB_TOKEN, so any writer")
    assert second == "launcher status at 2026-12-01 11:00 UTC"
    data = json.loads(scenario.cli("status", "--now", AT, "--format", "json").out)
    assert data["trial_mode"] is True


def test_status_lists_every_state_with_list_calls_only(scenario: Scenario) -> None:
    s = scenario
    s.world.sb.reset_requests()
    result = s.cli("status", "--now", AT)
    assert result.code == 0, result.err
    assert dict(s.world.sb.request_counts()) == STATUS_CALLS  # no per-deployment status reads
    lines = result.out.splitlines()
    assert lines[0] == "launcher status at 2026-12-01 11:00 UTC"
    rows = {line.split()[0]: line.split("  ") for line in lines[3:13]}
    cells = {key: [c.strip() for c in row if c.strip()] for key, row in rows.items()}
    p = s.prs
    listed = "files not read: `launcher pending` shows its pool and approvals"
    assert cells[f"#{p['dev/wait']}"] == [
        f"#{p['dev/wait']}",
        "PENDING_APPROVAL",
        "bob",
        f"#{p['dev/wait']}",
        "0",
        "-",
        "auto-rejected in 22h",
        DEV,
        listed,
    ]
    assert cells[f"#{p['dev/nope']}"][1:3] == ["REJECTED", "carol"]
    assert cells["dev/later"] == [
        "dev/later", "SCHEDULED", "alice", f"#{p['dev/later']}", "0", "-",
        "launches in 3d 22h", DEV,
    ]  # fmt: skip
    assert cells["dev/crash"] == [
        "dev/crash", "LAUNCHING", "-", "-", "1", "-", "expires in 7d", DEV,
        "instances are up but not recorded: the next launch run records them",
    ]  # fmt: skip
    assert cells["dev/web"] == [
        "dev/web", "RUNNING", "alice", f"#{p['dev/web']}", "2",
        "dev-use1 (us-east-1): 2 × t3.medium", "expires in 6d 22h", DEV,
    ]  # fmt: skip
    assert cells["dev/big"][1] == "FAILED (quota)"
    assert cells["dev/big"][-1] == (
        "quota: pool dev: quota reached (0 running + 7 requested > 6 instances)"
    )
    assert cells["dev/late"][1:4] == ["FAILED (auto_rejected)", "carol", f"#{p['dev/late']}"]
    assert cells["dev/late"][-1] == (
        "auto_rejected: not approved before the scheduled launch time 2026-12-01 10:00 UTC"
    )
    assert cells["dev/short"][1] == "EXPIRED" and cells["dev/short"][-1] == "max_runtime reached"
    assert cells["dev/gone"][1:3] == ["TERMINATED", "bob"]
    assert cells["dev/gone"][-1] == "removed from main"
    order = [line.split()[1] for line in lines[3:13]]
    assert order == [
        "PENDING_APPROVAL", "PENDING_APPROVAL", "REJECTED", "SCHEDULED", "LAUNCHING", "RUNNING",
        "FAILED", "FAILED", "EXPIRED", "TERMINATED",
    ]  # fmt: skip
    assert lines[13:] == [
        "",
        "POOL  INSTANCES  VCPUS  APPROVERS",
        f"dev   3/6        6      {DEV}",
        "ml    0/2        0/8    @frank",
    ]


def test_status_json_and_pool_filter(scenario: Scenario) -> None:
    s = scenario
    result = s.cli("status", "--now", AT, "--format", "json")
    assert result.code == 0, result.err
    data = json.loads(result.out)
    assert data["now"] == "2026-12-01T11:00:00Z" and data["ec2_read"] is True
    by_key = {r["request"]: r for r in data["requests"]}
    web = by_key["dev/web"]
    assert web["state"] == "RUNNING" and web["instances"] == 2 and web["source"] == "ec2"
    assert web["expires_at"] == "2026-12-08T09:00:00Z"
    assert web["time_left_seconds"] == int(timedelta(days=6, hours=22).total_seconds())
    assert web["requester"] == "alice" and web["approvers"] == DEV.split(", ")
    big = by_key["dev/big"]
    assert (big["state"], big["category"]) == ("FAILED", "quota")
    assert by_key["dev/late"]["category"] == "auto_rejected"
    assert by_key["dev/short"]["state"] == "EXPIRED"
    assert by_key["dev/gone"]["state"] == "TERMINATED"
    assert by_key["dev/later"]["launch_at"] == "2026-12-05T09:00:00Z"
    assert by_key["dev/crash"]["state"] == "LAUNCHING"
    assert {r["state"] for r in data["requests"]} == {s.name for s in RequestState}
    assert data["pools"] == [
        {
            "pool": "dev",
            "approvers": DEV.split(", "),
            "approvals_required": 1,
            "used": {"instances": 3, "vcpus": 6},
            "quota": {"instances": 6, "vcpus": None},
        },
        {
            "pool": "ml",
            "approvers": ["@frank"],
            "approvals_required": 1,
            "used": {"instances": 0, "vcpus": 0},
            "quota": {"instances": 2, "vcpus": 8},
        },
    ]

    ml = s.cli("status", "--now", AT, "--pool", "ml")
    assert ml.code == 0, ml.err
    assert ml.out.splitlines()[2:] == [
        "no requests",
        "",
        "POOL  INSTANCES  VCPUS  APPROVERS",
        "ml    0/2        0/8    @frank",
        "",
        "note: 3 waiting pull requests not attributed to a pool (their files are not read): "
        "see `launcher pending`",
    ]
    assert s.cli("status", "--pool", "nope").code == 2


def test_pending_shows_approvals_and_deadlines(scenario: Scenario) -> None:
    s = scenario
    p = s.prs
    s.world.sb.reset_requests()
    result = s.cli("pending", "--now", AT)
    assert result.code == 0, result.err
    counts = s.world.sb.request_counts()
    # list calls, then the gate's read-only decision per waiting pull request (3 here)
    assert counts["GET /repos/{owner}/{repo}/pulls/{pull_number}/files"] == 3
    assert counts["GET /repos/{owner}/{repo}/pulls/{pull_number}/reviews"] == 3
    # each request, and pools.yaml once: the three share their base commit, whose files the
    # run reads once
    assert counts["GET /repos/{owner}/{repo}/contents/{path}"] == 3 + 1
    assert "GET /repos/{owner}/{repo}/pulls/{pull_number}" not in counts  # listed, not fetched
    assert "GET /repos/{owner}/{repo}/deployments" not in counts
    # lists, pools.yaml at the shared base, then per pull request: reviews, files, the request,
    # and GitHub's record of who pushed (activity), its events and its head tree's modes;
    # 1 team; 2 to authenticate as the app
    assert counts["GET /repos/{owner}/{repo}/activity"] == 3
    assert sum(counts.values()) == 5 + 1 + 3 * 6 + 1 + 2
    nope_left = short_duration(s.created("dev/nope") + timedelta(days=14) - LATER)
    expected = [
        ["POOL", "REQUEST", "PR", "STATE", "REQUESTER", "AGE", "LAUNCH AT", "AUTO-REJECT IN",
         "APPROVALS", "MISSING", "APPROVERS"],
        ["dev", "dev/wait", f"#{p['dev/wait']}", "PENDING_APPROVAL", "bob", _age(s, "dev/wait"),
         "2026-12-02 09:00 UTC", "22h (launch_at)", "0/1", "1", DEV],
        ["dev", "dev/nope", f"#{p['dev/nope']}", "REJECTED", "carol", _age(s, "dev/nope"), "-",
         f"{nope_left} (request_ttl)", "0/1", "rejected by @dave", DEV],
        ["ml", "ml/train", f"#{p['ml/train']}", "PENDING_APPROVAL", "bob", _age(s, "ml/train"),
         "-", "-", "0/1", "1", "@frank"],
    ]  # fmt: skip
    lines = result.out.splitlines()
    assert [[c.strip() for c in line.split("  ") if c.strip()] for line in lines] == expected
    widths = [len(line) for line in lines]
    assert lines[0].startswith("POOL  REQUEST   PR  STATE") and max(widths) == len(lines[1])


def test_pending_filters_by_approver_requester_and_pool(scenario: Scenario) -> None:
    s = scenario

    def keys(*args: str) -> list[str]:
        result = s.cli("pending", "--now", AT, "--format", "json", *args)
        assert result.code == 0, result.err
        return [r["request"] for r in json.loads(result.out)["pending"]]

    assert keys("--approver", "frank") == ["ml/train"]
    assert keys("--approver", "LEA") == ["dev/wait", "dev/nope"]  # through @acme/dev-leads
    assert keys("--approver", "dave") == ["dev/wait", "dev/nope"]  # may still change his mind
    assert keys("--approver", "bob") == []  # not an approver (and the requester)
    assert keys("--pool", "ml") == ["ml/train"]
    s.world.sb.reset_requests()
    assert keys("--requester", "carol") == ["dev/nope"]
    assert s.world.sb.request_counts()["GET /repos/{owner}/{repo}/pulls/{pull_number}/files"] == 1
    data = json.loads(s.cli("pending", "--now", AT, "--format", "json").out)
    wait = data["pending"][0]
    assert wait["request"] == "dev/wait" and wait["pr_url"].endswith(f"/pull/{s.prs['dev/wait']}")
    assert wait["auto_reject_at"] == "2026-12-02T09:00:00Z"
    assert wait["auto_reject_reason"] == "launch_at"
    assert wait["approvals"] == {
        "approved_by": [],
        "counted": 0,
        "required": 1,
        "missing": 1,
        "stale": [],
        "rejected_by": [],
        "reason": None,
    }
    nope = data["pending"][1]
    assert nope["approvals"]["rejected_by"] == ["dave"]
    assert nope["approvals"]["reason"] == "use the shared <b>staging</b>"


def test_commands_without_github_settings_exit_2(
    scenario: Scenario, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Neither the app's settings nor a token: trial mode without its token.
    for name in ("LAUNCHER_APP_ID", "LAUNCHER_APP_PRIVATE_KEY"):
        monkeypatch.delenv(name)
    monkeypatch.delenv("GITHUB_TOKEN", raising=False)
    for command in ("status", "pending"):
        result = scenario.cli(command)
        assert result.code == 2 and "GITHUB_TOKEN must be set" in result.err


# --- the inference rules, pure -----------------------------------------------------------

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
POLICY = Policy(pools={"dev": Pool("dev")})


def _deployed(id: int, kind: str, **payload: object) -> Deployment:
    body = {"launcher": 1, "kind": kind, "request": {"key": "dev/a", "path": "x"}, **payload}
    return Deployment(id, "launcher", "dev/a", "sha", body)


def _row(*deployments: Deployment) -> RequestStatus:
    files = {"deployments/dev/a.yaml": "blob"}
    [row] = build(POLICY, NOW, deployments=deployments, fleet=[], files=files).requests
    return row


def test_a_due_schedule_that_is_the_newest_record_still_waits() -> None:
    row = _row(_deployed(2, "schedule", launch_at="2026-12-01T08:00:00Z"))
    assert row.state is RequestState.SCHEDULED
    assert "next sweep launches it" in row.note


@pytest.mark.parametrize(
    ("failure", "category"),
    [
        ({"failure": {"category": "no_match", "message": "quota-team has no AMI"}}, "no_match"),
        ({"launcher": 1, "error": "quota: the pool's instance quota"}, "quota"),  # format 1
    ],
)
def test_a_failure_after_a_schedule_is_failed_with_its_recorded_category(
    failure: dict[str, object], category: str
) -> None:
    due = _deployed(2, "schedule", launch_at="2026-12-01T08:00:00Z")
    failed = _deployed(3, "failure", **{"launcher": 2, **failure})
    row = _row(due, failed)
    assert row.state is RequestState.FAILED
    assert row.last_error is not None and row.last_error.category is Category(category)


def test_without_ec2_states_come_from_records_and_main() -> None:
    running = _deployed(1, "launch", expires_at="2026-12-02T09:00:00Z", instance_ids=["i-1"])
    on_main = {"deployments/dev/a.yaml": "blob"}
    overview = build(POLICY, NOW, deployments=[running], fleet=None, files=on_main)
    [row] = overview.requests
    assert row.state is RequestState.RUNNING and row.note == "EC2 not read"
    assert "EC2 was not read" in overview.notes[0] and overview.pools[0].used is None
    [gone] = build(POLICY, NOW, deployments=[running], fleet=None, files={}).requests
    assert gone.state is RequestState.TERMINATED and gone.note == "removed from main"
    later = NOW + timedelta(days=2)
    [ended] = build(POLICY, later, deployments=[running], fleet=None, files=on_main).requests
    assert ended.state is RequestState.EXPIRED


def test_short_duration() -> None:
    assert short_duration(timedelta(days=3, hours=4, minutes=5)) == "3d 4h"
    assert short_duration(timedelta(hours=5)) == "5h"
    assert short_duration(timedelta(minutes=59, seconds=59)) == "59m"
    assert short_duration(timedelta(seconds=-1)) == "overdue"
