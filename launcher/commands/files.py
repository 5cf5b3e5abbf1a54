"""Reading the user's files for commands that run in a checkout."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from launcher.core.documents import load_policy
from launcher.core.model import Policy
from launcher.core.yamlsafe import MAX_BYTES


def repo_path(path: Path) -> str:
    """The path as the repository names it (relative to the current folder, with slashes)."""
    if not path.is_absolute():
        return os.path.normpath(path).replace(os.sep, "/")
    try:
        return path.resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return path.as_posix()


def read_limited(path: Path) -> bytes:
    """At most one byte past the size limit: the loader reports the size, we never slurp."""
    with path.open("rb") as handle:
        return handle.read(MAX_BYTES + 1)


def load_policy_file(path: str, command: str) -> Policy | None:
    """pools.yaml at `path` for a command that writes files from it (codeowners, iam-policy);
    None after printing why on stderr (the command then exits 2)."""
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        print(f"launcher {command}: cannot read {path}: {exc.strerror}", file=sys.stderr)
        return None
    policy, problems = load_policy(raw, path)
    if policy is None:
        for problem in problems:
            print(problem, file=sys.stderr)
    return policy
