"""The removal rule (launcher.core.removal) as the gate applies it: a request's recorded
requester or the pool's approvers remove it alone; anyone else needs the pool's approvals."""

from __future__ import annotations

from datetime import UTC, datetime

from launcher.core.approvals import Review
from launcher.core.gate import State
from launcher.core.provenance import History, Pusher
from tests.core.test_gate import HEAD, gate, review

WEB = "deployments/dev/web.yaml"
REMOVED = {WEB: None}
STATUSES = {WEB: "removed"}


def remove(author: str, reviews: list[Review] = (), **kw):  # type: ignore[assignment]
    kw.setdefault("requesters", {WEB: "bob"})
    return gate(author, list(reviews), files=REMOVED, statuses=STATUSES, **kw)


def test_the_recorded_requester_removes_their_own_request_alone() -> None:
    decision = remove("bob")  # create_with_approval, but it is bob's request
    assert decision.state is State.SUCCESS
    assert decision.items[0].summary == "removed by its requester or an approver of pool dev"


def test_an_approver_of_the_pool_removes_any_request_alone() -> None:
    assert remove("dave").state is State.SUCCESS
    assert remove("lea").state is State.SUCCESS  # modify through @acme/dev-leads


def test_create_on_the_pool_does_not_end_someone_elses_request() -> None:
    decision = remove("alice")
    assert decision.state is State.PENDING
    assert decision.items[0].summary == (
        "alice is neither its requester (@bob) nor an approver of pool dev: removing it needs "
        "1 more approving review from @dave, @erin, @acme/dev-leads"
    )
    assert decision.request_users == ("dave", "erin")


def test_the_pools_approvers_approving_the_head_lets_anyone_remove_it() -> None:
    assert remove("alice", [review("dave")]).state is State.SUCCESS
    assert remove("mallory", [review("erin")]).state is State.SUCCESS
    assert remove("alice", [review("dave", commit="o" * 40)]).state is State.PENDING  # stale
    assert remove("alice", [review("carol")]).state is State.PENDING  # not an approver


def test_an_approver_requesting_changes_fails_the_removal() -> None:
    decision = remove("alice", [review("dave", "CHANGES_REQUESTED", body="bob still needs it")])
    assert decision.state is State.FAILURE
    assert "rejected by @dave: bob still needs it" in decision.description


def test_a_pusher_who_is_neither_requester_nor_approver_makes_it_need_approval() -> None:
    pushed = History(pushers=(Pusher("alice"),))
    decision = remove("bob", history=pushed)
    assert decision.state is State.PENDING
    assert decision.items[0].summary.startswith("alice is neither its requester (@bob)")
    bot = History(pushers=(Pusher("helper", bot=True),))
    assert remove("dave", history=bot).state is State.PENDING
    assert remove("dave", history=History(pushers=(Pusher("erin"),))).state is State.SUCCESS


def test_requester_matching_is_case_insensitive_and_unread_records_pass_nothing() -> None:
    assert remove("Bob", requesters={WEB: "bob"}).state is State.SUCCESS
    # records not read: nobody is the requester, only approvals or an approver remove it
    assert remove("bob", requesters=None).state is State.PENDING
    assert remove("dave", requesters=None).state is State.SUCCESS


def test_a_request_launcher_never_recorded_is_removed_by_anyone_with_a_tier() -> None:
    assert remove("bob", requesters={}).state is State.SUCCESS
    assert remove("mallory", requesters={}).state is State.PENDING


def test_a_rename_is_a_removal_of_the_old_path() -> None:
    from tests.core.test_gate import request

    files = {"deployments/dev/web2.yaml": request("web2")}
    decision = gate(
        "alice",
        files=files,
        statuses={"deployments/dev/web2.yaml": "renamed"},
        renames={"deployments/dev/web2.yaml": WEB},
        requesters={WEB: "bob"},
    )
    assert [(i.change, i.state) for i in decision.items] == [
        ("renamed from", State.PENDING),
        ("renamed to", State.SUCCESS),
    ]


def test_an_approval_after_launch_at_does_not_count() -> None:
    from tests.core.test_gate import request

    text = request() + b"launch_at: 2026-12-01T09:00:00Z\n"
    before = Review(1, "dave", "APPROVED", HEAD, "", datetime(2026, 12, 1, 8, 59, tzinfo=UTC))
    after = Review(1, "dave", "APPROVED", HEAD, "", datetime(2026, 12, 1, 9, 0, tzinfo=UTC))
    assert gate("bob", [before], files={WEB: text}).state is State.SUCCESS
    late = gate("bob", [after], files={WEB: text})
    assert late.state is State.PENDING
    assert late.items[0].summary.endswith(
        "before its launch_at 2026-12-01 09:00 UTC (approved by @dave at 2026-12-01 09:00 UTC, "
        "too late)"
    )
    # no launch_at: the time of approval does not matter; create needs none at all
    assert gate("bob", [after], files={WEB: request()}).state is State.SUCCESS
    assert gate("alice", files={WEB: text}).state is State.SUCCESS
