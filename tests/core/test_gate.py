"""The gate's decision rules, exhaustively, as plain data in and decisions out."""

from __future__ import annotations

from launcher.core.approvals import Review, tally
from launcher.core.gate import ChangedFile, GateInput, State, decide
from launcher.core.model import Tier
from launcher.core.permissions import StaticTeams
from launcher.core.provenance import History

POOLS = b"""\
version: 1
admins: ["@acme/platform"]
groups:
  dev-owners: [dave, erin]
pools:
  dev:
    permissions:
      create: [alice]
      create_with_approval: [bob, carol, "@acme/interns"]
      modify: ["group:dev-owners", "@acme/dev-leads"]
    images: {rhel9: {us-east-1: ami-0123456789abcdef0}}
    hardware_profiles: {small: {vcpus: 2, memory_gib: 4}}
  gpu:
    permissions:
      create_with_approval: [bob]
      modify: [frank]
    approvals_required: 1
    images: {dlami: {us-east-1: ami-0123456789abcdef0}}
    hardware_profiles: {gpu: {vcpus: 4, memory_gib: 16}}
"""
TEAMS = StaticTeams(
    {"@acme/platform": ["pat", "root"], "@acme/interns": ["ivy"], "@acme/dev-leads": ["lea"]}
)
HEAD = "h" * 40
OLD = "o" * 40


def request(name: str = "web", pool: str = "dev") -> bytes:
    image, profile = ("rhel9", "small") if pool == "dev" else ("dlami", "gpu")
    return (
        f"name: {name}\npool: {pool}\ninstances:\n  - name: a\n    image: {image}\n"
        f"    hardware_profile: {profile}\n    count: 1\n"
    ).encode()


def gate(
    author: str,
    reviews: list[Review] = (),
    files: dict[str, bytes | None] | None = None,
    statuses: dict[str, str] | None = None,
    renames: dict[str, str] | None = None,
    teams: StaticTeams = TEAMS,
    policy: bytes | None = POOLS,
    requesters: dict[str, str] | None = None,
    history: History | None = None,
):
    files = {"deployments/dev/web.yaml": request()} if files is None else files
    changed = [
        ChangedFile(path, (statuses or {}).get(path, "added"), (renames or {}).get(path))
        for path in files
    ]
    data = GateInput(
        author=author,
        head_sha=HEAD,
        files=changed,
        reviews=list(reviews),
        policy_raw=policy,
        head_contents={p: c for p, c in files.items() if c is not None},
        requesters=requesters,
        history=history or History(),
    )
    return decide(data, teams)


def review(user: str, state: str = "APPROVED", commit: str = HEAD, body: str = "", n: int = 1):
    return Review(id=n, user=user, state=state, commit_id=commit, body=body)


def test_create_tier_passes_without_review() -> None:
    decision = gate("alice")
    assert decision.state is State.SUCCESS
    assert decision.description == "1 request may launch"
    assert decision.label == "launch:approved"
    assert decision.items[0].tier is Tier.CREATE


def test_modify_tier_passes_without_review() -> None:
    assert gate("erin").state is State.SUCCESS


def test_approval_tier_waits_and_asks_the_approvers() -> None:
    decision = gate("bob")
    assert decision.state is State.PENDING
    assert decision.description == "waiting for 1 approval from dev approvers"
    assert decision.label == "launch:pending-approval"
    assert decision.request_users == ("dave", "erin")
    assert decision.request_teams == ("acme/dev-leads",)
    assert decision.items[0].summary == (
        "bob has create_with_approval on pool dev: needs 1 more approving review from "
        "@dave, @erin, @acme/dev-leads"
    )


def test_an_approvers_review_passes() -> None:
    decision = gate("bob", [review("dave", body="ok for the load test")])
    assert decision.state is State.SUCCESS
    assert decision.items[0].summary == "approved by @dave"
    assert decision.request_users == ()


def test_team_approver_counts() -> None:
    assert gate("bob", [review("lea")]).state is State.SUCCESS


def test_non_approver_approval_is_ignored() -> None:
    decision = gate("bob", [review("alice")])
    assert decision.state is State.PENDING
    assert decision.items[0].tally.ignored == ("alice",)


def test_author_never_counts_as_approver() -> None:
    counted = tally(
        [review("dave")], approvers=frozenset({"dave"}), author="Dave", head_sha=HEAD, required=1
    )
    assert counted.approved_by == () and counted.ignored == ("dave",)


def test_approval_of_an_older_commit_is_stale() -> None:
    decision = gate("bob", [review("dave", commit=OLD)])
    assert decision.state is State.PENDING
    assert decision.items[0].tally.stale == ("dave",)


def test_comments_and_dismissed_reviews_do_not_count() -> None:
    said_so = review("dave", state="COMMENTED", body="approved!")
    assert gate("bob", [said_so]).state is State.PENDING
    dismissed = [review("dave", n=1), review("dave", state="DISMISSED", n=2)]
    assert gate("bob", dismissed).state is State.PENDING


