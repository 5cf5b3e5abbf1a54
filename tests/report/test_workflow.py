"""report.yml on the local Actions runner against the GitHub stand-in: it builds the site
(EC2 skipped: no AWS role configured) and hands it to the Pages actions (no-ops locally)."""

from __future__ import annotations

import pytest

from launcher.sandbox.actions import load_workflow, triggers
from tests.conftest import REPO
from tests.jobs.conftest import World, app_runner, request

WORKFLOWS = REPO / ".github" / "workflows"
REPORT = WORKFLOWS / "report.yml"


def test_report_runs_after_launch_and_sweep_and_on_demand() -> None:
    wf = load_workflow(REPORT)
    for name in ("launcher launch", "launcher sweep"):
        event = {"action": "completed", "workflow": {"name": name}}
        assert triggers(wf, "workflow_run", event, lambda: [])
    assert triggers(wf, "workflow_dispatch", {}, lambda: [])
    assert not triggers(wf, "push", {"ref": "refs/heads/main"}, lambda: [])
    text = REPORT.read_text()
    assert "${{" not in "".join(line for line in text.splitlines() if "run:" in line)


def test_report_workflow_builds_the_site(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    number = world.open_pr("bob", {"deployments/dev/web.yaml": request()})
    world.gate(number)
    runner = app_runner(
        world,
        WORKFLOWS,
        extra_env={"LAUNCHER_GITHUB_THROTTLE": "0", "AWS_CONFIG_FILE": "/nonexistent"},
    )
    build, deploy = runner.run_workflow("report.yml", "workflow_dispatch")
    assert build.ok, build.log()
    assert deploy.ok, deploy.log()
    names = [s.name for s in build.steps]
    assert names[-2:] == ["Build the dashboard", "Upload the site"]
    log = build.log()
    assert "site/index.html" in log and "site/pool-dev.html" in log
