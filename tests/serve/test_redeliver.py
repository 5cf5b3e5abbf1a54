"""The service's redelivery of failed deliveries (`AppClient.redeliver_failed`) against the
stand-in's `GET /app/hook/deliveries` and `POST /app/hook/deliveries/{id}/attempts`."""

from __future__ import annotations

import pytest

from launcher.serve import appclient
from launcher.serve.appclient import AppClient
from launcher.serve.config import ServeConfig
from tests.jobs.conftest import World, request

DAY = 86_400.0


def failed_deliveries(world: World, count: int) -> list[int]:
    """`count` pull_request deliveries that failed (nothing listens), newest first."""
    world.sb.set_app_webhook(world.app, "http://127.0.0.1:9/webhook", "s" * 20, ["pull_request"])
    for n in range(count):
        world.open_pr("alice", {f"deployments/dev/r{n}.yaml": request(f"r{n}")})
    assert world.sb.webhooks.wait(30)
    ids = [d.id for d in world.sb.webhooks.deliveries]
    assert len(ids) == count and not any(d.ok for d in world.sb.webhooks.deliveries)
    return sorted(ids, reverse=True)


def client(world: World) -> AppClient:
    key = world.app.private_key_pem().decode()
    return AppClient(ServeConfig(str(world.app.id), key, b"s" * 20, api_url=world.sb.url))


def redeliveries(world: World) -> list[str]:
    return [d.guid for d in world.sb.webhooks.deliveries if d.redelivery]


def test_every_page_is_read_and_a_refused_redelivery_does_not_stop_the_others(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(appclient, "DELIVERIES_PER_PAGE", 2)  # three pages, by GitHub's links
    ids = failed_deliveries(world, 5)
    # GitHub refuses the newest one's redelivery (422): the four older ones still go
    world.sb.inject_fault("POST", "/app/hook/deliveries/{delivery_id}/attempts", status=422)
    assert client(world).redeliver_failed(DAY) == ids[1:]
    assert len(redeliveries(world)) == 4


def test_a_rate_limit_ends_the_round_and_the_next_round_goes_on(world: World) -> None:
    ids = failed_deliveries(world, 3)
    world.sb.inject_fault("POST", "/app/hook/deliveries/{delivery_id}/attempts", "rate_limit")
    app = client(world)
    assert app.redeliver_failed(DAY) == []
    assert app.redeliver_failed(DAY) == ids


def test_a_round_redelivers_a_bounded_number_newest_first(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(appclient, "REDELIVER_PER_ROUND", 2)
    ids = failed_deliveries(world, 3)
    app = client(world)
    assert app.redeliver_failed(DAY) == ids[:2]
    guids = {d.id: d.guid for d in world.sb.webhooks.deliveries}
    assert sorted(redeliveries(world)) == sorted(guids[i] for i in ids[:2])


def test_no_redelivery_beyond_the_three_days_github_keeps() -> None:
    assert appclient.REDELIVERABLE_SECONDS < 3 * DAY
