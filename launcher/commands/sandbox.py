"""`launcher sandbox github --port N`: run the local GitHub API stand-in."""

from __future__ import annotations

import argparse
from typing import Any


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "sandbox",
        help="run a local stand-in (github) for trying launcher without GitHub",
        description="Run a local stand-in server. `launcher sandbox github --help` for options.",
        add_help=True,
    )
    parser.add_argument("rest", nargs=argparse.REMAINDER, metavar="github [OPTIONS]")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from launcher.sandbox.cli import main

    return main(args.rest)
