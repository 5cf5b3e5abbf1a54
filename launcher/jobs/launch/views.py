"""Reading the three views: the default branch's requests (with how each reached it),
launcher's deployments as the plan's records, and the fleet; and the reads a run makes only
when an action needs them (`Lookups`)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime

from launcher.core.approvals import Review
from launcher.core.compute import Compute
from launcher.core.deployments import Deployment
from launcher.core.documents import load_policy, load_request, request_key
from launcher.core.fleet import FleetInstance, fleet_locations
from launcher.core.gate import POLICY_PATH, Decision
from launcher.core.lifecycle import Category, Desired, Record, invalid_version, version_of
from launcher.core.model import LaunchRequest, Policy
from launcher.core.provenance import landed_through
from launcher.core.pulls import Pull
from launcher.core.record import Inferred, Kind, infer
from launcher.core.runtime_cap import cap_runtime, capped_record
from launcher.jobs.launch.common import TASK, Refused, Transient
from launcher.jobs.launch.plan import Views
from launcher.jobs.launch.readds import Since, last_seen, since
from launcher.jobs.launch.rechecks import PullDecisions
from launcher.jobs.ports import GitHubPort


class Lookups:
    """GitHub reads made only when an action needs them, each at most once per run: how a
    file reached the default branch, the gate's decision on a pull request (with its reviews),
    and a request as it loads under the policy. Memos only: nothing here changes what was
    read."""

    def __init__(
        self, gh: GitHubPort, branch: str, head: str, policy: Policy, policy_raw: bytes = b""
    ) -> None:
        self.gh, self.branch, self.head, self.policy = gh, branch, head, policy
        self._provenance: dict[str, tuple[str, Pull | None]] = {}
        # each merged pull request decided once per run, under pools.yaml at its base and on
        # main now (launcher.jobs.launch.rechecks)
        self.checks = PullDecisions.new(gh, policy_raw)
        self._requests: dict[str, LaunchRequest] = {}

    def provenance(self, path: str) -> tuple[str, Pull | None]:
        """(commit, pull request) through which the file's current content reached the default
        branch: the pull request's merge commit, or the pushed commit when there is none."""
        if path not in self._provenance:
            commit = self.gh.last_commit(path, self.head)
            if commit is None:
                raise Transient(f"no commit on {self.branch} changed {path}")
            # The pull request whose merge (or merge queue group) commit is on the branch, not
            # the newest holding the commit: anyone can add one (core.provenance).
            pr = landed_through(
                self.gh.commit_pulls(commit),
                self.branch,
                lambda sha: self.gh.reached(sha, self.head),
            )
            self._provenance[path] = (pr.merge_commit_sha if pr else commit) or commit, pr
        return self._provenance[path]

    def known_pull(self, path: str) -> Pull | None:
        """The pull request of `path` if this run has already looked it up (no read)."""
        return self._provenance.get(path, ("", None))[1]

    def decision(self, pr: Pull) -> tuple[Decision, list[Review]]:
        """The gate's decision on a pull request now (pools.yaml at its base), and the reviews
        it rests on."""
        decision = self.checks.base(pr)
        return decision, self.checks.reviews.get(pr.number, [])

    def remember(self, key: str, request: LaunchRequest) -> None:
        self._requests[key] = request

    def request(self, d: Desired) -> LaunchRequest:
        """The request as it loads under the policy now; Refused (NO_MATCH) when it does not."""
        if d.problem is not None:
            raise Refused(Category.NO_MATCH, f"the request does not fit pools.yaml: {d.problem}")
        if d.key not in self._requests:
            request, problems = load_request(self.gh.blob(d.blob), d.path, self.policy)
            if request is None:
                first = problems[0].message if problems else "invalid"
                raise Refused(Category.NO_MATCH, f"the request does not fit pools.yaml: {first}")
            self._requests[d.key] = request
        return self._requests[d.key]


def read_views(
    gh: GitHubPort,
    ec2: Compute,
    now: datetime,
    trust: Callable[[str, str, dict[str, str], list[Deployment]], None] | None = None,
) -> tuple[Views, Lookups]:
    """The default branch's tree and policy, launcher's deployments and the fleet. `trust`
    (the trust anchor, launcher.jobs.anchor) sees the tree and the listing before anything is
    read for a request, and raises to stop the run."""
    branch, head = gh.default_head()
    files = gh.tree(head)
    policy_blob = files.get(POLICY_PATH)
    policy_raw = gh.blob(policy_blob) if policy_blob else b""
    policy = load_policy(policy_raw)[0] if policy_blob else None
    if policy is None:
        raise Transient(f"{POLICY_PATH} on {branch} is missing or invalid: no action")
    lookups = Lookups(gh, branch, head, policy, policy_raw)
    listed = gh.deployments(TASK)
    if trust is not None:
        trust(branch, head, files, listed)
    changes = since(gh, last_seen(listed), head, files)
    desired = desired_of(files, listed, lookups, changes)
    fleet = ec2.fleet(fleet_locations(policy, listed))
    asked = {d.key: d for d in desired}
    records = [capped(r, policy, fleet, asked.get(r.key)) for r in records_of(listed, fleet, now)]
    views = Views(
        branch,
        head,
        policy,
        tuple(desired),
        tuple(records),
        tuple(fleet),
        # where the last recording run stopped, even when more commits landed since than one
        # run looks at: a run planning something for a file changed in those it did look at
        # stamps its records with it, so a re-add found there is seen again if it stops
        changes.start,
        changes.keys(),
        changes.looked,
    )
    return views, lookups


