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
            "Read a pull request (from the GitHub Actions event: pull_request_target, or the "
            "workflow_run hand-over of a review, whose pull requests are read again from the "
            "API; or --pr), or a merge queue's group (merge_group, or the workflow_run hand-over "
            "of a run on merge_group: the group's commit is judged as the sum of its pull "
            "requests and the check is published on it), decide with the pool permissions and "
            "reviews, and publish the check run launcher/approval, the sticky comment, the "
            "label and review requests. Exit 0 "
            "when the verdict is success or pending, 1 when failure or error, 2 on usage "
            "errors. Needs GITHUB_REPOSITORY and either LAUNCHER_APP_ID + "
            "LAUNCHER_APP_PRIVATE_KEY (app mode) or GITHUB_TOKEN (trial mode), and "
            "GITHUB_API_URL outside github.com."
        ),
    )
    parser.add_argument("--pr", type=int, metavar="NUMBER", help="pull request (default: event)")
    parser.add_argument(
        "--no-match", action="store_true", help="skip the instance match preview (no AWS calls)"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from launcher.adapters.github import GitHub, GitHubError, Settings
    from launcher.jobs.events import EventError, handed_over, head_sha, load_event, pull_number
    from launcher.jobs.gate import run_gate
    from launcher.jobs.merge_group import group_of, run_merge_group

    fallback = None
    group = None
    try:
        settings = Settings.from_env(access=False)
        if args.pr:
            numbers = [args.pr]
        else:
            payload = load_event(settings.event_path)
            group = group_of(payload)  # a merge queue's group: its commit is judged instead
            numbers = []
            if group is None:
                listed = handed_over(payload)
                numbers = listed if listed is not None else [pull_number(payload)]
                fallback = head_sha(payload) if listed is None else None
        settings.check_access()
        gh = GitHub(settings)
    except (EventError, GitHubError) as exc:
        print(f"launcher gate: {exc}", file=sys.stderr)
        return 2
    if group is not None:
        judged = run_merge_group(gh, group)
        if judged.writes:
            print("changed on GitHub: " + "; ".join(judged.writes))
        return judged.exit_code
    if not numbers:
        print(
            "launcher gate: the hand-over names no pull request of this repository: nothing to gate"
        )
        return 0
    code = 0
    for number in numbers:
        outcome = run_gate(gh, number, fallback_sha=fallback, match=not args.no_match)
        if outcome.writes:
            print("changed on GitHub: " + "; ".join(outcome.writes))
        code = max(code, outcome.exit_code)
    return code
