"""Count the GitHub API requests of one merge group's verdict, on the GitHub stand-in.

N pull requests (one request file each, by alice, who may create without approval) each pass
the gate and are added to the merge queue in turn; the queue's last group carries all N. Its
`merge_group` verdict (`launcher.jobs.merge_group.run_merge_group`, what the service and
gate.yml run for a group) is then made once with a fresh adapter in app mode, and the
stand-in's log counts its requests: authentication, the comparison with the default branch,
the trees, the open pull requests, and each pull request's own decision against the group's
base. Reads grow with N (a group's every pull request is decided again); the writes are one
check run.

    python bench/merge_group_calls.py [--prs 1 5 10]
"""

from __future__ import annotations

import argparse
import io
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from launcher.adapters.github import GitHub  # noqa: E402
from launcher.jobs.merge_group import group_of, run_merge_group  # noqa: E402
from launcher.sandbox.github import GitHubSandbox  # noqa: E402
from tests.jobs.conftest import request, seed_world  # noqa: E402

WRITE_METHODS = ("POST", "PATCH", "PUT", "DELETE")


def scenario(prs: int, tmp: Path) -> dict[str, float]:
    with GitHubSandbox() as sb:
        w = seed_world(sb, tmp)
        sb.enable_merge_queue(w.repo_name, required_checks=["launcher/approval"])
        numbers = []
        for i in range(prs):
            number = w.open_pr("alice", {f"deployments/dev/g{i}.yaml": request(f"g{i}")})
            outcome, _ = w.gate(number)
            assert outcome.state.value == "success", outcome.description
            numbers.append(number)
        # Enqueue all but the last with no verdict on their groups yet: nothing merges before
        # the last group, which carries every pull request, is judged.
        for number in numbers:
            sb.enqueue_pull(w.repo_name, number, "pat")
        last = sb.events(0, "merge_group", "checks_requested")[-1].payload
        group = group_of(last)
        assert group is not None
        sb.reset_requests()
        outcome = run_merge_group(GitHub(w.settings()), group, out=io.StringIO())
        assert outcome.decision is not None and len(outcome.decision.pulls) == prs, outcome
        assert outcome.state.value == "success", outcome.description
        log = [r for r in sb.requests() if r.method != "DELIVERY"]
        return {
            "prs": prs,
            "requests": len(log),
            "writes": sum(
                1 for r in log if r.method in WRITE_METHODS and "access_tokens" not in r.path
            ),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prs", type=int, nargs="+", default=[1, 5, 10])
    args = parser.parse_args()
    print("pull requests in the group | GitHub requests | of which writes | per pull request")
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.prs:
            r = scenario(n, Path(tmp) / str(n))
            print(f"{n:>26} | {r['requests']:>15} | {r['writes']:>15} | {r['requests'] / n:>16.1f}")


if __name__ == "__main__":
    main()
