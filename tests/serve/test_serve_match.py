"""The instance-match preview in `launcher serve`: the same warnings as the Actions gate.

End to end, `launcher serve` runs as its own process configured by the environment, against
the GitHub stand-in and a moto EC2 server; the Actions-mode gate (`run_gate(match=True)`, what
`launcher gate` runs) decides the same pull requests on a second stand-in. Then the caches of
`launcher.serve.match` on their own.
"""

from __future__ import annotations

import io
import re
import threading
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from launcher.adapters.github import GitHub
from launcher.core.documents import load_policy, load_request
from launcher.core.model import LaunchRequest, Policy
from launcher.jobs import match_preview
from launcher.jobs.gate import run_gate
from launcher.sandbox.github import GitHubSandbox
from launcher.sandbox.moto import default_image, launch_tagged
from launcher.serve.config import ConfigError, ServeConfig
from launcher.serve.match import ServeMatcher
from tests.jobs.conftest import POOLS, World, request
from tests.serve.conftest import SECRET, Served, seed_world, serve_world

WEB = "deployments/dev/web.yaml"
HUGE = "deployments/dev/huge.yaml"
NO_CREDENTIALS = (
    "instance match skipped: no AWS credentials or endpoint (set AWS_ENDPOINT_URL or AWS "
    "credentials)"
)
# The credential chain finds nothing and probes nothing (no files, no instance metadata).
NO_AWS = {
    "AWS_CONFIG_FILE": "/dev/null",
    "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_DEFAULT_REGION": "us-east-1",
}
# A budget no loaded test machine reaches: the end-to-end answers never depend on timing.
PATIENCE = 300.0
PATIENT = {"LAUNCHER_SERVE_MATCH_SECONDS": str(PATIENCE)}


def pools_with_provider(ami: str) -> str:
    """The job tests' pools, dev placed on moto's us-east-1 (t3 only) with a real AMI."""
    return POOLS.replace("ami-0123456789abcdef0", ami).replace(
        "    request_ttl: 14d\n",
        "    request_ttl: 14d\n    providers:\n"
        "      - {name: dev-use1, region: us-east-1, instance_types: ['t3.*']}\n",
    )


def huge() -> str:
    """A request no t3 type can hold (32 vCPUs, 256 GiB)."""
    return request("huge").replace(
        "hardware_profile: small", "hardware: {vcpus: 32, memory_gib: 256}"
    )


PULLS: list[tuple[str, dict[str, str | None]]] = [
    ("alice", {HUGE: huge()}),  # matches nothing
    ("alice", {WEB: request()}),  # matches a t3
]


def comment_of(w: World, number: int) -> str:
    (comment,) = [c for c in w.comments(number) if c.user.login == "launcher[bot]"]
    return str(comment.body)


def check_summary(w: World, number: int) -> str:
    repo = w.repo("alice")
    for run in repo.get_commit(repo.get_pull(number).head.sha).get_check_runs(
        check_name="launcher/approval"
    ):
        if run.app.slug == "launcher":
            return str(run.output.summary)
    raise AssertionError(f"#{number}: no check run of launcher's")


def actions_mode(tmp: Path, pools: str | None) -> list[tuple[tuple[str, str] | None, str]]:
    """(verdict, comment) of each pull request of PULLS, decided by the Actions-mode gate
    (with its instance-match preview, in this process's AWS environment)."""
    tmp.mkdir(parents=True, exist_ok=True)
    seen = []
    with GitHubSandbox(record_responses=False) as sb:
        w = seed_world(sb, tmp)
        if pools is not None:
            sb.push_files(w.repo_name, "main", {"pools.yaml": pools}, "providers", "pat")
        for author, files in PULLS:
            number = w.open_pr(author, files)
            run_gate(GitHub(w.settings()), number, out=io.StringIO(), match=True)
            seen.append((w.status(number), comment_of(w, number)))
    return seen


def previews(metrics: str) -> set[str]:
    """The outcomes the replica's instance-match previews had (launcher_match_previews_total)."""
    found = re.findall(
        r'^launcher_match_previews_total\{outcome="(\w+)"\} ([0-9.]+)$', metrics, re.M
    )
    return {outcome for outcome, count in found if float(count) > 0}


def served_mode(s: Served) -> list[tuple[tuple[str, str] | None, str]]:
    seen = []
    for author, files in PULLS:
        number = s.world.open_pr(author, files)
        s.settle()
        seen.append((s.world.status(number), comment_of(s.world, number)))
    return seen


@pytest.fixture
def moto_pools(world: World, moto_server: Any) -> str:
    import boto3

    ami = default_image(boto3.client("ec2", region_name="us-east-1"), "x86_64")
    pools = pools_with_provider(ami)
    world.sb.push_files(world.repo_name, "main", {"pools.yaml": pools}, "providers", "pat")
    return pools


