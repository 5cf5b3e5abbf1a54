"""Shared fixtures. Server fixtures (GitHub stand-in, moto) live in their own plugin modules."""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Iterator
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path

import pytest

from launcher.cli import main
from launcher.sandbox import clock

pytest_plugins = ["tests.fixtures_ec2"]

REPO = Path(__file__).resolve().parent.parent


@dataclass
class Result:
    code: int
    out: str
    err: str


def run_cli(cwd: Path, *args: str) -> Result:
    """Run `launcher ARGS` in-process from `cwd`, as a user would from their checkout."""
    out, err = io.StringIO(), io.StringIO()
    before = Path.cwd()
    os.chdir(cwd)
    try:
        with redirect_stdout(out), redirect_stderr(err):
            try:
                code = main(list(args))
            except SystemExit as exc:  # argparse usage errors
                code = int(exc.code or 0)
    finally:
        os.chdir(before)
    return Result(code, out.getvalue(), err.getvalue())


@pytest.fixture
def example_repo(tmp_path: Path) -> Path:
    """A checkout holding the repository's own pools.yaml and example requests."""
    (tmp_path / "pools.yaml").write_bytes((REPO / "pools.yaml").read_bytes())
    for path in (REPO / "deployments").rglob("*.yaml"):
        target = tmp_path / path.relative_to(REPO)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(path.read_bytes())
    return tmp_path


@pytest.fixture
def cli() -> Callable[..., Result]:
    return run_cli


@pytest.fixture(autouse=True)
def _sandbox_clock_back_to_real_time() -> Iterator[None]:
    """Each test starts on the OS clock: a test that moves the sandbox clock and fails before
    moving it back must not leave later tests (and their tokens' validity) in its future."""
    clock.CLOCK.reset()
    yield
    clock.CLOCK.reset()
