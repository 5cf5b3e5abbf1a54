"""A request an approver rejected, whose pull request its requester then closes unmerged, is
recorded FAILED `rejected` with who rejected it and why: gate.yml runs on `closed` (the real
workflow on the local Actions runner, launcher's app, the stand-in), and `launcher status`
shows the record. Only launcher's app's records count: a writer's look-alike deployment is
neither read nor taken for launcher's record."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from launcher.adapters.github import GitHub
from launcher.core.deployments import REQUEST_TASK
from launcher.core.lifecycle import Category, LastError
from launcher.core.record import Kind, RequestRecord, encode
from launcher.jobs.status import gather
from launcher.report.text import status_json
from tests.conftest import REPO
from tests.jobs.conftest import World, app_runner, request

WEB = "deployments/dev/web.yaml"
WORKFLOWS = REPO / ".github" / "workflows"


def close_and_run_gate(world: World, number: int) -> Any:
    """The requester closes the pull request; the gate workflow runs on the `closed` event."""
    world.repo("bob").get_pull(number).edit(state="closed")
    event = world.sb.last_event("pull_request")
    assert event.payload["action"] == "closed"
    (job,) = app_runner(world, WORKFLOWS).run_event("pull_request_target", event.payload)
    assert job.ok, job.log()
    return job


def shown(world: World, key: str = "dev/web") -> dict[str, Any] | None:
    overview = gather(GitHub(world.settings()), None, datetime.now(UTC)).overview
    found = [r for r in status_json(overview)["requests"] if r["request"] == key]
    return dict(found[0]) if found else None


def test_closing_a_rejected_pull_request_records_failed_rejected_with_who_and_why(
    world: World,
) -> None:
    number = world.open_pr("bob", {WEB: request()})
    world.review("dave", number, "REQUEST_CHANGES", "Too big for dev: use the shared box")
    world.gate(number)
    close_and_run_gate(world, number)
    [record] = [d.record for d in GitHub(world.settings()).deployments(REQUEST_TASK)]
    assert record is not None and record.kind is Kind.FAILURE and record.pr == number
    assert record.category is Category.REJECTED and record.requested_by == "bob"
    [event] = record.events
    assert (event.kind.value, event.by, event.text) == (
        "rejected",
        "dave",
        "Too big for dev: use the shared box",
    )
    row = shown(world)
    assert row is not None and (row["state"], row["category"]) == ("FAILED", "rejected")
    assert [(e["event"], e["by"]) for e in row["history"]] == [("rejected", "dave")]
    # closed again (a re-run of the workflow): recorded once
    event_payload = world.sb.last_event("pull_request").payload
    (again,) = app_runner(world, WORKFLOWS).run_event("pull_request_target", event_payload)
    assert again.ok, again.log()
    assert len(GitHub(world.settings()).deployments(REQUEST_TASK)) == 1


def test_closing_a_pull_request_nobody_rejected_records_nothing(world: World) -> None:
    number = world.open_pr("bob", {WEB: request()})
    world.gate(number)  # pending approval
    close_and_run_gate(world, number)
    assert GitHub(world.settings()).deployments(REQUEST_TASK) == []
    assert shown(world) is None


def test_a_writers_look_alike_record_is_not_launchers(world: World) -> None:
    """bob writes a deployment with launcher's payload (FAILED `rejected` by nobody) at his
    head before closing: launcher ignores it, records its own, and shows only its own."""
    number = world.open_pr("bob", {WEB: request()})
    world.review("dave", number, "REQUEST_CHANGES", "no")
    world.gate(number)
    head = world.repo("bob").get_pull(number).head.sha
    fake = RequestRecord(
        kind=Kind.FAILURE,
        key="dev/web",
        path=WEB,
        pr=number,
        requested_by="bob",
        failure=LastError(Category.NO_MATCH, "nothing to see"),
    )
    world.repo("bob").create_deployment(
        ref=head,
        task=REQUEST_TASK,
        environment="dev/web",
        payload=encode(fake),
        auto_merge=False,
        required_contexts=[],
    )
    close_and_run_gate(world, number)
    ours = GitHub(world.settings()).deployments(REQUEST_TASK)
    assert [d.record.category for d in ours if d.record] == [Category.REJECTED]
    row = shown(world)
    assert row is not None and row["category"] == "rejected"


def test_a_request_never_rejected_in_a_pr_someone_else_closed_is_not_rejected(
    world: World,
) -> None:
    """An approval, then closed unmerged: not a rejection, nothing recorded."""
    number = world.open_pr("bob", {WEB: request()})
    world.review("dave", number, "APPROVE")
    world.gate(number)
    close_and_run_gate(world, number)
    assert GitHub(world.settings()).deployments(REQUEST_TASK) == []
