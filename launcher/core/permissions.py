"""The permission model: who has which tier on a pool, and who approves.

Principals are GitHub logins (`alice`), teams (`@org/team`) and local groups (`group:NAME`).
Logins compare case-insensitively, as on GitHub. Team membership comes from a TeamResolver so
this module never does I/O: the gate passes one backed by GitHub, `validate` a local one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Protocol

from launcher.core.model import Policy, Pool, Tier


class MembershipUnknown(Exception):
    """Team membership that cannot be told here (offline, or the lookup failed)."""

    def __init__(self, teams: Iterable[str], why: str = "") -> None:
        self.teams = tuple(sorted(set(teams)))
        self.why = why
        listed = ", ".join(self.teams)
        super().__init__(f"membership of {listed} is unknown" + (f": {why}" if why else ""))


class TeamResolver(Protocol):
    def team_members(self, team: str) -> frozenset[str]:
        """Casefolded logins in `@org/team`; raise MembershipUnknown when it cannot tell."""
        ...


class StaticTeams:
    """Team membership from a mapping (tests, `validate --teams`); other teams are unknown."""

    def __init__(self, teams: Mapping[str, Iterable[str]] | None = None) -> None:
        self._teams = {
            team.casefold(): frozenset(login.casefold() for login in logins)
            for team, logins in (teams or {}).items()
        }

    def team_members(self, team: str) -> frozenset[str]:
        try:
            return self._teams[team.casefold()]
        except KeyError:
            raise MembershipUnknown([team], "team membership is not known offline") from None


def is_team(principal: str) -> bool:
    return principal.startswith("@")


def is_group(principal: str) -> bool:
    return principal.startswith("group:")


def _split(principals: Iterable[str], policy: Policy) -> tuple[set[str], set[str]]:
    """Logins (casefolded) and teams named by principals, with local groups expanded."""
    logins: set[str] = set()
    teams: set[str] = set()
    for principal in principals:
        members = policy.groups.get(principal[6:], ()) if is_group(principal) else (principal,)
        for member in members:
            (teams if is_team(member) else logins).add(
                member if is_team(member) else member.casefold()
            )
    return logins, teams


def expand(principals: Iterable[str], policy: Policy, resolver: TeamResolver) -> frozenset[str]:
    """Every login the principals stand for; raises MembershipUnknown if a team can't be read."""
    logins, teams = _split(principals, policy)
    unknown: list[str] = []
    for team in sorted(teams):
        try:
            logins |= resolver.team_members(team)
        except MembershipUnknown as exc:
            unknown.extend(exc.teams)
    if unknown:
        raise MembershipUnknown(unknown)
    return frozenset(logins)


def _holds(login: str, principals: Iterable[str], policy: Policy, resolver: TeamResolver) -> bool:
    logins, teams = _split(principals, policy)
    if login.casefold() in logins:
        return True
    unknown: list[str] = []
    for team in sorted(teams):
        try:
            if login.casefold() in resolver.team_members(team):
                return True
        except MembershipUnknown as exc:
            unknown.extend(exc.teams)
    if unknown:
        raise MembershipUnknown(unknown)
    return False


def tier_bounds(
    login: str, pool: Pool, policy: Policy, resolver: TeamResolver
) -> tuple[Tier, tuple[str, ...]]:
    """The highest tier `login` surely holds, and the unknown teams that could raise it.

    Tiers are checked from the highest down and teams are looked up only when needed.
    """
    perms = pool.permissions
    unknown: list[str] = []
    for tier, principals in (
        (Tier.MODIFY, perms.modify),
        (Tier.CREATE, perms.create),
        (Tier.CREATE_WITH_APPROVAL, perms.create_with_approval),
    ):
        try:
            if _holds(login, principals, policy, resolver):
                return tier, tuple(unknown)
        except MembershipUnknown as exc:
            unknown.extend(t for t in exc.teams if t not in unknown)
    return Tier.NONE, tuple(unknown)


def tier_of(login: str, pool: Pool, policy: Policy, resolver: TeamResolver) -> Tier:
    """The tier `login` holds on `pool`; MembershipUnknown rather than a guess when a team
    that could grant a higher tier cannot be read (fail closed)."""
    tier, unknown = tier_bounds(login, pool, policy, resolver)
    if unknown:
        raise MembershipUnknown(unknown)
    return tier


def approvers(pool: Pool, policy: Policy, resolver: TeamResolver) -> frozenset[str]:
    """Casefolded logins who may approve or reject requests in `pool` (its `modify` holders)."""
    return expand(pool.permissions.modify, policy, resolver)


def is_admin(login: str, policy: Policy, resolver: TeamResolver) -> bool:
    return _holds(login, policy.admins, policy, resolver)


def display_principals(principals: Iterable[str], policy: Policy) -> list[str]:
    """`@login` and `@org/team` mentions, local groups expanded, order kept, no repeats."""
    shown: list[str] = []
    for principal in principals:
        members = policy.groups.get(principal[6:], ()) if is_group(principal) else (principal,)
        for member in members:
            mention = member if is_team(member) else f"@{member}"
            if mention.casefold() not in (s.casefold() for s in shown):
                shown.append(mention)
    return shown


def explain(login: str, pool: Pool, tier: Tier, policy: Policy) -> str:
    """One sentence on what `login` may do in `pool`, and what would change it."""
    where = f"pool {pool.name}"
    if tier is Tier.MODIFY:
        return f"{login} has modify on {where}: may launch without approval (and approves requests)"
    if tier is Tier.CREATE:
        return f"{login} has create on {where}: may launch without approval"
    if tier is Tier.CREATE_WITH_APPROVAL:
        who = ", ".join(display_principals(pool.permissions.modify, policy)) or "nobody"
        n = pool.approvals_required
        needs = "an approving review from one of" if n == 1 else f"{n} approving reviews from"
        return f"{login} has create_with_approval on {where}: needs {needs} {who}"
    admins = ", ".join(display_principals(policy.admins, policy)) or "an admin"
    return (
        f"{login} has no permission on {where}: ask an admin ({admins}) to add them to "
        f"create or create_with_approval in pools.yaml"
    )
