"""The pure parts of `launcher serve`: signatures, routing, the coalescing queue, config."""

from __future__ import annotations

import threading
import time

import pytest

from launcher.serve.config import ConfigError, ServeConfig
from launcher.serve.routing import Work, route
from launcher.serve.signature import sign, valid
from launcher.serve.work import QueueFull, WorkQueue

SECRET = b"0123456789abcdef-secret"
REPO = {"full_name": "acme/infra", "default_branch": "main"}


def test_only_the_secrets_signature_of_the_exact_body_is_valid() -> None:
    body = b'{"action":"opened"}'
    assert valid(SECRET, body, sign(SECRET, body))
    assert not valid(SECRET, body + b" ", sign(SECRET, body))
    assert not valid(SECRET, body, sign(b"another-secret-entirely", body))
    assert not valid(SECRET, body, None)
    assert not valid(SECRET, body, sign(SECRET, body).replace("sha256=", "sha1="))


def payload(**fields: object) -> dict[str, object]:
    return {"installation": {"id": 7}, "repository": REPO, "sender": {"login": "bob"}, **fields}


def test_events_route_to_the_pull_requests_they_are_hints_about() -> None:
    pr = {"number": 4}
    assert route("pull_request", payload(action="opened", pull_request=pr)).work == (
        Work(7, "acme/infra", 4),
    )
    assert route("pull_request_review", payload(action="dismissed", pull_request=pr)).work == (
        Work(7, "acme/infra", 4),
    )
    assert route("push", payload(ref="refs/heads/main")).work == (Work(7, "acme/infra"),)
    assert route("push", payload(ref="refs/heads/bob/1")).work == ()
    rerun = {"name": "launcher/approval", "pull_requests": [{"number": 4}], "head_sha": "a" * 40}
    assert route("check_run", payload(action="rerequested", check_run=rerun)).work == (
        Work(7, "acme/infra", 4, rerun=True),  # a new check run is expected
    )
    other = dict(rerun, name="ci/tests")
    assert route("check_run", payload(action="rerequested", check_run=other)).work == ()
    suite = {"pull_requests": [], "head_sha": "b" * 40}
    assert route("check_suite", payload(action="rerequested", check_suite=suite)).work == (
        Work(7, "acme/infra", 0, "b" * 40, rerun=True),
    )
    group = {"head_sha": "c" * 40, "head_ref": "refs/heads/gh-readonly-queue/main/pr-4-x"}
    assert route("merge_group", payload(action="checks_requested", merge_group=group)).work == (
        Work(7, "acme/infra", 0, "c" * 40, group["head_ref"]),
    )
    assert route("merge_group", payload(action="destroyed", merge_group=group)).work == ()
    added = {"action": "added", "installation": {"id": 7},
             "repositories_added": [{"full_name": "acme/web"}]}  # fmt: skip
    assert route("installation_repositories", added).work == (Work(7, "acme/web"),)
    assert route("pull_request", {"action": "opened", "pull_request": pr}).work == ()  # no inst


def test_installation_events_drop_the_installations_token() -> None:
    """Any change of an installation's access makes the service mint its next token anew;
    one that takes repositories away leaves nothing to decide, one that gives some decides
    their open pull requests."""
    web = [{"full_name": "acme/web"}]
    for event, action, listed, work in [
        ("installation", "created", {"repositories": web}, (Work(7, "acme/web"),)),
        ("installation", "unsuspend", {"repositories": web}, (Work(7, "acme/web"),)),
        ("installation", "new_permissions_accepted", {"repositories": web}, (Work(7, "acme/web"),)),
        ("installation", "deleted", {"repositories": web}, ()),
        ("installation", "suspend", {"repositories": web}, ()),
        ("installation_repositories", "added", {"repositories_added": web}, (Work(7, "acme/web"),)),
        ("installation_repositories", "removed", {"repositories_removed": web}, ()),
    ]:
        routed = route(event, {"action": action, "installation": {"id": 7}, **listed})
        assert (routed.work, routed.forget) == (work, 7), (event, action)
    pr = payload(action="opened", pull_request={"number": 4})
    assert route("pull_request", pr).forget is None


def test_launchers_own_label_writes_need_no_decision() -> None:
    own = payload(action="labeled", pull_request={"number": 4}, sender={"login": "launcher[bot]"})
    assert route("pull_request", own, "launcher[bot]").work == ()
    theirs = payload(action="labeled", pull_request={"number": 4})
    assert route("pull_request", theirs, "launcher[bot]").work == (Work(7, "acme/infra", 4),)


