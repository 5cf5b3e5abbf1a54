"""`launcher serve` end to end: the stand-in POSTs signed deliveries to `launcher serve`
started as a separate process, configured only by environment variables."""

from __future__ import annotations

import http.client
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from launcher.sandbox.github import GitHubSandbox
from launcher.serve.signature import sign
from tests.jobs.conftest import POOLS, World, request, verdict_of
from tests.serve.conftest import (
    SECRET,
    Served,
    seed_world,
    serve_world,
    start_replica,
)

WEB = "deployments/dev/web.yaml"
GPU = "deployments/gpu/train.yaml"
Step = Callable[[World, int], int]  # (world, pull request number or 0) -> number


def opens(author: str, files: dict[str, str | None]) -> Step:
    return lambda w, _: w.open_pr(author, files)


def reviews(login: str, event: str = "APPROVE", body: str = "") -> Step:
    def step(w: World, n: int) -> int:
        w.review(login, n, event, body)
        return n

    return step


def pushes(files: dict[str, str | None], author: str) -> Step:
    def step(w: World, n: int) -> int:
        w.push(n, files, author)
        return n

    return step


# The gate's test matrix (tests/jobs/test_gate.py), each scenario as the steps a user takes.
MATRIX: dict[str, list[Step]] = {
    "create tier passes": [opens("alice", {WEB: request()})],
    "approval tier waits, then an approver": [
        opens("bob", {WEB: request()}),
        reviews("alice"),
        reviews("dave", body="fine for the load test"),
    ],
    "team approver": [opens("bob", {WEB: request()}), reviews("lea")],
    "approval then push is stale": [
        opens("bob", {WEB: request()}),
        reviews("dave"),
        pushes({WEB: request(count=5)}, "bob"),
    ],
    "request changes, then approved": [
        opens("bob", {WEB: request(count=8)}),
        reviews("erin", "REQUEST_CHANGES", "Eight is too many for dev; use two."),
        reviews("erin"),
    ],
    "widening pools.yaml needs an admin": [
        opens(
            "bob",
            {
                "pools.yaml": POOLS.replace("create: [alice]", "create: [alice, bob]"),
                WEB: request(),
            },
        ),  # fmt: skip
        reviews("dave"),
        reviews("pat"),
    ],
    "two pools need both": [
        opens("bob", {WEB: request(), GPU: request("train", "gpu")}),
        reviews("dave"),
        reviews("frank"),
    ],
    "invalid YAML": [opens("alice", {WEB: request().replace("count: 1", "count: [1")})],
    "refused author": [opens("mallory", {WEB: request()})],
    "scheduled, waiting": [
        opens("bob", {WEB: request() + "launch_at: 2026-12-01T09:00:00+01:00\n"}),
        reviews("dave"),
    ],
}


Seen = list[tuple[tuple[str, str] | None, list[str]]]  # (verdict, labels) after each step


def actions_mode(steps: list[Step], tmp: Path) -> Seen:
    """The verdict and labels after each step, the gate job run on each step's event as the
    Actions workflows run it (pull_request_target, or the review hand-over), in app mode."""
    seen: Seen = []
    tmp.mkdir(parents=True, exist_ok=True)
    with GitHubSandbox(record_responses=False) as sb:
        w = seed_world(sb, tmp)
        number = 0
        for step in steps:
            number = step(w, number)
            w.gate(number)
            seen.append((w.status(number), sorted(w.labels(number))))
    return seen


@pytest.mark.parametrize("scenario", list(MATRIX))
def test_verdicts_equal_the_actions_modes(served: Served, scenario: str, tmp_path: Path) -> None:
    steps = MATRIX[scenario]
    w, number = served.world, 0
    seen: Seen = []
    for step in steps:
        number = step(w, number)
        served.settle()
        seen.append((w.status(number), sorted(w.labels(number))))
    assert seen == actions_mode(steps, tmp_path / "actions")
    assert all(verdict is not None for verdict, _ in seen)  # a verdict after every step


