"""`launcher status`: every request's state and each pool's quota use (list calls only)."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from typing import Any

from launcher.commands.arguments import add_now


def add_common(parser: argparse.ArgumentParser, formats: bool = True) -> None:
    add_now(parser, "report at")
    if formats:
        parser.add_argument("--format", choices=("text", "json"), default="text")


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "status",
        help="every request's state, placement and time left; each pool's quota use",
        description=(
            "List every launch request with its state (PENDING_APPROVAL, REJECTED, SCHEDULED, "
            "LAUNCHING, RUNNING, FAILED, TERMINATED, EXPIRED), requester, approvers, placement, "
            "instance count and time left, and each pool's quota use. Reads only lists (open "
            "pull requests, deployments, main's tree, one DescribeInstances per region), so "
            "waiting pull requests show without their pool: `launcher pending` reads those. "
            "Needs GITHUB_REPOSITORY and GITHUB_TOKEN; EC2 is skipped with a note when AWS is "
            "not configured. Exit 0, or 2 when it cannot run."
        ),
    )
    parser.add_argument("--pool", metavar="P", help="only this pool's requests and quota")
    parser.add_argument(
        "--history",
        action="store_true",
        help="also each request's history: every decision launcher recorded (approved by whom, "
        "rejected, launched, failed, ended), oldest first (JSON always has it)",
    )
    add_common(parser)
    parser.set_defaults(func=run)


TRIAL_BANNER = (
    "TRIAL MODE: launcher runs with the plain GITHUB_TOKEN, so any writer can forge its "
    "verdicts and comments; configure the GitHub App before relying on it (docs/adopting.md)"
)


def connect(command: str) -> Any:
    """The GitHub adapter from the environment, or None after saying why on stderr."""
    from launcher.adapters.github import GitHub, GitHubError, Settings

    try:
        return GitHub(Settings.from_env())
    except GitHubError as exc:
        print(f"launcher {command}: {exc}", file=sys.stderr)
        return None


def run(args: argparse.Namespace) -> int:
    from launcher.jobs.status import StatusError, connect_ec2, gather
    from launcher.report.text import status_json, status_lines

    gh = connect("status")
    if gh is None:
        return 2
    ec2, why = connect_ec2()
    try:
        gathered = gather(gh, ec2, args.now or datetime.now(UTC), ec2_note=why)
    except StatusError as exc:
        print(f"launcher status: {exc}", file=sys.stderr)
        return 2
    overview = gathered.overview
    if args.pool:
        if args.pool not in gathered.policy.pools:
            print(f"launcher status: no pool {args.pool!r} in pools.yaml", file=sys.stderr)
            return 2
        unknown = [r for r in overview.requests if r.pool is None]
        overview = overview.only_pool(args.pool)
        if unknown:
            note = (
                f"{len(unknown)} waiting pull request{'s' if len(unknown) != 1 else ''} not "
                "attributed to a pool (their files are not read): see `launcher pending`"
            )
            overview = type(overview)(
                overview.now,
                overview.requests,
                overview.pools,
                (*overview.notes, note),
                overview.ec2_read,
            )
    from dataclasses import asdict

    from launcher.adapters.github import GitHubError
    from launcher.jobs import foreign_verdicts

    try:  # launcher's own record of verdicts others set (one list call)
        foreign = foreign_verdicts.recorded(gh)
    except GitHubError as exc:
        print(f"launcher status: {exc}", file=sys.stderr)
        return 2
    if args.format == "json":
        data = status_json(overview) | {"trial_mode": gh.settings.trial}
        data["foreign_verdicts"] = [asdict(v) for v in foreign]
        print(json.dumps(data, indent=2))
    else:
        if gh.settings.trial:
            print(TRIAL_BANNER)
        print(
            "\n".join(
                [*status_lines(overview, history=args.history), *foreign_verdicts.lines(foreign)]
            )
        )
    return 0
