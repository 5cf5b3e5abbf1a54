"""Rulesets and classic branch protection: who may merge into, or push to, a branch.

Why: launcher's guarantees rest on GitHub refusing a merge whose required check did not
pass (from the pinned app), whose approvals are missing or stale, or whose last push
nobody else approved. The stand-in evaluates both of GitHub's mechanisms the same way:

- a *classic protection* (``PUT /repos/{o}/{r}/branches/{b}/protection``) on one branch;
- *rulesets* (``/repos/{o}/{r}/rulesets``) on the branches their ``ref_name``
  conditions select, ``active`` ones enforced, ``evaluate`` ones only reported.

Each becomes a :class:`Source` of requirements. ``merge_violations`` lists what blocks a
pull request's merge, ``check_push`` refuses a direct push (call it wherever a branch
moves), ``required_checks`` lists the (context, app id) pairs a merge queue must see.
Modelled rules: pull request with N approvals (from reviewers with write access), code
owner review, dismissal of stale approvals (head or merge base changed after the
review), approval of the last push by someone else, required status checks pinned to
an app (``integration_id`` / ``app_id``; a classic check without ``app_id`` pins the app
that last provided it, ``-1`` any source), strict (up to date) checks, linear history,
allowed merge methods, non-fast-forward, deletion, creation, update and classic push
``restrictions``; ``merge_queue`` (merges and pushes only through the queue: the REST
merge is refused); other rule types are stored and returned as given. Bypass: ruleset
``bypass_actors`` (RepositoryRole, Team, Integration, OrganizationAdmin, User; ``always``
or ``pull_request``), classic protection's ``bypass_pull_request_allowances`` and its
admins unless ``enforce_admins``.
Stale approvals: any new head commit dismisses them (GitHub dismisses only when the
diff changes; a push that leaves the diff unchanged is rare in practice).
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from launcher.sandbox.github import codeowners
from launcher.sandbox.github.http import ApiError, validation
from launcher.sandbox.github.state import PERMISSIONS, Issue, Repo, Review, now

if TYPE_CHECKING:
    from launcher.sandbox.github.service import GitHub

# Built-in repository role ids as rulesets' bypass_actors name them.
ROLE_IDS = {1: "read", 2: "maintain", 3: "triage", 4: "write", 5: "admin"}
RULE_TYPES = {
    "creation",
    "update",
    "deletion",
    "required_linear_history",
    "merge_queue",
    "required_deployments",
    "required_signatures",
    "pull_request",
    "required_status_checks",
    "non_fast_forward",
    "commit_message_pattern",
    "commit_author_email_pattern",
    "committer_email_pattern",
    "branch_name_pattern",
    "tag_name_pattern",
    "file_path_restriction",
    "max_file_path_length",
    "file_extension_restriction",
    "max_file_size",
    "workflows",
    "code_scanning",
    "copilot_code_review",
}
PASSING = {"success", "neutral", "skipped"}
RULESET_VIOLATION = "Repository rule violations found"
PROTECTED_DOCS = "https://docs.github.com/articles/about-protected-branches"
RULESET_DOCS = (
    "https://docs.github.com/repositories/configuring-branches-and-merges-in-your-repository"
    "/managing-rulesets/about-rulesets"
)


NOT_AUTHORIZED = (
    "You're not authorized to push to this branch. Visit "
    "https://docs.github.com/articles/about-protected-branches/ for more information."
)
NO_MERGE_COMMITS = "This branch must not contain merge commits."
THROUGH_QUEUE = "Changes must be made through the merge queue"  # GitHub's wording: no period


def _enabled(value: Any) -> bool:
    """Protection flags come as booleans in PUT bodies, ``{"enabled": b}`` in answers."""
    return bool(value.get("enabled")) if isinstance(value, dict) else bool(value)


def _review_problem(message: str) -> bool:
    return not (
        message.startswith("Required status check")
        or "required status checks" in message
        or message.startswith("Head branch is not up to date")
    )


class RuleViolation(ApiError):
    """A merge or push refused by a ruleset or branch protection."""

    def __init__(self, status: int, source: Source, problems: list[str]) -> None:
        docs = RULESET_DOCS if source.kind == "ruleset" else PROTECTED_DOCS
        super().__init__(status, source.wrap(problems), docs=docs)
        self.source = source
        self.problems = problems

    def for_contents_api(self) -> ApiError:
        """The contents API words the same refusal as a 409 "Could not update file"."""
        if self.source.kind == "ruleset":
            return ApiError(409, self.message, docs=self.docs)
        return ApiError(409, f"Could not update file: {self.message}", docs=self.docs)


@dataclass
class Ruleset:
    id: int
    name: str
    target: str
    enforcement: str
    bypass_actors: list[dict[str, Any]]
    conditions: dict[str, Any] | None
    rules: list[dict[str, Any]]
    created_at: float = field(default_factory=now)
    updated_at: float = field(default_factory=now)


@dataclass
class Source:
    """The requirements one ruleset or one classic protection puts on a branch."""

    kind: str  # "ruleset" | "protection"
    ruleset: Ruleset | None = None
    protection: dict[str, Any] | None = None
    review_count: int | None = None  # None: no pull request required
    dismiss_stale: bool = False
    code_owners: bool = False
    last_push: bool = False
    checks: list[tuple[str, int | None]] = field(default_factory=list)
    strict: bool = False
    checks_skip_create: bool = False
    block_force: bool = False
    block_delete: bool = False
    block_create: bool = False
    block_update: bool = False
    linear: bool = False  # no merge commits
    merge_queue: bool = False  # changes only through the merge queue
    merge_queue_method: str = "MERGE"  # how the queue combines: MERGE, SQUASH or REBASE
    merge_methods: list[str] | None = None  # None: any
    push_allowed: dict[str, list[Any]] | None = None  # classic restrictions; None: anyone
    pr_bypass: dict[str, list[Any]] | None = None  # classic bypass_pull_request_allowances

    def wrap(self, messages: list[str]) -> str:
        if self.kind == "ruleset":
            return RULESET_VIOLATION + "\n\n" + "".join(f"{m}\n\n" for m in messages)
        return "\n".join(messages)


class Rules:
    """Rulesets and protections of every repository, and their evaluation."""

    def __init__(self, gh: GitHub) -> None:
        self.gh = gh
        self.protections: dict[str, dict[str, dict[str, Any]]] = {}  # repo -> branch -> body
        self.rulesets: dict[str, dict[int, Ruleset]] = {}  # repo -> id -> ruleset
        self.last_pusher: dict[tuple[str, str], str] = {}  # (repo, branch) -> login
        self.review_bases: dict[int, str] = {}  # review id -> merge base when submitted

    # -- storage -----------------------------------------------------------------------
    def protection(self, repo: Repo, branch: str) -> dict[str, Any] | None:
        return self.protections.get(repo.full_name.lower(), {}).get(branch)

    def set_protection(self, repo: Repo, branch: str, body: dict[str, Any]) -> dict[str, Any]:
        """Store a classic protection after GitHub's validation of the PUT body."""
        for key in ("required_status_checks", "enforce_admins", "required_pull_request_reviews"):
            if key not in body:
                raise validation(f'Invalid request.\n\n"{key}" wasn\'t supplied.')
        if "restrictions" not in body:
            raise validation('Invalid request.\n\n"restrictions" wasn\'t supplied.')
        if branch not in repo.branches:
            raise ApiError(404, "Branch not found")
        checks = body.get("required_status_checks")
        if checks is not None:
            if not isinstance(checks, dict) or "strict" not in checks:
                raise validation('Invalid request.\n\n"strict" wasn\'t supplied.')
            if "contexts" not in checks and "checks" not in checks:
                raise validation('Invalid request.\n\n"contexts" wasn\'t supplied.')
        if checks is not None:
            body = {**body, "required_status_checks": self._pin_checks(repo, checks)}
        reviews = body.get("required_pull_request_reviews")
        if reviews is not None:
            count = reviews.get("required_approving_review_count", 1)
            if not isinstance(count, int) or not 0 <= count <= 6:
                raise validation(
                    "Invalid request.\n\nrequired_approving_review_count must be between 0 and 6."
                )
        self.protections.setdefault(repo.full_name.lower(), {})[branch] = dict(body)
        return body

    def _pin_checks(self, repo: Repo, checks: dict[str, Any]) -> dict[str, Any]:
        """Resolve each required check's source as GitHub documents it: an ``app_id`` given
        pins that app, ``-1`` allows any source, and an omitted one (or a ``contexts``
        entry) pins the app that most recently provided the check, or any source if no app
        has."""
        given = checks.get("checks")
        if given is None:
            given = [{"context": c} for c in checks.get("contexts") or []]
        pinned = []
        for c in given:
            if "app_id" in c and c["app_id"] is not None:
                app_id = None if c["app_id"] == -1 else int(c["app_id"])
            else:
                app_id = self.latest_app(repo, c["context"])
            pinned.append({"context": c["context"], "app_id": app_id})
        return {"strict": checks.get("strict"), "checks": pinned}

    def latest_app(self, repo: Repo, context: str) -> int | None:
        """The app that most recently set ``context`` (a check run or a status) on ``repo``."""
        apps = self.gh.apps
        latest: tuple[int, int] | None = None  # (record id, app id); ids only grow
        for run in repo.check_runs.values():
            app = apps.of_login(run.creator)
            if run.name == context and app is not None and (latest is None or run.id > latest[0]):
                latest = (run.id, app.id)
        for status in repo.statuses:
            app = apps.of_login(status.creator)
            if status.context == context and app is not None:
                if latest is None or status.id > latest[0]:
                    latest = (status.id, app.id)
        return latest[1] if latest else None

    def delete_protection(self, repo: Repo, branch: str) -> bool:
        return self.protections.get(repo.full_name.lower(), {}).pop(branch, None) is not None

    def repo_rulesets(self, repo: Repo) -> dict[int, Ruleset]:
        return self.rulesets.setdefault(repo.full_name.lower(), {})

    def save_ruleset(
        self, repo: Repo, body: dict[str, Any], existing: Ruleset | None = None
    ) -> Ruleset:
        """Create (or update ``existing``) from a request body, validated like GitHub."""
        name = body.get("name", existing.name if existing else None)
        if not isinstance(name, str) or not name:
            raise validation(resource="Ruleset", field="name", code="missing_field")
        for other in self.repo_rulesets(repo).values():
            if other.name == name and other is not existing:
                raise validation(
                    "Validation Failed",
                    resource="Ruleset",
                    field="name",
                    code="custom",
                    message="Name must be unique",
                )
        enforcement = body.get("enforcement", existing.enforcement if existing else None)
        if enforcement not in ("disabled", "active", "evaluate"):
            raise validation(resource="Ruleset", field="enforcement", code="invalid")
        target = body.get("target", existing.target if existing else "branch")
        if target not in ("branch", "tag", "push"):
            raise validation(resource="Ruleset", field="target", code="invalid")
        rules = body.get("rules", existing.rules if existing else [])
        if not isinstance(rules, list) or any(
            not isinstance(r, dict) or r.get("type") not in RULE_TYPES for r in rules
        ):
            raise validation(resource="Ruleset", field="rules", code="invalid")
        actors = body.get("bypass_actors", existing.bypass_actors if existing else [])
        for actor in actors or []:
            if not isinstance(actor, dict) or actor.get("actor_type") not in (
                "Integration",
                "OrganizationAdmin",
                "RepositoryRole",
                "Team",
                "DeployKey",
                "User",
            ):
                raise validation(resource="Ruleset", field="bypass_actors", code="invalid")
            actor.setdefault("bypass_mode", "always")
            actor.setdefault("actor_id", None)
        conditions = body.get("conditions", existing.conditions if existing else None)
        if existing is None:
            ruleset = Ruleset(
                self.gh.state.new_id(), name, target, enforcement, list(actors or []),
                conditions, [dict(r) for r in rules],
            )  # fmt: skip
            self.repo_rulesets(repo)[ruleset.id] = ruleset
            return ruleset
        existing.name, existing.target, existing.enforcement = name, target, enforcement
        existing.bypass_actors, existing.conditions = list(actors or []), conditions
        existing.rules, existing.updated_at = [dict(r) for r in rules], now()
        return existing

    # -- which rules apply -------------------------------------------------------------
    def targets(self, repo: Repo, ruleset: Ruleset, branch: str) -> bool:
        if ruleset.target != "branch":
            return False
        ref_name = (ruleset.conditions or {}).get("ref_name") or {}
        ref = f"refs/heads/{branch}"

        def hit(pattern: str) -> bool:
            if pattern == "~ALL":
                return True
            if pattern == "~DEFAULT_BRANCH":
                return branch == repo.default_branch
            full = pattern if pattern.startswith("refs/") else f"refs/heads/{pattern}"
            return fnmatch.fnmatchcase(ref, full)

        include = ref_name.get("include") or []
        exclude = ref_name.get("exclude") or []
        return any(hit(p) for p in include) and not any(hit(p) for p in exclude)

    def sources(self, repo: Repo, branch: str, enforced_only: bool = True) -> list[Source]:
        out: list[Source] = []
        prot = self.protection(repo, branch)
        if prot is not None:
            out.append(self._from_protection(prot))
        for rs in self.repo_rulesets(repo).values():
            if rs.enforcement == "disabled" or (enforced_only and rs.enforcement != "active"):
                continue
            if self.targets(repo, rs, branch):
                out.append(self._from_ruleset(rs))
        return out

    @staticmethod
    def _from_protection(p: dict[str, Any]) -> Source:
        src = Source("protection", protection=p)
        reviews = p.get("required_pull_request_reviews")
        if reviews is not None:
            src.review_count = int(reviews.get("required_approving_review_count", 1))
            src.dismiss_stale = bool(reviews.get("dismiss_stale_reviews"))
            src.code_owners = bool(reviews.get("require_code_owner_reviews"))
            src.last_push = bool(reviews.get("require_last_push_approval"))
            src.pr_bypass = reviews.get("bypass_pull_request_allowances")
        if p.get("restrictions") is not None:
            src.push_allowed = p["restrictions"]
        src.linear = _enabled(p.get("required_linear_history"))
        checks = p.get("required_status_checks")
        if checks is not None:
            src.strict = bool(checks.get("strict"))
            pinned = checks.get("checks")
            if pinned is not None:
                src.checks = [
                    (c["context"], None if c.get("app_id") in (None, -1) else int(c["app_id"]))
                    for c in pinned
                ]
            else:
                src.checks = [(c, None) for c in checks.get("contexts") or []]
        src.block_force = not _enabled(p.get("allow_force_pushes"))
        src.block_delete = not _enabled(p.get("allow_deletions"))
        src.block_create = _enabled(p.get("block_creations"))
        src.block_update = _enabled(p.get("lock_branch"))
        return src

    @staticmethod
    def _from_ruleset(rs: Ruleset) -> Source:
        src = Source("ruleset", ruleset=rs)
        for rule in rs.rules:
            kind, params = rule.get("type"), rule.get("parameters") or {}
            if kind == "pull_request":
                src.review_count = max(
                    src.review_count or 0, int(params.get("required_approving_review_count", 0))
                )
                src.dismiss_stale |= bool(params.get("dismiss_stale_reviews_on_push"))
                src.code_owners |= bool(params.get("require_code_owner_review"))
                src.last_push |= bool(params.get("require_last_push_approval"))
                if params.get("allowed_merge_methods"):
                    src.merge_methods = list(params["allowed_merge_methods"])
            elif kind == "required_linear_history":
                src.linear = True
            elif kind == "merge_queue":
                src.merge_queue = True
                src.merge_queue_method = str(params.get("merge_method") or "MERGE").upper()
            elif kind == "required_status_checks":
                src.checks += [
                    (c["context"], c.get("integration_id"))
                    for c in params.get("required_status_checks") or []
                ]
                src.strict |= bool(params.get("strict_required_status_checks_policy"))
                src.checks_skip_create |= bool(params.get("do_not_enforce_on_create"))
            elif kind == "non_fast_forward":
                src.block_force = True
            elif kind == "deletion":
                src.block_delete = True
            elif kind == "creation":
                src.block_create = True
            elif kind == "update":
                src.block_update = True
        return src

    def merge_queue_method(self, repo: Repo, branch: str) -> str:
        """The merge method of the active merge queue rule on ``branch`` (MERGE without one:
        a queue enabled only through the sandbox helper merges)."""
        for src in self.sources(repo, branch):
            if src.merge_queue:
                return src.merge_queue_method
        return "MERGE"

    def required_checks(self, repo: Repo, branch: str) -> list[tuple[str, int | None]]:
        """Every (context, app id or None) an active rule requires on ``branch``."""
        seen: list[tuple[str, int | None]] = []
        for src in self.sources(repo, branch):
            for check in src.checks:
                if check not in seen:
                    seen.append(check)
        return seen

    # -- bypass ------------------------------------------------------------------------
    def bypasses(self, src: Source, repo: Repo, actor: str | None, via_pull: bool) -> bool:
        if actor is None:
            return False
        state = self.gh.state
        if src.kind == "protection":
            enforce = (src.protection or {}).get("enforce_admins")
            return not enforce and state.can(repo, actor, "admin")
        assert src.ruleset is not None
        for entry in src.ruleset.bypass_actors:
            mode = entry.get("bypass_mode", "always")
            if mode == "pull_request" and not via_pull:
                continue
            if self.is_actor(repo, actor, entry):
                return True
        return False

    def listed(self, repo: Repo, actor: str, allow: dict[str, list[Any]] | None) -> bool:
        """Is ``actor`` among classic protection's ``users``/``teams``/``apps``?"""
        if not allow:
            return False
        key = actor.lower()
        if any((u if isinstance(u, str) else u.get("login", "")).lower() == key
               for u in allow.get("users") or []):  # fmt: skip
            return True
        org = self.gh.state.orgs.get(repo.owner.lower())
        for t in allow.get("teams") or []:
            slug = (t if isinstance(t, str) else t.get("slug", "")).lower()
            team = org.teams.get(slug) if org else None
            if team is not None and key in team.members:
                return True
        app = self.gh.apps.of_login(actor)
        return app is not None and any(
            (a if isinstance(a, str) else a.get("slug", "")) == app.slug
            for a in allow.get("apps") or []
        )

    def is_actor(self, repo: Repo, actor: str, entry: dict[str, Any]) -> bool:
        state, kind, ident = self.gh.state, entry.get("actor_type"), entry.get("actor_id")
        if kind == "RepositoryRole":
            role = ROLE_IDS.get(ident if isinstance(ident, int) else 0)
            perm = state.permission(repo, actor)
            return (
                role is not None
                and perm is not None
                and PERMISSIONS.index(perm) >= PERMISSIONS.index(role)
            )
        if kind == "OrganizationAdmin":
            org = state.orgs.get(repo.owner.lower())
            return org is not None and org.members.get(actor.lower()) == "admin"
        if kind == "Team":
            org = state.orgs.get(repo.owner.lower())
            return org is not None and any(
                t.id == ident and actor.lower() in t.members for t in org.teams.values()
            )
        if kind == "Integration":
            app = self.gh.apps.of_login(actor)
            return app is not None and app.id == ident
        if kind == "User":
            user = state.user(actor)
            return user is not None and user.id == ident
        return False

    # -- checks ------------------------------------------------------------------------
    def check_state(self, repo: Repo, sha: str, context: str, app_id: int | None) -> str:
        """``passing``, ``failing`` or ``expected`` for one required check on ``sha``."""
        apps = self.gh.apps

        def from_app(login: str) -> bool:
            if app_id is None:
                return True
            app = apps.of_login(login)
            return app is not None and app.id == app_id

        results: list[str] = []
        for status in reversed(repo.statuses):
            if status.sha == sha and status.context == context and from_app(status.creator):
                results.append(
                    {"success": "passing", "pending": "expected"}.get(status.state, "failing")
                )
                break
        for run in reversed(list(repo.check_runs.values())):
            if run.head_sha == sha and run.name == context and from_app(run.creator):
                if run.status != "completed":
                    results.append("expected")
                else:
                    results.append("passing" if run.conclusion in PASSING else "failing")
                break
        if "passing" in results:
            return "passing"
        return "failing" if "failing" in results else "expected"

    @staticmethod
    def _checks_message(states: list[tuple[str, str]], total: int) -> str | None:
        failing = [c for c, s in states if s == "failing"]
        expected = [c for c, s in states if s == "expected"]
        if len(failing) + len(expected) == 0:
            return None
        if len(failing) + len(expected) == 1:
            ctx = (failing or expected)[0]
            return f'Required status check "{ctx}" is {"failing" if failing else "expected"}.'
        if failing:
            return f"{len(failing)} of {total} required status checks are failing."
        return f"{len(expected)} of {total} required status checks are expected."

    # -- reviews -----------------------------------------------------------------------
    def latest_reviews(self, repo: Repo, issue: Issue) -> dict[str, Review]:
        """Each reviewer's standing review (a comment does not replace a verdict)."""
        out: dict[str, Review] = {}
        for review in repo.reviews.get(issue.number, []):
            if review.state in ("APPROVED", "CHANGES_REQUESTED", "DISMISSED"):
                out[review.user.lower()] = review
        return out

    def code_owners(self, repo: Repo, sha: str, paths: list[str]) -> list[list[str]]:
        """For each path with owners, its owners (``@login`` / ``@org/team``)."""
        text = None
        tree = repo.git.tree(sha)
        for location in codeowners.LOCATIONS:
            entry = tree.get(location)
            if entry is not None:
                data = repo.git.blob(entry.sha)
                text = data.decode("utf-8", "replace") if data else ""
                break
        if text is None:
            return []
        rules = codeowners.parse(text)
        return [owners for p in paths if (owners := codeowners.owners_of(rules, p))]

    def is_owner(self, repo: Repo, login: str, owner: str) -> bool:
        name = owner.lstrip("@")
        if "/" not in name:
            return name.lower() == login.lower()
        org_login, _, slug = name.partition("/")
        org = self.gh.state.orgs.get(org_login.lower())
        team = org.teams.get(slug.lower()) if org else None
        return team is not None and login.lower() in team.members

    # -- merge -------------------------------------------------------------------------
    def merge_violations(
        self, repo: Repo, issue: Issue, actor: str | None
    ) -> list[tuple[Source, list[str]]]:
        """What blocks merging ``issue`` for ``actor`` (None: ignoring anyone's bypass)."""
        pr = issue.pull
        assert pr is not None
        head, base = repo.head_sha(issue), repo.base_sha(issue)
        out: list[tuple[Source, list[str]]] = []
        for src in self.sources(repo, pr.base_ref):
            if self.bypasses(src, repo, actor, via_pull=True):
                continue
            problems = self._pull_problems(src, repo, issue, head, base)
            if problems and actor is not None and self.listed(repo, actor, src.pr_bypass):
                problems = [p for p in problems if not _review_problem(p)]
            if problems:
                out.append((src, problems))
        return out

    def _pull_problems(
        self, src: Source, repo: Repo, issue: Issue, head: str, base: str
    ) -> list[str]:
        problems: list[str] = []
        state = self.gh.state
        if src.review_count is not None:
            standing = self.latest_reviews(repo, issue)
            writers = {login: r for login, r in standing.items() if state.can(repo, login, "write")}
            approvals = [r for r in writers.values() if r.state == "APPROVED"]
            n = src.review_count
            if len(approvals) < n:
                noun = "approving review is" if n == 1 else "approving reviews are"
                problems.append(f"At least {n} {noun} required by reviewers with write access.")
            if any(r.state == "CHANGES_REQUESTED" for r in writers.values()):
                problems.append("Changes were requested by a reviewer with write access.")
            if src.code_owners:
                files, _ = self.gh.pull_diff(repo, issue)
                paths = [f.filename for f in files] + [
                    f.previous_filename for f in files if f.previous_filename
                ]
                waiting: set[str] = set()
                for owners in self.code_owners(repo, base, paths):
                    if not any(self.is_owner(repo, r.user, o) for r in approvals for o in owners):
                        waiting.update(owners)
                if waiting:
                    problems.append(
                        f"Waiting on code owner review from {', '.join(sorted(waiting))}."
                    )
            if src.last_push:
                pusher = self.last_pusher.get((repo.full_name.lower(), issue.pull.head_ref))  # type: ignore[union-attr]
                if not any(
                    r.commit_id == head and (pusher is None or r.user.lower() != pusher.lower())
                    for r in approvals
                ):
                    problems.append(
                        "The most recent push must be approved by someone other than the "
                        "last pusher."
                    )
        if src.checks:
            states = [(c, self.check_state(repo, head, c, app)) for c, app in src.checks]
            msg = self._checks_message(states, len(states))
            if msg:
                problems.append(msg)
            if src.strict and not repo.git.is_ancestor(base, head):
                problems.append("Head branch is not up to date with the base branch.")
        return problems

    def check_merge(self, repo: Repo, issue: Issue, actor: str, method: str = "merge") -> None:
        """Refuse ``PUT pulls/N/merge`` (405) when a rule the actor cannot bypass is unmet."""
        pr = issue.pull
        assert pr is not None
        for src in self.sources(repo, pr.base_ref):
            if self.bypasses(src, repo, actor, via_pull=True):
                continue
            if src.push_allowed is not None and not self.listed(repo, actor, src.push_allowed):
                raise RuleViolation(405, src, [NOT_AUTHORIZED])
            if src.merge_queue:
                raise RuleViolation(405, src, [THROUGH_QUEUE])
            if src.linear and method == "merge":
                raise RuleViolation(405, src, [NO_MERGE_COMMITS])
            if src.merge_methods is not None and method not in src.merge_methods:
                allowed = ", ".join(src.merge_methods)
                raise RuleViolation(
                    405, src, [f"Merge method {method} is not allowed (allowed: {allowed})."]
                )
        violations = self.merge_violations(repo, issue, actor)
        if violations:
            src, problems = violations[0]
            raise RuleViolation(405, src, problems)

    def mergeable_state(self, repo: Repo, issue: Issue, computed: str) -> str:
        """GitHub's ``mergeable_state``: ``draft`` for a draft, ``blocked`` by unmet rules,
        ``behind`` when strict checks need the base merged in, ``unstable`` when a
        non-required check fails."""
        if computed != "clean" or issue.state != "open":
            return computed
        if issue.pull is not None and issue.pull.draft:
            return "draft"  # a draft cannot be merged whatever its rules and checks say
        violations = self.merge_violations(repo, issue, None)
        if violations:
            problems = [p for _, ps in violations for p in ps]
            if problems == ["Head branch is not up to date with the base branch."]:
                return "behind"
            return "blocked"
        head = repo.head_sha(issue)
        latest: dict[str, str] = {}
        for status in reversed(repo.statuses):
            if status.sha == head:
                latest.setdefault(status.context, status.state)
        runs: dict[str, Any] = {}
        for run in reversed(list(repo.check_runs.values())):
            if run.head_sha == head:
                runs.setdefault(run.name, run)
        if any(s != "success" for s in latest.values()) or any(
            r.status == "completed" and r.conclusion not in PASSING for r in runs.values()
        ):
            return "unstable"
        return "clean"

    # -- pushes ------------------------------------------------------------------------
    def check_push(
        self, repo: Repo, ref: str, actor: str, old: str | None, new: str | None
    ) -> None:
        """Refuse moving ``ref`` from ``old`` to ``new`` (None: created / deleted; ``new``
        may be ``"?"`` for a commit not made yet) with GitHub's 422 and message."""
        branch = ref.removeprefix("refs/heads/")
        for src in self.sources(repo, branch):
            if self.bypasses(src, repo, actor, via_pull=False):
                continue
            problems: list[str] = []
            if src.push_allowed is not None and not self.listed(repo, actor, src.push_allowed):
                raise RuleViolation(422, src, [NOT_AUTHORIZED])
            if new is None:
                if src.block_delete:
                    problems.append(
                        "Cannot delete this protected branch"
                        if src.kind == "protection"
                        else "Cannot delete this branch"
                    )
            elif old is None:
                if src.block_create:
                    problems.append("Cannot create ref due to creations being restricted.")
            else:
                if src.block_update:
                    problems.append("Cannot update this protected ref.")
                if src.merge_queue:
                    problems.append(THROUGH_QUEUE)
                if src.review_count is not None and not self.listed(repo, actor, src.pr_bypass):
                    problems.append("Changes must be made through a pull request.")
                if (
                    src.linear
                    and new != "?"
                    and any(
                        len(c.parents) > 1
                        for sha in repo.git.rev_list(old, new)
                        if (c := repo.git.commit(sha)) is not None
                    )
                ):
                    problems.append(NO_MERGE_COMMITS)
                if src.block_force and new != "?" and not repo.git.is_ancestor(old, new):
                    problems.append("Cannot force-push to this branch")
            if src.checks and new is not None and not (old is None and src.checks_skip_create):
                states = [
                    (c, "expected" if new == "?" else self.check_state(repo, new, c, app))
                    for c, app in src.checks
                ]
                msg = self._checks_message(states, len(states))
                if msg:
                    problems.append(msg)
            if problems:
                raise RuleViolation(422, src, problems)

    # -- hooks -------------------------------------------------------------------------
    def on_review(self, repo: Repo, issue: Issue, review: Review) -> None:
        """Remember the merge base a review saw (a later change of it makes it stale)."""
        mb = repo.git.merge_base(repo.base_sha(issue), repo.head_sha(issue))
        if mb:
            self.review_bases[review.id] = mb

    def on_moved(self, repo: Repo, branch: str, actor: str, after: str | None) -> None:
        """After a branch moved: remember its pusher, dismiss approvals gone stale."""
        if after is not None:
            self.last_pusher[(repo.full_name.lower(), branch)] = actor
        for issue in repo.pulls():
            pr = issue.pull
            assert pr is not None
            if issue.state == "open" and branch in (pr.head_ref, pr.base_ref):
                self.dismiss_stale(repo, issue, actor)

    def dismiss_stale(self, repo: Repo, issue: Issue, actor: str) -> None:
        """Dismiss approvals of a head or merge base that changed since, where a rule asks."""
        pr = issue.pull
        assert pr is not None
        if not any(s.dismiss_stale for s in self.sources(repo, pr.base_ref)):
            return
        head = repo.head_sha(issue)
        mb = repo.git.merge_base(repo.base_sha(issue), head)
        if mb == head:
            # The base now contains the head: the pull request is being merged (its base moves
            # before it is marked merged). GitHub keeps a merged pull request's approvals.
            return
        for review in list(repo.reviews.get(issue.number, [])):
            if review.state != "APPROVED":
                continue
            if review.commit_id != head or self.review_bases.get(review.id, mb) != mb:
                review.state = "DISMISSED"
                # Recorded like a manual dismissal ("dismissed a stale review via <commit>"):
                # by the pusher, no message, the commit that made it stale.
                dismissed = {
                    "state": "approved",
                    "review_id": review.id,
                    "dismissal_message": None,
                    "dismissal_commit_id": head,
                }
                self.gh.record(repo, issue, "review_dismissed", actor, dismissed_review=dismissed)
                self.gh._emit_review(repo, issue, review, "dismissed", actor)

    def request_code_owners(self, repo: Repo, issue: Issue, actor: str) -> None:
        """Request review from the code owners of the files a new pull request changes; like
        any review request, each is a ``review_requested`` issue event by the author."""
        pr = issue.pull
        assert pr is not None
        if pr.draft:
            return
        files, _ = self.gh.pull_diff(repo, issue)
        paths = [f.filename for f in files]
        state = self.gh.state
        org = state.orgs.get(repo.owner.lower())
        for owners in self.code_owners(repo, repo.base_sha(issue), paths):
            for owner in owners:
                name = owner.lstrip("@")
                if "/" in name:
                    org_login, _, slug = name.partition("/")
                    team = org.teams.get(slug.lower()) if org else None
                    if (
                        team is None
                        or org_login.lower() != repo.owner.lower()
                        or repo.full_name.lower() not in team.repos
                        or team.slug.lower() in pr.requested_teams
                    ):
                        continue
                    pr.requested_teams.append(team.slug.lower())
                    self.gh.record(
                        repo, issue, "review_requested", actor,
                        review_requester=self.gh._who(actor), requested_team=team.slug.lower(),
                    )  # fmt: skip
                    self.gh._emit_pr(
                        repo, issue, "review_requested", actor,
                        requested_team=self.gh.shapes.team(team),
                    )  # fmt: skip
                else:
                    user = state.user(name)
                    if (
                        user is None
                        or user.login.lower() == issue.user.lower()
                        or not state.can(repo, user.login, "write")
                        or any(u.lower() == user.login.lower() for u in pr.requested_users)
                    ):
                        continue
                    pr.requested_users.append(user.login)
                    self.gh.record(
                        repo, issue, "review_requested", actor,
                        review_requester=self.gh._who(actor), requested_reviewer=user.login,
                    )  # fmt: skip
                    self.gh._emit_pr(
                        repo, issue, "review_requested", actor,
                        requested_reviewer=self.gh.shapes.simple_user(user.login),
                    )  # fmt: skip
