"""A merge queue on the adopted repository (tests/jobs/test_adopted.py's setup plus the
`merge_queue` rule): GitHub runs review.yml on each merge group, the gate judges the group's
commit from its workflow_run hand-over and reports `launcher/approval` on it, and the queue
merges only groups whose check passed; the launch job then launches what the queue merged."""

from __future__ import annotations

import pytest
from github import GithubException

from tests.jobs.conftest import World, request, verdict_of
from tests.jobs.test_adopted import REPO, Adopted, adopted, by_workflow  # noqa: F401
from tests.jobs.test_launch import instances

QUEUE_RULESET = {
    "name": "merge queue",
    "target": "branch",
    "enforcement": "active",
    "conditions": {"ref_name": {"include": ["~DEFAULT_BRANCH"], "exclude": []}},
    "rules": [
        {
            "type": "merge_queue",
            "parameters": {
                "check_response_timeout_minutes": 60,
                "grouping_strategy": "ALLGREEN",
                "max_entries_to_build": 5,
                "max_entries_to_merge": 5,
                "merge_method": "MERGE",
                "min_entries_to_merge": 1,
                "min_entries_to_merge_wait_minutes": 5,
            },
        }
    ],
}


@pytest.fixture
def queued(adopted: Adopted, request: pytest.FixtureRequest) -> Adopted:  # noqa: F811
    """The queue's merge method: MERGE unless the test asks for another (indirectly)."""
    sb = adopted.world.sb
    method = getattr(request, "param", "MERGE")
    rule = {**QUEUE_RULESET["rules"][0]}  # type: ignore[index]
    rule["parameters"] = {**rule["parameters"], "merge_method": method}
    sb.create_ruleset(REPO, {**QUEUE_RULESET, "rules": [rule]})
    sb.enable_merge_queue(REPO)  # requires what the rulesets require: launcher's check
    adopted.seen = sb.last_event_id()
    return adopted


def approved(a: Adopted, author: str, name: str, approver: str = "dave") -> int:
    world = a.world
    number = world.open_pr(author, {f"deployments/dev/{name}.yaml": request(name)})
    a.pump()
    if approver:
        world.review(approver, number)
        a.pump()
    assert world.status(number) == ("success", "1 request may launch"), world.status(number)
    return number


def group_verdicts(a: Adopted) -> list[tuple[int | None, tuple[str, str] | None]]:
    """(queued pull request, launcher's verdict on the group's commit) per merge group made."""
    from launcher.core.merge_group import queue_pull_number

    repo = a.world.repo("pat")
    out = []
    for event in a.world.sb.events(0, "merge_group", "checks_requested"):
        group = event.payload["merge_group"]
        out.append((queue_pull_number(group["head_ref"]), verdict_of(repo, group["head_sha"])))
    return out


def merged(world: World, number: int) -> bool:
    return bool(world.repo("pat").get_pull(number).merged)


@pytest.mark.parametrize("queued", ["MERGE", "SQUASH"], indirect=True)
def test_a_bad_pull_request_fails_its_group_and_the_rest_merge_and_launch(
    queued: Adopted,
) -> None:
    """Both merge methods launcher accepts (`launcher doctor`): a SQUASH queue's group commits
    carry no pull request's head, only its number in the title."""
    a, world, sb = queued, queued.world, queued.world.sb
    web = approved(a, "alice", "web", approver="")  # alice may create alone
    api = approved(a, "bob", "api")
    late = approved(a, "carol", "late")
    # The REST merge is refused: only the queue merges.
    with pytest.raises(GithubException) as refused:
        world.repo("bob").get_pull(api).merge()
    assert refused.value.status == 405
    for number in (web, late, api):
        sb.enqueue_pull(REPO, number, "pat")
    # After it was queued, an approver rejects carol's request: its verdict fails.
    world.review("erin", late, "REQUEST_CHANGES", "not this week")
    jobs = a.pump()
    flows = by_workflow(jobs)
    # Each group ran the unprivileged hand-over, then the privileged gate on the default branch.
    assert all(j.environment is None for j in flows["review.yml"])
    assert all(j.environment == "launcher-gate" for j in flows["gate.yml"])
    verdicts = group_verdicts(a)
    assert verdicts[0] == (web, ("success", "merge group of 1 pull request: every change judged"))
    assert verdicts[1][0] == late and verdicts[1][1] is not None
    state, title = verdicts[1][1]
    assert state == "failure" and title.startswith(f"#{late} (carol) does not pass: failure")
    assert "rejected by @erin: not this week" in title
    # The group behind it was rebuilt without carol's and passed (it holds alice's too: judged
    # from the default branch, not from the group ahead).
    assert verdicts[-1] == (api, ("success", "merge group of 1 pull request: every change judged"))
    assert merged(world, web) and merged(world, api) and not merged(world, late)
    dequeued = [e.payload for e in sb.events(0, "pull_request", "dequeued")]
    assert [(p["number"], p["reason"]) for p in dequeued if p["reason"] != "MERGE"] == [
        (late, "CI_FAILURE")
    ]
    # What the queue merged launched: the launch re-check accepts the queue's merge commits.
    assert flows["launch.yml"] and all(j.ok for j in flows["launch.yml"]), "\n".join(
        j.log() for j in flows["launch.yml"]
    )
    assert len(instances(key="dev/web")) == 1 and len(instances(key="dev/api")) == 1
    assert instances(key="dev/late") == []
    # carol amends hers, erin approves it, and re-queued it merges and launches.
    world.push(late, {"deployments/dev/late.yaml": request("late", count=2)}, "carol")
    a.pump()
    world.review("erin", late, "APPROVE", "two is fine")
    a.pump()
    assert world.status(late) == ("success", "1 request may launch")
    sb.enqueue_pull(REPO, late, "pat")
    a.pump()
    assert group_verdicts(a)[-1][1] == (
        "success",
        "merge group of 1 pull request: every change judged",
    )
    assert merged(world, late) and len(instances(key="dev/late")) == 2


def test_a_group_whose_commit_holds_what_no_pull_request_approved_fails(
    queued: Adopted,
) -> None:
    """Two approved pull requests edit one request on different lines; git merges both edits
    into content neither verdict covered: the group fails, naming the file."""
    a, world, sb = queued, queued.world, queued.world.sb
    web = "deployments/dev/web.yaml"
    seed = approved(a, "alice", "web", approver="")
    sb.enqueue_pull(REPO, seed, "pat")
    a.pump()
    assert merged(world, seed)
    one = world.open_pr("alice", {web: request("web", count=2)})
    two = world.open_pr(
        "alice", {web: request("web").replace("description: test", "description: b")}
    )
    a.pump()
    assert world.status(one)[0] == world.status(two)[0] == "success"
    sb.enqueue_pull(REPO, one, "pat")
    sb.enqueue_pull(REPO, two, "pat")
    a.pump()
    verdicts = group_verdicts(a)
    assert verdicts[-2][1] == ("success", "merge group of 1 pull request: every change judged")
    assert verdicts[-1][0] == two
    assert verdicts[-1][1] == (
        "failure",
        f"{web}: the group holds it as no queued pull request with a passing verdict does",
    )
    assert merged(world, one) and not merged(world, two)
    assert len(instances(key="dev/web")) == 2  # the approved version replaced the first
