"""`launcher codeowners`: write .github/CODEOWNERS from pools.yaml, or check it is current."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from launcher.commands.files import load_policy_file
from launcher.core import codeowners


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "codeowners",
        help="write .github/CODEOWNERS from pools.yaml",
        description=(
            "Write .github/CODEOWNERS from pools.yaml: each deployments/<pool>/ owned by the "
            "pool's approvers, everything else by the admins. With --check, change nothing and "
            "exit 1 when the file is out of date."
        ),
    )
    parser.add_argument("--check", action="store_true", help="exit 1 if the file is out of date")
    parser.add_argument("--pools", default="pools.yaml", metavar="FILE")
    parser.add_argument("--output", default=".github/CODEOWNERS", metavar="FILE")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    policy = load_policy_file(args.pools, "codeowners")
    if policy is None:
        return 2
    wanted = codeowners.render(policy)
    target = Path(args.output)
    current = target.read_text(encoding="utf-8") if target.exists() else None
    if args.check:
        if current == wanted:
            print(f"{target} is up to date")
            return 0
        print(f"{target} is out of date: run `launcher codeowners` and commit the result")
        return 1
    if current == wanted:
        print(f"{target} is up to date")
        return 0
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(wanted, encoding="utf-8")
    print(f"wrote {target}")
    return 0
