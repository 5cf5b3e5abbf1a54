"""``launcher sandbox github``: run the GitHub stand-in from the command line.

Seed file (JSON or YAML), all keys optional::

    users: [alice, bob, {login: ci, bot: true, token: ghs_fixed}]
    orgs:
      acme: {members: [alice, bob], teams: {approvers: [bob]}}
    repos:
      - {owner: acme, name: infra, files: {README.md: "hi"},
         collaborators: {alice: write}, teams: {approvers: push},
         protection: {main: {required_status_checks: null, enforce_admins: true,
                             required_pull_request_reviews: {}, restrictions: null}},
         rulesets: [{name: gate, enforcement: active, rules: [...], conditions: {...}}]}
    apps:
      - {slug: gate, owner: acme, install: [acme], permissions: {checks: write}}

Prints the URL, one ``TOKEN login token`` line per user, one ``APP slug id key.pem``
line per app (its private key, written under the state directory) and each
repository's clone path, then serves until interrupted.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from launcher.sandbox.github import GitHubSandbox


def seed(sandbox: GitHubSandbox, spec: dict[str, Any]) -> dict[str, str]:
    """Create the users, orgs, teams and repositories a seed file describes; return tokens."""
    tokens: dict[str, str] = {}
    for user in spec.get("users") or []:
        if isinstance(user, str):
            user = {"login": user}
        tokens[user["login"]] = sandbox.add_user(
            user["login"],
            token=user.get("token"),
            name=user.get("name"),
            email=user.get("email"),
            bot=bool(user.get("bot", False)),
        )
    for org, body in (spec.get("orgs") or {}).items():
        body = body or {}
        sandbox.add_org(org, members=body.get("members") or [], admins=body.get("admins") or [])
        for slug, members in (body.get("teams") or {}).items():
            sandbox.add_team(org, slug, members=members or [])
    for repo in spec.get("repos") or []:
        files = {
            k: v.encode() if isinstance(v, str) else v for k, v in (repo.get("files") or {}).items()
        }
        sandbox.create_repo(
            repo["owner"],
            repo["name"],
            files,
            collaborators=repo.get("collaborators") or {},
            teams=repo.get("teams"),
            private=bool(repo.get("private", False)),
            default_branch=repo.get("default_branch", "main"),
        )
        full_name = f"{repo['owner']}/{repo['name']}"
        for branch, body in (repo.get("protection") or {}).items():
            sandbox.protect_branch(full_name, branch, body)
        for body in repo.get("rulesets") or []:
            sandbox.create_ruleset(full_name, body)
    for app in spec.get("apps") or []:
        created = sandbox.create_app(
            app["slug"], app["owner"], app.get("permissions"), app.get("events") or []
        )
        for account in app.get("install") or []:
            sandbox.install_app(created, account)
    return tokens


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="launcher sandbox")
    sub = parser.add_subparsers(dest="service", required=True)
    gh = sub.add_parser("github", help="serve a local stand-in of GitHub's REST API")
    gh.add_argument("--host", default="127.0.0.1")
    gh.add_argument("--port", type=int, default=0, help="0 picks a free port")
    gh.add_argument(
        "--state-dir",
        type=Path,
        default=None,
        help="where bare repositories live (default: a temp dir, removed on exit)",
    )
    gh.add_argument("--seed", type=Path, default=None, help="JSON/YAML seed file")
    args = parser.parse_args(argv)

    sandbox = GitHubSandbox(state_dir=args.state_dir, host=args.host, port=args.port)
    try:
        sandbox.start()
        tokens: dict[str, str] = {}
        if args.seed is not None:
            text = args.seed.read_text()
            spec = json.loads(text) if args.seed.suffix == ".json" else yaml.safe_load(text)
            tokens = seed(sandbox, spec or {})
        print(f"URL {sandbox.url}", flush=True)
        for login, token in tokens.items():
            print(f"TOKEN {login} {token}", flush=True)
        for app in sandbox.gh.apps.apps.values():
            if app.bot_login.lower() in sandbox.gh.apps.legacy:
                continue  # a bot=True user: its token is printed above
            key = sandbox.state_dir / "apps" / f"{app.slug}.pem"
            key.parent.mkdir(parents=True, exist_ok=True)
            key.write_bytes(app.private_key_pem())
            key.chmod(0o600)
            print(f"APP {app.slug} {app.id} {key}", flush=True)
        for repo in sandbox.gh.state.repos.values():
            print(f"REPO {repo.full_name} {repo.git.path}", flush=True)
        print("READY", flush=True)
        signal.signal(signal.SIGTERM, _interrupt)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
    except (OSError, ValueError, KeyError) as exc:
        print(f"launcher sandbox: {exc}", file=sys.stderr)
        return 1
    finally:
        sandbox.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