def test_the_queue_coalesces_bursts_and_reruns_a_unit_hinted_while_decided() -> None:
    q = WorkQueue(limit=2)
    a, b, c = Work(1, "o/r", 1), Work(1, "o/r", 2), Work(1, "o/r", 3)
    assert q.put((a,), "d1") == 1
    assert q.put((a,), "d2") == 0  # absorbed by the waiting unit
    assert q.put((b,), "d3") == 1
    with pytest.raises(QueueFull):
        q.put((c,), "d4")
    taken = q.take(0)
    assert taken is not None and taken.work == a and taken.deliveries == ["d1", "d2"]
    q.put((a,), "d5")  # while a is being decided: a goes round once more
    q.done(a)
    assert (again := q.take(0)) is not None and again.work == a
    q.done(a)
    assert (then := q.take(0)) is not None and then.work == b
    q.done(b)
    assert q.depth() == (0, 0)


def test_confirmations_wait_behind_first_decisions_but_not_for_ever() -> None:
    q = WorkQueue(limit=10, confirm_after=3600, quiet=0)
    a, b, c = Work(1, "o/r", 1), Work(1, "o/r", 2), Work(1, "o/r", 3)
    q.put((a, b), "burst")
    first = q.take(0)
    assert first is not None and first.work == a and not first.confirming
    q.confirm(a)  # a wrote: confirm it later
    q.done(a)
    assert q.depth() == (2, 0)  # b, and a's confirmation
    second = q.take(0)
    assert second is not None and second.work == b  # b's first verdict comes first
    q.done(b)
    third = q.take(0)
    assert third is not None and third.work == a and third.confirming
    q.done(a)
    # a new hint replaces a waiting confirmation: it is a first decision again
    q.confirm(c)
    q.put((c,), "d")
    hinted = q.take(0)
    assert hinted is not None and hinted.work == c and not hinted.confirming
    q.done(c)
    assert q.depth() == (0, 0)
    # a confirmation older than confirm_after goes before fresh units
    old = WorkQueue(limit=10, confirm_after=0)
    old.confirm(a)
    old.put((b,), "d")
    late = old.take(0)
    assert late is not None and late.work == a and late.confirming


def test_confirmations_start_only_once_no_first_decision_started_for_the_quiet_period() -> None:
    """Deliveries of a burst arrive spread out: a worker finding the fresh lane empty for a
    moment must not spend GitHub's requests on a confirmation while first verdicts are still
    coming in."""
    q = WorkQueue(limit=10, confirm_after=3600, quiet=1.0)
    a, b = Work(1, "o/r", 1), Work(1, "o/r", 2)
    q.put((a,), "d1")
    first = q.take(0)
    assert first is not None and first.work == a
    q.confirm(a)
    q.done(a)
    assert q.take(0.1) is None  # the fresh lane is empty, but a first decision just started
    q.put((b,), "d2")  # the burst goes on: b before a's confirmation
    second = q.take(0)
    assert second is not None and second.work == b and not second.confirming
    q.done(b)
    assert q.take(0.1) is None  # still within the quiet period after b
    confirmation = q.take(10)  # waits it out, then confirms a
    assert confirmation is not None and confirmation.work == a and confirmation.confirming


def test_confirmations_wait_until_no_first_decision_is_being_decided() -> None:
    """The last deliveries of a burst are still being decided when the fresh lane empties: a
    confirmation started then takes GitHub's requests from those first verdicts. The quiet
    period counts from the end of the last first decision, not from its start."""
    q = WorkQueue(limit=10, confirm_after=3600, quiet=0)
    a, b = Work(1, "o/r", 1), Work(1, "o/r", 2)
    q.put((a, b), "burst")
    first = q.take(0)
    assert first is not None and first.work == a
    q.confirm(a)
    second = q.take(0)
    assert second is not None and second.work == b and not second.confirming
    q.done(a)  # a's confirmation waits now, and b is still being decided
    assert q.take(0.1) is None
    q.done(b)
    confirmation = q.take(0.1)
    assert confirmation is not None and confirmation.work == a and confirmation.confirming


