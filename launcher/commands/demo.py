"""`launcher demo`: the whole pipeline locally, narrated, in under a minute."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path
from typing import Any

EXPECTED = {
    "dev/web-frontend": "RUNNING",
    "dev/api": "RUNNING",
    "dev/load-test": "REJECTED",
    "dev/nightly": "FAILED",
    "dev/batch": "EXPIRED",
    "dev/mine": "REFUSED",
}


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="run the whole pipeline locally (GitHub and EC2 stand-ins), narrated",
        description=(
            "Start a local GitHub stand-in and a moto EC2 server, seed a repository from this "
            "repository's pools.yaml and workflows, and play six requests through the real "
            "workflows (gate, launch, sweep) with a controlled clock. Exit 0 when every step "
            "happened as expected, 1 otherwise."
        ),
    )
    parser.add_argument(
        "--keep", action="store_true", help="leave the servers running afterwards (Ctrl-C stops)"
    )
    parser.add_argument("--verbose", action="store_true", help="print every workflow job's log")
    parser.add_argument(
        "--workflows",
        metavar="DIR",
        help="the workflows to run (default: this repository's .github/workflows)",
    )
    parser.add_argument(
        "--serve",
        action="store_true",
        help="the gate answered by `launcher serve` (webhooks) instead of gate.yml; launch and "
        "sweep still run in Actions",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from launcher.demo.stage import REPO, DemoError, Stage
    from launcher.demo.story import run_story
    from launcher.demo.table import render, states

    out = sys.stdout
    stage = Stage(out, verbose=args.verbose, serve=args.serve)
    if args.workflows:
        stage.workflows = Path(args.workflows).resolve()
    try:
        stage.start()
        assert stage.sb is not None and stage.moto is not None
        out.write(
            f"launcher demo: GitHub stand-in at {stage.sb.url}, EC2 (moto) at {stage.moto.url}\n"
            f"repository {REPO}: this repository's pools.yaml and .github/workflows; every event "
            "runs the workflows it triggers"
            + (
                f"; the gate is launcher serve at {stage.service.url}, answering the app's "
                "signed webhooks (gate.yml and review.yml are not run)"
                if args.serve
                else ""
            )
            + "\n\n"
        )
        pulls = run_story(stage, out)
        out.write("\n" + render(stage, pulls) + "\n")
        got = states(stage, pulls)
        wrong = {k: v for k, v in got.items() if EXPECTED.get(k) != v}
        if wrong:
            raise DemoError(f"final states differ from the expected ones: {wrong}")
        if args.keep:
            _keep(stage)
        return 0
    except DemoError as exc:
        print(f"launcher demo failed: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    finally:
        stage.stop()


def _keep(stage: Any) -> None:
    sb, moto = stage.sb, stage.moto
    bot = stage.tokens["launcher-bot"]
    print(
        "\nThe servers keep running until Ctrl-C:\n"
        f"  PyGithub: Github(base_url={sb.url!r}, auth=Auth.Token({bot!r}))"
        ".get_repo('acme/infra')\n"
        f"  boto3:    AWS_ENDPOINT_URL={moto.url} AWS_ACCESS_KEY_ID=testing "
        "AWS_SECRET_ACCESS_KEY=testing AWS_DEFAULT_REGION=us-east-1\n"
        f"  browser:  {sb.url}/repos/acme/infra/pulls  and  {moto.url}/moto-api/"
        " (moto's dashboard)\n"
        f"  tokens:   " + ", ".join(f"{k}={v}" for k, v in sorted(stage.tokens.items())),
        flush=True,
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
