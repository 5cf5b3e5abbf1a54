"""Who may remove a launch request: the one rule the gate and the launch job both apply.

Removing `deployments/<pool>/<name>.yaml` from main ends what the request runs, so it is not
the same permission as creating one: `create` lets alice launch her own capacity, not end
bob's. A removal passes when everyone behind the pull request (its author and every account
that pushed onto it, from GitHub's record) is the request's **recorded requester** (the
`requested_by` of launcher's newest record of it) or holds `modify` on the pool; otherwise it
needs the pool's required approvers to approve the head commit, like a request needing
approval. A request launcher never recorded runs and waits for nothing, so removing it ends
nothing and passes.

Pure: the gate hands in what it read; `launcher.core.gate` turns the answer into its item, and
the launch job reaches the same item through the gate's decision (`decide_pull`), so both sides
judge a removal by this function.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from launcher.core.model import Policy, Pool, Tier
from launcher.core.permissions import TeamResolver, tier_of
from launcher.core.provenance import Pusher


def recorded_requester(newest_first: Iterable[str]) -> str | None:
    """The recorded requester from the `requested_by` of each of launcher's records of one
    request, newest first: the newest that names one; "" when records exist but none names
    anyone (a request refused before its approval was read); None when there is no record."""
    found: str | None = None
    for requested_by in newest_first:
        if requested_by:
            return requested_by
        found = ""
    return found


@dataclass(frozen=True)
class RemovalParties:
    """The answer for the people behind a removal: `outsider` is the first of them who is
    neither the recorded requester nor an approver of the pool (None: they all are)."""

    outsider: str | None
    requester: str | None  # as recorded; None: launcher never recorded the request

    @property
    def may_remove_alone(self) -> bool:
        return self.outsider is None


def removal_parties(
    *,
    author: str,
    pushers: Iterable[Pusher],
    requester: str | None,
    pool: Pool,
    policy: Policy,
    teams: TeamResolver,
) -> RemovalParties:
    """Whether the author and every pusher may remove the request without approval.

    `requester` is the recorded requester ("" when a record names none: nobody matches it);
    None means no record exists, and then anyone with any tier may remove it (it ends nothing).
    Bots and unknown accounts that pushed hold no tier and are never the requester.
    """
    people: list[tuple[str, str | None]] = [(author, author)]
    people += [(p.shown, p.login if p.has_tier else None) for p in pushers]
    for shown, login in people:
        if login is None:
            return RemovalParties(shown, requester)
        if requester is None:
            if tier_of(login, pool, policy, teams) is Tier.NONE:
                return RemovalParties(shown, requester)
            continue
        if requester and login.casefold() == requester.casefold():
            continue
        if tier_of(login, pool, policy, teams) is not Tier.MODIFY:
            return RemovalParties(shown, requester)
    return RemovalParties(None, requester)
