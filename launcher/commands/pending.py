"""`launcher pending`: open requests waiting for approval, for requesters and approvers."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from typing import Any

from launcher.commands.status import add_common, connect


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "pending",
        help="open requests waiting for approval, with approvals counted and missing",
        description=(
            "List open pull requests whose launch requests wait for approval (or were "
            "rejected and not amended): pool, request, requester, age, launch_at and time "
            "left before auto-rejection, approvals counted and missing. Runs the gate's "
            "decision (read-only) for each waiting pull request: about 4 API calls each. "
            "Needs GITHUB_REPOSITORY and GITHUB_TOKEN. Exit 0, or 2 when it cannot run."
        ),
    )
    parser.add_argument(
        "--approver", metavar="LOGIN", help="only requests LOGIN can approve (teams expanded)"
    )
    parser.add_argument("--requester", metavar="LOGIN", help="only requests opened by LOGIN")
    parser.add_argument("--pool", metavar="P", help="only requests in pool P")
    add_common(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from launcher.core.permissions import MembershipUnknown
    from launcher.core.status import can_approve, soonest
    from launcher.core.times import utc_iso
    from launcher.jobs.status import StatusError, gather
    from launcher.report.text import pending_lines, row_json

    gh = connect("pending")
    if gh is None:
        return 2
    now = args.now or datetime.now(UTC)
    requester = (args.requester or "").casefold()
    try:  # with --requester, only that person's pull requests are decided: fewer calls
        gathered = gather(
            gh,
            None,
            now,
            decide=(lambda info: info.author.casefold() == requester) if requester else True,
            records=False,
        )
    except StatusError as exc:
        print(f"launcher pending: {exc}", file=sys.stderr)
        return 2
    rows = [r for r in gathered.overview.requests if r.waiting]
    if requester:
        rows = [r for r in rows if r.requester.casefold() == requester]
    if args.pool:
        rows = [r for r in rows if r.pool == args.pool]
    if args.approver:
        try:
            rows = [r for r in rows if can_approve(r, args.approver, gathered.policy, gh)]
        except MembershipUnknown as exc:
            print(f"launcher pending: {exc}", file=sys.stderr)
            return 2
    rows = soonest(rows)
    for error in gathered.errors:
        print(f"launcher pending: {error}", file=sys.stderr)
    if args.format == "json":
        data = {"now": utc_iso(now), "pending": [row_json(r, now) for r in rows]}
        print(json.dumps(data, indent=2))
    else:
        print("\n".join(pending_lines(rows, now)))
    return 0