def desired_of(
    files: dict[str, str],
    listed: list[Deployment],
    lookups: Lookups,
    changes: Since | None = None,
) -> list[Desired]:
    """The requests on the default branch. A file whose blob a deployment recorded costs
    no read; a new or changed one is read and its provenance looked up, and so is one that
    left main and came back since the last run (`changes`, launcher.jobs.launch.readds),
    whatever was recorded of its blob. A blob recorded as failed stands for the file too,
    unless the file changed since the last run (the same content may have come back through
    another, approved pull request: only its provenance tells) or that is not known.

    The version, schedule and runtime always come from the file's content: in app mode a
    record of that blob is launcher's own reading of it (only launcher's app writes the
    records read here), so it stands for the file; in trial mode any workflow can write a
    record as launcher, so every file is read again (one request per request, per run)."""
    by_blob: dict[tuple[str, str], Deployment] = {}
    for d in reversed(listed):  # oldest first: the newest wins
        if d.request_key and d.blob and lookups.gh.settings.app_mode:
            by_blob[(d.request_key, d.blob)] = d
    changes = changes or Since()
    desired = []
    for path, blob in sorted(files.items()):
        key = request_key(path)
        if key is None:
            continue
        absent_at = changes.absent_after(
            path, (d.sha for d in listed if d.request_key == key and d.record is not None)
        )
        if absent_at:
            desired.append(_read_desired(key, path, blob, listed, lookups, absent_at))
            continue
        known = by_blob.get((key, blob))
        version = known.version if known else None
        # A failure is taken from its blob only when the file did not change since the last
        # run that recorded something (and not for a file that did not load: pools.yaml may
        # have changed since).
        settled = known is not None and (
            known.kind != "failure"
            or (
                changes.complete
                and path not in changes.touched
                and version != invalid_version(blob)
            )
        )
        if known is not None and version is not None and settled:
            pool = lookups.policy.pools.get(key.split("/", 1)[0])
            desired.append(
                Desired(
                    key=key,
                    path=path,
                    version=version,
                    commit=known.sha,
                    blob=blob,
                    launch_at=known.launch_at,
                    # the record's effective runtime, within the pool's cap as it is now
                    max_runtime=cap_runtime(known.max_runtime, pool.max_runtime if pool else None),
                )
            )
            continue
        desired.append(_read_desired(key, path, blob, listed, lookups))
    return desired


def _read_desired(
    key: str,
    path: str,
    blob: str,
    listed: list[Deployment],
    lookups: Lookups,
    absent_at: str = "",
) -> Desired:
    request, problems = load_request(lookups.gh.blob(blob), path, lookups.policy)
    if request is None:
        problem = problems[0].message if problems else "invalid"
        commit = lookups.provenance(path)[0]
        return Desired(
            key=key,
            path=path,
            version=invalid_version(blob),
            commit=commit,
            blob=blob,
            problem=problem,
            absent_at=absent_at,
        )
    lookups.remember(key, request)
    version = version_of(request)
    same = next((i for i in listed if i.environment == key and i.version == version), None)
    # A new file content of a version that FAILED is asked for again (a new pull request,
    # approved this time): its own commit, so the plan sees a new ask.
    # (a file that came back is a new ask too, whatever was recorded of its version)
    asked = same is not None and same.kind != "failure" and not absent_at
    commit = same.sha if same is not None and asked else lookups.provenance(path)[0]
    pool = lookups.policy.pools[request.pool]
    runtime = request.max_runtime or pool.max_runtime
    return Desired(
        key=key,
        path=path,
        version=version,
        commit=commit,
        blob=blob,
        launch_at=request.launch_at,
        max_runtime=runtime,
        absent_at=absent_at,
    )


def records_of(
    listed: list[Deployment], fleet: Iterable[FleetInstance], now: datetime
) -> list[Record]:
    """launcher's deployments as the plan's Records, in the states `infer` reads from the
    records and the fleet (no deployment-status read: see launcher.core.record)."""
    fleet = list(fleet)
    items = [i for d in listed if (i := d.listed()) is not None and i.record.version]
    inferred = infer(
        items,
        (i.instance_id for i in fleet),
        ((i.key, i.commit) for i in fleet),
        now,
    )
    return [_record(i) for i in inferred]


def capped(
    record: Record, policy: Policy, fleet: Iterable[FleetInstance], asked: Desired | None
) -> Record:
    """The record's expiry within its pool's max_runtime, and within the runtime main's file
    asks for when the record is of that version, both from the provider's LaunchTime
    (launcher.core.runtime_cap): a record never extends a run past either."""
    pool = policy.pools.get(record.key.split("/", 1)[0])
    caps = [pool.max_runtime if pool else None]
    if asked is not None and asked.version == record.version:
        caps.append(asked.max_runtime)
    cap = min((c for c in caps if c is not None), default=None)
    commit = record.launch_commit or record.commit
    times = [i.launched_at for i in fleet if i.key == record.key and i.commit == commit]
    start = min((t for t in times if t is not None), default=None)
    return capped_record(record, cap, start)


def _record(item: Inferred) -> Record:
    """A record in its inferred state, as the plan's Record."""
    r = item.record
    assert r.version is not None  # only versioned records are kept
    return Record(
        deployment_id=item.id,
        key=r.key,
        version=r.version,
        commit=item.commit,
        state=item.state,
        path=r.path,
        blob=r.blob,
        launch_commit=r.launch_commit or item.commit,
        instance_ids=r.instance_ids,
        placement=r.placement,
        expires_at=r.expires_at,
        launch_at=r.launch_at,
        launched_at=r.launched_at,
        last_error=r.failure,
        pr=r.pr,
        requested_by=r.requested_by,
        approved_by=r.approved_by,
        attempt=r.attempt,
        ended=r.kind is Kind.ENDED,
    )