def test_configuration_needs_the_app_the_key_and_a_real_secret(tmp_path: object) -> None:
    with pytest.raises(ConfigError, match="LAUNCHER_WEBHOOK_SECRET"):
        ServeConfig.from_env({"LAUNCHER_APP_ID": "1", "LAUNCHER_APP_PRIVATE_KEY": "k"})
    with pytest.raises(ConfigError, match="at least 16"):
        ServeConfig.from_env(
            {
                "LAUNCHER_APP_ID": "1",
                "LAUNCHER_APP_PRIVATE_KEY": "k",
                "LAUNCHER_WEBHOOK_SECRET": "s",
            }
        )
    config = ServeConfig.from_env(
        {
            "LAUNCHER_APP_ID": "1",
            "LAUNCHER_APP_PRIVATE_KEY": "k",
            "LAUNCHER_WEBHOOK_SECRET": "x" * 20,
            "GITHUB_API_URL": "https://ghe.example/api/v3/",
        }
    )
    assert config.api_url == "https://ghe.example/api/v3" and config.webhook_secret == b"x" * 20


class _App:
    """What `decide` uses of the app client, over the in-memory GitHub."""

    def __init__(self, gh: object, error: Exception | None = None) -> None:
        self.gh, self.error, self.forgotten = gh, error, 0
        self.config = ServeConfig("1", "key", b"secret-of-sixteen", match=False)

    def gate_adapter(self, installation: int, repo: str) -> object:
        if self.error is not None:
            raise self.error
        return self.gh

    def forget(self, installation: int) -> None:
        self.forgotten += 1


def test_a_decision_that_wrote_nothing_is_not_confirmed_again() -> None:
    """A fork's refusal is never "unchanged" (it is decided before the fingerprint), so
    confirming every decision sent it round for ever; a decision that writes nothing cannot
    have left a stale verdict."""
    import dataclasses

    from launcher.serve.decide import decide
    from launcher.testing.github import FakeGitHub

    gh = FakeGitHub()
    number = gh.open_pull("mallory", {"deployments/dev/web.yaml": "name: web\n"})
    fork = dataclasses.replace(gh.pull(number), head_repo="mallory/acme-fork")
    gh.pull = lambda n: fork  # type: ignore[method-assign]
    app = _App(gh)
    first = decide(app, Work(1, gh.repository, number), ["d1"])  # type: ignore[arg-type]
    assert first.outcome is not None and first.outcome.state.value == "failure"
    assert first.confirm  # it wrote the check: confirm it
    again = decide(app, Work(1, gh.repository, number), [], confirming=True)  # type: ignore[arg-type]
    assert again.outcome is not None and not again.outcome.writes
    assert not again.confirm


def test_a_refused_app_settles_and_a_failing_github_is_retried() -> None:
    from launcher.adapters.github import GitHubError
    from launcher.serve.appclient import Refused
    from launcher.serve.decide import decide

    refused = _App(None, Refused("POST /app/installations/1/access_tokens: GitHub answered 403"))
    settled = decide(refused, Work(1, "o/r", 4), ["d"])  # type: ignore[arg-type]
    assert not settled.retry and not settled.confirm and refused.forgotten == 1
    failing = _App(None, GitHubError("POST /app/installations/1/access_tokens: timed out"))
    assert decide(failing, Work(1, "o/r", 4), ["d"]).retry  # type: ignore[arg-type]
    # a merge group, and a repository's pull requests to re-decide, alike: nothing else
    # would judge them again (the recheck lists pull requests without a verdict)
    group = Work(1, "o/r", 0, "a" * 40, "refs/heads/gh-readonly-queue/main/pr-4-" + "b" * 40)
    assert decide(failing, group, ["d"]).retry  # type: ignore[arg-type]
    assert decide(failing, Work(1, "o/r"), ["d"]).retry  # type: ignore[arg-type]
    assert not decide(refused, group, ["d"]).retry  # type: ignore[arg-type]


def test_a_retry_waits_its_backoff_then_carries_its_attempts() -> None:
    q = WorkQueue(limit=10, quiet=0)
    a, b = Work(1, "o/r", 1), Work(1, "o/r", 2)
    q.put((a, b), "event")
    taken = q.take(0.05)
    assert taken is not None and taken.work == a
    q.confirm(a, attempts=2, delay=3600)  # asked while a is being decided, as the worker does
    q.done(a)
    assert q.depth() == (2, 0)  # b, and a's retry: kept
    first = q.take(0.05)
    assert first is not None and first.work == b
    assert q.take(0.05) is None  # a: not before its time
    q.done(b)
    q.confirm(b, attempts=3, delay=0)
    again = q.take(0.05)
    assert again is not None and again.work == b and again.attempts == 3
    q.put((a,), "event")  # a new event: decided now, whatever the backoff
    now = q.take(0.05)
    assert now is not None and now.work == a and now.attempts == 0


