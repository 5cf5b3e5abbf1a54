"""`launcher serve`: the gate as a GitHub App webhook service (docs/serve.md)."""

from __future__ import annotations

import argparse
import sys
from typing import Any


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "serve",
        help="answer launcher's GitHub App webhooks: the gate as a service (docs/serve.md)",
        description=(
            "Receive the app's webhooks for every repository it is installed on and publish "
            "launcher/approval as the gate job does. Configured only by the environment: "
            "LAUNCHER_APP_ID, LAUNCHER_APP_PRIVATE_KEY_FILE (or LAUNCHER_APP_PRIVATE_KEY), "
            "LAUNCHER_WEBHOOK_SECRET (or LAUNCHER_WEBHOOK_SECRET_FILE), GITHUB_API_URL outside "
            "github.com, and LAUNCHER_SERVE_HOST, _PORT, _WORKERS, _QUEUE_LIMIT, "
            "_RECHECK_SECONDS, _REDELIVER_SECONDS, _MATCH (the instance-match preview, with "
            "read-only AWS credentials at most from the standard chain), _MATCH_SECONDS, "
            "_MATCH_CACHE_SECONDS, _GITHUB_CONCURRENCY. Needs the serve extra "
            "(pip install 'launcher[serve]')."
        ),
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from launcher.serve.config import ConfigError, ServeConfig

    try:
        config = ServeConfig.from_env()
    except ConfigError as exc:
        print(f"launcher serve: {exc}", file=sys.stderr)
        return 2
    try:
        from launcher.serve.app import serve
    except ImportError as exc:
        print(
            f"launcher serve: {exc.name} is missing: pip install 'launcher[serve]'",
            file=sys.stderr,
        )
        return 2
    serve(config)
    return 0
