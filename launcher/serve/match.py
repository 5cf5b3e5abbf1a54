"""The instance-match preview for `launcher serve`: the Actions gate's warnings, in about a second.

The Actions gate (`launcher gate`) matches each request against EC2 as the default credential
chain sees it, reading everything afresh once per run (about 2 s for a few locations): right
for a job that starts a runner anyway, not for a service answering bursts of events in about a
second. Here one `ServeMatcher` lives for the whole process, answers with the lines the gate
writes (`launcher.jobs.match_preview`: the same catalogues, usage and `match_all`), and:

- asks the credential chain once when it finds credentials (the session is kept; botocore
  refreshes them) and at most once per `credentials_seconds` when it finds none (the chain ends
  with the instance-metadata probe, which can take a second or more off EC2);
- keeps each account and region's catalogue (zones, instance types, offerings, AMIs: what the
  pools need there) for `catalogue_seconds` and the pools' usage (for the quotas) for
  `usage_seconds`. After that the old answer is still used, once, while a fresh one is read
  in the background (so a refresh never holds a verdict); a failed read is kept for
  `failure_seconds`, so a burst does not repeat a read that times out, and it drops the old
  answer. (One EC2 reader serves a period, reading each location's needs once: a catalogue
  read late in a period may reuse what was read early in it, so what a verdict sees is at
  most about twice `catalogue_seconds` old.)
- waits at most `budget_seconds` for what it has never read, and not at all while a read is
  already overdue: the gate then gets "instance match skipped: EC2 did not answer within …",
  the read goes on and later decisions use it. The verdict never depends on the match (the gate
  makes it a warning), and nothing here raises: any failure is the "skipped" line, so it cannot
  turn a verdict into an error either.

Every AWS call runs on one reader thread: boto3 sessions are not thread-safe, and decisions
needing the same catalogue at once wait for one read instead of making one each; matching
itself runs in the deciding thread over the kept (immutable) answers. Reading only: a
provider's account through its read-only role (`<role_arn>-read`), never the launching one,
since a service facing GitHub should hold at most launcher's read-only credentials
(docs/serve.md).
"""

from __future__ import annotations

import functools
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from launcher.adapters.ec2 import EC2, EC2Error
from launcher.core.matching import (
    Location,
    Needs,
    RegionCatalogue,
    location_of,
    locations_of,
    match_all,
)
from launcher.core.model import LaunchRequest, Policy, Pool
from launcher.core.quota import Usage
from launcher.jobs.match_preview import Preview, Skipped

if TYPE_CHECKING:
    import boto3

Clock = Callable[[], float]
T = TypeVar("T")
CatalogueKey = tuple[Location, Needs]
UsageKey = frozenset[Location]  # the locations of the pools with a quota
Key = CatalogueKey | UsageKey


