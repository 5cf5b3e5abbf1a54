"""The instance-match preview for `launcher serve`: the Actions gate's warnings, in about a second.

The Actions gate (`launcher gate`) matches each request against EC2 as the default credential
chain sees it, reading everything afresh once per run: affordable for a job that starts a
runner anyway, not for a service answering bursts of events in about a second. Here one
`ServeMatcher` lives for the whole process, answers with the same lines the gate writes, and:

- asks the credential chain once per `credentials_seconds` when it finds nothing (the chain
  ends with the instance-metadata probe, which can take a second or more off EC2), and keeps
  the session (whose credentials botocore refreshes) once it finds some;
- keeps what it read of each account and region (zones, instance types, offerings, AMIs:
  `launcher.adapters.ec2.EC2` reads each location's needs once and only what is new after)
  for `catalogue_seconds`, then starts afresh; usage (one DescribeInstances per location,
  for the quotas) for `usage_seconds`; a failed read for `failure_seconds`, so a burst does
  not repeat a read that times out;
- waits at most `budget_seconds` for an answer, and not at all while a read is already
  overdue: the gate then gets "instance match skipped: EC2 did not answer within …", the read
  goes on in the background and later decisions use it. The verdict never depends on the
  match (the gate uses it for warnings only), and nothing here raises: any failure becomes the
  "skipped" line, so it cannot turn a verdict into an error either.

Every AWS call runs on one reader thread: boto3 sessions are not thread-safe, the caches need
no locks, and concurrent decisions needing the same catalogue wait for one read instead of
making one each. A process only reads (`read_roles`: a provider's account through its
read-only role, `<role_arn>-read`, never the launching one): a service facing GitHub should
hold at most launcher's read-only credentials (docs/serve.md).
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import TYPE_CHECKING, TypeVar

from launcher.adapters.ec2 import EC2
from launcher.core.matching import Location, location_of
from launcher.core.model import LaunchRequest, Policy, Pool
from launcher.core.quota import Usage
from launcher.jobs.match_preview import Preview, Skipped, match_live

if TYPE_CHECKING:
    import boto3

Clock = Callable[[], float]
T = TypeVar("T")


class _CachedEC2(EC2):
    """`EC2` whose usage answers are kept for `usage_seconds` per set of locations (the
    catalogue is kept by `EC2` itself for the object's life)."""

    def __init__(
        self, session: boto3.Session, usage_seconds: float, clock: Clock, calls: Counter[str]
    ) -> None:
        super().__init__(
            session, max_attempts=2, connect_timeout=3, read_timeout=10, read_roles=True
        )
        self.calls = calls  # counted across the process's readers
        self._usage_seconds = usage_seconds
        self._clock = clock
        self._usage: dict[frozenset[Location], tuple[float, dict[str, Usage]]] = {}

    def usage(self, pools: Iterable[Pool]) -> dict[str, Usage]:
        pools = list(pools)
        key = frozenset(location_of(p) for pool in pools if pool.quota for p in pool.providers)
        kept = self._usage.get(key)
        now = self._clock()
        if kept is not None and now - kept[0] < self._usage_seconds:
            return kept[1]
        answer = super().usage(pools)
        self._usage[key] = (now, answer)
        return answer


class ServeMatcher:
    """A `launcher.jobs.match_preview` previewer with per-process caches and a time budget."""

    def __init__(
        self,
        *,
        budget_seconds: float = 2.0,
        catalogue_seconds: float = 300.0,
        usage_seconds: float = 30.0,
        credentials_seconds: float = 60.0,
        failure_seconds: float = 30.0,
        clock: Clock = time.monotonic,
        session: Callable[[], boto3.Session] | None = None,
        credentials: Callable[[boto3.Session], str | None] | None = None,
        observe: Callable[[str], None] | None = None,
    ) -> None:
        self.budget_seconds = budget_seconds
        self.catalogue_seconds = catalogue_seconds
        self.usage_seconds = usage_seconds
        self.credentials_seconds = credentials_seconds
        self.failure_seconds = failure_seconds
        self._clock = clock
        self._new_session = session or _default_session
        self._credentials_problem = credentials or _credentials_problem
        self._observe = observe or (lambda outcome: None)  # answered, skipped or slow
        self._reader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="match-reader")
        self._lock = threading.Lock()
        self._reading_since: float | None = None  # when the reader's current job started
        # The reader thread's own (no lock needed):
        self._session: boto3.Session | None = None
        self._no_credentials: tuple[float, str] | None = None  # when the chain found nothing
        self._ec2: _CachedEC2 | None = None
        self._ec2_since = 0.0
        self._failures: dict[frozenset[Location], tuple[float, str]] = {}
        self.credential_lookups = 0  # how often the chain was asked (for tests and metrics)
        self.calls: Counter[str] = Counter()  # AWS API calls made, "ec2.DescribeInstances": n
        self.catalogue_generations = 0  # how many EC2 readers were made

    # -- the previewer ----------------------------------------------------------------------
    def __call__(self, requests: list[LaunchRequest], policy: Policy) -> Preview:
        if not requests:
            return {}
        answer = self._answer(requests, policy)
        if isinstance(answer, dict):
            self._observe("answered")
        else:
            self._observe("slow" if answer == str(Skipped(self._slow())) else "skipped")
        return answer

    def _answer(self, requests: list[LaunchRequest], policy: Policy) -> Preview:
        with self._lock:
            started = self._reading_since
            if started is not None and self._clock() - started > self.budget_seconds:
                # A read is overdue: do not queue behind it (every decision would wait).
                return str(Skipped(self._slow()))
            future = self._reader.submit(self._preview, requests, policy)
        try:
            return future.result(timeout=self.budget_seconds)
        except FutureTimeout:
            future.cancel()  # still queued: nobody waits for it any more
            return str(Skipped(self._slow()))
        except Exception as exc:  # noqa: BLE001 - the verdict must not depend on the match
            return str(Skipped(f"internal error: {type(exc).__name__}: {exc}"))

    def warm(self) -> None:
        """Ask the credential chain now (at start), so the first decision does not pay for it."""
        self._reader.submit(self._guarded, lambda: self._session_or_problem())

    def drain(self) -> None:
        """Wait until the reader has done everything asked of it so far."""
        self._reader.submit(lambda: None).result()

    def close(self) -> None:
        self._reader.shutdown(wait=False, cancel_futures=True)

    def _slow(self) -> str:
        return (
            f"EC2 did not answer within {self.budget_seconds:g} s (the answer is kept for the "
            "next decisions)"
        )

    # -- the reader thread ------------------------------------------------------------------
    def _guarded(self, job: Callable[[], T]) -> T:
        with self._lock:
            self._reading_since = self._clock()
        try:
            return job()
        finally:
            with self._lock:
                self._reading_since = None

    def _preview(self, requests: list[LaunchRequest], policy: Policy) -> Preview:
        return self._guarded(lambda: self._match(requests, policy))

    def _match(self, requests: list[LaunchRequest], policy: Policy) -> Preview:
        ec2 = self._reader_ec2()
        if isinstance(ec2, str):
            return str(Skipped(ec2))
        pools = [policy.pools[n] for n in sorted({r.pool for r in requests}) if n in policy.pools]
        key = frozenset(location_of(p) for pool in pools for p in pool.providers)
        now = self._clock()
        failed = self._failures.get(key)
        if failed is not None and now - failed[0] < self.failure_seconds:
            return str(Skipped(failed[1]))
        results = match_live(requests, policy, ec2=ec2)
        if isinstance(results, Skipped):
            self._failures[key] = (now, results.reason)
            return str(results)
        self._failures.pop(key, None)
        return {r.request.path: r.reasons for r in results}

    def _session_or_problem(self) -> boto3.Session | str:
        if self._session is not None:
            return self._session
        now = self._clock()
        if self._no_credentials is not None:
            checked, problem = self._no_credentials
            if now - checked < self.credentials_seconds:
                return problem
        session = self._new_session()
        self.credential_lookups += 1
        found = self._credentials_problem(session)
        if found:
            self._no_credentials = (now, found)
            return found
        self._no_credentials = None
        self._session = session
        return session

    def _reader_ec2(self) -> _CachedEC2 | str:
        session = self._session_or_problem()
        if isinstance(session, str):
            return session
        now = self._clock()
        if self._ec2 is None or now - self._ec2_since >= self.catalogue_seconds:
            self._ec2 = _CachedEC2(session, self.usage_seconds, self._clock, self.calls)
            self._ec2_since = now
            self.catalogue_generations += 1
        return self._ec2


def _default_session() -> boto3.Session:
    import boto3

    return boto3.Session()


def _credentials_problem(session: boto3.Session) -> str | None:
    from launcher.adapters.ec2 import credentials_problem

    return credentials_problem(session)
