"""When the expiry backstop ends a launch's instances before any run does, the next sweep or
launch run records that end exactly as the sweep's own expiry would: the same comment (once,
same marker), the deployment inactive with the same description. On the GitHub stand-in and
a moto server; schedules fired as EventBridge Scheduler would (launcher.sandbox.scheduler)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from launcher.core.backstop import backstop_name
from launcher.sandbox.github import GitHubSandbox
from launcher.sandbox.moto import MotoServer
from launcher.sandbox.scheduler import fire_due
from tests.jobs.conftest import World
from tests.jobs.test_backstop import API, BACKSTOP_POOLS, ids, merge_sha, scheduler, sweep
from tests.jobs.test_launch import NOW, WEB, comment_bodies, launch, merged, request, statuses

EXPIRED = ("inactive", "expired: max_runtime reached")
MARKER = re.compile(r"<!-- launcher:launch (\S+) \S+ expired -->")


@pytest.fixture
def world(launch_world: World) -> World:
    """The launch world with a backstop on its one provider (as tests.jobs.test_backstop)."""
    launch_world.sb.push_files(
        launch_world.repo_name, "main", {"pools.yaml": BACKSTOP_POOLS}, "backstop", "pat"
    )
    return launch_world


def expiry_comments(world: World, number: int) -> list[str]:
    return [body for body in comment_bodies(world, number) if MARKER.search(body)]


def writes(sb: GitHubSandbox) -> list[str]:
    return [
        k
        for k in sb.request_counts()
        if k.startswith(("POST", "PATCH", "PUT", "DELETE")) and not k.startswith("POST /app/")
    ]


def status_reads(sb: GitHubSandbox) -> int:
    return sum(
        n for k, n in sb.request_counts().items() if k.startswith("GET") and "/statuses" in k
    )


def test_the_sweep_records_an_end_the_backstop_carried_out_as_its_own_expiry(
    world: World, moto_server: MotoServer
) -> None:
    web_pr = merged(world, "alice", {WEB: request(max_runtime="2h")})
    api_pr = merged(world, "alice", {API: request("api", max_runtime="2h")})
    assert launch(world).exit_code == 0
    web, api = ids("dev/web"), ids("dev/api")
    # dev/api's schedule is lost: the sweep ends it itself, the reference for dev/web
    scheduler().delete_schedule(Name=backstop_name("dev/api", merge_sha(world, api_pr)))
    [fired] = fire_due(moto_server.url, NOW + timedelta(hours=2))
    assert fired.input == {"InstanceIds": web} and ids("dev/web") == []
    assert statuses(world, "dev/web")[-1][-1][0] == "success"  # nothing recorded it yet

    later = NOW + timedelta(hours=2, minutes=5)
    dry = sweep(world, later, dry_run=True)
    assert "dev/web: ended by its expiry backstop at 2026-12-01T11:00:00Z, not yet recorded" in (
        dry.reconciled
    )
    assert expiry_comments(world, web_pr) == []
    assert statuses(world, "dev/web")[-1][-1][0] == "success"

    report = sweep(world, later)
    assert report.exit_code == 0, report.errors
    assert ids("dev/api") == []
    assert f"expired dev/web: {', '.join(web)}" in report.budget.done
    assert f"expired dev/api: {', '.join(api)}" in report.budget.done
    # the same records and the same comment as the sweep's own expiry of dev/api
    assert statuses(world, "dev/web")[-1][-1] == statuses(world, "dev/api")[-1][-1] == EXPIRED
    [web_comment] = expiry_comments(world, web_pr)
    [api_comment] = expiry_comments(world, api_pr)
    assert (
        web_comment.replace("dev/web", "KEY").split("-->")[1:]
        == (api_comment.replace("dev/api", "KEY").replace(", ".join(api), ", ".join(web))).split(
            "-->"
        )[1:]
    )
    assert f"`dev/web` reached its max_runtime; terminated {', '.join(web)}." in web_comment

    # once: later runs find it recorded and write nothing
    world.sb.reset_requests()
    again = sweep(world, NOW + timedelta(hours=2, minutes=20))
    assert again.exit_code == 0, again.errors
    assert again.budget.done == [] and again.reconciled == []
    assert launch(world, now=NOW + timedelta(hours=3)).done == []
    assert writes(world.sb) == []
    assert len(expiry_comments(world, web_pr)) == 1
    # the price: one status read per request ended at a provider with a backstop, for a day
    assert status_reads(world.sb) > 0
    world.sb.reset_requests()
    assert sweep(world, NOW + timedelta(days=1, hours=3)).budget.done == []
    assert status_reads(world.sb) == 0


def test_the_launch_job_records_it_too_when_no_sweep_runs(
    world: World, moto_server: MotoServer
) -> None:
    number = merged(world, "alice", {WEB: request(max_runtime="1h")})
    launch(world)
    web = ids("dev/web")
    assert len(fire_due(moto_server.url, NOW + timedelta(hours=1))) == 1
    merged(world, "alice", {"deployments/dev/other.yaml": request("other")})  # a push to main

    report = launch(world, now=NOW + timedelta(hours=1, minutes=1))
    assert report.exit_code == 0, report.errors
    assert f"expired dev/web: {web[0]}" in report.done
    assert statuses(world, "dev/web")[-1][-1] == EXPIRED
    [comment] = expiry_comments(world, number)
    assert comment.startswith("<!-- launcher:launch dev/web ")
    said = f"@alice your launch request `dev/web` reached its max_runtime; terminated {web[0]}."
    assert said in comment

    assert launch(world, now=NOW + timedelta(hours=2)).done == []
    assert len(expiry_comments(world, number)) == 1


def test_the_end_waits_within_max_actions(world: World, moto_server: MotoServer) -> None:
    merged(world, "alice", {WEB: request(max_runtime="1h")})
    merged(world, "alice", {API: request("api", max_runtime="1h")})
    launch(world)
    assert len(fire_due(moto_server.url, NOW + timedelta(hours=1))) == 2
    first = launch(world, now=NOW + timedelta(hours=1, minutes=1), max_actions=1)
    assert [line.split(":")[0] for line in first.done] == ["expired dev/api"]
    assert [a.key for a in first.deferred] == ["dev/web"]
    assert statuses(world, "dev/web")[-1][-1][0] == "success"
    second = launch(world, now=NOW + timedelta(hours=1, minutes=2), max_actions=1)
    assert [line.split(":")[0] for line in second.done] == ["expired dev/web"]
    assert statuses(world, "dev/web")[-1][-1] == EXPIRED


def test_after_a_longer_outage_a_wider_recheck_records_the_end(
    world: World, moto_server: MotoServer
) -> None:
    from launcher.cli import build_parser

    number = merged(world, "alice", {WEB: request(max_runtime="1h")})
    launch(world)
    assert len(fire_due(moto_server.url, NOW + timedelta(hours=1))) == 1
    three_days = NOW + timedelta(days=3)  # GitHub Actions ran nothing meanwhile
    assert sweep(world, three_days).reconciled == []  # beyond the default day: left
    assert statuses(world, "dev/web")[-1][-1][0] == "success"

    args = build_parser().parse_args(["sweep", "--recheck-expired", "4d"])
    report = sweep(world, three_days, recheck_expired=args.recheck_expired)
    assert report.exit_code == 0, report.errors
    assert statuses(world, "dev/web")[-1][-1] == EXPIRED
    assert len(expiry_comments(world, number)) == 1
