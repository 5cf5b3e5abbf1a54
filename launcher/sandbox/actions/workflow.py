"""Loading a workflow file and deciding whether an event triggers it.

Everything the local runner cannot do faithfully (matrices, containers, services, reusable
workflows, other shells, unknown actions, `${{ }}` inside `run:`) is refused when the file
is loaded, so a workflow either runs the way GitHub would run it or fails before any step.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from launcher.sandbox.actions import expressions as ex

WORKFLOWS_DIR = ".github/workflows"
EMULATED_ACTIONS = frozenset(
    {
        "actions/checkout",
        "actions/setup-python",
        "aws-actions/configure-aws-credentials",
        "actions/upload-pages-artifact",
        "actions/deploy-pages",
    }
)
WORKFLOW_KEYS = {"name", "run-name", "on", "env", "jobs", "permissions", "concurrency", "defaults"}
JOB_KEYS = {
    "name", "runs-on", "needs", "if", "env", "steps", "timeout-minutes", "permissions",
    "concurrency", "outputs", "continue-on-error", "defaults", "environment",
}  # fmt: skip
REFUSED_JOB_KEYS = {"strategy", "services", "container", "uses", "with", "secrets"}
STEP_KEYS = {
    "id", "name", "if", "uses", "run", "with", "env", "shell", "working-directory",
    "continue-on-error", "timeout-minutes",
}  # fmt: skip
DEFAULT_TYPES = {
    "pull_request": {"opened", "synchronize", "reopened"},
    "pull_request_target": {"opened", "synchronize", "reopened"},
}
INPUT_TYPES = {"string", "boolean", "choice", "number", "environment"}


class WorkflowError(ValueError):
    """A workflow the local runner refuses: malformed, or using something it cannot emulate."""


@dataclass
class Workflow:
    path: Path
    name: str
    on: dict[str, Any]  # event name -> its filter mapping ({} when none)
    env: dict[str, Any]
    jobs: dict[str, dict[str, Any]]
    concurrency: Any = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    def job_order(self) -> list[str]:
        """Job ids so that every job comes after the jobs it `needs:` (file order otherwise)."""
        done: list[str] = []
        pending = dict.fromkeys(self.jobs)
        while pending:
            ready = [j for j in pending if all(n in done for n in needs(self.jobs[j]))]
            if not ready:
                raise WorkflowError(f"{self.path.name}: jobs.needs has a cycle: {list(pending)}")
            for job in ready:
                done.append(job)
                del pending[job]
        return done


def needs(job: Mapping[str, Any]) -> list[str]:
    value = job.get("needs") or []
    return [value] if isinstance(value, str) else list(value)


def action_name(uses: str) -> str:
    """`owner/repo` of `owner/repo@ref` (the ref, a tag or a pinned SHA, is accepted as is)."""
    name, _, ref = uses.partition("@")
    if not ref or name.startswith(("./", "docker://")):
        raise WorkflowError(f"uses: {uses!r}: only owner/repo@ref actions are supported")
    return name.lower()


def load_workflow(path: str | Path) -> Workflow:
    """Read and check a workflow file (YAML safe_load: the file is data, never code)."""
    path = Path(path)
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise WorkflowError(f"{path}: cannot read workflow: {exc}") from exc
    if not isinstance(doc, dict):
        raise WorkflowError(f"{path}: a workflow is a mapping")
    if True in doc:  # YAML 1.1 reads the key `on` as the boolean true
        doc["on"] = doc.pop(True)
    where = path.name
    unknown = set(map(str, doc)) - WORKFLOW_KEYS
    if unknown:
        raise WorkflowError(f"{where}: unknown top-level keys {sorted(unknown)}")
    if "on" not in doc or not isinstance(doc.get("jobs"), dict) or not doc["jobs"]:
        raise WorkflowError(f"{where}: a workflow needs `on:` and at least one job")
    wf = Workflow(
        path=path,
        name=str(doc.get("name") or path.as_posix()),
        on=_normalize_on(doc["on"], where),
        env=dict(doc.get("env") or {}),
        jobs={},
        concurrency=doc.get("concurrency"),
        raw=doc,
    )
    for job_id, job in doc["jobs"].items():
        wf.jobs[str(job_id)] = _check_job(f"{where}: jobs.{job_id}", job)
    for job_id, job in wf.jobs.items():
        for dep in needs(job):
            if dep not in wf.jobs:
                raise WorkflowError(f"{where}: jobs.{job_id} needs unknown job {dep!r}")
    wf.job_order()
    problems = ex.check({k: v for k, v in doc.items() if k != "jobs"})
    if problems:
        raise WorkflowError(f"{where}: " + "; ".join(problems))
    return wf


def _normalize_on(on: Any, where: str) -> dict[str, Any]:
    if isinstance(on, str):
        return {on: {}}
    if isinstance(on, list):
        return {str(e): {} for e in on}
    if isinstance(on, dict):
        out = {str(k): (v or {}) for k, v in on.items()}
        for inp_name, spec in (out.get("workflow_dispatch", {}).get("inputs") or {}).items():
            kind = (spec or {}).get("type", "string")
            if kind not in INPUT_TYPES:
                raise WorkflowError(f"{where}: input {inp_name!r} has unknown type {kind!r}")
        return out
    raise WorkflowError(f"{where}: `on:` must be a string, list or mapping")


def _check_job(where: str, job: Any) -> dict[str, Any]:
    if not isinstance(job, dict):
        raise WorkflowError(f"{where}: a job is a mapping")
    refused = set(job) & REFUSED_JOB_KEYS
    if refused:
        raise WorkflowError(f"{where}: {sorted(refused)} not supported by the local runner")
    unknown = set(job) - JOB_KEYS
    if unknown:
        raise WorkflowError(f"{where}: unknown keys {sorted(unknown)}")
    steps = job.get("steps")
    if not isinstance(steps, list) or not steps:
        raise WorkflowError(f"{where}: a job needs steps")
    shell = ((job.get("defaults") or {}).get("run") or {}).get("shell", "bash")
    if shell != "bash":
        raise WorkflowError(f"{where}: defaults.run.shell {shell!r}: only bash is supported")
    ids: set[str] = set()
    for n, step in enumerate(steps):
        _check_step(f"{where}.steps[{n}]", step)
        if "id" in step:
            if step["id"] in ids:
                raise WorkflowError(f"{where}.steps[{n}]: duplicate id {step['id']!r}")
            ids.add(str(step["id"]))
    problems = ex.check({k: v for k, v in job.items() if k != "steps"})
    if problems:
        raise WorkflowError(f"{where}: " + "; ".join(problems))
    return job


def _check_step(where: str, step: Any) -> None:
    if not isinstance(step, dict):
        raise WorkflowError(f"{where}: a step is a mapping")
    unknown = set(step) - STEP_KEYS
    if unknown:
        raise WorkflowError(f"{where}: unknown keys {sorted(unknown)}")
    if ("run" in step) == ("uses" in step):
        raise WorkflowError(f"{where}: a step has exactly one of run: and uses:")
    if "run" in step:
        if ex.has_expression(step["run"]):
            raise WorkflowError(
                f"{where}: `${{{{ }}}}` inside run: is refused (it is pasted into the script "
                "as shell code, an injection risk): pass the value through env: instead"
            )
        if step.get("shell", "bash") != "bash":
            raise WorkflowError(f"{where}: shell {step['shell']!r}: only bash is supported")
    else:
        name = action_name(str(step["uses"]))
        if name not in EMULATED_ACTIONS:
            raise WorkflowError(
                f"{where}: action {step['uses']!r} is not emulated by the local runner "
                f"(emulated: {', '.join(sorted(EMULATED_ACTIONS))})"
            )
    problems = ex.check({k: v for k, v in step.items() if k != "run"})
    if problems:
        raise WorkflowError(f"{where}: " + "; ".join(problems))


# -- triggers -------------------------------------------------------------------------------
def _glob_regex(pattern: str) -> re.Pattern[str]:
    """GitHub's filter patterns: `*` stops at `/`, `**` does not, `?`/`+` quantify."""
    out: list[str] = []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if pattern.startswith("**", i):
            out.append(".*")
            i += 2
            continue
        if ch == "*":
            out.append("[^/]*")
        elif ch in "?+" and out:
            out.append(ch)
        elif ch == "[":
            end = pattern.find("]", i)
            if end < 0:
                raise WorkflowError(f"bad filter pattern {pattern!r}")
            out.append(pattern[i : end + 1])
            i = end + 1
            continue
        else:
            out.append(re.escape(ch))
        i += 1
    return re.compile("".join(out) + r"\Z")


