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
            "subject the AWS trust policy must name; a merge queue, if any, does not rebase. "
            "Exit 0 when every line "
            "holds, 1 otherwise (including a private repository on GitHub Free), 2 when it "
            "cannot run."
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
    lines = check(settings)
    for line in lines:
        print(line.render())
    failing = sum(1 for line in lines if not line.ok)
    print(
        f"{settings.repository}: every guarantee holds"
        if not failing
        else f"{settings.repository}: {failing} of {len(lines)} guarantees missing"
    )
    return 0 if not failing else 1
