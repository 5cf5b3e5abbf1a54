"""The permission model as plain functions over plain data: no files, no servers."""

from __future__ import annotations

import pytest

from launcher.core.model import Permissions, Policy, Pool, Tier
from launcher.core.permissions import (
    MembershipUnknown,
    StaticTeams,
    approvers,
    display_principals,
    explain,
    is_admin,
    tier_bounds,
    tier_of,
)

POOL = Pool(
    name="dev",
    permissions=Permissions(
        create=("alice", "@acme/sre"),
        create_with_approval=("bob", "@acme/interns"),
        modify=("group:dev-owners", "@acme/dev-leads"),
    ),
)
POLICY = Policy(
    admins=("@acme/platform", "root"),
    groups={"dev-owners": ("dave", "Erin")},
    pools={"dev": POOL},
)
TEAMS = StaticTeams(
    {
        "@acme/sre": ["sam"],
        "@acme/interns": ["ivy", "sam"],
        "@acme/dev-leads": ["Lea"],
        "@acme/platform": ["pat"],
    }
)


@pytest.mark.parametrize(
    ("login", "tier"),
    [
        ("alice", Tier.CREATE),
        ("Alice", Tier.CREATE),  # logins compare case-insensitively, as on GitHub
        ("bob", Tier.CREATE_WITH_APPROVAL),
        ("ivy", Tier.CREATE_WITH_APPROVAL),  # through a team
        ("sam", Tier.CREATE),  # highest of two teams wins
        ("dave", Tier.MODIFY),  # through a local group
        ("erin", Tier.MODIFY),
        ("lea", Tier.MODIFY),  # through a team
        ("mallory", Tier.NONE),
    ],
)
def test_tier_of(login: str, tier: Tier) -> None:
    assert tier_of(login, POOL, POLICY, TEAMS) is tier


def test_modify_implies_create() -> None:
    assert Tier.MODIFY.may_launch_alone and Tier.CREATE.may_launch_alone
    assert not Tier.CREATE_WITH_APPROVAL.may_launch_alone
    assert Tier.CREATE_WITH_APPROVAL.needs_approval and not Tier.NONE.needs_approval


def test_unknown_team_that_could_raise_the_tier_fails_closed() -> None:
    only_interns = StaticTeams({"@acme/interns": ["ivy"]})
    with pytest.raises(MembershipUnknown) as caught:
        tier_of("ivy", POOL, POLICY, only_interns)
    assert caught.value.teams == ("@acme/dev-leads", "@acme/sre")
    assert tier_bounds("ivy", POOL, POLICY, only_interns) == (
        Tier.CREATE_WITH_APPROVAL,
        ("@acme/dev-leads", "@acme/sre"),
    )


def test_direct_modify_needs_no_team_lookup() -> None:
    class Exploding:
        def team_members(self, team: str) -> frozenset[str]:
            raise AssertionError(f"looked up {team}")

    assert tier_of("dave", POOL, POLICY, Exploding()) is Tier.MODIFY


def test_approvers_expand_groups_and_teams() -> None:
    assert approvers(POOL, POLICY, TEAMS) == {"dave", "erin", "lea"}
    with pytest.raises(MembershipUnknown):
        approvers(POOL, POLICY, StaticTeams())


def test_admins() -> None:
    assert is_admin("pat", POLICY, TEAMS)
    assert is_admin("ROOT", POLICY, TEAMS)
    assert not is_admin("alice", POLICY, TEAMS)


def test_display_principals_mentions_and_dedupes() -> None:
    shown = display_principals(("group:dev-owners", "dave", "@acme/dev-leads"), POLICY)
    assert shown == ["@dave", "@Erin", "@acme/dev-leads"]


def test_explanations_say_what_would_fix_it() -> None:
    assert explain("bob", POOL, Tier.CREATE_WITH_APPROVAL, POLICY) == (
        "bob has create_with_approval on pool dev: needs an approving review from one of "
        "@dave, @Erin, @acme/dev-leads"
    )
    two = Pool(name="prod", permissions=POOL.permissions, approvals_required=2)
    assert explain("bob", two, Tier.CREATE_WITH_APPROVAL, POLICY).endswith(
        "needs 2 approving reviews from @dave, @Erin, @acme/dev-leads"
    )
    assert explain("mallory", POOL, Tier.NONE, POLICY) == (
        "mallory has no permission on pool dev: ask an admin (@acme/platform, @root) to add "
        "them to create or create_with_approval in pools.yaml"
    )