def filter_matches(patterns: Iterable[str], name: str) -> bool:
    """Whether `name` passes a list of patterns (a later `!pattern` excludes again)."""
    matched = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        if _glob_regex(pattern[1:] if negate else pattern).match(name):
            matched = not negate
    return matched


def _list(value: Any) -> list[str]:
    return [value] if isinstance(value, str) else [str(v) for v in value or []]


def _ref_filter(spec: Mapping[str, Any], kind: str, name: str) -> bool:
    """`branches`/`branches-ignore` (or `tags`/...) for one ref name; True when unfiltered."""
    if kind in spec:
        return filter_matches(_list(spec[kind]), name)
    if f"{kind}-ignore" in spec:
        return not any(filter_matches([p], name) for p in _list(spec[f"{kind}-ignore"]))
    return True


def _paths_filter(spec: Mapping[str, Any], changed: Callable[[], list[str] | None]) -> bool:
    if "paths" not in spec and "paths-ignore" not in spec:
        return True
    files = changed()
    if files is None:  # unknown (e.g. a new branch): GitHub runs the workflow then too
        return True
    if "paths" in spec:
        return any(filter_matches(_list(spec["paths"]), f) for f in files)
    return not all(filter_matches(_list(spec["paths-ignore"]), f) for f in files)


