"""`launcher sweep`: the scheduled job for deadlines (run every 15 minutes)."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

from launcher.commands.arguments import add_rehearsal_now, duration, durations, now_refusal


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "sweep",
        help="act on deadlines: auto-reject late requests, close stale ones, launch and expire",
        description=(
            "Auto-reject pull requests not approved before their launch time, warn and close "
            "requests pending longer than their pool's request_ttl, launch scheduled requests "
            "that are due, end deployments past their maximum runtime, report orphans. Exit 0 "
            "when every action succeeded, 1 when any failed, 2 on usage errors."
        ),
    )
    add_rehearsal_now(parser)
    parser.add_argument("--dry-run", action="store_true", help="print what would be done only")
    parser.add_argument(
        "--max-actions", type=int, default=50, metavar="N", help="writes per run (default 50)"
    )
    parser.add_argument(
        "--stale-warning",
        type=duration,
        default=timedelta(hours=24),
        metavar="DURATION",
        help="warn this long before closing a stale request (default 24h)",
    )
    parser.add_argument(
        "--expiry-warnings",
        type=durations,
        default=(timedelta(hours=24), timedelta(hours=1)),
        metavar="LIST",
        help="comment this long before a deployment expires (default 24h,1h)",
    )
    parser.add_argument(
        "--reap-orphans", action="store_true", help="terminate instances whose request is gone"
    )
    parser.add_argument(
        "--recheck-expired",
        type=duration,
        default=timedelta(days=1),  # launcher.jobs.launch.common.RECHECK_EXPIRED
        metavar="DURATION",
        help="record the ends the expiry backstop carried out this long after their expiry "
        "(default 1d, one status read each per run; after GitHub Actions stopped for longer, "
        "run once with the outage's length)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from launcher.adapters.ec2 import EC2
    from launcher.commands.status import connect
    from launcher.jobs.sweep import SweepOptions, run_sweep

    refusal = now_refusal("sweep", args.now, args.dry_run)
    if refusal:
        print(refusal, file=sys.stderr)
        return 2
    if args.max_actions < 0:
        print("launcher sweep: --max-actions must be 0 or more", file=sys.stderr)
        return 2
    gh = connect("sweep")
    if gh is None:
        return 2
    options = SweepOptions(
        now=args.now or datetime.now(UTC),
        as_of=args.now is not None,  # only with --dry-run (now_refusal)
        dry_run=args.dry_run,
        max_actions=args.max_actions,
        stale_warning=args.stale_warning,
        expiry_warnings=args.expiry_warnings,
        reap_orphans=args.reap_orphans,
        recheck_expired=args.recheck_expired,
    )
    refusal = gh.settings.aws_refusal()
    if refusal:  # the pull-request rules still run; nothing touches AWS
        print(f"::warning::launcher sweep: {refusal}", file=sys.stderr)
        return run_sweep(gh, options, sys.stdout).exit_code
    return run_sweep(gh, options, sys.stdout, EC2()).exit_code
