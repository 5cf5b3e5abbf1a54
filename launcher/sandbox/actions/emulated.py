"""The few `uses:` actions our workflows call, emulated locally with the same effect.

Each takes the step's evaluated `with:` inputs and the job's state, and returns
(exit code, log text, outputs). Inputs they do not emulate are errors, not warnings, so a
typo in a workflow fails here instead of being ignored.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from launcher.sandbox.actions import expressions as ex

if TYPE_CHECKING:
    from launcher.sandbox.actions.runner import ActionsRunner

SHA = re.compile(r"[0-9a-f]{40}")


class ActionError(RuntimeError):
    """An emulated action could not do what the real one would have done."""


@dataclass
class JobState:
    """What steps of one job share: the workspace, PATH additions and exported env."""

    runner: ActionsRunner
    github: dict[str, Any]
    workspace: Path
    temp: Path
    path_prefix: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)  # GITHUB_ENV and action exports
    runner_env: dict[str, str] = field(default_factory=dict)  # e.g. ACTIONS_ID_TOKEN_REQUEST_*


Outcome = tuple[int, str, dict[str, str]]


def _inputs(name: str, given: Mapping[str, Any], known: set[str]) -> dict[str, str]:
    unknown = set(given) - known
    if unknown:
        raise ActionError(f"{name}: inputs {sorted(unknown)} are not emulated by the local runner")
    return {k: ex.to_str(v) for k, v in given.items()}


def _git(*args: str, cwd: Path | None = None) -> str:
    proc = subprocess.run(
        ["git", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin:/usr/local/bin", "GIT_TERMINAL_PROMPT": "0", "HOME": "/"},
    )
    if proc.returncode:
        raise ActionError(f"git {' '.join(args)}: {proc.stderr.strip()}")
    return proc.stdout


def checkout(with_: Mapping[str, Any], job: JobState) -> Outcome:
    """actions/checkout: fetch `ref` (default: the event's sha) from the stand-in's repository.

    No credentials are ever written, so `persist-credentials: false` holds trivially.
    """
    known = {"ref", "fetch-depth", "persist-credentials", "path", "repository", "clean", "token"}
    inputs = _inputs("actions/checkout", with_, known | {"show-progress", "fetch-tags"})
    repository = inputs.get("repository") or job.github["repository"]
    if repository.lower() != str(job.github["repository"]).lower():
        raise ActionError(f"actions/checkout: only {job.github['repository']} can be checked out")
    dest = (job.workspace / inputs.get("path", ".")).resolve()
    if not dest.is_relative_to(job.workspace.resolve()):
        raise ActionError("actions/checkout: path must stay inside the workspace")
    target = inputs.get("ref") or job.github["sha"]
    depth = int(inputs.get("fetch-depth") or 1)
    source = str(job.runner.repo)
    dest.mkdir(parents=True, exist_ok=True)
    _git("init", "-q", str(dest))
    _git("remote", "add", "origin", source, cwd=dest)
    depth_args = [f"--depth={depth}"] if depth > 0 else []
    if depth == 0:
        _git("fetch", "-q", "--tags", "origin", "+refs/heads/*:refs/remotes/origin/*", cwd=dest)
    _git("fetch", "-q", "--no-tags", *depth_args, "origin", target, cwd=dest)
    _git("checkout", "-q", "--detach", "FETCH_HEAD", cwd=dest)
    head = _git("rev-parse", "HEAD", cwd=dest).strip()
    return 0, f"checked out {repository} at {target} ({head}) into {dest}\n", {"commit": head}


def setup_python(with_: Mapping[str, Any], job: JobState) -> Outcome:
    """actions/setup-python: put the runner's Python (a venv's bin dir) first on PATH."""
    known = {"python-version", "cache", "check-latest", "cache-dependency-path"}
    inputs = _inputs("actions/setup-python", with_, known)
    bin_dir = job.runner.python_bin_dir
    if bin_dir is None:
        raise ActionError("actions/setup-python: the runner was given no python_bin_dir")
    python = bin_dir / "python"
    version = subprocess.run(
        [str(python), "-c", "import sys; print('%d.%d.%d' % sys.version_info[:3])"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout.strip()
    log = f"using Python {version} from {bin_dir}\n"
    wanted = inputs.get("python-version", "")
    if wanted and not (version == wanted or version.startswith(wanted + ".")):
        log += f"warning: the workflow asks for Python {wanted}; the runner has {version}\n"
    shims = job.runner.pip_shims(job.temp)
    job.path_prefix[:0] = [str(p) for p in (shims, bin_dir) if p is not None]
    job.env["pythonLocation"] = str(bin_dir.parent)
    return 0, log, {"python-version": version, "python-path": str(python)}


def configure_aws(with_: Mapping[str, Any], job: JobState) -> Outcome:
    """aws-actions/configure-aws-credentials: export the runner's AWS environment (e.g. the
    moto server's) and the region, as the real action exports the assumed role's keys."""
    known = {
        "aws-region", "role-to-assume", "role-session-name", "role-duration-seconds",
        "audience", "mask-aws-account-id", "role-skip-session-tagging", "output-credentials",
    }  # fmt: skip
    inputs = _inputs("aws-actions/configure-aws-credentials", with_, known)
    region = inputs.get("aws-region")
    if not region:
        raise ActionError("aws-actions/configure-aws-credentials: aws-region is required")
    aws_env = job.runner.aws_env
    if aws_env is None:
        raise ActionError("aws-actions/configure-aws-credentials: the runner has no aws_env")
    role = inputs.get("role-to-assume", "")
    log = ""
    if role and job.runner.sandbox is not None:
        # With the stand-in, assuming a role is OIDC's AssumeRoleWithWebIdentity: the job
        # needs `id-token: write`, and the role's trust policy judges the token's claims.
        claims = _web_identity(job, inputs.get("audience") or "sts.amazonaws.com")
        if claims is None:
            return (
                1,
                "error: Could not assume role with OIDC: no ACTIONS_ID_TOKEN_REQUEST_URL. "
                "It looks like you might be trying to authenticate with OIDC. Did you mean "
                "to set the `id-token` permission?\n",
                {},
            )
        trust = job.runner.aws_role_trust
        refusal = trust(role, claims) if trust else None
        if refusal:
            return 1, f"error: Could not assume role with OIDC: {refusal}\n", {}
        log = f"assumed {role} with OIDC subject {claims['sub']}\n"
    job.env.update(aws_env)
    job.env.update(AWS_REGION=region, AWS_DEFAULT_REGION=region)
    head = f"AWS credentials for region {region}" + (f" as {role}" if role else "") + "\n"
    return 0, head + log, {}


def _web_identity(job: JobState, audience: str) -> dict[str, Any] | None:
    """The job's OIDC token claims, fetched as the real action does (None: no id-token)."""
    import json
    import urllib.parse
    import urllib.request

    url = job.runner_env.get("ACTIONS_ID_TOKEN_REQUEST_URL")
    if not url:
        return None
    request = urllib.request.Request(
        f"{url}&audience={urllib.parse.quote(audience)}",
        headers={"Authorization": f"bearer {job.runner_env['ACTIONS_ID_TOKEN_REQUEST_TOKEN']}"},
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        token = json.load(answer)["value"]
    import jwt

    claims: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    return claims


def no_op(name: str) -> Callable[[Mapping[str, Any], JobState], Outcome]:
    def run(with_: Mapping[str, Any], job: JobState) -> Outcome:
        return 0, f"{name}: not emulated, nothing done (local runner)\n", {}

    return run


ACTIONS: dict[str, Callable[[Mapping[str, Any], JobState], Outcome]] = {
    "actions/checkout": checkout,
    "actions/setup-python": setup_python,
    "aws-actions/configure-aws-credentials": configure_aws,
    "actions/upload-pages-artifact": no_op("actions/upload-pages-artifact"),
    "actions/deploy-pages": no_op("actions/deploy-pages"),
}