def test_an_error_is_decided_again_unless_github_refused_access() -> None:
    """A decision that failed is tried again (it may have written nothing, leaving an earlier
    verdict); one GitHub refused (the repository left the installation) is not."""
    from launcher.adapters.github import GitHubError
    from launcher.serve.decide import decide
    from launcher.testing.github import FakeGitHub

    gh = FakeGitHub()
    number = gh.open_pull("bob", {"deployments/dev/web.yaml": "name: web\n"})
    app = _App(gh)
    for error, retried in (
        (GitHubError("reading the pull request: GitHub answered 502: Bad Gateway"), True),
        (GitHubError("reading the pull request: GitHub answered 404", refused=True), False),
    ):

        def failing(n: int, error: GitHubError = error) -> object:
            raise error

        gh.pull = failing  # type: ignore[method-assign,assignment]
        result = decide(app, Work(1, gh.repository, number), ["d"])  # type: ignore[arg-type]
        assert result.outcome is not None and result.outcome.state.value == "error"
        assert result.retry is retried


def test_a_re_run_asked_for_survives_coalescing_with_other_hints() -> None:
    q = WorkQueue(limit=10, quiet=0)
    plain, rerun = Work(1, "o/r", 4), Work(1, "o/r", 4, rerun=True)
    q.put((plain,), "d1")
    q.put((rerun,), "d2")  # merged into the waiting unit: the re-run is kept
    q.put((plain,), "d3")
    taken = q.take(0)
    assert taken is not None and taken.work.rerun and taken.deliveries == ["d1", "d2", "d3"]
    q.put((rerun,), "d4")  # while it is being decided: goes round once more, as a re-run
    q.done(taken.work)
    again = q.take(0)
    assert again is not None and again.work.rerun


def test_an_error_on_record_is_left_to_the_recheck_not_retried_at_once() -> None:
    """An error that will recur (a pull request too large, say) retried at once on every
    event and recheck cost GitHub a burst of decisions each time; once its `error` verdict is
    on the head commit, the periodic recheck (which revisits `error` verdicts) decides it
    again, and the previous verdict no longer stands."""
    from launcher.adapters.github import GitHubError
    from launcher.serve.decide import decide
    from launcher.testing.github import FakeGitHub

    gh = FakeGitHub()
    number = gh.open_pull("bob", {"deployments/dev/web.yaml": "name: web\n"})
    app = _App(gh)

    def too_large(n: int) -> object:
        raise GitHubError("the pull request changes 3000 files or more: split it")

    gh.changed_files = too_large  # type: ignore[method-assign,assignment]
    result = decide(app, Work(1, gh.repository, number), ["d"])  # type: ignore[arg-type]
    assert result.outcome is not None and result.outcome.state.value == "error"
    assert result.outcome.recorded and not result.retry
    assert gh.verdict(gh.pull(number).head_sha, "launcher/approval").state == "error"


def test_a_worker_s_github_requests_rank_by_when_its_unit_s_first_hint_arrived(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """GitHub's slots go to the oldest unit's requests first (adapters.priority): the worker
    deciding a unit ranks its requests by the moment the unit's oldest hint arrived."""
    from launcher.adapters.priority import priority
    from launcher.serve import app as serve_app
    from launcher.serve.decide import Result

    config = ServeConfig.from_env(
        {
            "LAUNCHER_APP_ID": "1",
            "LAUNCHER_APP_PRIVATE_KEY": "k",
            "LAUNCHER_WEBHOOK_SECRET": "x" * 20,
        }
    )
    service = serve_app.Service(config)
    ranks: dict[int, float | None] = {}

    def deciding(
        app: object, work: Work, deliveries: list[str], confirming: bool = False
    ) -> Result:
        ranks[work.number] = priority.get()
        if len(ranks) == 2:
            service._stop.set()
        return Result(None, False)

    monkeypatch.setattr(serve_app, "decide", deciding)
    before = time.monotonic()
    service.queue.put((Work(1, "o/r", 7),), "d1")
    time.sleep(0.01)
    service.queue.put((Work(1, "o/r", 8),), "d2")
    service.queue.put((Work(1, "o/r", 7),), "d3")  # a later hint: the unit keeps its first
    after = time.monotonic()
    worker = threading.Thread(target=service._worker)  # its own context, as in the service
    worker.start()
    worker.join(10)
    assert ranks[7] is not None and ranks[8] is not None
    assert before <= ranks[7] < ranks[8] <= after
