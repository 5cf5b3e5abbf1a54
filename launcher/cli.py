"""The `launcher` command: one subcommand per module in `launcher.commands`.

Exit codes are the same everywhere: 0 all good, 1 the thing checked is not good (invalid,
refused, no match), 2 the command could not run as asked (usage, unreadable input).
"""

from __future__ import annotations

import argparse
import importlib
import sys

from launcher import __version__

# Subcommands, each a module with add_parser(subparsers) and run(args) -> int.
COMMANDS = (
    "validate",
    "match",
    "gate",
    "launch",
    "sweep",
    "pending",
    "status",
    "report",
    "demo",
    "codeowners",
    "iam_policy",
    "doctor",
    "sandbox",
    "serve",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="launcher",
        description="Approval-gated cloud launches driven by pull requests.",
    )
    parser.add_argument("--version", action="version", version=f"launcher {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        importlib.import_module(f"launcher.commands.{name}").add_parser(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 1


if __name__ == "__main__":
    sys.exit(main())