@dataclass(frozen=True)
class _Kept:
    """One answer read from AWS (a catalogue, or usage per pool), or why it could not be."""

    at: float
    value: RegionCatalogue | Mapping[str, Usage] | None = None
    failure: str | None = None


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
        self._lock = threading.Lock()  # guards what deciding threads share with the reader:
        self._reading_since: float | None = None  # when the reader's current job started
        self._no_credentials: tuple[float, str] | None = None  # when the chain found nothing
        self._catalogues: dict[Key, _Kept] = {}
        self._usage: dict[Key, _Kept] = {}
        self._refreshing: set[Key] = set()
        self._usage_pools: dict[UsageKey, list[Pool]] = {}  # whose usage to read again
        # The reader thread's own:
        self._session: boto3.Session | None = None
        self._ec2: EC2 | None = None
        self._ec2_since = 0.0
        self.credential_lookups = 0  # how often the chain was asked
        self.calls: Counter[str] = Counter()  # AWS API calls made, "ec2.DescribeInstances": n

    # -- the previewer (deciding threads) ---------------------------------------------------
    def __call__(self, requests: list[LaunchRequest], policy: Policy) -> Preview:
        if not requests:
            return {}
        try:
            answer = self._answer(requests, policy)
        except Exception as exc:  # noqa: BLE001 - the verdict must not depend on the match
            answer = str(Skipped(f"internal error: {type(exc).__name__}: {exc}"))
        if isinstance(answer, dict):
            self._observe("answered")
        else:
            self._observe("slow" if answer == str(Skipped(self._slow())) else "skipped")
        return answer

    def _answer(self, requests: list[LaunchRequest], policy: Policy) -> Preview:
        pools = [policy.pools[n] for n in sorted({r.pool for r in requests}) if n in policy.pools]
        wanted = sorted(
            locations_of(pools).items(), key=lambda kv: (kv[0].region, kv[0].role_arn or "")
        )
        keys: list[CatalogueKey] = [(location, needs) for location, needs in wanted]
        usage_key: UsageKey = frozenset(
            location_of(p) for pool in pools if pool.quota for p in pool.providers
        )
        with self._lock:
            self._usage_pools.setdefault(usage_key, pools)
        found = self._kept(keys, usage_key)
        if found is None:  # something was never read (or its failure has expired): read it
            with self._lock:
                started = self._reading_since
                if started is not None and self._clock() - started > self.budget_seconds:
                    # A read is overdue: do not queue behind it (every decision would wait).
                    return str(Skipped(self._slow()))
                future = self._reader.submit(self._guarded, lambda: self._read(keys, usage_key))
            try:
                future.result(timeout=self.budget_seconds)
            except FutureTimeout:
                future.cancel()  # still queued: nobody waits for it any more
                return str(Skipped(self._slow()))
            found = self._kept(keys, usage_key)
            if found is None:  # pragma: no cover - the read stores an answer or a failure
                return str(Skipped("EC2 could not be read"))
        if isinstance(found, str):
            return str(Skipped(found))
        catalogues, usage = found
        results = match_all(requests, policy, catalogues, usage)
        return {r.request.path: r.reasons for r in results}

    def _kept(
        self, keys: list[CatalogueKey], usage_key: UsageKey
    ) -> tuple[dict[Location, RegionCatalogue], Mapping[str, Usage]] | str | None:
        """What is kept for these keys (refreshing what is past its period, in the
        background), the first failure kept, or None when something must be read first."""
        now = self._clock()
        stale: list[Key] = []
        with self._lock:
            if self._no_credentials is not None:
                checked, problem = self._no_credentials
                if now - checked < self.credentials_seconds:
                    return problem
            catalogues: dict[Location, RegionCatalogue] = {}
            for key in keys:
                kept = self._fresh(self._catalogues, key, now, self.catalogue_seconds, stale)
                if kept is None or kept.failure is not None:
                    return kept.failure if kept else None
                assert isinstance(kept.value, RegionCatalogue)
                catalogues[key[0]] = kept.value
            kept = self._fresh(self._usage, usage_key, now, self.usage_seconds, stale)
            if kept is None or kept.failure is not None:
                return kept.failure if kept else None
            assert isinstance(kept.value, Mapping)
            usage = kept.value
            stale = [key for key in stale if key not in self._refreshing]
            self._refreshing.update(stale)
        for old in stale:
            self._reader.submit(self._guarded, functools.partial(self._refresh, old))
        return catalogues, usage

    def _fresh(
        self,
        kept: Mapping[Key, _Kept],
        key: Key,
        now: float,
        period: float,
        stale: list[Key],
    ) -> _Kept | None:
        entry = kept.get(key)
        if entry is None:
            return None
        if entry.failure is not None:
            return entry if now - entry.at < self.failure_seconds else None
        if now - entry.at >= period:
            stale.append(key)  # used once more while a fresh answer is read
        return entry

    def warm(self) -> None:
        """Ask the credential chain now (at start), so the first decision does not pay for it."""
        self._reader.submit(self._guarded, self._ec2_or_problem)

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

    def _read(self, keys: Iterable[CatalogueKey], usage_key: UsageKey) -> None:
        """Read what is missing (or failed long enough ago) for one decision, stopping at the
        first failure as the Actions gate does: one unreachable endpoint must not cost N
        timeouts. Keys read meanwhile by an earlier job are not read again."""
        now = self._clock()
        for key in keys:
            with self._lock:
                kept = self._fresh(self._catalogues, key, now, self.catalogue_seconds, [])
            if kept is not None:
                if kept.failure is not None:
                    return
                continue
            if not self._store(self._catalogues, key, functools.partial(self._read_catalogue, key)):
                return
        with self._lock:
            kept = self._fresh(self._usage, usage_key, now, self.usage_seconds, [])
        if kept is None:
            self._store(self._usage, usage_key, lambda: self._read_usage(usage_key))

    def _refresh(self, key: Key) -> None:
        try:
            if isinstance(key, frozenset):
                usage_key: UsageKey = key
                self._store(self._usage, usage_key, lambda: self._read_usage(usage_key))
            else:
                catalogue_key: CatalogueKey = key
                self._store(
                    self._catalogues, catalogue_key, lambda: self._read_catalogue(catalogue_key)
                )
        finally:
            with self._lock:
                self._refreshing.discard(key)

    def _store(
        self,
        kept: dict[Key, _Kept],
        key: Key,
        read: Callable[[], RegionCatalogue | Mapping[str, Usage]],
    ) -> bool:
        """Read one answer and keep it, or keep why it failed (the old answer is dropped)."""
        now = self._clock()
        try:
            entry = _Kept(now, value=read())
        except (EC2Error, _NoCredentials) as exc:
            entry = _Kept(now, failure=str(exc))
        with self._lock:
            kept[key] = entry
            # Forget what nobody asked to refresh for two periods (pools.yaml changed, say).
            horizon = now - 2 * max(
                self.catalogue_seconds, self.usage_seconds, self.failure_seconds
            )
            for old in [k for k, e in kept.items() if e.at < horizon and k not in self._refreshing]:
                del kept[old]
        return entry.failure is None

    def _read_catalogue(self, key: CatalogueKey) -> RegionCatalogue:
        location, needs = key
        return self._ec2_for_reading().catalogue(location, needs.image_ids, needs.patterns)

    def _read_usage(self, key: UsageKey) -> Mapping[str, Usage]:
        with self._lock:
            pools = self._usage_pools[key]
        return self._ec2_for_reading().usage(pools)

    def _ec2_for_reading(self) -> EC2:
        ec2 = self._ec2_or_problem()
        if isinstance(ec2, str):
            raise _NoCredentials(ec2)
        return ec2

    def _ec2_or_problem(self) -> EC2 | str:
        """The reader's EC2 (a new one, reading afresh, once the old is `catalogue_seconds`
        old), or why AWS cannot be used."""
        if self._session is None:
            now = self._clock()
            with self._lock:
                known = self._no_credentials
            if known is not None and now - known[0] < self.credentials_seconds:
                return known[1]
            session = self._new_session()
            self.credential_lookups += 1
            problem = self._credentials_problem(session)
            with self._lock:
                self._no_credentials = (now, problem) if problem else None
            if problem:
                return problem
            self._session = session
        now = self._clock()
        if self._ec2 is None or now - self._ec2_since >= self.catalogue_seconds:
            self._ec2 = EC2(
                self._session, max_attempts=2, connect_timeout=3, read_timeout=10, read_roles=True
            )
            self._ec2.calls = self.calls  # counted across the process's readers
            self._ec2_since = now
        return self._ec2


class _NoCredentials(Exception):
    """The credential chain found nothing (the message says so, as the Actions gate does)."""


def _default_session() -> boto3.Session:
    import boto3

    return boto3.Session()


def _credentials_problem(session: boto3.Session) -> str | None:
    from launcher.adapters.ec2 import credentials_problem

    return credentials_problem(session)
