"""`launcher launch`: reconcile the requests on the default branch with EC2 (see jobs/launch)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from launcher.commands.arguments import add_rehearsal_now, now_refusal


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "launch",
        help="launch approved requests on the default branch, end removed ones (a reconcile)",
        description=(
            "Compare the requests on the default branch with launcher's GitHub deployments and "
            "the EC2 instances launcher tagged, and do what is outstanding: launch approved "
            "requests (re-checking the approval now), schedule future ones, retag, replace, "
            "terminate removed ones. Exit 0 when everything succeeded, 1 when a request failed "
            "or could not be handled, 2 on usage errors. Needs GITHUB_REPOSITORY, GITHUB_TOKEN "
            "(and GITHUB_API_URL outside github.com) and AWS credentials."
        ),
    )
    add_rehearsal_now(parser)
    parser.add_argument("--dry-run", action="store_true", help="print the plan, change nothing")
    parser.add_argument(
        "--retry",
        action="append",
        default=[],
        metavar="POOL/NAME",
        help="attempt a FAILED request again (repeatable)",
    )
    parser.add_argument("--max-actions", type=int, metavar="N", help="act on at most N requests")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from launcher.adapters.ec2 import EC2
    from launcher.commands.status import connect
    from launcher.jobs.launch import LaunchOptions, run_launch

    refusal = now_refusal("launch", args.now, args.dry_run)
    if refusal:
        print(refusal, file=sys.stderr)
        return 2
    gh = connect("launch")
    if gh is None:
        return 2
    refusal = gh.settings.aws_refusal()
    if refusal:
        print(f"::error::launcher launch: {refusal}", file=sys.stderr)
        gh.settings.append_summary(f"launcher launch refused: {refusal}\n")
        return 1
    retry = tuple(key for value in args.retry for key in value.replace(",", " ").split())
    options = LaunchOptions(
        now=args.now,  # None: the clock (an "as of" time only rehearses, with --dry-run)
        dry_run=args.dry_run,
        retry=retry,
        max_actions=args.max_actions,
        log_url=gh.settings.run_url,
    )
    return run_launch(gh, EC2(), options).exit_code
