"""The reconcile model (tests/jobs/test_reconcile_model.py) with an expiry backstop on the
provider, and AWS firing due backstops between runs. Once the runs settle, on top of the
model's own invariants:

- each RUNNING request has exactly one backstop, named after its launch, ending exactly its
  instances at exactly the expiry its record shows (never earlier);
- no other backstop is left (removed, replaced and expired requests have none).
"""

from __future__ import annotations

from typing import Any

from hypothesis.stateful import rule, run_state_machine_as_test

from launcher.core.backstop import backstop_name
from launcher.core.lifecycle import RequestState
from tests.jobs.test_backstop import BACKSTOP_POOLS
from tests.jobs.test_reconcile_model import ReconcileOnFakes, model_settings


class ReconcileWithBackstop(ReconcileOnFakes):
    """On the in-memory fakes (fast): the provider has a scheduler role."""

    def __init__(self) -> None:
        super().__init__()
        self.github.push("main", {"pools.yaml": BACKSTOP_POOLS}, "pat")

    @rule()
    def aws_fires_due_backstops(self) -> None:
        self.compute.fire_backstops()

    def settle_and_check(self) -> None:
        super().settle_and_check()
        report = self.run()
        newest = {r.key: r for r in report.records}
        running = {k: r for k, r in newest.items() if r.state is RequestState.RUNNING}
        left = dict(self.compute.backstops)
        for key, record in running.items():
            if record.expires_at is None:
                continue
            name = backstop_name(key, record.launch_commit)
            found = [b for (_, n), b in left.items() if n == name]
            assert len(found) == 1, (key, name, sorted(n for _, n in left))
            [backstop] = found
            assert backstop.at == record.expires_at, (key, backstop.at, record.expires_at)
            mine = self.compute.running(key)
            if key.split("/", 1)[1] in self.kept:
                mine = _kept_unrecorded(mine, record.launch_commit)
            ids = tuple(sorted(i.instance_id for i in mine))
            assert backstop.instance_ids == ids, (key, backstop.instance_ids, ids)
            del left[(backstop.location, name)]
            if key.split("/", 1)[1] in self.kept:  # see _kept_unrecorded
                for commit in {i.commit for i in self.compute.running(key)} - {
                    record.launch_commit
                }:
                    other = backstop_name(key, commit)
                    theirs = [(where, n) for where, n in left if n == other]
                    assert len(theirs) == 1, (key, other, sorted(n for _, n in left))
                    ids = tuple(
                        sorted(
                            i.instance_id for i in self.compute.running(key) if i.commit == commit
                        )
                    )
                    assert left.pop(theirs[0]).instance_ids == ids, (key, commit, ids)
        assert not left, f"backstops left for no running request: {sorted(n for _, n in left)}"


def _kept_unrecorded(instances: list[Any], launch_commit: str) -> list[Any]:
    """A launch that was never recorded (a crash after RunInstances), whose request was then
    removed without a valid verdict, keeps running (the removal is refused) with no record
    naming it: its instances are not the RUNNING record's, so the record's backstop covers
    only its own launch, and the unrecorded launch keeps the backstop it was given at launch
    (checked in `settle_and_check`: exactly its instances)."""
    return [i for i in instances if i.commit == launch_commit]


def test_backstops_follow_what_runs() -> None:
    run_state_machine_as_test(ReconcileWithBackstop, settings=model_settings(100, 20))
