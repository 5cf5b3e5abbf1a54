"""`launcher doctor`: check a live repository's settings against launcher's guarantees."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

# The workflows launcher ships, next to the package in a checkout of launcher.
SHIPPED_WORKFLOWS = Path(__file__).resolve().parents[2] / ".github" / "workflows"


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "doctor",
        help="check the repository's settings give launcher's guarantees",
        description=(
            "Read the repository's settings through the API (GITHUB_REPOSITORY, GITHUB_TOKEN; "
            "a token with Administration: read) and print one line per guarantee, with what is "
            "missing and the fix: the default branch's ruleset requires pull requests, "
            "launcher's check from its app, code-owner review and dismissal of stale "
            "approvals; CODEOWNERS leaves deployments/ without owners; the environments "
            "launcher-gate and launcher-launch exist and admit only the default branch; no "
            "other workflow names launcher-launch; the workflows are launcher's; the OIDC "
            "subject the AWS trust policy must name, and its form (classic or immutable); a "
            "merge queue, if any, does not rebase. With pools.yaml (--pools), warnings for "
            "providers without subnet_ids or without a scheduler_role (no expiry backstop), "
            "and for accounts and regions whose EC2 vCPU quotas (Service Quotas) are below "
            "what the pools allow. Exit 0 when every line holds "
            "(warnings included), 1 otherwise (including a private repository on GitHub "
            "Free), 2 when it cannot run."
        ),
    )
    parser.add_argument(
        "--app-id",
        type=int,
        default=None,
        metavar="ID",
        help="the launcher app's id, the source the required check must name "
        "(default: $LAUNCHER_APP_ID)",
    )
    parser.add_argument(
        "--workflows",
        default=str(SHIPPED_WORKFLOWS),
        metavar="DIR",
        help="the pinned workflow files (default: launcher's own .github/workflows)",
    )
    parser.add_argument(
        "--pools",
        default="pools.yaml",
        metavar="FILE",
        help="also check what pools.yaml leaves open on AWS (providers without subnet_ids or "
        "scheduler_role) and compare the pools' vCPU quotas with EC2's in each account and "
        "region (default: pools.yaml, when it exists)",
    )
    parser.add_argument("--no-aws", action="store_true", help="do not read EC2's service quotas")
    parser.set_defaults(func=run)


def pinned_workflows(folder: str) -> dict[str, bytes] | None:
    path = Path(folder)
    if not path.is_dir():
        return None
    return {f.name: f.read_bytes() for f in sorted(path.iterdir()) if f.suffix in (".yml", ".yaml")}


def run(args: argparse.Namespace) -> int:
    from launcher.adapters.github import GitHubError
    from launcher.adapters.github_settings import read_settings
    from launcher.commands.status import connect
    from launcher.core.doctor import check

    pinned = pinned_workflows(args.workflows)
    if not pinned:
        print(f"launcher doctor: no workflow files in {args.workflows}", file=sys.stderr)
        return 2
    app_id = args.app_id
    if app_id is None and os.environ.get("LAUNCHER_APP_ID", "").isdigit():
        app_id = int(os.environ["LAUNCHER_APP_ID"])
    gh = connect("doctor")
    if gh is None:
        return 2
    try:
        settings = read_settings(gh, pinned, app_id)
    except GitHubError as exc:
        print(f"launcher doctor: {exc}", file=sys.stderr)
        return 2
    lines = check(settings) + aws_lines(args)
    for line in lines:
        print(line.render())
    failing = sum(1 for line in lines if not line.ok)
    warned = sum(1 for line in lines if line.warning)
    print(
        f"{settings.repository}: every guarantee holds"
        if not failing
        else f"{settings.repository}: {failing} of {len(lines)} guarantees missing"
    )
    if warned:
        print(f"{warned} warning{'s' if warned != 1 else ''} (launcher works, less tightly)")
    return 0 if not failing else 1


def aws_lines(args: argparse.Namespace) -> list[Any]:
    """pools.yaml's AWS lines (subnets, vCPU quotas), when the file is there."""
    from launcher.core import doctor_aws
    from launcher.core.documents import load_policy

    path = Path(args.pools)
    if not path.is_file():
        return []
    policy, problems = load_policy(path.read_bytes(), args.pools)
    if policy is None:
        from launcher.core.doctor import Line

        return [Line(f"{args.pools}", False, f"invalid: {problems[0]}", "fix pools.yaml")]
    lines = doctor_aws.subnet_lines(policy) + doctor_aws.backstop_lines(policy, args.pools)
    if not args.no_aws:
        from launcher.adapters.service_quotas import read_quotas

        wanted = [(w, code) for w, per in doctor_aws.wanted(policy).items() for code in per]
        lines += doctor_aws.quota_lines(policy, read_quotas(wanted))
    return lines
