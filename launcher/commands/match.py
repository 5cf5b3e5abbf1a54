"""`launcher match`: where would these launch requests run, or why nowhere.

Reads pools.yaml and the requests like `launcher validate`, then EC2 (catalogue and pool
usage) through the default AWS credential chain or `AWS_ENDPOINT_URL`. Exit 0 when every
request has a placement, 1 when one has none, 2 when the command could not run as asked.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from launcher.commands.files import read_limited, repo_path
from launcher.core.documents import load_policy, load_request
from launcher.core.matching import render, to_dict
from launcher.core.model import LaunchRequest


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "match",
        help="show where launch requests would run (reads EC2)",
        description=(
            "Match launch requests to a provider, instance type, AMI and zone using the EC2 "
            "catalogue and the pools' current usage. Needs AWS credentials (or AWS_ENDPOINT_URL "
            "with test credentials). Exit 0 when all match, 1 when one does not, 2 on usage "
            "errors or unreadable input."
        ),
    )
    parser.add_argument("paths", nargs="+", metavar="PATH", help="launch request files")
    parser.add_argument(
        "--pools", metavar="FILE", default="pools.yaml", help="policy file (default: pools.yaml)"
    )
    parser.add_argument("--format", choices=("text", "json"), default="text")
    parser.set_defaults(func=run)


def _fail(message: str) -> int:
    print(f"launcher match: {message}", file=sys.stderr)
    return 2


def run(args: argparse.Namespace) -> int:
    try:
        policy, problems = load_policy(read_limited(Path(args.pools)), repo_path(Path(args.pools)))
    except OSError as exc:
        return _fail(f"cannot read {args.pools}: {exc.strerror or exc}")
    if policy is None:
        for problem in problems:
            print(problem, file=sys.stderr)
        return _fail(f"{args.pools} has errors: run launcher validate")
    requests: list[LaunchRequest] = []
    for name in args.paths:
        path = Path(name)
        try:
            raw = read_limited(path)
        except OSError as exc:
            return _fail(f"cannot read {name}: {exc.strerror or exc}")
        request, problems = load_request(raw, repo_path(path), policy)
        if request is None:
            for problem in problems:
                print(problem, file=sys.stderr)
            return _fail(f"{name} has errors: run launcher validate")
        requests.append(request)

    from launcher.jobs.match_preview import Skipped, match_live

    results = match_live(requests, policy)
    if isinstance(results, Skipped):
        return _fail(f"cannot match: {results.reason}")
    if args.format == "json":
        body = {"ok": all(r.chosen for r in results), "results": [to_dict(r) for r in results]}
        json.dump(body, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        for result in results:
            sys.stdout.write("\n".join(render(result)) + "\n")
    return 0 if all(r.chosen for r in results) else 1