def test_two_replicas_with_interleaved_events_leave_the_latest_states_verdict(
    served2: Served,
) -> None:
    """Events for the same pull requests, delivered round-robin to two replicas as fast as
    they happen: once all is delivered, each check is the verdict of the pull request's
    latest state (the gate job, run on that state, finds nothing to change)."""
    w = served2.world
    numbers = [w.open_pr("bob", {f"deployments/dev/r{i}.yaml": request(f"r{i}")}) for i in range(6)]
    for n in numbers:
        w.review("dave", n)
    for n in numbers[::2]:
        w.push(n, {f"deployments/dev/extra{n}.yaml": request(f"extra{n}")}, "bob")
    for n in numbers[1::3]:
        w.review("erin", n, "REQUEST_CHANGES", "not this week")
    served2.settle()
    for n in numbers:
        outcome, _ = w.gate(n)
        assert outcome.skipped, f"#{n}: the check on GitHub is not the latest state's verdict"
        expected = (
            "failure" if n in numbers[1::3] else "pending" if n in numbers[::2] else "success"
        )
        assert w.status(n)[0] == expected
    for r in served2.replicas:  # both replicas took part
        assert any(e.get("msg") in ("decided", "unchanged") for e in r.log())


def post(url: str, body: bytes, headers: dict[str, str]) -> int:
    host, _, port = url.removeprefix("http://").split("/")[0].partition(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        conn.request("POST", "/webhook", body, headers)
        return conn.getresponse().status
    finally:
        conn.close()


def test_a_forged_or_replayed_delivery_changes_nothing(served2: Served) -> None:
    w = served2.world
    number = w.open_pr("bob", {WEB: request()})
    served2.settle()
    opened = next(d for d in w.sb.webhooks.deliveries if d.action == "opened")
    w.review("dave", number)
    served2.settle()
    assert w.status(number) == ("success", "1 request may launch")
    w.sb.reset_requests()

    # Forged: GitHub's headers and a payload saying something else, signed with another key
    forged = json.dumps({**opened.payload, "action": "synchronize"}).encode()
    headers = {k: v for k, v in opened.request_headers.items()}
    headers["X-GitHub-Delivery"] = "forged-1"
    for signature in (None, "sha256=" + "0" * 64, sign(b"not-the-secret-at-all!", forged)):
        if signature is None:
            headers.pop("X-Hub-Signature-256", None)
        else:
            headers["X-Hub-Signature-256"] = signature
        for replica in served2.replicas:
            assert post(replica.url, forged, headers) == 401
    # Replayed: the opening delivery, exactly as GitHub signed it, to both replicas
    original = json.dumps(opened.payload, separators=(",", ":")).encode()
    for replica in served2.replicas:
        assert post(replica.url, original, opened.request_headers) == 202
    served2.settle()
    assert w.status(number) == ("success", "1 request may launch")
    writes = [r for r in w.sb.requests() if r.method in ("POST", "PATCH", "PUT", "DELETE")]
    assert [r.key for r in writes if r.method != "DELIVERY"] == []  # re-read, nothing changed


def test_the_acknowledgement_precedes_any_github_request(served: Served) -> None:
    w = served.world
    w.sb.reset_requests()
    number = w.open_pr("alice", {WEB: request()})
    served.settle()
    log = w.sb.requests()
    guid = next(d.guid for d in w.sb.webhooks.deliveries if d.action == "opened")
    acked = next(i for i, r in enumerate(log) if r.method == "DELIVERY" and r.path == guid)
    service = [i for i, r in enumerate(log) if r.user != "alice" and r.method != "DELIVERY"]
    assert service, "the service made no request"
    assert acked < min(service)
    assert w.status(number) == ("success", "1 request may launch")


def test_failed_deliveries_are_redelivered(world: World) -> None:
    """While the service is down deliveries fail; GitHub does not retry, the service lists
    its failed deliveries and redelivers them once it is up."""
    world.sb.set_app_webhook(
        world.app, "http://127.0.0.1:9/webhook", SECRET, events=["pull_request"]
    )
    number = world.open_pr("alice", {WEB: request()})
    assert world.sb.webhooks.wait(30)
    (failed,) = world.sb.webhooks.deliveries
    assert failed.status == "failed to connect" and world.status(number) is None
    replica = start_replica(world, world.app, world.tmp, LAUNCHER_SERVE_REDELIVER_SECONDS="0.3")
    served = Served(world, [replica])
    try:
        world.sb.set_app_webhook(world.app, replica.url + "/webhook", SECRET)
        for _ in range(300):
            if len(world.sb.webhooks.deliveries) > 1:
                break
            import time

            time.sleep(0.1)
        served.settle()
        redelivered = [d for d in world.sb.webhooks.deliveries if d.redelivery]
        assert [d.guid for d in redelivered] == [failed.guid]
        assert redelivered[0].status_code == 202
        assert world.status(number) == ("success", "1 request may launch")
        assert "launcher_redeliveries_total 1.0" in replica.metrics()
    finally:
        served.stop()


def launchers_check_runs(w: World, number: int) -> list[Any]:
    head = w.sb.branch_sha(w.repo_name, w.branches[number])
    commit = w.repo("alice").get_commit(head)
    runs = commit.get_check_runs(check_name="launcher/approval", filter="all")
    return [r for r in runs if r.app.id == w.app.id]


@pytest.mark.parametrize("what", ["check-runs", "check-suites"])
def test_re_running_launchers_check_writes_a_new_check_run(served: Served, what: str) -> None:
    """GitHub's "Re-run" (a check run's or its suite's rerequest) expects the app to create
    a new check run; nothing changed, so it carries the same verdict."""
    w = served.world
    number = w.open_pr("bob", {WEB: request()})
    w.review("dave", number)
    served.settle()
    before = launchers_check_runs(w, number)
    assert w.status(number) == ("success", "1 request may launch")  # completed: re-runnable
    repo = w.repo("bob")
    repo._requester.requestJsonAndCheck(  # noqa: SLF001 - no PyGithub method for it
        "POST", f"{repo.url}/{what}/{before[0].id}/rerequest"
    )
    served.settle()
    after = launchers_check_runs(w, number)
    assert len(after) == len(before) + 1
    assert w.status(number) == ("success", "1 request may launch")
    rerequested = [d for d in w.sb.webhooks.deliveries if d.action == "rerequested"]
    assert [d.event for d in rerequested] == [what.removesuffix("s").replace("-", "_")]


def test_acknowledged_work_is_finished_when_the_service_is_stopped(world: World) -> None:
    """GitHub does not send an acknowledged delivery again: a replica stopped (SIGTERM, a
    rolling deploy) first decides what it has queued."""
    served = serve_world(world, LAUNCHER_SERVE_WORKERS="1")
    try:
        w = world
        numbers = [
            w.open_pr("bob", {f"deployments/dev/r{i}.yaml": request(f"r{i}")}) for i in range(2)
        ]
        served.settle()
        slow = "/repos/{owner}/{repo}/pulls/{pull_number}/reviews"
        w.sb.inject_fault("GET", slow, kind="hang", seconds=1.0, times=2)
        for number in numbers:
            w.review("dave", number)
        assert w.sb.webhooks.wait(30)  # both acknowledged; one worker, so one still waits
        (replica,) = served.replicas
        assert replica.health()["waiting"] + replica.health()["busy"] > 0
        replica.stop()
        assert [w.status(n) for n in numbers] == [("success", "1 request may launch")] * 2
        assert not any(e.get("msg") == "stopping with units not decided" for e in replica.log())
    finally:
        served.stop()


def test_open_pull_requests_without_a_verdict_are_rechecked(world: World) -> None:
    number = world.open_pr("alice", {WEB: request()})  # no webhook configured: missed
    replica = start_replica(world, world.app, world.tmp, LAUNCHER_SERVE_RECHECK_SECONDS="0.3")
    try:
        for _ in range(300):
            if world.status(number) is not None:
                break
            import time

            time.sleep(0.1)
        assert world.status(number) == ("success", "1 request may launch")
        Served(world, [replica]).settle()  # the decision ends after its comment and label
        metrics = replica.metrics()
        assert 'launcher_verdicts_total{state="success"} 1.0' in metrics
        assert "launcher_delivery_to_verdict_seconds_count" in metrics
    finally:
        replica.stop()


def test_structured_logs_carry_the_delivery_id(served: Served) -> None:
    w = served.world
    w.open_pr("alice", {WEB: request()})
    served.settle()
    guid = next(d.guid for d in w.sb.webhooks.deliveries if d.action == "opened")
    lines = [e for e in served.replicas[0].log() if e.get("delivery") == guid]
    assert {e["msg"] for e in lines} >= {"pull_request opened", "decided"}


def test_configuration_only_from_the_environment(world: World, tmp_path: Path) -> None:
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "launcher", "serve"],
        env={"PATH": "/usr/bin:/bin", "LAUNCHER_APP_ID": "1"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "LAUNCHER_APP_PRIVATE_KEY_FILE" in done.stderr
    assert "LAUNCHER_WEBHOOK_SECRET" in done.stderr


def test_a_merge_group_is_acknowledged_and_handed_to_the_merge_group_gate(
    served: Served,
) -> None:
    """merge_group goes to the gate's merge-group entry when this launcher has it
    (launcher.jobs.merge_group); without it, it is acknowledged and logged, left to Actions."""
    import importlib.util

    w = served.world
    number = w.open_pr("alice", {WEB: request()})
    served.settle()
    w.sb.enable_merge_queue(w.repo_name, ["launcher/approval"])
    head = w.sb.enqueue_pull(w.repo_name, number, "alice")
    served.settle()
    group = next(d for d in w.sb.webhooks.deliveries if d.event == "merge_group")
    assert group.status_code == 202
    if importlib.util.find_spec("launcher.jobs.merge_group") is None:
        logged = [e for e in served.replicas[0].log() if e.get("delivery") == group.guid]
        assert any(e["msg"].startswith("merge_group: this launcher has no") for e in logged)
        assert verdict_of(w.repo("alice"), head) is None
    else:
        verdict = verdict_of(w.repo("alice"), head)
        assert verdict is not None and verdict[0] == "success"


def until(condition: Callable[[], bool], seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "not within a minute"
        time.sleep(0.05)


def test_a_github_failure_gives_an_error_verdict_and_the_next_event_decides_again(
    served: Served,
) -> None:
    """Fail closed, as the job does. With the `error` verdict on the head the service does
    not retry at once (an error that recurs would cost a burst of decisions each time): the
    next event, or the periodic recheck of `error` verdicts, decides again."""
    w = served.world
    w.sb.inject_fault("GET", "/repos/{owner}/{repo}/pulls/{pull_number}/files", times=1000)
    number = w.open_pr("bob", {WEB: request()})
    served.settle()
    verdict = w.status(number)
    assert verdict is not None and verdict[0] == "error"
    errors = [e for e in served.replicas[0].log() if e.get("state") == "error"]
    assert len(errors) == 1  # decided once: not retried
    w.sb.clear_faults()
    w.review("dave", number)
    served.settle()
    assert w.status(number) == ("success", "1 request may launch")


def test_a_rejection_whose_decision_failed_before_writing_is_decided_again(
    served: Served,
) -> None:
    """An approved pull request, then a review requesting changes whose decision fails on its
    first read: nothing could be written (not even `error`), so the earlier `success` stands
    and the periodic recheck, which only looks at missing or `error` verdicts, would never
    see it. The service tries the decision again until it can write the rejection."""
    w = served.world
    number = w.open_pr("bob", {WEB: request()})
    w.review("dave", number)
    served.settle()
    assert w.status(number) == ("success", "1 request may launch")
    pull = w.repo("erin").get_pull(number)
    w.sb.inject_fault("GET", "/repos/{owner}/{repo}/pulls/{pull_number}", times=1000)
    pull.create_review(body="not this week", event="REQUEST_CHANGES")
    until(lambda: any(e.get("state") == "error" for e in served.replicas[0].log()))
    head = w.sb.branch_sha(w.repo_name, w.branches[number])
    still = verdict_of(w.repo("alice"), head)  # nothing written: the approval's verdict
    assert still is not None and still[0] == "success"
    w.sb.clear_faults()
    served.settle()
    state, description = w.status(number)
    assert state == "failure" and "erin" in description


def test_the_same_verdicts_as_the_real_workflows_on_the_local_actions_runner(
    served: Served, tmp_path: Path
) -> None:
    """One scenario of the matrix through gate.yml and review.yml's workflow_run hand-over on
    the local Actions runner (the matrix above runs the gate job in-process on each event)."""
    from tests.jobs.conftest import app_runner

    steps = MATRIX["request changes, then approved"]
    w, number = served.world, 0
    served_seen: Seen = []
    for step in steps:
        number = step(w, number)
        served.settle()
        served_seen.append((w.status(number), sorted(w.labels(number))))

    actions_seen: Seen = []
    (tmp_path / "runner").mkdir()
    with GitHubSandbox(record_responses=False) as sb:
        a = seed_world(sb, tmp_path / "runner")
        runner = app_runner(a)
        workflows = Path(__file__).parents[2] / ".github" / "workflows"
        files = {f".github/workflows/{p.name}": p.read_bytes() for p in workflows.glob("*.yml")}
        sb.push_files(a.repo_name, "main", files, "launcher's workflows", "pat")
        seen, number = sb.last_event_id(), 0
        for step in steps:
            number = step(a, number)
            while events := sb.events(since=seen):  # what GitHub Actions would run
                for event in events:
                    seen = max(seen, event.id)
                    if (event.payload.get("sender") or {}).get("login") != "github-actions[bot]":
                        runner.run_webhook(event.event, event.payload)
            actions_seen.append((a.status(number), sorted(a.labels(number))))
    assert served_seen == actions_seen
