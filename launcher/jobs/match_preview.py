"""Match launch requests against live EC2, for commands that only report (validate, match).

Reads each account-and-region catalogue once and the pools' usage with one DescribeInstances
per location, then matches every request in one batch. Anything that stops the reading (no
credentials, an AWS error) is returned as one reason instead of a half answer.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from launcher.adapters.ec2 import NO_CREDENTIALS  # a constant: boto3 is not imported here
from launcher.core.matching import MatchResult, locations_of, match_all
from launcher.core.model import LaunchRequest, Policy

if TYPE_CHECKING:
    from launcher.adapters.ec2 import EC2

SKIPPED = "instance match skipped"
NOT_CONFIGURED = NO_CREDENTIALS

# Per request path, the reasons it has no placement ([] when it has one); or one line saying
# why matching was skipped.
Preview = dict[str, list[str]] | str
Previewer = Callable[[list[LaunchRequest], Policy], Preview]
_installed: Previewer | None = None


def install(previewer: Previewer | None) -> None:
    """Make `preview_matches` answer through `previewer` in this process (None: read afresh
    each time again). `launcher serve` installs its cached, time-bounded reader
    (`launcher.serve.match`): one process deciding many pull requests must not ask the
    credential chain and read the EC2 catalogue again for each, as a one-run job does."""
    global _installed
    _installed = previewer


@dataclass(frozen=True)
class Skipped:
    """Why matching could not be tried at all."""

    reason: str

    def __str__(self) -> str:
        return f"{SKIPPED}: {self.reason}"


def match_live(
    requests: list[LaunchRequest], policy: Policy, *, ec2: EC2 | None = None
) -> list[MatchResult] | Skipped:
    """Match `requests` against EC2 as the default credential chain sees it.

    `ec2` may be a prepared `launcher.adapters.ec2.EC2` (to share its caches or count its
    calls); by default one is made with short timeouts, since callers are interactive.
    """
    from launcher.adapters.ec2 import EC2, EC2Error, credentials_problem  # boto3: lazily

    if not requests:
        return []
    if ec2 is None:
        problem = credentials_problem()
        if problem:
            return Skipped(problem)
        # LAUNCHER_AWS_READ_ROLES=true (as report.yml): provider accounts through their
        # read-only roles, never the launching ones, for what only reads.
        read_roles = os.environ.get("LAUNCHER_AWS_READ_ROLES") == "true"
        ec2 = EC2(max_attempts=2, connect_timeout=3, read_timeout=20, read_roles=read_roles)
    pools = [
        policy.pools[name] for name in sorted({r.pool for r in requests}) if name in policy.pools
    ]
    catalogues = {}
    for location, needs in locations_of(pools).items():
        try:  # stop at the first failure: one unreachable endpoint must not cost N timeouts
            catalogues[location] = ec2.catalogue(location, needs.image_ids, needs.patterns)
        except EC2Error as exc:
            return Skipped(str(exc))
    try:
        usage = ec2.usage(pools)
    except EC2Error as exc:
        return Skipped(str(exc))
    return match_all(requests, policy, catalogues, usage)


def preview_matches(requests: list[LaunchRequest], policy: Policy) -> Preview:
    """Per request path, the reasons it has no placement ([] when it has one); or one line
    saying why matching was skipped. For `launcher validate`'s and the gate's warnings."""
    if _installed is not None:
        return _installed(requests, policy)
    results = match_live(requests, policy)
    if isinstance(results, Skipped):
        return str(results)
    return {r.request.path: r.reasons for r in results}
