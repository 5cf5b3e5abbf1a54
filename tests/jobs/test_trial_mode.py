"""Trial mode (the plain GITHUB_TOKEN): launcher says its writes are forgeable, and the launch
job keeps away from AWS until an admin acknowledges that."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import run_cli
from tests.jobs.conftest import BOT, World
from tests.jobs.test_launch import WEB, instances, merged, request


def trial_env(world: World, monkeypatch: pytest.MonkeyPatch, **extra: str) -> None:
    for name, value in {
        "GITHUB_REPOSITORY": world.repo_name,
        "GITHUB_TOKEN": world.tokens[BOT],
        "GITHUB_API_URL": world.sb.url,
        "LAUNCHER_BOT_LOGIN": BOT,
        "LAUNCHER_GITHUB_THROTTLE": "0",
        "LAUNCHER_TRUSTED_COMMIT": world.sb.branch_sha(world.repo_name, "main"),
        **extra,
    }.items():
        monkeypatch.setenv(name, value)
    for name in ("LAUNCHER_APP_ID", "LAUNCHER_APP_PRIVATE_KEY", "LAUNCHER_TRIAL_ACKNOWLEDGED"):
        if name not in extra:
            monkeypatch.delenv(name, raising=False)


def test_trial_mode_launch_refuses_aws_until_an_admin_acknowledges(
    launch_world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    merged(launch_world, "alice", {WEB: request()})
    trial_env(launch_world, monkeypatch)
    refused = run_cli(tmp_path, "launch")
    assert refused.code == 1
    assert "trial mode" in refused.err and "LAUNCHER_TRIAL_ACKNOWLEDGED=true" in refused.err
    assert instances() == []
    trial_env(launch_world, monkeypatch, LAUNCHER_TRIAL_ACKNOWLEDGED="true")
    allowed = run_cli(tmp_path, "launch")
    assert allowed.code == 0, allowed.err
    assert len(instances(key="dev/web")) == 1


def test_app_mode_launch_needs_no_acknowledgement(
    launch_world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    merged(launch_world, "alice", {WEB: request()})
    trial_env(launch_world, monkeypatch, **launch_world.app_env())
    result = run_cli(tmp_path, "launch")
    assert result.code == 0, result.err
    assert len(instances(key="dev/web")) == 1


def test_trial_mode_sweep_handles_pull_requests_but_not_aws_until_acknowledged(
    launch_world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import launcher.adapters.ec2 as ec2

    connected: list[bool] = []

    class Recorded(ec2.EC2):
        def __init__(self, *args: object, **kwargs: object) -> None:
            connected.append(True)
            super().__init__(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(ec2, "EC2", Recorded)
    merged(launch_world, "alice", {WEB: request()})
    trial_env(launch_world, monkeypatch)
    result = run_cli(tmp_path, "sweep")
    assert result.code == 0, result.err
    assert "trial mode" in result.err and "LAUNCHER_TRIAL_ACKNOWLEDGED=true" in result.err
    assert connected == []  # no AWS client made at all
    trial_env(launch_world, monkeypatch, LAUNCHER_TRIAL_ACKNOWLEDGED="true")
    assert run_cli(tmp_path, "sweep").code == 0
    assert connected == [True]
