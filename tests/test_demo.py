"""`launcher demo` end to end: the real workflows, run as GitHub Actions would run them."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO


def demo(*args: str, timeout: int = 600) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "GITHUB_"))}
    return subprocess.run(
        [sys.executable, "-m", "launcher", "demo", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        check=False,
    )


def test_demo_tells_all_six_stories_and_ends_in_the_expected_states() -> None:
    result = demo()
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    for line in (
        "   PR #1 opened → launcher/approval success: 1 request may launch",
        "   PR #2 opened → launcher/approval pending: waiting for 1 approval from dev approvers",
        "   reviews requested from @dave, @erin",
        "   alice approves (not an approver of dev) → launcher/approval pending: waiting for 1 "
        "approval from dev approvers",
        "   PR #3 → launcher/approval failure: rejected by @erin: Eight is too many for dev: use "
        "two, or ask in the perf pool.",
        "   sweep at",
        "   merged → recorded as SCHEDULED, nothing runs yet",
        "   PR #6 → launcher/approval failure: mallory has no permission on pool dev: ask an admin "
        "(@acme/platform) to add them to create or create_with_approval in pools.yaml",
    ):
        assert line in out
    table = out[out.index("\nrequest ") + 1 :].splitlines()
    states = {row.split()[0]: row.split()[2] for row in table[1:]}
    assert states == {
        "dev/web-frontend": "RUNNING",
        "dev/api": "RUNNING",
        "dev/load-test": "REJECTED",
        "dev/nightly": "FAILED",
        "dev/batch": "EXPIRED",
        "dev/mine": "REFUSED",
    }
    assert "auto_rejected: not approved before the scheduled launch time" in out


def test_a_workflow_calling_the_wrong_command_fails_the_demo(tmp_path: Path) -> None:
    workflows = tmp_path / "workflows"
    shutil.copytree(REPO / ".github" / "workflows", workflows)
    gate = workflows / "gate.yml"
    text = gate.read_text()
    assert 'launcher/run.py" gate' in text
    gate.write_text(text.replace('launcher/run.py" gate', 'launcher/run.py" gait'))
    result = demo("--workflows", str(workflows), timeout=400)
    assert result.returncode == 1
    assert "launcher demo failed: PR #1 has no launcher/approval check run: did gate.yml run?" in (
        result.stderr
    )


def test_a_workflow_passing_the_wrong_variable_fails_the_demo(tmp_path: Path) -> None:
    workflows = tmp_path / "workflows"
    shutil.copytree(REPO / ".github" / "workflows", workflows)
    gate = workflows / "gate.yml"
    text = gate.read_text()
    assert "LAUNCHER_APP_PRIVATE_KEY: ${{" in text
    gate.write_text(text.replace("LAUNCHER_APP_PRIVATE_KEY: ${{", "LAUNCHER_APP_KEY: ${{"))
    result = demo("--workflows", str(workflows), timeout=400)
    assert result.returncode == 1
    assert "has no launcher/approval check run" in result.stderr
