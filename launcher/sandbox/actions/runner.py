"""Run a repository's workflows locally the way GitHub Actions would, for the demo and tests.

Jobs run on this machine (no containers) in a fresh workspace each, `run:` steps as
`bash --noprofile --norc -eo pipefail {file}` with a clean environment: PATH, HOME, LANG, the
variables Actions sets (GITHUB_*, RUNNER_*, CI) and the workflow's, job's and step's `env:`.
GITHUB_TOKEN is only there if the workflow passes it, as on GitHub, so a workflow that
forgets it fails here too.

Which code and which ref (GitHub since 2025-12-08): pull_request and review events run the
pull request's workflow files on ``refs/pull/N/merge`` (GITHUB_SHA: that test merge commit,
written in the stand-in's repository); pull_request_target, workflow_run,
check_run and check_suite run the DEFAULT branch's files with GITHUB_REF the default branch
and GITHUB_SHA its latest commit; push and workflow_dispatch the pushed/dispatched ref (a
deleted branch's push runs nothing); merge_group the group's queue branch and commit (its
``branches`` filter is on the branch the group merges into). Given
no ``workflows_dir``, the runner reads `.github/workflows/` from the repository at that commit
(so a pull request that edits a pull_request_target workflow does not change what runs).

With the GitHub stand-in (``sandbox=``, or `ActionsRunner.for_sandbox`): a job's
`environment:` is checked against its deployment branch policy (a refused job fails before
any step, without the environment's secrets; an allowed one gets them), `permissions:` decide
the job token (``job_token``) and whether it may request an OIDC token (`id-token: write`:
ACTIONS_ID_TOKEN_REQUEST_URL/TOKEN, a token signed by the stand-in with GitHub's `sub`), and
each completed run announces `workflow_run` and runs the workflows it triggers (three levels
deep at most, as on GitHub).

Time: every `run:` step runs on the sandbox clock (`launcher.sandbox.clock`), through
libfaketime, so moving the clock of the stand-ins moves the jobs' `date` and
`datetime.now()` too; a workflow never gets the time as an input.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from launcher.sandbox import clock as sandbox_clock
from launcher.sandbox.actions import expressions as ex
from launcher.sandbox.actions.emulated import ACTIONS, ActionError, JobState
from launcher.sandbox.actions.workflow import (
    WORKFLOWS_DIR,
    Workflow,
    WorkflowError,
    action_name,
    dispatch_inputs,
    load_workflow,
    needs,
    triggers,
)

if TYPE_CHECKING:
    from launcher.sandbox.github import GitHubSandbox

PR_EVENTS = ("pull_request", "pull_request_target", "pull_request_review")
# Events whose runs use refs/pull/N/merge; pull_request_target uses the default branch.
MERGE_REF_EVENTS = ("pull_request", "pull_request_review", "pull_request_review_comment")
# Events whose runs use the default branch's workflow files and latest commit.
DEFAULT_BRANCH_EVENTS = ("pull_request_target", "workflow_run", "check_run", "check_suite")
MAX_WORKFLOW_RUN_DEPTH = 3
PERMISSION_SCOPES = (
    "actions", "attestations", "checks", "contents", "deployments", "discussions", "id-token",
    "issues", "models", "packages", "pages", "pull-requests", "repository-projects",
    "security-events", "statuses",
)  # fmt: skip
# GitHub's default GITHUB_TOKEN permissions when a workflow sets none: "restricted" (read
# contents and packages; the default for repositories created since February 2023) or
# "permissive" (write to most scopes), the repository's "Workflow permissions" setting.
PERMISSIVE = {scope: "write" for scope in PERMISSION_SCOPES} | {
    "id-token": "none",
    "models": "read",
}
RESTRICTED = dict.fromkeys(PERMISSION_SCOPES, "none") | {
    "contents": "read",
    "packages": "read",
    "models": "read",
}
PROTECTED = re.compile(r"(GITHUB|RUNNER)_\w+|NODE_OPTIONS")


@dataclass
class StepResult:
    name: str
    id: str | None
    outcome: str  # success | failure | skipped
    conclusion: str  # like outcome, but success when continue-on-error absorbed a failure
    exit_code: int | None = None
    stdout: str = ""
    stderr: str = ""
    outputs: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0


@dataclass
class JobResult:
    workflow: str  # the workflow's file name
    job_id: str
    name: str
    result: str  # success | failure | skipped
    steps: list[StepResult] = field(default_factory=list)
    outputs: dict[str, str] = field(default_factory=dict)
    summary: str = ""
    concurrency: str | None = None
    environment: str | None = None
    permissions: dict[str, str] = field(default_factory=dict)
    id_token_claims: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        return self.result == "success"

    def log(self) -> str:
        """A readable transcript: each step's name, outcome and output."""
        lines = [f"== {self.workflow} / {self.name}: {self.result}"]
        for step in self.steps:
            code = "" if step.exit_code is None else f" (exit {step.exit_code})"
            lines.append(f"-- {step.name}: {step.outcome}{code}")
            lines += [f"   {line}" for line in (step.stdout + step.stderr).splitlines()]
        return "\n".join(lines)


