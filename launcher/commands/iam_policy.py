"""`launcher iam-policy`: write the IAM documents of launcher's roles from pools.yaml, or
check the committed ones are current (CI runs `--check`, as for CODEOWNERS)."""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Any

from launcher.commands.files import load_policy_file
from launcher.core import iam

# The repository part of an OIDC subject: classic or immutable (ids after @).
SUBJECT_PREFIX = re.compile(r"repo:[A-Za-z0-9_.-]+(?:@\d+)?/[A-Za-z0-9_.-]+(?:@\d+)?")


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "iam-policy",
        help="write the IAM policies of launcher's roles from pools.yaml",
        description=(
            "Write one JSON document per IAM role from pools.yaml into DIR: launch-role.json "
            "(and its OIDC trust policy, launch-role.trust.json), read-role.json (status, the "
            "dashboard, doctor), and for each provider role pools.yaml names, its policy, its "
            "trust policy (the launch role only) and a read-only role beside it. With --check, "
            "change nothing and exit 1 when DIR differs from what pools.yaml gives."
        ),
    )
    parser.add_argument("--check", action="store_true", help="exit 1 if DIR is out of date")
    parser.add_argument("--pools", default="pools.yaml", metavar="FILE")
    parser.add_argument("--out", default="iam", metavar="DIR")
    parser.add_argument(
        "--account",
        default=iam.Settings.account,
        metavar="ID",
        help="the AWS account of the launch and read-only roles (default: a placeholder)",
    )
    parser.add_argument(
        "--subject-prefix",
        default=iam.Settings.subject_prefix,
        metavar="PREFIX",
        help="the OIDC subject's repository part, as `launcher doctor` prints it: "
        "repo:OWNER/REPO or repo:OWNER@OWNER_ID/REPO@REPO_ID",
    )
    parser.add_argument(
        "--job-workflow-ref",
        action="store_true",
        help="the repository's OIDC subject includes job_workflow_ref (then the launch role "
        "trusts only launch.yml and sweep.yml, the read-only role only report.yml)",
    )
    parser.add_argument(
        "--branch", default="main", help="the default branch (with --job-workflow-ref)"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if not re.fullmatch(r"\d{12}|ACCOUNT_ID", args.account):
        print(f"launcher iam-policy: --account {args.account!r} is not a 12-digit account id",
              file=sys.stderr)  # fmt: skip
        return 2
    if not SUBJECT_PREFIX.fullmatch(args.subject_prefix):
        print(
            f"launcher iam-policy: --subject-prefix {args.subject_prefix!r} is not "
            "repo:OWNER/REPO or repo:OWNER@OWNER_ID/REPO@REPO_ID (`launcher doctor` prints it)",
            file=sys.stderr,
        )
        return 2
    policy = load_policy_file(args.pools, "iam-policy")
    if policy is None:
        return 2
    settings = iam.Settings(
        account=args.account,
        subject_prefix=args.subject_prefix,
        job_workflow_ref=args.job_workflow_ref,
        branch=args.branch,
    )
    try:
        wanted = {name: iam.render(doc) for name, doc in iam.documents(policy, settings).items()}
    except iam.IamError as exc:
        print(f"launcher iam-policy: {args.pools}: {exc}", file=sys.stderr)
        return 2
    out = Path(args.out)
    current = {p.name: p.read_text(encoding="utf-8") for p in sorted(out.glob("*.json"))}
    stale = sorted(set(current) - set(wanted))
    differs = sorted(name for name, text in wanted.items() if current.get(name) != text)
    if not stale and not differs:
        print(f"{out}/ is up to date ({len(wanted)} documents)")
        return 0
    if args.check:
        for name in differs:
            print(f"{out}/{name} is {'out of date' if name in current else 'missing'}")
        for name in stale:
            print(f"{out}/{name} is no longer generated from {args.pools}")
        print("run `launcher iam-policy` and commit the result")
        return 1
    out.mkdir(parents=True, exist_ok=True)
    for name in differs:
        (out / name).write_text(wanted[name], encoding="utf-8")
        print(f"wrote {out}/{name}")
    for name in stale:
        (out / name).unlink()
        print(f"removed {out}/{name}")
    return 0
