"""`launcher doctor`'s checks: does a repository's configuration give launcher's guarantees?

launcher's verdict only means something when GitHub enforces it: the default branch must take
changes only through pull requests, require launcher's check from launcher's app (anyone with
write access can set a status of the same name), dismiss stale approvals, route code-owner
review without giving `deployments/` owners; the privileged environments must exist and admit
only the default branch; the workflows must be the ones launcher ships. None of that is in the
repository's files, so a new user cannot see it: this module turns the settings the adapter
read into one line per guarantee, with what is missing and the fix.

Pure: `RepoSettings` holds the API's answers (None where a read was refused), `check` judges.
"""

from __future__ import annotations

import fnmatch
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

CONTEXT = "launcher/approval"
GATE_ENVIRONMENT = "launcher-gate"
LAUNCH_ENVIRONMENT = "launcher-launch"
ENVIRONMENTS = (GATE_ENVIRONMENT, LAUNCH_ENVIRONMENT)
SAMPLE_REQUEST = "deployments/pool/request.yaml"  # any request path, for CODEOWNERS matching


@dataclass(frozen=True)
class Line:
    """One guarantee: whether it holds, what was found, and how to fix it."""

    name: str
    ok: bool
    found: str
    fix: str = ""
    warning: bool = False  # holds, but worth fixing: shown as "warn", never fails the run

    def render(self) -> str:
        mark = "FAIL" if not self.ok else "warn" if self.warning else "ok  "
        text = f"{mark} {self.name}: {self.found}"
        shown = (not self.ok or self.warning) and self.fix
        return f"{text}\n     fix: {self.fix}" if shown else text


@dataclass(frozen=True)
class Environment:
    name: str
    protected_branches: bool  # deployment_branch_policy.protected_branches
    custom: bool  # deployment_branch_policy.custom_branch_policies
    policies: tuple[tuple[str, str], ...] = ()  # (type, name pattern) of its branch policies


@dataclass
class RepoSettings:
    """What the adapter read. A field left None means GitHub refused or lacked it."""

    repository: str
    default_branch: str
    private: bool
    plan_refused: str | None = None  # GitHub's answer when the plan offers no rulesets
    rules: list[dict[str, Any]] | None = None  # active rules on the default branch
    codeowners: str | None = None  # CODEOWNERS at the default branch (None: no file)
    environments: Mapping[str, Environment] | None = None
    workflows: Mapping[str, str] | None = None  # path -> blob sha at the default branch
    workflow_texts: Mapping[str, str] = field(default_factory=dict)  # unpinned ones' text
    pinned: Mapping[str, bytes] = field(default_factory=dict)  # file name -> shipped bytes
    oidc: Mapping[str, Any] | None = None  # GET .../actions/oidc/customization/sub
    app_id: int | None = None
    errors: dict[str, str] = field(default_factory=dict)  # what could not be read, and why


def blob_sha(content: bytes) -> str:
    """Git's blob id of `content`: compared with the tree's, no file needs downloading."""
    return hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()  # noqa: S324


def check(s: RepoSettings) -> list[Line]:
    """One line per guarantee, in the order a user would fix them."""
    if s.plan_refused is not None:
        return [
            Line(
                "plan",
                False,
                f"{s.repository} is private on a GitHub plan without rulesets or environments "
                f"for private repositories (GitHub answered: {s.plan_refused})",
                "make the repository public, or move it to GitHub Pro, Team or Enterprise: "
                "without a ruleset nothing stops a merge launcher did not approve",
            )
        ]
    lines = [
        *_ruleset_lines(s),
        _deployments_unowned(s),
        *(_environment(s, name) for name in ENVIRONMENTS),
        _launch_environment_use(s),
        _workflows(s),
        _oidc(s),
        _merge_queue(s),
    ]
    return lines


def _rules(s: RepoSettings, kind: str) -> list[dict[str, Any]]:
    return [r for r in s.rules or [] if r.get("type") == kind]


def _unreadable(name: str, what: str, s: RepoSettings) -> Line:
    return Line(
        name,
        False,
        f"could not read {what}: {s.errors.get(what, 'unknown error')}",
        "run doctor with a token that can read the repository's administration settings "
        "(the launcher app has Administration: read)",
    )


