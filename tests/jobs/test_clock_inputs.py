"""No writer can run launcher "as of" a time (issue 18, item 5), end to end: the adopted
repository's real workflows on the local Actions runner, the GitHub stand-in and moto."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from launcher.core.times import parse_instant, utc_iso
from launcher.sandbox.actions import WorkflowError
from tests.conftest import run_cli
from tests.jobs.test_adopted import Adopted, adopted  # noqa: F401 - the fixture
from tests.jobs.test_launch import instances, request, tags

WEB = "deployments/dev/web.yaml"
LATER = "deployments/dev/later.yaml"


def test_no_writer_can_sweep_as_of_2099(adopted: Adopted, tmp_path: Path) -> None:  # noqa: F811
    a, world = adopted, adopted.world
    tomorrow = datetime.now(UTC).replace(microsecond=0) + timedelta(days=1)
    files = {
        WEB: request(max_runtime="8h"),
        LATER: request("later", launch_at=utc_iso(tomorrow)),
    }
    number = world.open_pr("alice", files)
    a.pump()
    assert world.status(number) == ("success", "2 requests may launch")
    assert world.repo("alice").get_pull(number).merge().merged
    a.pump()  # launch.yml: web launches, later is scheduled
    [web] = instances(key="dev/web")
    expires = parse_instant(tags(web)["launcher:expires-at"])
    assert expires == web["LaunchTime"].replace(microsecond=0) + timedelta(hours=8)
    # mallory, a writer, dispatches the sweep "as of 2099": GitHub refuses the input.
    with pytest.raises(WorkflowError, match="unexpected inputs"):
        a.runner.run_workflow(
            "sweep.yml",
            "workflow_dispatch",
            inputs={"now": "2099-01-01T00:00:00Z"},
            actor="mallory",
        )
    # Without it, her dispatch acts at the runner's clock: nothing expires, nothing launches
    # early, no expiry moves.
    jobs = a.runner.run_workflow("sweep.yml", "workflow_dispatch", actor="mallory")
    assert all(job.ok for job in jobs), [job.log() for job in jobs]
    [still] = instances(key="dev/web")
    assert tags(still)["launcher:expires-at"] == utc_iso(expires)
    assert instances(key="dev/later") == []
    # By hand, --now only rehearses.
    refused = run_cli(tmp_path, "sweep", "--now", "2099-01-01T00:00:00Z")
    assert refused.code == 2 and "--now only rehearses: add --dry-run" in refused.err
