"""`launcher validate`: check pools.yaml and launch requests before opening a pull request."""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import sys
from pathlib import Path
from typing import Any

from launcher.commands.files import read_limited, repo_path
from launcher.core.model import Policy
from launcher.core.permissions import StaticTeams, TeamResolver
from launcher.core.problems import Problem
from launcher.core.text import plural
from launcher.core.validation import FileReport, Report, Verdict, check_policy, check_request
from launcher.core.workflow_commands import workflow_command
from launcher.core.yamlsafe import YamlError, load


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "validate",
        help="check pools.yaml and launch requests (offline)",
        description=(
            "Check pools.yaml and launch requests: YAML safety, schema, pool rules and, with "
            "--author, what that person may do. Default: pools.yaml and everything under "
            "deployments/. Exit 0 when all is valid (and permitted), 1 when not, 2 on usage errors."
        ),
    )
    parser.add_argument("paths", nargs="*", metavar="PATH", help="files or folders to check")
    parser.add_argument("--author", metavar="LOGIN", help="also report what LOGIN may do")
    parser.add_argument(
        "--format", choices=("text", "json", "github"), default="text", help="output format"
    )
    parser.add_argument(
        "--pools", metavar="FILE", default="pools.yaml", help="policy file (default: pools.yaml)"
    )
    parser.add_argument(
        "--teams",
        metavar="FILE",
        help="YAML mapping of @org/team to member logins, to resolve teams offline",
    )
    parser.add_argument(
        "--jobs",
        type=int,
        metavar="N",
        help="worker processes for large trees (default: one per CPU; 1 for none)",
    )
    parser.add_argument(
        "--no-match",
        action="store_true",
        help="skip the instance match against EC2 (otherwise tried when AWS is configured)",
    )
    parser.set_defaults(func=run)


def _expand(paths: list[str]) -> list[Path]:
    found: list[Path] = []
    for name in paths:
        path = Path(name)
        if path.is_dir():
            found.extend(
                sorted(
                    p
                    for p in path.rglob("*")
                    if p.is_file() and not any(part.startswith(".") for part in p.parts)
                )
            )
        else:
            found.append(path)
    return found


# Above this many files, validation is spread over the machine's cores (forked workers inherit
# the loaded policy and compiled schemas, so each file costs the same as in one process).
PARALLEL_FROM = 400
_worker_state: tuple[Policy | None, str | None, TeamResolver | None] = (None, None, None)
_verdicts: dict[str, Verdict] = {}


def _check_one(item: tuple[str, Path]) -> FileReport:
    name, path = item
    policy, author, teams = _worker_state
    return check_request(name, read_limited(path), policy, author, teams, _verdicts)


