"""The sandbox clock: one "now" for the GitHub stand-in, moto and the jobs the runner starts."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from launcher.sandbox import clock
from launcher.sandbox.actions import ActionsRunner
from launcher.sandbox.github import GitHubSandbox
from launcher.sandbox.moto import default_image, moto_server

VENV_BIN = Path(sys.executable).parent
LATER = datetime(2031, 5, 17, 9, 30, tzinfo=UTC)
needs_libfaketime = pytest.mark.skipif(
    clock.find_libfaketime() is None,
    reason="libfaketime is not installed (Debian package libfaketime; `./dev browsers` "
    "installs it): jobs cannot be run on the sandbox clock",
)


@pytest.fixture(autouse=True)
def reset_clock() -> Iterator[None]:
    yield
    clock.CLOCK.reset()


def close_to(a: datetime, b: datetime, seconds: float = 120) -> bool:
    return abs((a - b).total_seconds()) < seconds


def test_the_stand_in_stamps_records_from_the_sandbox_clock(github_sandbox: GitHubSandbox) -> None:
    sb = github_sandbox
    token = sb.add_user("alice")
    sb.create_repo("alice", "infra", {"README.md": "hi"})
    clock.CLOCK.set(LATER)
    repo = sb.client(token).get_repo("alice/infra")
    sha = sb.push_files("alice/infra", "later", {"a.txt": "a"}, "later", "alice", base="main")
    assert close_to(repo.get_commit(sha).commit.author.date, LATER)
    pull = repo.create_pull(title="later", body="", head="later", base="main")
    assert close_to(pull.created_at, LATER)
    clock.CLOCK.advance(timedelta(days=1))
    comment = pull.create_issue_comment("a day later")
    assert close_to(comment.created_at, LATER + timedelta(days=1))


def test_moto_launch_times_follow_the_sandbox_clock() -> None:
    import boto3

    with moto_server() as server:
        client = boto3.client(
            "ec2",
            region_name="us-east-1",
            endpoint_url=server.url,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        clock.CLOCK.set(LATER)
        image = default_image(client, "x86_64")
        answer = client.run_instances(ImageId=image, InstanceType="t3.nano", MinCount=1, MaxCount=1)
        assert close_to(answer["Instances"][0]["LaunchTime"], LATER)


CLOCK_WORKFLOW = """\
name: clock
on: workflow_dispatch
jobs:
  show:
    runs-on: ubuntu-latest
    steps:
      - run: |
          date -u +%Y-%m-%dT%H:%M
          python -c "import datetime; print(datetime.datetime.now(datetime.UTC).year)"
"""


@needs_libfaketime
def test_jobs_run_on_the_sandbox_clock(tmp_path: Path) -> None:
    import subprocess

    bare = tmp_path / "repo.git"
    subprocess.run(["git", "init", "-q", "--bare", str(bare)], check=True)
    wf = tmp_path / "wf"
    wf.mkdir()
    (wf / "clock.yml").write_text(textwrap.dedent(CLOCK_WORKFLOW))
    runner = ActionsRunner(
        bare, wf, repository="acme/infra", api_url="http://127.0.0.1:9", token="ghs_clocktoken",
        python_bin_dir=VENV_BIN,
    )  # fmt: skip
    clock.CLOCK.set(LATER)
    (job,) = runner.run_workflow("clock.yml", "workflow_dispatch", sha="0" * 40)
    assert job.ok, job.log()
    shown, year = job.steps[0].stdout.split()
    assert close_to(datetime.fromisoformat(shown).replace(tzinfo=UTC), LATER)
    assert year == "2031"
    clock.CLOCK.reset()
    (job,) = runner.run_workflow("clock.yml", "workflow_dispatch", sha="0" * 40)
    assert job.steps[0].stdout.split()[1] == str(datetime.now(UTC).year)


def test_a_moved_clock_without_libfaketime_fails_the_job(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LAUNCHER_LIBFAKETIME", str(tmp_path / "missing.so"))
    bare = tmp_path / "repo.git"
    wf = tmp_path / "wf"
    wf.mkdir()
    (wf / "clock.yml").write_text(textwrap.dedent(CLOCK_WORKFLOW))
    runner = ActionsRunner(
        bare, wf, repository="acme/infra", api_url="http://127.0.0.1:9", token="ghs_clocktoken",
        python_bin_dir=VENV_BIN,
    )  # fmt: skip
    clock.CLOCK.set(LATER)
    (job,) = runner.run_workflow("clock.yml", "workflow_dispatch", sha="0" * 40)
    assert job.result == "failure"
    assert "libfaketime is not installed" in job.steps[0].stderr


def test_the_clock_moves_over_the_sandbox_endpoint(github_sandbox: GitHubSandbox) -> None:
    import requests

    url = f"{github_sandbox.url}/_sandbox/clock"
    moved = requests.post(url, json={"now": "2031-05-17T09:30:00Z"}, timeout=10).json()
    assert moved["now"].startswith("2031-05-17T09:3")
    assert close_to(clock.CLOCK.now(), LATER)
    later = requests.post(url, json={"advance_seconds": 3600}, timeout=10).json()
    assert later["now"].startswith("2031-05-17T10:3")
    assert requests.post(url, json={"now": "2031-05-17T09:30"}, timeout=10).status_code == 422
    assert requests.post(url, json={"reset": True}, timeout=10).json()["offset_seconds"] == 0


def test_the_sweep_workflow_takes_no_time_input() -> None:
    """The demo moves time through the stand-ins; a repository's workflow never can."""
    from launcher.sandbox.actions import load_workflow
    from tests.conftest import REPO

    for path in sorted((REPO / ".github" / "workflows").glob("*.yml")):
        inputs = (load_workflow(path).on.get("workflow_dispatch") or {}).get("inputs") or {}
        assert not [name for name in inputs if name in ("now", "time", "as-of", "at")], path
