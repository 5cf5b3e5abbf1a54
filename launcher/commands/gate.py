"""`launcher gate`: the required check `launcher/approval` for a pull request."""

from __future__ import annotations

import argparse
import sys
from typing import Any


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "gate",
        help="decide and report whether a pull request's launch requests may launch",
        description=(
            "Read a pull request (from the GitHub Actions event, or --pr), decide with the pool "
            "permissions and reviews, and set the commit status launcher/approval, the sticky "
            "comment, the label and review requests. Exit 0 when the status is success or "
            "pending, 1 when failure or error, 2 on usage errors. Needs GITHUB_REPOSITORY and "
            "GITHUB_TOKEN (and GITHUB_API_URL outside github.com)."
        ),
    )
    parser.add_argument("--pr", type=int, metavar="NUMBER", help="pull request (default: event)")
    parser.add_argument(
        "--no-match", action="store_true", help="skip the instance match preview (no AWS calls)"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from launcher.adapters.github import GitHub, GitHubError, Settings
    from launcher.jobs.events import EventError, head_sha, load_event, pull_number
    from launcher.jobs.gate import run_gate

    fallback = None
    try:
        settings = Settings.from_env(access=False)
        if args.pr:
            number = args.pr
        else:
            payload = load_event(settings.event_path)
            number = pull_number(payload)
            fallback = head_sha(payload)
        settings.check_access()
        gh = GitHub(settings)
    except (EventError, GitHubError) as exc:
        print(f"launcher gate: {exc}", file=sys.stderr)
        return 2
    outcome = run_gate(gh, number, fallback_sha=fallback, match=not args.no_match)
    if outcome.writes:
        print("changed on GitHub: " + "; ".join(outcome.writes))
    return outcome.exit_code
