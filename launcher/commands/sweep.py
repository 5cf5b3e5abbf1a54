"""`launcher sweep`: the scheduled job for deadlines (run every 15 minutes)."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

from launcher.core.durations import DurationError, parse_duration


def _instant(text: str) -> datetime:
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an ISO 8601 time") from None
    if when.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r} has no time zone (add Z for UTC)")
    return when


def _duration(text: str) -> timedelta:
    try:
        return parse_duration(text)
    except DurationError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _durations(text: str) -> tuple[timedelta, ...]:
    return tuple(_duration(part) for part in text.split(",") if part.strip())


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
    parser.add_argument("--now", type=_instant, help="the time to act as (ISO 8601, default: now)")
    parser.add_argument("--dry-run", action="store_true", help="print what would be done only")
    parser.add_argument(
        "--max-actions", type=int, default=50, metavar="N", help="writes per run (default 50)"
    )
    parser.add_argument(
        "--stale-warning",
        type=_duration,
        default=timedelta(hours=24),
        metavar="DURATION",
        help="warn this long before closing a stale request (default 24h)",
    )
    parser.add_argument(
        "--expiry-warnings",
        type=_durations,
        default=(timedelta(hours=24), timedelta(hours=1)),
        metavar="LIST",
        help="comment this long before a deployment expires (default 24h,1h)",
    )
    parser.add_argument(
        "--reap-orphans", action="store_true", help="terminate instances whose request is gone"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from launcher.adapters.ec2 import EC2
    from launcher.adapters.github import GitHub, GitHubError, Settings
    from launcher.jobs.sweep import SweepOptions, run_sweep

    if args.max_actions < 0:
        print("launcher sweep: --max-actions must be 0 or more", file=sys.stderr)
        return 2
    try:
        gh = GitHub(Settings.from_env())
    except GitHubError as exc:
        print(f"launcher sweep: {exc}", file=sys.stderr)
        return 2
    options = SweepOptions(
        now=args.now or datetime.now(UTC),
        dry_run=args.dry_run,
        max_actions=args.max_actions,
        stale_warning=args.stale_warning,
        expiry_warnings=args.expiry_warnings,
        reap_orphans=args.reap_orphans,
    )
    return run_sweep(gh, options, sys.stdout, EC2()).exit_code