def triggers(
    wf: Workflow,
    event: str,
    payload: Mapping[str, Any],
    changed_files: Callable[[], list[str] | None] = lambda: None,
) -> bool:
    """Whether GitHub would start `wf` for this event (name, activity types, filters)."""
    if event not in wf.on:
        return False
    spec = wf.on[event] or {}
    if event == "schedule":
        crons = [str((entry or {}).get("cron")) for entry in spec or []]
        return "schedule" not in payload or payload["schedule"] in crons
    if not isinstance(spec, dict):
        raise WorkflowError(f"{wf.path.name}: on.{event} must be a mapping")
    types = spec.get("types")
    allowed = set(_list(types)) if types is not None else DEFAULT_TYPES.get(event)
    action = payload.get("action")
    if allowed is not None and action is not None and action not in allowed:
        return False
    if event == "push":
        ref = str(payload.get("ref", ""))
        if ref.startswith("refs/tags/"):
            if ("branches" in spec or "branches-ignore" in spec) and not (
                "tags" in spec or "tags-ignore" in spec
            ):
                return False
            ok = _ref_filter(spec, "tags", ref.removeprefix("refs/tags/"))
        else:
            if ("tags" in spec or "tags-ignore" in spec) and not (
                "branches" in spec or "branches-ignore" in spec
            ):
                return False
            ok = _ref_filter(spec, "branches", ref.removeprefix("refs/heads/"))
        return ok and _paths_filter(spec, changed_files)
    if event in ("pull_request", "pull_request_target", "pull_request_review"):
        base = str(((payload.get("pull_request") or {}).get("base") or {}).get("ref", ""))
        return _ref_filter(spec, "branches", base) and _paths_filter(spec, changed_files)
    if event == "merge_group":  # `branches` filters on the branch the group merges into
        base = str((payload.get("merge_group") or {}).get("base_ref", ""))
        return _ref_filter(spec, "branches", base.removeprefix("refs/heads/"))
    if event == "workflow_run":
        run = payload.get("workflow_run") or {}
        name = (payload.get("workflow") or {}).get("name") or run.get("name")
        if str(name) not in _list(spec.get("workflows")):
            return False
        return _ref_filter(spec, "branches", str(run.get("head_branch") or ""))
    return True


def _boolean(value: Any, name: str) -> bool:
    if isinstance(value, bool):
        return value
    if str(value).lower() in ("true", "false"):
        return str(value).lower() == "true"
    raise WorkflowError(f"input {name!r} must be true or false, got {value!r}")


def dispatch_inputs(
    wf: Workflow, given: Mapping[str, Any]
) -> tuple[dict[str, Any], dict[str, str]]:
    """(the `inputs` context, `github.event.inputs`) for a workflow_dispatch run.

    Unknown or missing required inputs and values outside a choice's options are errors, as
    GitHub refuses to dispatch them.
    """
    specs = (wf.on.get("workflow_dispatch") or {}).get("inputs") or {}
    unknown = set(given) - set(specs)
    if unknown:
        raise WorkflowError(f"{wf.path.name}: unexpected inputs {sorted(unknown)}")
    typed: dict[str, Any] = {}
    for name, spec in specs.items():
        spec = spec or {}
        kind = spec.get("type", "string")
        if name in given:
            value: Any = given[name]
        elif "default" in spec:
            value = spec["default"]
        elif spec.get("required"):
            raise WorkflowError(f"{wf.path.name}: input {name!r} is required")
        else:
            value = False if kind == "boolean" else ""
        if kind == "boolean":
            value = _boolean(value, name)
        elif kind == "number":
            num = ex.to_number(value)
            if num != num:
                raise WorkflowError(f"input {name!r} must be a number, got {value!r}")
            value = int(num) if num.is_integer() else num
        else:
            value = "" if value is None else str(value)
            if kind == "choice" and value not in [str(o) for o in spec.get("options") or []]:
                raise WorkflowError(f"input {name!r}: {value!r} is not one of its options")
        typed[name] = value
    return typed, {k: ex.to_str(v) for k, v in typed.items()}
