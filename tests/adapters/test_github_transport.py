"""launcher serve's PyGithub transport (urllib3 without requests): the adapter reads and writes
through it as through requests, retries what PyGithub's retry object retries, and it is not
installed where a proxy is configured (requests honours proxies; it does not)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from github.Requester import Requester

from launcher.adapters import github_transport
from launcher.adapters.github import GitHub, Settings
from launcher.sandbox.github import GitHubSandbox

ATTRIBUTES = ("_Requester__httpConnectionClass", "_Requester__httpsConnectionClass")


@pytest.fixture
def installed(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[str, int | None]]]:
    for name in ATTRIBUTES:  # restored after the test
        monkeypatch.setattr(Requester, name, getattr(Requester, name))
    for variable in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(variable, raising=False)
    seen: list[tuple[str, int | None]] = []
    monkeypatch.setattr(github_transport, "observers", [lambda m, s: seen.append((m, s))])
    assert github_transport.install()
    yield seen


def test_the_adapter_reads_and_writes_through_urllib3_alone(
    installed: list[tuple[str, int | None]],
) -> None:
    with GitHubSandbox() as sb:
        token = sb.add_user("ann")
        sb.create_repo("ann", "infra", {"pools.yaml": b"pools: {}\n"})
        gh = GitHub(
            Settings(
                repository="ann/infra", token=token, api_url=sb.url, throttle=False, bot_login="ann"
            )
        )
        main = sb.branch_sha("ann/infra", "main")
        assert gh.read_file("pools.yaml", main) == b"pools: {}\n"
        assert gh.read_file("missing.yaml", main) is None  # a 404 is still "not there"
        assert gh.default_branch() == "main"
        sb.push_files("ann/infra", "ann/1", {"a.txt": "a\n"}, "a", "ann", base="main")
        pull = (
            sb.client(token)
            .get_repo("ann/infra")
            .create_pull(title="a", body="why", head="ann/1", base="main")
        )
        assert gh.upsert_comment(pull.number, "<!-- mark -->", "<!-- mark -->\nhello", None)
        found = gh.find_comment(pull.number, "<!-- mark -->")
        assert found is not None and "hello" in found.body
    assert ("GET", 200) in installed and ("GET", 404) in installed and ("POST", 201) in installed


def test_failed_reads_are_retried_as_pygithub_asks(
    installed: list[tuple[str, int | None]],
) -> None:
    with GitHubSandbox() as sb:
        token = sb.add_user("ann")
        sb.create_repo("ann", "infra", {"pools.yaml": b"pools: {}\n"})
        gh = GitHub(
            Settings(
                repository="ann/infra",
                token=token,
                api_url=sb.url,
                throttle=False,
                retries=2,
                backoff=0.01,
            )
        )
        main = sb.branch_sha("ann/infra", "main")
        sb.inject_fault("GET", "/repos/ann/infra/contents/*", kind="error", status=502)
        assert gh.read_file("pools.yaml", main) == b"pools: {}\n"  # the 502, then the file
        assert [r.status for r in sb.requests() if "/contents/" in r.path] == [502, 200]
    assert ("GET", 200) in installed


def test_not_installed_where_a_proxy_is_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ATTRIBUTES:
        monkeypatch.setattr(Requester, name, getattr(Requester, name))
    before = [getattr(Requester, name) for name in ATTRIBUTES]
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.internal:3128")
    assert not github_transport.install()
    assert [getattr(Requester, name) for name in ATTRIBUTES] == before
