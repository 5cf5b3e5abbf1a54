"""Reading the user's files for commands that run in a checkout."""

from __future__ import annotations

import os
from pathlib import Path

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