def _ruleset_lines(s: RepoSettings) -> list[Line]:
    where = f"an active ruleset on the default branch ({s.default_branch})"
    if s.rules is None:
        return [_unreadable("rulesets", "rulesets", s)]
    pulls = _rules(s, "pull_request")
    params = [r.get("parameters") or {} for r in pulls]
    lines = [
        Line(
            "pull requests required",
            bool(pulls),
            "the default branch takes changes only through pull requests"
            if pulls
            else f"no {where} requires a pull request before merging",
            f"add the rule 'Require a pull request before merging' to {where}",
        )
    ]
    checks = [
        c
        for r in _rules(s, "required_status_checks")
        for c in (r.get("parameters") or {}).get("required_status_checks") or []
        if c.get("context") == CONTEXT
    ]
    pinned = [c for c in checks if s.app_id is not None and c.get("integration_id") == s.app_id]
    if pinned:
        found = f"{CONTEXT} is required from the launcher app (id {s.app_id})"
    elif s.app_id is None:
        found = "the launcher app's id is not known: pass --app-id (or set LAUNCHER_APP_ID)"
    elif checks:
        sources = sorted({str(c.get("integration_id") or "any source") for c in checks})
        found = (
            f"{CONTEXT} is required but from {', '.join(sources)}, not the launcher app "
            f"(id {s.app_id}): anyone with write access can set it"
        )
    else:
        found = f"{CONTEXT} is not a required check on the default branch"
    lines.append(
        Line(
            "launcher's check required from its app",
            bool(pinned),
            found,
            f"in {where}, 'Require status checks to pass' with {CONTEXT} and the launcher app "
            f"as its source (integration_id {s.app_id if s.app_id is not None else 'APP_ID'})",
        )
    )
    owners = any(p.get("require_code_owner_review") for p in params)
    lines.append(
        Line(
            "code-owner review",
            owners,
            "changes outside deployments/ need their code owners' review"
            if owners
            else "code-owner review is not required",
            f"in {where}'s pull request rule, turn on 'Require review from Code Owners'",
        )
    )
    stale = any(p.get("dismiss_stale_reviews_on_push") for p in params)
    lines.append(
        Line(
            "stale approvals dismissed",
            stale,
            "approvals are dismissed when new commits are pushed"
            if stale
            else "approvals survive new commits",
            f"in {where}'s pull request rule, turn on 'Dismiss stale pull request approvals "
            "when new commits are pushed'",
        )
    )
    return lines


def _deployments_unowned(s: RepoSettings) -> Line:
    name = "deployments/ without code owners"
    fix = (
        "run `launcher codeowners` (it writes `/deployments/` with no owners, after the "
        "catch-all) and merge .github/CODEOWNERS"
    )
    if s.codeowners is None:
        return Line(name, False, "no CODEOWNERS file on the default branch", fix)
    owners = sorted({o for path in _samples(s.codeowners) for o in owners_of(s.codeowners, path)})
    if owners:
        return Line(
            name,
            False,
            f"CODEOWNERS gives deployments/ owners ({', '.join(owners)}): code-owner review "
            "would let them, not the pool's approvers in pools.yaml, decide",
            fix,
        )
    return Line(name, True, "deployments/ has no code owners: pools.yaml's approvers decide")


def _samples(codeowners: str) -> list[str]:
    """Request paths to try: a generic one, and one under every pattern naming deployments."""
    samples = [SAMPLE_REQUEST]
    for raw in codeowners.splitlines():
        pattern = raw.split("#", 1)[0].strip().split(" ", 1)[0].lstrip("/")
        if "deployments" not in pattern:
            continue
        path = pattern.replace("**", "x").replace("*", "x")
        if path.endswith("/"):
            path += "x/x.yaml" if path.count("/") < 2 else "x.yaml"
        samples.append(path)
    return samples


def owners_of(codeowners: str, path: str) -> list[str]:
    """The owners CODEOWNERS gives `path`: the last matching line wins (GitHub's rule)."""
    owners: list[str] = []
    for raw in codeowners.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        pattern, *names = line.split()
        if _matches(pattern, path):
            owners = names
    return owners


def _matches(pattern: str, path: str) -> bool:
    anchored = pattern.startswith("/")
    pattern = pattern.lstrip("/")
    if pattern in ("*", "**"):
        return True
    if pattern.endswith("/"):
        prefix = pattern
        if anchored or "/" in pattern.rstrip("/"):
            return path.startswith(prefix) or fnmatch.fnmatch(path, prefix + "*")
        return any(part + "/" == prefix for part in path.split("/")[:-1])
    if anchored or "/" in pattern:
        return fnmatch.fnmatch(path, pattern) or path.startswith(pattern.rstrip("/") + "/")
    return any(fnmatch.fnmatch(part, pattern) for part in path.split("/"))


def _environment(s: RepoSettings, env_name: str) -> Line:
    name = f"environment {env_name}"
    fix = (
        f"create the environment {env_name} (Settings → Environments) with deployment "
        f"branches limited to 'Selected branches' and one rule: {s.default_branch}"
    )
    if s.environments is None:
        return _unreadable(name, "environments", s)
    env = s.environments.get(env_name)
    if env is None:
        return Line(name, False, "does not exist", fix)
    only_default = env.custom and env.policies == (("branch", s.default_branch),)
    if only_default:
        return Line(name, True, f"exists, and only {s.default_branch} may use it")
    if env.protected_branches:
        found = "any protected branch may use it"
    elif not env.custom:
        found = "every branch may use it"
    else:
        shown = ", ".join(f"{kind} {pattern}" for kind, pattern in env.policies) or "none"
        found = f"its deployment branch rules are {shown}, not only {s.default_branch}"
    return Line(name, False, f"exists, but {found}", fix)


