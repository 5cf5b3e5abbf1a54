"""`launcher codeowners` writes CODEOWNERS from pools.yaml and --check catches drift."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import REPO, run_cli

POOLS = """\
version: 1
admins: ["@acme/platform", root]
groups:
  owners: [dave, "@acme/leads"]
pools:
  dev:
    permissions: {create: [alice], create_with_approval: [bob], modify: ["group:owners"]}
  ops:
    permissions: {create: [carol]}
"""


def test_admins_own_everything_but_the_requests(tmp_path: Path) -> None:
    (tmp_path / "pools.yaml").write_text(POOLS)
    result = run_cli(tmp_path, "codeowners")
    assert (result.code, result.out) == (0, "wrote .github/CODEOWNERS\n")
    lines = (tmp_path / ".github/CODEOWNERS").read_text().splitlines()
    rules = [line.split() for line in lines if line and not line.startswith("#")]
    assert rules == [
        ["*", "@acme/platform", "@root"],
        ["/pools.yaml", "@acme/platform", "@root"],
        ["/launcher/", "@acme/platform", "@root"],
        ["/.github/", "@acme/platform", "@root"],
        ["/pyproject.toml", "@acme/platform", "@root"],
        ["/deployments/"],  # no owners: launcher/approval judges requests
    ]


def test_check_detects_drift(tmp_path: Path) -> None:
    (tmp_path / "pools.yaml").write_text(POOLS)
    assert run_cli(tmp_path, "codeowners", "--check").code == 1
    run_cli(tmp_path, "codeowners")
    assert run_cli(tmp_path, "codeowners", "--check").code == 0
    (tmp_path / "pools.yaml").write_text(POOLS.replace("root]", "root, erin]"))
    result = run_cli(tmp_path, "codeowners", "--check")
    assert result.code == 1
    assert result.out == (
        ".github/CODEOWNERS is out of date: run `launcher codeowners` and commit the result\n"
    )


def test_invalid_pools_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "pools.yaml").write_text("version: 2\n")
    result = run_cli(tmp_path, "codeowners")
    assert result.code == 2
    assert "pools.yaml:1:10: error: version: must be 1, not 2" in result.err


def test_repository_codeowners_is_current() -> None:
    assert run_cli(REPO, "codeowners", "--check").code == 0