def parse_env_file(text: str) -> dict[str, str]:
    """`name=value` lines and `name<<DELIM` heredocs, as in GITHUB_OUTPUT and GITHUB_ENV."""
    out: dict[str, str] = {}
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        i += 1
        if not line.strip():
            continue
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            name, _, delim = line.partition("<<")
            body: list[str] = []
            while i < len(lines) and lines[i] != delim:
                body.append(lines[i])
                i += 1
            if i >= len(lines):
                raise ActionError(f"unterminated heredoc {delim!r} for {name!r}")
            i += 1
            out[name] = "\n".join(body)
        elif "=" in line:
            name, _, value = line.partition("=")
            out[name] = value
        else:
            raise ActionError(f"bad line in an environment file: {line[:60]!r}")
    return out


class ActionsRunner:
    """Runs `.github/workflows/*.yml` of a repository against the GitHub stand-in.

    ``repo`` is what actions/checkout clones (the stand-in's bare repository path or URL);
    ``token`` is ``github.token`` (GITHUB_TOKEN's secret); ``extra_env`` is machine-level env
    below the workflow's own; ``aws_env`` is what configure-aws-credentials exports (e.g.
    ``MotoServer.env()``). With ``pip_install="skip-installed"`` (the default) `pip install`
    in a step only checks that the requirement is already installed in ``python_bin_dir``'s
    venv: fast, offline and leaves the project's venv alone. ``"run"`` runs real pip.
    """

    def __init__(
        self,
        repo: str | Path,
        workflows_dir: str | Path | None,
        *,
        repository: str,
        api_url: str,
        token: str,
        secrets: Mapping[str, str] | None = None,
        vars: Mapping[str, str] | None = None,
        python_bin_dir: str | Path | None = None,
        extra_env: Mapping[str, str] | None = None,
        aws_env: Mapping[str, str] | None = None,
        actor: str = "octocat",
        default_branch: str = "main",
        server_url: str = "https://github.com",
        step_timeout: float = 120.0,
        pip_install: Literal["skip-installed", "run"] = "skip-installed",
        project: str = "launcher",
        workdir: str | Path | None = None,
        clock: sandbox_clock.SandboxClock | None = None,
        sandbox: GitHubSandbox | None = None,
        job_token: Callable[[Mapping[str, str]], str] | None = None,
        protected_branch: Callable[[str], bool] | None = None,
        aws_role_trust: Callable[[str, Mapping[str, Any]], str | None] | None = None,
        default_permissions: Literal["restricted", "permissive"] = "restricted",
    ) -> None:
        self.repo = repo
        self.workflows_dir = Path(workflows_dir) if workflows_dir is not None else None
        self.repository = repository
        self.api_url = api_url.rstrip("/")
        self.token = token
        self.secrets = {"GITHUB_TOKEN": token, **(secrets or {})}
        self.vars = dict(vars or {})
        self.python_bin_dir = Path(python_bin_dir) if python_bin_dir else None
        self.extra_env = dict(extra_env or {})
        self.aws_env = dict(aws_env) if aws_env is not None else None
        self.actor = actor
        self.default_branch = default_branch
        self.server_url = server_url
        self.step_timeout = step_timeout
        self.pip_install = pip_install
        self.project = project
        self.workdir = Path(workdir) if workdir else None
        self.clock = clock or sandbox_clock.CLOCK
        self.sandbox = sandbox
        # Seams for the stand-in's GitHub Apps and branch protection: the token a job with
        # these permissions gets (default: ``token``), and whether a ref is a protected branch
        # (for environments whose policy is "protected branches only"; default: none is).
        self.job_token = job_token
        self.protected_branch = protected_branch or (lambda ref: False)
        # The IAM trust policy of roles configure-aws-credentials assumes (with the stand-in):
        # (role ARN, OIDC claims) -> None to allow, else why not. Default: any subject.
        self.aws_role_trust = aws_role_trust
        self.default_permissions = RESTRICTED if default_permissions == "restricted" else PERMISSIVE
        self._masks: set[str] = set()
        self._run_id = int(time.time()) % 10**9

    @classmethod
    def for_sandbox(
        cls, sb: GitHubSandbox, repository: str, *, token: str | None = None, **kwargs: Any
    ) -> ActionsRunner:
        """A runner for a repository of the GitHub stand-in, reading its workflows from the
        repository itself (unless ``workflows_dir=`` is given) and its settings from ``sb``.

        Without ``token``, each job's GITHUB_TOKEN is a one-hour installation token of the
        ``github-actions`` app holding exactly the job's `permissions:`, as on GitHub.
        Branches with branch protection or an active ruleset count as protected (for
        environments that only let protected branches deploy).
        """
        repo = sb.repo(repository)
        kwargs.setdefault("workflows_dir", None)
        if token is None:
            kwargs.setdefault("job_token", lambda perms: actions_token(sb, repository, perms))
        kwargs.setdefault("protected_branch", lambda ref: protected(sb, repository, ref))
        return cls(
            sb.git_dir(repository),
            repository=repo.full_name,
            api_url=sb.url,
            token=token or "",
            default_branch=repo.default_branch,
            sandbox=sb,
            **kwargs,
        )

    # -- public API -------------------------------------------------------------------------
    def workflows(self, at: str | None = None) -> list[Workflow]:
        """The workflows of ``workflows_dir``, or else of the repository at commit ``at``
        (default: the default branch's latest commit)."""
        if self.workflows_dir is not None:
            folder = self.workflows_dir
            files = sorted([*folder.glob("*.yml"), *folder.glob("*.yaml")])
            return [load_workflow(f) for f in files]
        at = at or self._tip(f"refs/heads/{self.default_branch}")
        with tempfile.TemporaryDirectory(prefix="workflows-", dir=self.workdir) as tmp:
            listing = _git_out(
                "--git-dir", str(self.repo), "ls-tree", "--name-only", at + ":" + WORKFLOWS_DIR
            )
            out = []
            for name in sorted(listing.split()):
                if not name.endswith((".yml", ".yaml")):
                    continue
                path = Path(tmp) / name
                path.write_bytes(
                    _git_bytes("--git-dir", str(self.repo), "show", f"{at}:{WORKFLOWS_DIR}/{name}")
                )
                out.append(load_workflow(path))
            return out

    def run_event(
        self,
        event_name: str,
        payload: Mapping[str, Any],
        *,
        sha: str | None = None,
        ref: str | None = None,
        actor: str | None = None,
        _depth: int = 0,
    ) -> list[JobResult]:
        """Run every workflow this event triggers; their jobs' results in file order (then
        those of the workflow_run workflows they trigger, with the stand-in)."""
        after = payload.get("after")
        if event_name == "push" and (
            payload.get("deleted") is True or (after and set(after) == {"0"})
        ):
            return []  # a deleted branch: there is no commit to run (GitHub runs nothing)
        at = None
        if self.workflows_dir is None:  # the files come from the commit the run is on
            ref = ref or self._default_ref(event_name, payload)
            sha = at = sha or self._default_sha(event_name, payload, ref)
        results: list[JobResult] = []
        for wf in self.workflows(at):
            if triggers(wf, event_name, payload, lambda: self._changed_files(event_name, payload)):
                results += self._run(wf, event_name, dict(payload), sha, ref, actor, depth=_depth)
        return results

    def run_webhook(self, event_name: str, payload: Mapping[str, Any]) -> list[JobResult]:
        """Run what one webhook delivery triggers: a ``pull_request`` delivery triggers both
        `pull_request` and `pull_request_target` workflows, as on GitHub."""
        results = self.run_event(event_name, payload)
        if event_name == "pull_request":
            results += self.run_event("pull_request_target", payload)
        return results

    def run_workflow(
        self,
        file: str | Path,
        event_name: str,
        payload: Mapping[str, Any] | None = None,
        *,
        inputs: Mapping[str, Any] | None = None,
        sha: str | None = None,
        ref: str | None = None,
        actor: str | None = None,
    ) -> list[JobResult]:
        """Run one workflow for an event it must trigger on (else WorkflowError).

        For workflow_dispatch, ``inputs`` are checked against the workflow's declared inputs
        and put in the payload as GitHub does (``github.event.inputs`` as strings).
        """
        path = Path(file)
        body = dict(payload or {})
        if event_name == "workflow_dispatch":
            body.setdefault("ref", ref or f"refs/heads/{self.default_branch}")
        if path.is_absolute():
            wf = load_workflow(path)
        elif self.workflows_dir is not None:
            wf = load_workflow(self.workflows_dir / path)
        else:  # the file as it is on the commit the run is on
            ref = ref or self._default_ref(event_name, body)
            sha = sha or self._default_sha(event_name, body, ref)
            found = [w for w in self.workflows(sha) if w.path.name == path.name]
            if not found:
                raise WorkflowError(f"{WORKFLOWS_DIR}/{path.name} does not exist at {sha}")
            wf = found[0]
        if event_name == "workflow_dispatch":
            body["inputs"] = dispatch_inputs(wf, inputs or {})[1]
        elif inputs:
            raise WorkflowError("inputs are only for workflow_dispatch")
        if not triggers(wf, event_name, body, lambda: self._changed_files(event_name, body)):
            raise WorkflowError(f"{wf.path.name} does not run on {event_name} {body.get('action')}")
        return self._run(wf, event_name, body, sha, ref, actor, inputs or {})

    def pip_shims(self, temp: Path) -> Path | None:
        """A directory of `python`/`pip` wrappers that skip installs (see the class doc)."""
        if self.pip_install == "run" or self.python_bin_dir is None:
            return None
        shims = temp / "pip-shims"
        shims.mkdir(exist_ok=True)
        script = shims / "pipskip.py"
        shutil.copy(Path(__file__).with_name("pipskip.py"), script)
        real = self.python_bin_dir / "python"
        # `python -m pip` puts the working directory first on sys.path, so a `pip/` there is
        # what runs (as on a real runner); `python -I -m pip` ignores it.
        python = (
            "#!/bin/sh\n"
            'if [ "$1" = -I ] && [ "$2" = -m ] && [ "$3" = pip ]; then shift 3\n'
            f'  exec "{real}" "{script}" "{self.project}" "$@"\nfi\n'
            'if [ "$1" = -m ] && [ "$2" = pip ]; then\n'
            "  if [ -e pip/__init__.py ] || [ -e pip/__main__.py ] || [ -e pip.py ]; then\n"
            f'    exec "{real}" "$@"\n  fi\n'
            f'  shift 2\n  exec "{real}" "{script}" "{self.project}" "$@"\nfi\n'
            f'exec "{real}" "$@"\n'
        )
        pip = f'#!/bin/sh\nexec "{real}" "{script}" "{self.project}" "$@"\n'
        for name, text in (("python", python), ("python3", python), ("pip", pip), ("pip3", pip)):
            (shims / name).write_text(text)
            (shims / name).chmod(0o755)
        return shims

    # -- one workflow run ---------------------------------------------------------------------
    def _run(
        self,
        wf: Workflow,
        event: str,
        payload: dict[str, Any],
        sha: str | None,
        ref: str | None,
        actor: str | None,
        given_inputs: Mapping[str, Any] | None = None,
        depth: int = 0,
    ) -> list[JobResult]:
        root = Path(tempfile.mkdtemp(prefix="actions-run-", dir=self.workdir))
        started = sandbox_clock.now()
        try:
            self._run_id += 1
            ref = ref or self._default_ref(event, payload)
            sha = sha or self._default_sha(event, payload, ref)
            event_path = root / "event.json"
            event_path.write_text(json.dumps(payload, indent=2))
            # Declared inputs read as null on other events (a scheduled run of a dispatchable
            # workflow); undeclared ones stay errors.
            declared = (wf.on.get("workflow_dispatch") or {}).get("inputs") or {}
            typed_inputs: dict[str, Any] = dict.fromkeys(declared)
            if event == "workflow_dispatch":
                typed_inputs = dispatch_inputs(wf, given_inputs or payload.get("inputs") or {})[0]
            github = self._github_context(wf, event, payload, event_path, sha, ref, actor)
            base = {
                "github": ex.Strict(github, "github property"),
                "secrets": dict(self.secrets),
                "vars": dict(self.vars),
                "inputs": ex.Strict(typed_inputs, "input"),
            }
            wf_env = self._env_block(wf.env, ex.Scope({**base, "env": {}}), "env")
            concurrency = self._concurrency(wf.concurrency, ex.Scope(base))
            results: dict[str, JobResult] = {}
            for job_id in wf.job_order():
                results[job_id] = self._run_job(
                    wf, job_id, root, github, base, wf_env, results, concurrency
                )
        finally:
            shutil.rmtree(root, ignore_errors=True)
        jobs = list(results.values())
        return jobs + self._workflow_run(wf, github, jobs, started, depth)

    def _workflow_run(
        self,
        wf: Workflow,
        github: Mapping[str, Any],
        jobs: list[JobResult],
        started: float,
        depth: int,
    ) -> list[JobResult]:
        """Announce the run's completion (workflow_run) and run what it triggers."""
        if self.sandbox is None or depth >= MAX_WORKFLOW_RUN_DEPTH:
            return []
        from launcher.sandbox.github.workflow_runs import workflow_run_completed

        event = str(github["event_name"])
        pull = (github["event"].get("pull_request") or {}) if event in PR_EVENTS else {}
        if event in MERGE_REF_EVENTS and pull:
            head_branch, head_sha = pull["head"]["ref"], pull["head"]["sha"]
        else:
            head_branch, head_sha = str(github["ref_name"]), str(github["sha"])
        conclusion = "failure" if any(j.result == "failure" for j in jobs) else "success"
        repo = self.sandbox.repo(self.repository)
        ev = workflow_run_completed(
            self.sandbox.gh,
            repo,
            run_id=int(github["run_id"]),
            workflow_name=wf.name,
            workflow_path=f"{WORKFLOWS_DIR}/{wf.path.name}",
            event=event,
            head_branch=head_branch,
            head_sha=head_sha,
            conclusion=conclusion,
            actor=str(github["triggering_actor"]),
            started_at=started,
        )
        return self.run_event("workflow_run", ev.payload, _depth=depth + 1)

    def _run_job(
        self,
        wf: Workflow,
        job_id: str,
        root: Path,
        github: dict[str, Any],
        base: dict[str, Any],
        wf_env: dict[str, str],
        done: Mapping[str, JobResult],
        wf_concurrency: str | None,
    ) -> JobResult:
        job = wf.jobs[job_id]
        job_dir = root / job_id
        workspace, temp = job_dir / "workspace", job_dir / "temp"
        github = {**github, "job": job_id, "workspace": str(workspace)}
        needs_ctx = ex.Strict(
            {n: {"result": done[n].result, "outputs": done[n].outputs} for n in needs(job)},
            "needed job",
        )
        contexts = {**base, "github": ex.Strict(github, "github property"), "needs": needs_ctx}
        needs_ok = all(done[n].ok for n in needs(job))
        scope = ex.Scope({**contexts, "env": wf_env}, "success" if needs_ok else "failure")
        name = ex.to_str(ex.interpolate(job.get("name", job_id), scope))
        result = JobResult(wf.path.name, job_id, name, "skipped", concurrency=wf_concurrency)
        if not ex.condition(job.get("if", "success()"), scope):
            return result
        result.concurrency = self._concurrency(job.get("concurrency"), scope) or wf_concurrency
        result.permissions = self.permissions(wf, job)
        token = self.job_token(result.permissions) if self.job_token else self.token
        env_name, env_secrets, refusal = self._environment(job, scope, github)
        result.environment = env_name
        if refusal:
            result.result = "failure"
            result.steps.append(
                StepResult("Set up job", None, "failure", "failure", 1, "", refusal)
            )
            return result
        self._masks |= {token, *env_secrets.values()}
        github = {**github, "token": token}
        secrets = {**self.secrets, **env_secrets, "GITHUB_TOKEN": token}
        contexts = {**contexts, "github": ex.Strict(github, "github property"), "secrets": secrets}
        scope = ex.Scope({**contexts, "env": wf_env}, scope.job_status)
        job_env = {**wf_env, **self._env_block(job.get("env"), scope, "env")}
        for d in (workspace, temp, root / "home"):
            d.mkdir(parents=True, exist_ok=True)
        state = JobState(self, github, workspace, temp)
        if result.permissions.get("id-token") == "write" and self.sandbox is not None:
            url, result.id_token_claims = self._id_token_request(wf, github, env_name)
            state.runner_env.update(
                ACTIONS_ID_TOKEN_REQUEST_URL=url, ACTIONS_ID_TOKEN_REQUEST_TOKEN=token
            )
        deadline = time.monotonic() + 60 * float(job.get("timeout-minutes") or 360)
        steps_ctx = ex.Strict({}, "step id")
        status = "success"
        for n, step in enumerate(job["steps"]):
            step_scope = ex.Scope(
                {**contexts, "steps": steps_ctx, "env": {**job_env, **state.env}}, status
            )
            res = self._run_step(wf, n, step, state, step_scope, job_env, root, deadline)
            result.steps.append(res)
            if step.get("id"):
                steps_ctx[str(step["id"])] = {
                    "outputs": res.outputs,
                    "outcome": res.outcome,
                    "conclusion": res.conclusion,
                }
            if res.conclusion == "failure":
                status = "failure"
            summary = temp / f"summary-{n}.md"
            if summary.exists():
                result.summary += summary.read_text(encoding="utf-8", errors="replace")
        final = ex.Scope({**contexts, "steps": steps_ctx, "env": job_env}, status)
        result.outputs = {
            k: ex.to_str(ex.interpolate(v, final)) for k, v in (job.get("outputs") or {}).items()
        }
        result.result = status
        return result

    def _run_step(
        self,
        wf: Workflow,
        n: int,
        step: Mapping[str, Any],
        state: JobState,
        scope: ex.Scope,
        job_env: dict[str, str],
        root: Path,
        deadline: float,
    ) -> StepResult:
        label = step.get("name") or step.get("uses") or str(step.get("run", "")).splitlines()[0]
        name = ex.to_str(ex.interpolate(label, scope))
        step_id = str(step["id"]) if "id" in step else None
        if not ex.condition(step.get("if", "success()"), scope):
            return StepResult(name, step_id, "skipped", "skipped")
        start = time.monotonic()
        try:
            step_env = self._env_block(step.get("env"), scope, "env")
            code, out, err, outputs = self._execute(step, state, scope, job_env, step_env, root, n)
            code = code if time.monotonic() < deadline else 1
        except (ActionError, ex.ExpressionError, WorkflowError) as exc:
            code, out, err, outputs = 1, "", f"error: {exc}\n", {}
        outcome = "success" if code == 0 else "failure"
        keep_going = ex.truthy(ex.interpolate(step.get("continue-on-error", False), scope))
        conclusion = "success" if outcome == "success" or keep_going else "failure"
        return StepResult(
            name,
            step_id,
            outcome,
            conclusion,
            code,
            self._mask(out),
            self._mask(err),
            outputs,
            round(time.monotonic() - start, 3),
        )

    def _execute(
        self,
        step: Mapping[str, Any],
        state: JobState,
        scope: ex.Scope,
        job_env: dict[str, str],
        step_env: dict[str, str],
        root: Path,
        n: int,
    ) -> tuple[int, str, str, dict[str, str]]:
        if "uses" in step:
            with_ = ex.interpolate(dict(step.get("with") or {}), scope)
            code, log, outputs = ACTIONS[action_name(str(step["uses"]))](with_, state)
            return code, log, "", outputs
        files = {
            k: state.temp / f"{k.lower()}-{n}"
            for k in ("GITHUB_OUTPUT", "GITHUB_ENV", "GITHUB_PATH")
        }
        files["GITHUB_STEP_SUMMARY"] = state.temp / f"summary-{n}.md"
        for f in files.values():
            f.touch()
        script = state.temp / f"step-{n}.sh"
        script.write_text(str(step["run"]))
        env = self._base_env(state, root)
        env.update(self._clock_env())
        env.update(state.runner_env)
        env.update({k: str(v) for k, v in files.items()})
        env.update(job_env)
        env.update(state.env)
        env.update(step_env)
        env["PATH"] = os.pathsep.join([*state.path_prefix, env["PATH"]])
        cwd = state.workspace / ex.to_str(ex.interpolate(step.get("working-directory", "."), scope))
        limit = self.step_timeout
        if "timeout-minutes" in step:
            limit = min(limit, 60 * float(ex.interpolate(step["timeout-minutes"], scope)))
        code, out, err = _bash(script, cwd, env, limit)
        outputs = parse_env_file(files["GITHUB_OUTPUT"].read_text())
        exported = parse_env_file(files["GITHUB_ENV"].read_text())
        refused = [k for k in exported if PROTECTED.fullmatch(k)]
        if refused:
            err += f"error: GITHUB_ENV cannot set {', '.join(refused)}\n"
            code = code or 1
        state.env.update({k: v for k, v in exported.items() if k not in refused})
        added = [p for p in files["GITHUB_PATH"].read_text().splitlines() if p.strip()]
        state.path_prefix[:0] = list(reversed(added))
        return code, out, err, outputs

    # -- permissions, environments, OIDC ------------------------------------------------------
    def permissions(self, wf: Workflow, job: Mapping[str, Any]) -> dict[str, str]:
        """The job token's permissions: the job's `permissions:`, else the workflow's, else
        the repository's default (``default_permissions``). A mapping leaves every scope it
        omits at none."""
        spec = job["permissions"] if "permissions" in job else wf.raw.get("permissions", None)
        if spec is None:
            return dict(self.default_permissions)
        if spec in ("read-all", "write-all"):
            level = spec.removesuffix("-all")
            return {
                s: ("none" if s == "id-token" and level == "read" else level)
                for s in PERMISSION_SCOPES
            }
        if not isinstance(spec, dict):
            raise WorkflowError(
                f"{wf.path.name}: permissions must be read-all, write-all or a mapping"
            )
        out = dict.fromkeys(PERMISSION_SCOPES, "none")
        for scope, level in spec.items():
            if scope not in PERMISSION_SCOPES or level not in ("read", "write", "none"):
                raise WorkflowError(f"{wf.path.name}: unknown permission {scope}: {level}")
            out[scope] = level
        return out

    def _environment(
        self, job: Mapping[str, Any], scope: ex.Scope, github: Mapping[str, Any]
    ) -> tuple[str | None, dict[str, str], str]:
        """(environment name, its secrets, refusal) for a job's `environment:`.

        The deployment branch policy is evaluated against the run's ref: refs/pull/N/merge
        for pull_request and review events, the default branch for pull_request_target.
        """
        spec = job.get("environment")
        if spec is None:
            return None, {}, ""
        raw = spec.get("name") if isinstance(spec, dict) else spec
        name = ex.to_str(ex.interpolate(raw, scope))
        if not name:
            return None, {}, ""
        if self.sandbox is None:
            return name, {}, ""
        from launcher.sandbox.github.environments import allows

        gh = self.sandbox.gh
        repo = self.sandbox.repo(self.repository)
        env = gh.actions_environments.get(repo, name)
        if env is None:  # GitHub creates it on first use, with no protection
            env = self.sandbox.create_environment(self.repository, name)
        ref = str(github["ref"])
        refusal = allows(gh, repo, env, ref, self.protected_branch(ref))
        if refusal:
            return env.name, {}, refusal + "\n"
        if env.reviewers or env.wait_timer:
            return (
                env.name,
                {},
                (
                    f"the job waits for {env.name}'s required reviewers or wait timer, which the "
                    "local runner does not model: refused\n"
                ),
            )
        return env.name, {k: v.value for k, v in env.secrets.items()}, ""

    def _id_token_request(
        self, wf: Workflow, github: Mapping[str, Any], environment: str | None
    ) -> tuple[str, dict[str, Any]]:
        from launcher.sandbox.github import oidc

        assert self.sandbox is not None
        gh = self.sandbox.gh
        repo = self.sandbox.repo(self.repository)
        claims = oidc.job_claims(
            gh,
            repo,
            event_name=str(github["event_name"]),
            ref=str(github["ref"]),
            sha=str(github["sha"]),
            workflow_path=f"{WORKFLOWS_DIR}/{wf.path.name}",
            workflow_name=wf.name,
            actor=str(github["actor"]),
            run_id=str(github["run_id"]),
            environment=environment,
            head_ref=str(github["head_ref"]),
            base_ref=str(github["base_ref"]),
        )
        return oidc.register_job(gh, claims), claims

    def _tip(self, ref: str) -> str:
        lines = _git_out("ls-remote", str(self.repo), ref).split()
        if not lines:
            raise WorkflowError(f"{ref} does not exist in {self.repo}")
        return lines[0]

    # -- helpers ------------------------------------------------------------------------------
    def _clock_env(self) -> dict[str, str]:
        """libfaketime's environment, so the step's processes read the sandbox clock.

        Without libfaketime a job can still run while the clock is the OS clock; once the
        sandbox has moved it, a job that would read the wrong time fails instead.
        """
        try:
            return self.clock.faketime_env()
        except sandbox_clock.ClockUnavailable:
            if self.clock.offset == 0:
                return {}
            raise ActionError(
                "the sandbox clock was moved but libfaketime is not installed "
                "(Debian package libfaketime; `./dev browsers` installs it)"
            ) from None

    def _base_env(self, state: JobState, root: Path) -> dict[str, str]:
        g = state.github
        env = {
            "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
            "HOME": str(root / "home"),
            "LANG": "C.UTF-8",
            **self.extra_env,
            "CI": "true",
            "GITHUB_ACTIONS": "true",
            "GITHUB_WORKFLOW": g["workflow"],
            "GITHUB_RUN_ID": g["run_id"],
            "GITHUB_RUN_NUMBER": g["run_number"],
            "GITHUB_RUN_ATTEMPT": g["run_attempt"],
            "GITHUB_JOB": g["job"],
            "GITHUB_ACTOR": g["actor"],
            "GITHUB_TRIGGERING_ACTOR": g["triggering_actor"],
            "GITHUB_REPOSITORY": g["repository"],
            "GITHUB_REPOSITORY_OWNER": g["repository_owner"],
            "GITHUB_EVENT_NAME": g["event_name"],
            "GITHUB_EVENT_PATH": g["event_path"],
            "GITHUB_WORKSPACE": g["workspace"],
            "GITHUB_SHA": g["sha"],
            "GITHUB_REF": g["ref"],
            "GITHUB_REF_NAME": g["ref_name"],
            "GITHUB_REF_TYPE": g["ref_type"],
            "GITHUB_HEAD_REF": g["head_ref"],
            "GITHUB_BASE_REF": g["base_ref"],
            "GITHUB_SERVER_URL": g["server_url"],
            "GITHUB_API_URL": g["api_url"],
            "GITHUB_GRAPHQL_URL": g["graphql_url"],
            "RUNNER_OS": "Linux",
            "RUNNER_ARCH": "X64",
            "RUNNER_NAME": "local-runner",
            "RUNNER_TEMP": str(state.temp),
            "RUNNER_TOOL_CACHE": str(state.temp / "toolcache"),
        }
        return env

    def _github_context(
        self,
        wf: Workflow,
        event: str,
        payload: dict[str, Any],
        event_path: Path,
        sha: str,
        ref: str,
        actor: str | None,
    ) -> dict[str, Any]:
        pull = payload.get("pull_request") or {}
        is_pr = event in PR_EVENTS
        who = actor or str((payload.get("sender") or {}).get("login") or self.actor)
        ref_type = "tag" if ref.startswith("refs/tags/") else "branch"
        return {
            "event": payload,
            "event_name": event,
            "event_path": str(event_path),
            "repository": self.repository,
            "repository_owner": self.repository.partition("/")[0],
            "sha": sha,
            "ref": ref,
            "ref_name": re.sub(r"^refs/(heads|tags)/", "", ref),
            "ref_type": ref_type,
            "head_ref": str((pull.get("head") or {}).get("ref", "")) if is_pr else "",
            "base_ref": str((pull.get("base") or {}).get("ref", "")) if is_pr else "",
            "token": self.token,
            "actor": who,
            "triggering_actor": who,
            "workspace": "",
            "run_id": str(self._run_id),
            "run_number": "1",
            "run_attempt": "1",
            "retention_days": "90",
            "job": "",
            "workflow": wf.name,
            "server_url": self.server_url,
            "api_url": self.api_url,
            "graphql_url": f"{self.api_url}/graphql",
        }

    def _default_ref(self, event: str, payload: Mapping[str, Any]) -> str:
        if event == "push" and payload.get("ref"):
            return str(payload["ref"])
        if event in MERGE_REF_EVENTS and (payload.get("pull_request") or {}).get("number"):
            return f"refs/pull/{payload['pull_request']['number']}/merge"
        if event == "merge_group" and (payload.get("merge_group") or {}).get("head_ref"):
            return str(payload["merge_group"]["head_ref"])
        if event == "workflow_dispatch" and payload.get("ref"):
            return str(payload["ref"])
        return f"refs/heads/{self.default_branch}"

    def _default_sha(self, event: str, payload: Mapping[str, Any], ref: str) -> str:
        """The commit GITHUB_SHA names (pass ``sha=`` to choose). For pull requests GitHub
        uses the test merge commit (``refs/pull/N/merge``: the head merged into the base
        branch's tip), which the runner makes with the stand-in; without one, or when the
        two conflict (GitHub then runs nothing), the head commit."""
        if event == "push" and payload.get("after"):
            return str(payload["after"])
        head = ((payload.get("pull_request") or {}).get("head") or {}).get("sha")
        if event in MERGE_REF_EVENTS and head:
            return self._test_merge(payload) or str(head)
        if event == "merge_group" and (payload.get("merge_group") or {}).get("head_sha"):
            return str(payload["merge_group"]["head_sha"])
        return self._tip(ref)

    def _test_merge(self, payload: Mapping[str, Any]) -> str | None:
        """Write ``refs/pull/N/merge`` in the stand-in's repository; its commit, or None."""
        if self.sandbox is None:
            return None
        pull = payload.get("pull_request") or {}
        number, head = pull.get("number"), (pull.get("head") or {}).get("sha")
        base_ref = (pull.get("base") or {}).get("ref")
        gh = self.sandbox.gh
        with gh.state.lock:
            repo = self.sandbox.repo(self.repository)
            base = repo.branches.get(str(base_ref))
            if not number or not head or base is None or repo.git.commit(str(head)) is None:
                return None
            tree = repo.git.merge_tree(base, str(head))
            if tree is None:
                return None
            message = f"Merge {head} into {base}\n"
            merge = repo.git.commit_tree(tree, [base, str(head)], message, gh._person(None))
            repo.git.update_ref(f"refs/pull/{number}/merge", merge)
            return merge

    def _changed_files(self, event: str, payload: Mapping[str, Any]) -> list[str] | None:
        """Files a push or pull request changed (for `paths:` filters); None when unknown."""
        if event == "push":
            before, after = payload.get("before"), payload.get("after")
        elif event in PR_EVENTS:
            pull = payload.get("pull_request") or {}
            before = (pull.get("base") or {}).get("sha")
            after = (pull.get("head") or {}).get("sha")
        else:
            return None
        if not before or not after or set(str(before)) == {"0"}:
            return None
        try:
            out = _git_out("--git-dir", str(self.repo), "diff", "--name-only", before, after)
        except WorkflowError:
            return None
        return out.splitlines()

    def _env_block(self, block: Any, scope: ex.Scope, what: str) -> dict[str, str]:
        if not block:
            return {}
        if not isinstance(block, dict):
            raise WorkflowError(f"{what}: must be a mapping")
        out: dict[str, str] = {}
        for key, value in block.items():
            ctx = {**scope.contexts, "env": {**scope.contexts.get("env", {}), **out}}
            out[str(key)] = ex.to_str(ex.interpolate(value, ex.Scope(ctx, scope.job_status)))
        return out

    def _concurrency(self, value: Any, scope: ex.Scope) -> str | None:
        """The concurrency group (evaluated so a typo fails; runs here are never cancelled)."""
        if value is None:
            return None
        group = value.get("group") if isinstance(value, dict) else value
        return ex.to_str(ex.interpolate(group, scope))

    def _mask(self, text: str) -> str:
        for secret in sorted({*self.secrets.values(), *self._masks}, key=len, reverse=True):
            if secret:
                text = text.replace(secret, "***")
        return text


