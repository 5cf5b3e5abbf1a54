"""`--now` only rehearses (issue 18, item 5): a command that acts refuses it without
`--dry-run`, so nobody can run launch or sweep "as of" a time of their choosing."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import run_cli


@pytest.mark.parametrize("command", ["launch", "sweep"])
def test_now_without_dry_run_is_refused_before_anything_is_read(
    command: str, tmp_path: Path
) -> None:
    result = run_cli(tmp_path, command, "--now", "2099-01-01T00:00:00Z")
    assert result.code == 2
    assert f"launcher {command}: --now only rehearses: add --dry-run" in result.err


@pytest.mark.parametrize("command", ["launch", "sweep"])
def test_now_with_dry_run_is_a_rehearsal(
    command: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GITHUB_REPOSITORY", raising=False)
    result = run_cli(tmp_path, command, "--dry-run", "--now", "2099-01-01T00:00:00Z")
    assert "--now only rehearses" not in result.err
    assert "GITHUB_REPOSITORY" in result.err  # it went on to read its settings