def test_the_service_warns_of_no_match_as_the_actions_gate_does(
    world: World, moto_server: Any, moto_pools: str, tmp_path: Path
) -> None:
    served = serve_world(world, **moto_server.env("us-east-1"), **PATIENT)
    try:
        seen = served_mode(served)
        metrics = served.replicas[0].metrics()
    finally:
        served.stop()
    (huge_verdict, huge_comment), (web_verdict, web_comment) = seen
    # The warning never changes the verdict: alice (create) may launch both.
    assert huge_verdict == web_verdict == ("success", "1 request may launch")
    assert (
        f"- `{HUGE}`: dev-use1: no allowed instance type offers 32 vCPU / 256 GiB / x86_64"
        in huge_comment.splitlines()
    )
    assert "**Warnings**" not in web_comment  # a t3 fits: nothing to warn of
    assert "instance match skipped" not in huge_comment + web_comment
    assert seen == actions_mode(tmp_path / "actions", moto_pools)
    assert "no allowed instance type offers 32 vCPU" in check_summary(world, 1)
    assert previews(metrics) == {"answered"}  # every preview answered, none skipped or slow


def test_without_aws_credentials_the_service_says_the_match_was_skipped(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in NO_AWS.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
                 "AWS_ENDPOINT_URL", "AWS_PROFILE"):  # fmt: skip
        monkeypatch.delenv(name, raising=False)
    served = serve_world(world, **NO_AWS, **PATIENT)
    try:
        seen = served_mode(served)
        log = served.replicas[0].log()
        metrics = served.replicas[0].metrics()
    finally:
        served.stop()
    for (verdict, comment), (_, files) in zip(seen, PULLS, strict=True):
        (path,) = files
        assert verdict == ("success", "1 request may launch")
        assert f"- `{path}`: {NO_CREDENTIALS}" in comment.splitlines()
    assert seen == actions_mode(tmp_path / "actions", None)
    assert not [e for e in log if e.get("level") == "error"]
    assert previews(metrics) == {"skipped"}


def test_launcher_serve_match_false_leaves_the_preview_out(world: World) -> None:
    served = serve_world(world, LAUNCHER_SERVE_MATCH="false", **NO_AWS)
    try:
        number = world.open_pr("alice", {WEB: request()})
        served.settle()
    finally:
        served.stop()
    assert world.status(number) == ("success", "1 request may launch")
    assert "instance match" not in comment_of(world, number)


# --- configuration --------------------------------------------------------------------------

BASE = {"LAUNCHER_APP_ID": "1", "LAUNCHER_APP_PRIVATE_KEY": "k", "LAUNCHER_WEBHOOK_SECRET": SECRET}


def test_match_is_on_by_default_and_can_be_turned_off() -> None:
    config = ServeConfig.from_env(BASE)
    assert (config.match, config.match_seconds, config.match_cache_seconds) == (True, 2.0, 300.0)
    off = ServeConfig.from_env({**BASE, "LAUNCHER_SERVE_MATCH": "false"})
    assert off.match is False
    tuned = ServeConfig.from_env(
        {**BASE, "LAUNCHER_SERVE_MATCH_SECONDS": "0.5", "LAUNCHER_SERVE_MATCH_CACHE_SECONDS": "60"}
    )
    assert (tuned.match_seconds, tuned.match_cache_seconds) == (0.5, 60.0)
    with pytest.raises(ConfigError, match="LAUNCHER_SERVE_MATCH must be true or false"):
        ServeConfig.from_env({**BASE, "LAUNCHER_SERVE_MATCH": "maybe"})


# --- the caches -----------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def requests_of(pools: str, files: dict[str, str]) -> tuple[list[LaunchRequest], Policy]:
    policy, problems = load_policy(pools.encode())
    assert policy is not None, problems
    loaded = [load_request(raw.encode(), path, policy)[0] for path, raw in files.items()]
    assert all(r is not None for r in loaded)
    return [r for r in loaded if r is not None], policy


def test_no_credentials_are_looked_up_once_per_period() -> None:
    clock, asked = Clock(), []

    def credentials(session: Any) -> str | None:
        asked.append(session)
        return "no AWS credentials or endpoint (set AWS_ENDPOINT_URL or AWS credentials)"

    matcher = ServeMatcher(
        clock=clock,
        credentials_seconds=60,
        session=object,
        credentials=credentials,
        budget_seconds=PATIENCE,
    )
    requests, policy = requests_of(POOLS, {WEB: request()})
    try:
        for _ in range(5):  # five verdicts in a burst: one look at the credential chain
            assert matcher(requests, policy) == NO_CREDENTIALS
        assert len(asked) == 1
        clock.now += 61  # credentials may have been provided since: look again
        assert matcher(requests, policy) == NO_CREDENTIALS
        assert len(asked) == 2
    finally:
        matcher.close()


