"""GitHub's repository activity log: every branch movement with the account that made it.

Why: a collaborator with write access can push to any unprotected branch, including
someone else's pull request branch. Commit authors are free text; the activity log
(``GET /repos/{owner}/{repo}/activity``) is what GitHub itself records about who moved
which ref, so launcher trusts it, and the stand-in must fill it the way GitHub does.

Every branch movement in the stand-in (``push_files``, the contents API, the refs API,
merges) goes through ``GitHub.update_branch``, which hands a ``RefUpdate`` to the push
checks (branch protection, rulesets) and then to ``ActivityLog.record``.
"""

from __future__ import annotations

import base64
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from launcher.sandbox.github.gitrepo import ZERO_SHA
from launcher.sandbox.github.http import validation
from launcher.sandbox.github.state import iso

if TYPE_CHECKING:
    from launcher.sandbox.github.shapes import Shapes
    from launcher.sandbox.github.state import Repo

ACTIVITY_TYPES = (
    "push",
    "force_push",
    "branch_creation",
    "branch_deletion",
    "pr_merge",
    "merge_queue_merge",
)
# GitHub's ``time_period`` filter, in seconds.
TIME_PERIODS = {
    "day": 86400,
    "week": 7 * 86400,
    "month": 30 * 86400,
    "quarter": 91 * 86400,
    "year": 365 * 86400,
}


@dataclass(frozen=True)
class RefUpdate:
    """One branch movement about to happen: what push checks judge and the log records.

    ``before``/``after`` are None when the branch does not exist before (creation) or
    after (deletion). ``merge`` is "pr" for a pull request merge, "queue" for a merge
    queue merge, None for a push.
    """

    repo: Repo
    branch: str
    before: str | None
    after: str | None
    actor: str
    forced: bool
    merge: str | None = None

    @property
    def ref(self) -> str:
        return f"refs/heads/{self.branch}"

    @property
    def activity_type(self) -> str:
        if self.merge == "pr":
            return "pr_merge"
        if self.merge == "queue":
            return "merge_queue_merge"
        if self.before is None:
            return "branch_creation"
        if self.after is None:
            return "branch_deletion"
        return "force_push" if self.forced else "push"


# A push check raises ApiError to refuse a movement (e.g. a protected branch).
PushCheck = Callable[[RefUpdate], None]


@dataclass(frozen=True)
class Activity:
    id: int
    repo_id: int
    ref: str
    before: str
    after: str
    actor: str
    activity_type: str
    timestamp: float


@dataclass
class ActivityLog:
    """Activities of every repository, oldest first."""

    entries: list[Activity] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, update: RefUpdate, ident: int, timestamp: float) -> Activity:
        act = Activity(
            ident,
            update.repo.id,
            update.ref,
            update.before or ZERO_SHA,
            update.after or ZERO_SHA,
            update.actor,
            update.activity_type,
            timestamp,
        )
        with self._lock:
            self.entries.append(act)
        return act

    def for_repo(self, repo: Repo) -> list[Activity]:
        with self._lock:
            return [a for a in self.entries if a.repo_id == repo.id]


def render(shapes: Shapes, repo: Repo, act: Activity) -> dict[str, Any]:
    """The ``activity`` schema; ``actor`` is null when the account no longer exists."""
    actor = shapes.simple_user(act.actor) if shapes.state.user(act.actor) else None
    return {
        "id": act.id,
        "node_id": "RA_kwDO" + base64.b64encode(f"{repo.id}:{act.id}".encode()).decode(),
        "before": act.before,
        "after": act.after,
        "ref": act.ref,
        "timestamp": iso(act.timestamp),
        "activity_type": act.activity_type,
        "actor": actor,
    }


def cursor(act: Activity) -> str:
    """Opaque pagination cursor (GitHub's are opaque too; clients copy them from Link)."""
    return base64.urlsafe_b64encode(f"activity:{act.id}".encode()).decode().rstrip("=")


def _cursor_id(value: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode()
        kind, _, ident = raw.partition(":")
        if kind != "activity":
            raise ValueError(value)
        return int(ident)
    except ValueError:
        raise validation("Invalid cursor") from None


def select(
    entries: list[Activity],
    query: dict[str, str],
    now: float,
    login_of: Callable[[str], str | None],
) -> tuple[list[Activity], bool, bool]:
    """Filter and page ``entries`` as GitHub does: (page, has_previous, has_next).

    The listing runs newest first unless ``direction=asc``; ``after=CURSOR`` continues
    past an entry in that order, ``before=CURSOR`` goes back before one.
    """
    direction = query.get("direction", "desc")
    if direction not in ("asc", "desc"):
        raise validation("Invalid direction")
    kind = query.get("activity_type")
    if kind is not None and kind not in ACTIVITY_TYPES:
        raise validation(f"Invalid activity_type: {kind}")
    period = query.get("time_period")
    if period is not None and period not in TIME_PERIODS:
        raise validation(f"Invalid time_period: {period}")
    try:
        per_page = max(1, min(100, int(query.get("per_page", 30))))
    except ValueError:
        raise validation("Invalid per_page") from None
    ref = query.get("ref")
    if ref is not None and not ref.startswith("refs/"):
        ref = f"refs/heads/{ref}"
    actor = query.get("actor")
    actor_login = (login_of(actor) or actor).lower() if actor else None
    items = [
        a
        for a in entries
        if (kind is None or a.activity_type == kind)
        and (ref is None or a.ref == ref)
        and (actor_login is None or a.actor.lower() == actor_login)
        and (period is None or a.timestamp >= now - TIME_PERIODS[period])
    ]
    items.sort(key=lambda a: a.id, reverse=direction == "desc")
    ids = [a.id for a in items]
    if "after" in query:
        start = _position(ids, _cursor_id(query["after"])) + 1
        page = items[start : start + per_page]
    elif "before" in query:
        end = _position(ids, _cursor_id(query["before"]))
        start = max(0, end - per_page)
        page = items[start:end]
    else:
        start = 0
        page = items[:per_page]
    return page, start > 0, start + len(page) < len(items)


def _position(ids: list[int], ident: int) -> int:
    try:
        return ids.index(ident)
    except ValueError:
        raise validation("Invalid cursor") from None
