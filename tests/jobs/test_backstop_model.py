"""The reconcile model (tests/jobs/test_reconcile_model.py) with an expiry backstop on the
provider, and AWS firing due backstops between runs. Once the runs settle, on top of the
model's own invariants:

- each RUNNING request has exactly one backstop, named after its launch, ending exactly its
  instances at exactly the expiry its record shows (never earlier);
- no other backstop is left (removed, replaced and expired requests have none).
"""

from __future__ import annotations

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
            ids = tuple(sorted(i.instance_id for i in self.compute.running(key)))
            assert backstop.instance_ids == ids, (key, backstop.instance_ids, ids)
            del left[(backstop.location, name)]
        assert not left, f"backstops left for no running request: {sorted(n for _, n in left)}"


def test_backstops_follow_what_runs() -> None:
    run_state_machine_as_test(ReconcileWithBackstop, settings=model_settings(100, 20))