def test_catalogues_are_read_once_per_period(moto_server: Any) -> None:
    import boto3

    ec2 = boto3.client("ec2", region_name="us-east-1")
    ami = default_image(ec2, "x86_64")
    pools = pools_with_provider(ami).replace(
        "    request_ttl: 14d\n", "    request_ttl: 14d\n    quota: {instances: 2}\n"
    )
    requests, policy = requests_of(pools, {WEB: request(), HUGE: huge()})
    clock = Clock()
    matcher = ServeMatcher(
        clock=clock, catalogue_seconds=300, usage_seconds=30, budget_seconds=PATIENCE
    )
    try:
        first = matcher(requests, policy)
        assert isinstance(first, dict) and first[WEB] == [] and first[HUGE]
        read = Counter(matcher.calls)
        assert read["ec2.DescribeInstanceTypes"] >= 1 and read["ec2.DescribeInstances"] == 1
        # Two instances of pool dev start: the quota (2) is reached, the service sees it only
        # once its usage is read again.
        launch_tagged(ec2, "dev", "other", image_id=ami, count=2)
        assert matcher(requests, policy) == first  # within both periods: no AWS call
        assert matcher.calls == read
        clock.now += 31  # usage is past its period: used once more, read again meanwhile
        assert matcher(requests, policy) == first
        matcher.drain()
        assert matcher.calls - read == Counter({"ec2.DescribeInstances": 1})
        full = matcher(requests, policy)
        assert isinstance(full, dict)
        assert any("quota reached" in reason for reason in full[WEB]), full[WEB]
        assert full == match_preview.preview_matches(requests, policy)  # as the Actions gate
        again = Counter(matcher.calls)
        clock.now += 300  # the catalogue is read afresh, in the background
        assert matcher(requests, policy) == full
        matcher.drain()
        assert matcher.calls["ec2.DescribeInstanceTypes"] == 2 * read["ec2.DescribeInstanceTypes"]
        assert matcher.calls["ec2.DescribeInstances"] == again["ec2.DescribeInstances"] + 1
        assert matcher.credential_lookups == 1  # the session is kept
    finally:
        matcher.close()


def test_an_expired_catalogue_never_holds_a_verdict(moto_server: Any) -> None:
    """Past its period, the kept catalogue answers once more while a fresh one is read: a
    verdict never waits for a refresh (here the reader is held, and the budget tiny)."""
    import boto3

    ami = default_image(boto3.client("ec2", region_name="us-east-1"), "x86_64")
    requests, policy = requests_of(pools_with_provider(ami), {WEB: request(), HUGE: huge()})
    clock, held = Clock(), threading.Event()
    matcher = ServeMatcher(clock=clock, budget_seconds=0.05)
    try:
        matcher.budget_seconds = PATIENCE  # the first read may take its time on a loaded machine
        first = matcher(requests, policy)
        assert isinstance(first, dict) and first[HUGE]
        matcher.budget_seconds = 0.05
        matcher._reader.submit(held.wait, 60)  # the reader is busy elsewhere
        clock.now += 301
        assert matcher(requests, policy) == first  # not "EC2 did not answer within 0.05 s"
        held.set()
        matcher.drain()
        assert matcher(requests, policy) == first
    finally:
        held.set()
        matcher.close()


def test_a_failed_read_is_not_repeated_for_each_verdict(
    moto_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing listens there
    requests, policy = requests_of(pools_with_provider("ami-0123456789abcdef0"), {WEB: request()})
    clock = Clock()
    matcher = ServeMatcher(clock=clock, failure_seconds=30, budget_seconds=PATIENCE)
    try:
        first = matcher(requests, policy)
        assert isinstance(first, str)
        assert first.startswith("instance match skipped: reading the EC2 catalogue of us-east-1")
        tried = sum(matcher.calls.values())
        assert matcher(requests, policy) == first
        assert sum(matcher.calls.values()) == tried  # the failure is kept: no new attempt
        clock.now += 31
        assert matcher(requests, policy) == first
        assert sum(matcher.calls.values()) > tried
    finally:
        matcher.close()


def test_a_slow_aws_read_never_holds_the_verdict() -> None:
    """The reader is stuck (the credential chain's instance-metadata probe, say): decisions
    get the "skipped" line after the budget, the next at once, and once the read ends its
    answer is what later decisions use."""
    release, asked = threading.Event(), []

    def credentials(session: Any) -> str | None:
        asked.append(session)
        release.wait(60)
        return "no AWS credentials or endpoint (set AWS_ENDPOINT_URL or AWS credentials)"

    matcher = ServeMatcher(budget_seconds=0.05, session=object, credentials=credentials)
    requests, policy = requests_of(POOLS, {WEB: request()})
    slow = (
        "instance match skipped: EC2 did not answer within 0.05 s (the answer is kept for the "
        "next decisions)"
    )
    try:
        assert matcher(requests, policy) == slow
        assert matcher(requests, policy) == slow
        release.set()
        matcher.drain()
        assert matcher(requests, policy) == NO_CREDENTIALS
        assert len(asked) == 1
    finally:
        release.set()
        matcher.close()


def test_a_failure_inside_the_matcher_is_a_skipped_line_not_an_error() -> None:
    def broken(session: Any) -> str | None:
        raise RuntimeError("boom")

    matcher = ServeMatcher(session=object, credentials=broken, budget_seconds=PATIENCE)
    requests, policy = requests_of(POOLS, {WEB: request()})
    try:
        assert (
            matcher(requests, policy)
            == "instance match skipped: internal error: RuntimeError: boom"
        )
    finally:
        matcher.close()