def _check_all(
    requests: list[tuple[str, Path]],
    policy: Policy | None,
    author: str | None,
    teams: TeamResolver | None,
    jobs: int | None = None,
) -> list[FileReport]:
    global _worker_state
    _worker_state = (policy, author, teams)
    _verdicts.clear()
    workers = jobs if jobs is not None else min(os.cpu_count() or 1, 8)
    if len(requests) < PARALLEL_FROM or workers < 2 or "fork" not in mp.get_all_start_methods():
        return [_check_one(item) for item in requests]
    chunk = max(1, len(requests) // (workers * 8))
    with mp.get_context("fork").Pool(workers) as pool:
        return pool.map(_check_one, requests, chunksize=chunk)


def run(args: argparse.Namespace) -> int:
    pools_path = Path(args.pools)
    policy_name = repo_path(pools_path)
    teams = None
    if args.teams:
        try:
            teams = StaticTeams(load(read_limited(Path(args.teams))).data)
        except (OSError, YamlError) as exc:
            print(f"launcher validate: cannot read --teams {args.teams}: {exc}", file=sys.stderr)
            return 2
    targets = _expand(args.paths or [str(pools_path), "deployments"])
    if not args.paths and not Path("deployments").is_dir():
        targets = [pools_path]
    missing = [str(p) for p in targets if not p.exists()]
    if missing:
        print(f"launcher validate: no such file: {', '.join(missing)}", file=sys.stderr)
        return 2
    try:
        policy_raw: bytes | None = read_limited(pools_path)
    except FileNotFoundError:
        policy_raw = None
    except OSError as exc:
        print(f"launcher validate: cannot read {pools_path}: {exc}", file=sys.stderr)
        return 2
    policy, policy_report = check_policy(policy_raw, policy_name)
    names = [repo_path(p) for p in targets]
    files = [policy_report] if policy_name in names or policy_report.problems else []
    requests = [
        (name, path) for name, path in zip(names, targets, strict=True) if name != policy_name
    ]
    if args.jobs is not None and args.jobs < 1:
        print("launcher validate: --jobs must be 1 or more", file=sys.stderr)
        return 2
    files.extend(_check_all(requests, policy, args.author, teams, args.jobs))
    report = Report(files, policy)
    report.match_note = None if args.no_match else _match(report)
    {"text": _print_text, "json": _print_json, "github": _print_github}[args.format](report)
    return 0 if report.ok else 1


def _match(report: Report) -> str | None:
    """Add a warning to each request without an instance match; or say why none was tried.

    No match is only a warning here: the request may still be submitted, and fails only at
    launch time if there is still no match then.
    """
    from launcher.adapters.ec2 import aws_configured  # boto3 itself is imported lazily
    from launcher.jobs.match_preview import NOT_CONFIGURED, SKIPPED

    requests = [f.request for f in report.files if f.request is not None]
    if not requests or report.policy is None:
        return None
    if not aws_configured():
        return f"{SKIPPED}: {NOT_CONFIGURED}"
    from launcher.jobs.match_preview import preview_matches

    preview = preview_matches(requests, report.policy)
    if isinstance(preview, str):
        return preview
    for file in report.files:
        for reason in preview.get(file.path, []):
            file.problems.append(
                Problem(file.path, 1, 1, f"no instance match: {reason}", "warning")
            )
    return None


def _counts(report: Report) -> str:
    n_errors = sum(len(f.errors) for f in report.files)
    n_warnings = sum(len(f.warnings) for f in report.files)
    refused = sum(1 for f in report.files if f.verdict and not f.verdict.permitted)
    text = f"{plural(len(report.files), 'file')} checked: {plural(n_errors, 'error')}, "
    text += plural(n_warnings, "warning")
    if refused:
        text += f", {refused} not permitted"
    return text


def _print_text(report: Report) -> None:
    out = sys.stdout
    for file in report.files:
        for problem in file.problems:
            out.write(f"{problem}\n")
        if file.verdict:
            mark = "" if file.verdict.permitted else "error: "
            out.write(f"{file.path}: {mark}{file.verdict.message}\n")
    if report.match_note:
        out.write(f"note: {report.match_note}\n")
    out.write(_counts(report) + "\n")


def _problem_json(problem: Problem) -> dict[str, Any]:
    return {"line": problem.line, "column": problem.column, "message": problem.message}


def _file_json(file: FileReport) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "path": file.path,
        "errors": [_problem_json(p) for p in file.errors],
        "warnings": [_problem_json(p) for p in file.warnings],
    }
    if file.verdict:
        v = file.verdict
        entry["tier"] = v.tier.value if v.tier else None
        entry["permitted"] = v.permitted
        entry["message"] = v.message
        if v.approvals_required:
            entry["approvers"] = list(v.approvers)
            entry["approvals_required"] = v.approvals_required
    return entry


def _print_json(report: Report) -> None:
    body = {"ok": report.ok, "files": [_file_json(f) for f in report.files]}
    if report.match_note:
        body["match_skipped"] = report.match_note
    json.dump(body, sys.stdout, indent=2)
    sys.stdout.write("\n")


def _print_github(report: Report) -> None:
    lines = []
    for file in report.files:
        for p in file.problems:
            lines.append(
                workflow_command(p.severity, p.message, file=p.path, line=p.line, col=p.column)
            )
        if file.verdict:
            kind = "notice" if file.verdict.permitted else "error"
            lines.append(workflow_command(kind, file.verdict.message, file=file.path))
    if report.match_note:
        lines.append(workflow_command("notice", report.match_note))
    lines.append(_counts(report))
    sys.stdout.write("\n".join(lines) + "\n")
    from launcher.adapters.github import Settings

    Settings.from_env(access=False).append_summary(f"launcher validate: {_counts(report)}\n")
