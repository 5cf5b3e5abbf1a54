"""A deployment record written by another workflow cannot extend a run past its pool's cap
(issue 18, item 6), end to end on the GitHub stand-in and moto: in app mode it is not read at
all (not launcher's app); in trial mode (the same github-actions identity, forgeable) the cap
from EC2's LaunchTime still ends the run."""

from __future__ import annotations

import io
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from launcher.adapters.github import GitHub
from launcher.core.deployments import LAUNCH_TASK
from launcher.core.record import decode, encode
from launcher.jobs.launch import LaunchOptions, LaunchReport, run_launch
from tests.jobs.conftest import World
from tests.jobs.test_launch import WEB, comment_bodies, instances, merged, new_ec2, request

FAR = datetime(2099, 1, 1, tzinfo=UTC)


def run(world: World, now: datetime, *, trial: bool = False) -> LaunchReport:
    options = LaunchOptions(now=now)
    return run_launch(GitHub(world.settings(trial=trial)), new_ec2(), options, io.StringIO())


def forge(world: World, token: str) -> int:
    """Copy launcher's newest record of dev/web with the expiry in 2099 and a 10-year
    runtime, and write it with `token` (another workflow's GITHUB_TOKEN)."""
    repo = world.sb.client(token).get_repo(world.repo_name)
    [real, *_] = list(repo.get_deployments(environment="dev/web"))
    record = decode(real.payload, "dev/web")
    assert record is not None and record.expires_at is not None
    forged = replace(record, expires_at=FAR, max_runtime=timedelta(days=3650))
    made = repo.create_deployment(
        ref=real.sha,
        task=LAUNCH_TASK,
        environment="dev/web",
        payload=encode(forged),
        required_contexts=[],
        auto_merge=False,
    )
    made.create_status("success", description="running until 2099")
    return int(made.id)


def launched(world: World, *, trial: bool = False) -> tuple[int, list[dict[str, Any]], datetime]:
    number = merged(world, "alice", {WEB: request(max_runtime="2d")})
    start = datetime.now(UTC)
    report = run(world, start, trial=trial)
    assert report.exit_code == 0, (report.failed, report.errors)
    running = instances(key="dev/web")
    assert len(running) == 1
    return number, running, start


def test_another_workflows_record_is_not_read_in_app_mode(launch_world: World) -> None:
    world = launch_world
    number, _, start = launched(world)
    other = world.sb.installation_token("github-actions", world.repo_name, {"deployments": "write"})
    forge(world, other)
    report = run(world, start + timedelta(days=2, hours=1))
    assert report.exit_code == 0, (report.failed, report.errors)
    assert any(line.startswith("expired dev/web") for line in report.done), report.done
    assert instances(key="dev/web") == []
    assert any(
        "@alice" in b and "reached its max_runtime" in b for b in comment_bodies(world, number)
    )


def test_a_forged_record_in_trial_mode_cannot_pass_the_files_runtime(launch_world: World) -> None:
    """Trial mode: the forged record carries launcher's own identity (that is why trial mode
    is forgeable, docs/security.md), so the launch job does not take a request's runtime from
    records there: it reads the file again, and its 2 days hold (and the pool's 7-day cap,
    counted from EC2's LaunchTime, bounds any record)."""
    world = launch_world
    _, _, start = launched(world, trial=True)
    forge(world, world.tokens["launcher-bot"])  # the same identity as trial mode's records
    kept = run(world, start + timedelta(days=1), trial=True)
    assert kept.exit_code == 0 and len(instances(key="dev/web")) == 1  # within its 2 days
    ended = run(world, start + timedelta(days=2, hours=1), trial=True)
    assert ended.exit_code == 0, (ended.failed, ended.errors)
    assert instances(key="dev/web") == [], ended.done