def test_request_changes_is_a_rejection_with_its_reason() -> None:
    decision = gate("bob", [review("erin", "CHANGES_REQUESTED", body="Too big for dev, use 1.")])
    assert decision.state is State.FAILURE
    assert decision.label == "launch:rejected"
    assert decision.description == "rejected by @erin: Too big for dev, use 1."


def test_later_approval_by_the_same_approver_clears_the_rejection() -> None:
    reviews = [review("erin", "CHANGES_REQUESTED", body="no", n=1), review("erin", n=2)]
    assert gate("bob", reviews).state is State.SUCCESS


def test_rejection_by_a_non_approver_is_not_a_rejection() -> None:
    assert gate("bob", [review("alice", "CHANGES_REQUESTED", body="meh")]).state is State.PENDING


def test_refused_author_fails_with_the_reason() -> None:
    decision = gate("mallory")
    assert decision.state is State.FAILURE
    assert decision.label == "launch:invalid"
    assert decision.description.startswith("mallory has no permission on pool dev: ask an admin")


def test_pr_granting_itself_create_stays_pending_for_an_admin() -> None:
    widened = POOLS.replace(b"create: [alice]", b"create: [alice, bob]")
    files = {"pools.yaml": widened, "deployments/dev/web.yaml": request()}
    decision = gate("bob", files=files)
    assert decision.state is State.PENDING
    assert decision.description == (
        "waiting for 1 approval from dev approvers, 1 approval from admins"
    )
    assert decision.request_teams == ("acme/dev-leads", "acme/platform")
    # the dev approver alone is not enough: the control change needs an admin too
    assert gate("bob", [review("dave")], files=files).state is State.PENDING
    both = [review("dave", n=1), review("pat", n=2)]
    assert gate("bob", both, files=files).state is State.SUCCESS


def test_two_pools_need_both_pools_approvers() -> None:
    files = {
        "deployments/dev/web.yaml": request(),
        "deployments/gpu/train.yaml": request("train", "gpu"),
    }
    assert gate("bob", [review("dave")], files=files).state is State.PENDING
    decision = gate("bob", [review("dave", n=1), review("frank", n=2)], files=files)
    assert decision.state is State.SUCCESS
    assert decision.description == "2 requests may launch"


def test_rename_between_pools_counts_for_both() -> None:
    files = {"deployments/gpu/web.yaml": request("web", "gpu")}
    decision = gate(
        "bob",
        [review("frank")],
        files=files,
        statuses={"deployments/gpu/web.yaml": "renamed"},
        renames={"deployments/gpu/web.yaml": "deployments/dev/web.yaml"},
    )
    assert decision.state is State.PENDING
    assert [(i.change, i.pool, i.state) for i in decision.items] == [
        ("renamed from", "dev", State.PENDING),
        ("renamed to", "gpu", State.SUCCESS),
    ]


def test_invalid_yaml_fails_with_its_line() -> None:
    files = {"deployments/dev/web.yaml": request().replace(b"count: 1", b"count: [1")}
    decision = gate("alice", files=files)
    assert decision.state is State.FAILURE
    assert decision.label == "launch:invalid"
    (problem,) = decision.annotations
    assert (problem.path, problem.line) == ("deployments/dev/web.yaml", 8)


def test_stray_file_under_deployments_fails() -> None:
    decision = gate("alice", files={"deployments/dev/notes.txt": b"hi"})
    assert decision.state is State.FAILURE
    assert "is not a launch request path" in decision.description


def test_request_is_judged_by_the_base_policy() -> None:
    # The head's pools.yaml is never read: only the base policy counts.
    decision = gate("bob", files={"deployments/dev/web.yaml": request()})
    assert decision.items[0].tier is Tier.CREATE_WITH_APPROVAL


def test_unknown_team_is_an_error_never_a_pass() -> None:
    decision = gate("ivy", teams=StaticTeams({"@acme/platform": ["pat"]}))
    assert decision.state is State.ERROR
    assert decision.label is None
    assert decision.description.startswith("could not decide: team membership could not be read")


def test_broken_base_policy_is_an_error() -> None:
    decision = gate("alice", policy=b"version: 1\npools: [\n")
    assert decision.state is State.ERROR
    assert gate("alice", policy=None).state is State.ERROR


def test_descriptions_fit_in_a_commit_status() -> None:
    reason = "x" * 500
    decision = gate("bob", [review("erin", "CHANGES_REQUESTED", body=reason)])
    assert len(decision.description) <= 140


def test_launch_at_label_round_trips() -> None:
    from datetime import UTC, datetime

    from launcher.core.gate import launch_at_label, parse_launch_at_label

    when = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    assert launch_at_label(when) == "launch:at 2026-12-01 09:00 UTC"
    assert parse_launch_at_label(launch_at_label(when)) == when
    assert parse_launch_at_label("launch:at tomorrow") is None
    assert parse_launch_at_label("launch:approved") is None


def test_unknown_keys_of_mixed_types_fail_rather_than_crash() -> None:
    files = {"deployments/dev/web.yaml": request() + b"1: a\nzz: b\n"}
    decision = gate("alice", files=files)
    assert decision.state is State.FAILURE
    assert "unknown key '1'" in decision.description