# Actions' permission names -> GitHub App permission names.
APP_PERMISSION_NAMES = {
    "pull-requests": "pull_requests",
    "id-token": "id_token",
    "security-events": "security_events",
    "repository-projects": "repository_projects",
}


def actions_token(sb: GitHubSandbox, repository: str, permissions: Mapping[str, str]) -> str:
    """GITHUB_TOKEN for a job: a ``github-actions`` installation token for this repository
    only, with the job's permissions (metadata: read always; scopes the app lacks dropped)."""
    gh = sb.gh
    with gh.state.lock:
        app = gh.apps.github_actions()
        wanted = {
            APP_PERMISSION_NAMES.get(scope, scope): level
            for scope, level in permissions.items()
            if level != "none"
        }
        wanted = {k: v for k, v in wanted.items() if k in app.permissions}
        return str(gh.apps.installation_token(app.id, sb.repo(repository), wanted).value)


def protected(sb: GitHubSandbox, repository: str, ref: str) -> bool:
    """Whether ``ref`` is a branch under classic protection or an active ruleset."""
    if not ref.startswith("refs/heads/"):
        return False
    with sb.gh.state.lock:
        return bool(sb.gh.rules.sources(sb.repo(repository), ref.removeprefix("refs/heads/")))


def _git_out(*args: str) -> str:
    proc = subprocess.run(
        ["git", *args], capture_output=True, text=True, timeout=60, env={"PATH": "/usr/bin:/bin"}
    )
    if proc.returncode:
        raise WorkflowError(f"git {' '.join(args)}: {proc.stderr.strip()}")
    return proc.stdout


def _git_bytes(*args: str) -> bytes:
    proc = subprocess.run(
        ["git", *args], capture_output=True, timeout=60, env={"PATH": "/usr/bin:/bin"}
    )
    if proc.returncode:
        raise WorkflowError(f"git {' '.join(args)}: {proc.stderr.decode(errors='replace').strip()}")
    return proc.stdout


def _bash(script: Path, cwd: Path, env: dict[str, str], timeout: float) -> tuple[int, str, str]:
    """Run a step's script as Actions' `bash -e {0}`; kill its process group on timeout."""
    if not cwd.is_dir():
        return 1, "", f"error: working-directory {cwd} does not exist\n"
    cmd = ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)]
    proc = subprocess.Popen(
        cmd,
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        errors="replace",
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        return 124, out, err + f"error: the step timed out after {timeout:g} s\n"
    return proc.returncode, out, err