def _launch_environment_use(s: RepoSettings) -> Line:
    name = f"only launcher's workflows use {LAUNCH_ENVIRONMENT}"
    if s.workflows is None:
        return _unreadable(name, "workflows", s)
    pinned_shas = {blob_sha(content) for content in s.pinned.values()}
    others = sorted(
        path
        for path, sha in s.workflows.items()
        if sha not in pinned_shas and LAUNCH_ENVIRONMENT in s.workflow_texts.get(path, "")
    )
    if others:
        return Line(
            name,
            False,
            f"{', '.join(others)} also name{'s' if len(others) == 1 else ''} "
            f"{LAUNCH_ENVIRONMENT}, whose jobs can assume the AWS launch role",
            f"remove {LAUNCH_ENVIRONMENT} from {', '.join(others)}",
        )
    return Line(name, True, f"no other workflow names {LAUNCH_ENVIRONMENT}")


def _workflows(s: RepoSettings) -> Line:
    name = "launcher's workflows are the pinned ones"
    if s.workflows is None:
        return _unreadable(name, "workflows", s)
    wrong = []
    for file_name, content in sorted(s.pinned.items()):
        sha = s.workflows.get(f".github/workflows/{file_name}")
        if sha is None:
            wrong.append(f"{file_name} is missing")
        elif sha != blob_sha(content):
            wrong.append(f"{file_name} differs")
    if wrong:
        return Line(
            name,
            False,
            "; ".join(wrong),
            "copy launcher's .github/workflows/ files unchanged (`launcher doctor "
            "--workflows DIR` names another pinned set) and merge them",
        )
    return Line(name, True, f"{len(s.pinned)} workflows match launcher's")


def _oidc(s: RepoSettings) -> Line:
    name = "OIDC subject of the launch jobs"
    if s.oidc is None:
        return _unreadable(name, "the OIDC subject settings", s)
    prefix = str(s.oidc.get("sub_claim_prefix") or f"repo:{s.repository}")
    context = f"environment:{LAUNCH_ENVIRONMENT}"
    keys: Sequence[str] = s.oidc.get("include_claim_keys") or ()
    if s.oidc.get("use_default", True) or not keys:
        subject = f"{prefix}:{context}"
    else:
        parts = []
        for key in keys:
            parts.append(prefix if key == "repo" else context if key == "context" else f"{key}:*")
        subject = ":".join(parts)
    immutable = bool(s.oidc.get("use_immutable_subject")) or "@" in prefix
    form = (
        "GitHub's immutable form, repo:OWNER@OWNER_ID/REPO@REPO_ID"
        if immutable
        else "the classic form, repo:OWNER/REPO (renaming or recycling the names changes it)"
    )
    with_ref = (
        " --job-workflow-ref"
        if "job_workflow_ref" in keys and not s.oidc.get("use_default", True)
        else ""
    )
    return Line(
        name,
        True,
        f"{subject} (the AWS role's trust policy must name exactly this `sub`; {form}; "
        f"`launcher iam-policy --subject-prefix {prefix}{with_ref}` writes the trust policies)",
    )


def _merge_queue(s: RepoSettings) -> Line:
    """A merge queue is supported: review.yml hands each merge group to the gate, which
    judges the group's commit. Its pull requests are found by their commits (merge) or the
    numbers GitHub writes in the commit messages (squash); rebased commits carry neither, so
    a queue that rebases would fail every group of more than one pull request."""
    name = "merge queue"
    if s.rules is None:
        return _unreadable(name, "rulesets", s)
    queues = _rules(s, "merge_queue")
    if not queues:
        return Line(name, True, f"{s.default_branch} merges pull requests directly")
    methods = sorted(
        {str((r.get("parameters") or {}).get("merge_method") or "MERGE").upper() for r in queues}
    )
    if "REBASE" in methods:
        return Line(
            name,
            False,
            f"{s.default_branch}'s merge queue rebases: launcher cannot tell which pull "
            "request a rebased commit came from, so groups of several pull requests fail",
            "set the merge queue's merge method to MERGE (or SQUASH) in the default branch's "
            "ruleset",
        )
    return Line(
        name,
        True,
        f"{s.default_branch} merges through a merge queue ({', '.join(methods)}): launcher "
        "judges each merge group's commit (review.yml hands it to the gate)",
    )
