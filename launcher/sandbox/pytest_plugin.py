"""pytest fixtures for the GitHub stand-in.

Use from a conftest with::

    from launcher.sandbox.pytest_plugin import github_sandbox, github_sandbox_checks  # noqa: F401

``github_sandbox`` yields a started :class:`GitHubSandbox` (fresh state, own temp dir)
and stops it afterwards. At teardown it fails the test if a handler raised, and runs
every callable returned by ``github_sandbox_checks`` (override that fixture to add
checks, e.g. the OpenAPI conformance check in ``tests/sandbox/conftest.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from launcher.sandbox.github import GitHubSandbox

SandboxCheck = Callable[[GitHubSandbox], list[str]]


@pytest.fixture
def github_sandbox_checks() -> list[SandboxCheck]:
    """Checks run on the sandbox at teardown; each returns a list of problems."""
    return []


@pytest.fixture
def github_sandbox(github_sandbox_checks: list[SandboxCheck]) -> Iterator[GitHubSandbox]:
    """A started GitHub stand-in, stopped (and its temp dir removed) afterwards."""
    sandbox = GitHubSandbox(record_responses=True).start()
    try:
        yield sandbox
    finally:
        sandbox.stop()
    errors = [repr(e) for e in sandbox.server_errors]
    for check in github_sandbox_checks:
        errors += check(sandbox)
    if errors:
        pytest.fail("GitHub sandbox problems:\n  " + "\n  ".join(errors), pytrace=False)
