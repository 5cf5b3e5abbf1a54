"""`launcher report`: write the static HTML dashboard (overview and one page per pool)."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from typing import Any

from launcher.commands.status import add_common, connect


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "report",
        help="write a static HTML dashboard of requests, approvals and quotas",
        description=(
            "Write DIR/index.html (waiting approvals first, then scheduled, running with time "
            "left, recent failures with their reasons) and DIR/pool-<name>.html per pool "
            "(waiting requests, quota use, approvers). No server, script or external asset. "
            "Reads what `launcher status` reads plus the gate's decision for each waiting "
            "pull request (about 4 API calls each). Needs GITHUB_REPOSITORY and GITHUB_TOKEN; "
            "EC2 is skipped with a note when AWS is not configured. Exit 0, or 2 when it "
            "cannot run."
        ),
    )
    parser.add_argument("--out", required=True, metavar="DIR", help="folder to write into")
    add_common(parser, formats=False)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from launcher.jobs.status import StatusError, connect_ec2, gather
    from launcher.report.html import render_site, write_site

    gh = connect("report")
    if gh is None:
        return 2
    ec2, why = connect_ec2()
    try:
        gathered = gather(gh, ec2, args.now or datetime.now(UTC), decide=True, ec2_note=why)
    except StatusError as exc:
        print(f"launcher report: {exc}", file=sys.stderr)
        return 2
    pages = render_site(
        gathered.overview, repository=gathered.repository, repo_url=gathered.repo_url
    )
    try:
        written = write_site(pages, args.out)
    except OSError as exc:
        print(f"launcher report: cannot write {args.out}: {exc}", file=sys.stderr)
        return 2
    for error in gathered.errors:
        print(f"launcher report: {error}", file=sys.stderr)
    for path in written:
        print(path)
    return 0
