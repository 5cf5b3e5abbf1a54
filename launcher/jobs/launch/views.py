"""Reading the three views: the default branch's requests (with how each reached it),
launcher's deployments as the plan's records, and the fleet."""

from __future__ import annotations

from launcher.core.deployments import Deployment
from launcher.core.documents import load_request, request_key
from launcher.core.lifecycle import Desired, Record, invalid_version, version_of
from launcher.core.pulls import Pull
from launcher.core.record import Inferred, Kind, infer
from launcher.jobs.launch.common import Transient
from launcher.jobs.launch.state import _State


class _Views(_State):
    """Reading the default branch's requests and launcher's records."""

    def _desired(self, listed: list[Deployment]) -> list[Desired]:
        """The requests on the default branch. A file whose blob a deployment recorded costs
        no read; a new or changed one is read and its provenance looked up."""
        by_blob: dict[tuple[str, str], Deployment] = {}
        for d in reversed(listed):  # oldest first: the newest wins
            if d.request_key and d.blob:
                by_blob[(d.request_key, d.blob)] = d
        desired = []
        for path, blob in sorted(self.files.items()):
            key = request_key(path)
            if key is None:
                continue
            known = by_blob.get((key, blob))
            version = known.version if known else None
            if known is not None and version is not None:
                desired.append(
                    Desired(
                        key=key,
                        path=path,
                        version=version,
                        commit=known.sha,
                        blob=blob,
                        launch_at=known.launch_at,
                        max_runtime=known.max_runtime,
                    )
                )
                continue
            desired.append(self._read_desired(key, path, blob, listed))
        return desired

    def _read_desired(self, key: str, path: str, blob: str, listed: list[Deployment]) -> Desired:
        request, problems = load_request(self.gh.blob(blob), path, self.policy)
        if request is None:
            problem = problems[0].message if problems else "invalid"
            commit = self._provenance_of(path)[0]
            return Desired(
                key=key,
                path=path,
                version=invalid_version(blob),
                commit=commit,
                blob=blob,
                problem=problem,
            )
        self.requests[key] = request
        version = version_of(request)
        same = next((i for i in listed if i.environment == key and i.version == version), None)
        # A new file content of a version that FAILED is asked for again (a new pull request,
        # approved this time): its own commit, so the plan sees a new ask.
        asked = same is not None and same.kind != "failure"
        commit = same.sha if same is not None and asked else self._provenance_of(path)[0]
        pool = self.policy.pools[request.pool]
        runtime = request.max_runtime or pool.max_runtime
        return Desired(
            key=key,
            path=path,
            version=version,
            commit=commit,
            blob=blob,
            launch_at=request.launch_at,
            max_runtime=runtime,
        )

    def _provenance_of(self, path: str) -> tuple[str, Pull | None]:
        """(commit, pull request) through which the file's current content reached the default
        branch: the pull request's merge commit, or the pushed commit when there is none."""
        if path not in self._provenance:
            commit = self.gh.last_commit(path, self.head)
            if commit is None:
                raise Transient(f"no commit on {self.branch} changed {path}")
            merged = [
                p
                for p in self.gh.commit_pulls(commit)
                if p.merged and p.base_ref == self.branch and p.merge_commit_sha
            ]
            pr = max(merged, key=lambda p: p.number) if merged else None
            self._provenance[path] = (pr.merge_commit_sha if pr else commit) or commit, pr
        return self._provenance[path]

    def _records(self, listed: list[Deployment]) -> list[Record]:
        """launcher's deployments as the plan's Records, in the states `infer` reads from the
        records and the fleet (no deployment-status read: see launcher.core.record)."""
        items = [i for d in listed if (i := d.listed()) is not None and i.record.version]
        inferred = infer(
            items,
            (i.instance_id for i in self.fleet),
            ((i.key, i.commit) for i in self.fleet),
            self.now,
        )
        return [_record(i) for i in inferred]


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
