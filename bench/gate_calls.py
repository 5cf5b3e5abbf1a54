"""Count the GitHub API requests `launcher gate` makes, on the GitHub stand-in.

A pull request with N request files spread over P pools, and R reviews (half from the pools'
approvers, half from other people), by an author who needs approval; a second requester pushed
the last file onto the author's branch, so the gate reads who pushed (the activity log and the
pull request's commits) as well as the pull request's events. The gate runs twice: a
first run (decides and writes status, comment, label, review requests) and a re-run with
nothing changed. launcher runs in app mode: each run authenticates as the app (find the
installation, mint a one-hour token: 2 requests, counted). Goal for the re-run (issue 17): at
most 8 requests for 100 files and 50 reviews, the authentication, GitHub's record of who pushed
(the activity log and the commits) and the pull request's events included, independent of the
number of pools and approvers; above that, 1 more per further 100 files or 100 reviews. The
writes column leaves out the token mint (not a write to the repository).

    python bench/gate_calls.py [--files 100] [--reviews 50] [--pools 1 10 25]
"""

from __future__ import annotations

import argparse
import io
import json
import math
import time
from pathlib import Path

from launcher.adapters.github import GitHub, Settings
from launcher.jobs.gate import run_gate
from launcher.sandbox.github import GitHubSandbox

WRITE_METHODS = ("POST", "PATCH", "PUT", "DELETE")
APP_PERMISSIONS = json.loads((Path(__file__).parents[1] / "app-manifest.json").read_text())[
    "default_permissions"
]


def pools_yaml(n_pools: int, approvers: list[str]) -> str:
    lines = ["version: 1", 'admins: ["@acme/platform"]', "groups:"]
    lines.append("  owners: [" + ", ".join(approvers[: len(approvers) // 2]) + "]")
    lines.append("pools:")
    for p in range(n_pools):
        lines += [
            f"  pool-{p}:",
            "    permissions:",
            "      create_with_approval: [requester, helper]",
            '      modify: ["group:owners", ' + ", ".join(approvers[len(approvers) // 2 :]) + "]",
            "    images: {rhel9: {us-east-1: ami-0123456789abcdef0}}",
            "    hardware_profiles: {small: {vcpus: 2, memory_gib: 4}}",
        ]
    return "\n".join(lines) + "\n"


def request(name: str, pool: str) -> str:
    return (
        f"name: {name}\npool: {pool}\ninstances:\n  - name: a\n    image: rhel9\n"
        "    hardware_profile: small\n    count: 1\n"
    )


def scenario(n_files: int, n_reviews: int, n_pools: int, verbose: bool = False) -> dict[str, float]:
    with GitHubSandbox() as sb:
        approvers = [f"approver-{i}" for i in range(max(2, n_reviews // 2))]
        others = [f"watcher-{i}" for i in range(n_reviews - n_reviews // 2)]
        people = ["requester", "helper", *approvers, *others]
        tokens = {login: sb.add_user(login) for login in people}
        sb.add_org("acme", members=people)
        sb.add_team("acme", "platform", members=[approvers[0]])
        sb.create_repo(
            "acme",
            "infra",
            {"pools.yaml": pools_yaml(n_pools, approvers).encode()},
            collaborators={login: "write" for login in people},
        )
        files = {
            f"deployments/pool-{i % n_pools}/req-{i:04d}.yaml": request(
                f"req-{i:04d}", f"pool-{i % n_pools}"
            )
            for i in range(n_files)
        }
        last = dict([files.popitem()])
        sb.push_files("acme/infra", "feature", files, "requests", "requester", base="main")
        sb.push_files("acme/infra", "feature", last, "one more", "helper")
        pull = (
            sb.client(tokens["requester"])
            .get_repo("acme/infra")
            .create_pull(title="capacity", body="why", head="feature", base="main")
        )
        for i, login in enumerate([*approvers, *others][:n_reviews]):
            event = "APPROVE" if i % 2 == 0 else "COMMENT"
            sb.client(tokens[login]).get_repo("acme/infra").get_pull(pull.number).create_review(
                body="looks fine", event=event
            )
        # App mode, as adopted: each run mints its own installation token (2 requests).
        app = sb.create_app("launcher", "acme", permissions=APP_PERMISSIONS)
        sb.install_app(app, "acme")
        settings = Settings(
            "acme/infra",
            "",
            sb.url,
            throttle=False,
            app_id=str(app.id),
            app_private_key=app.private_key_pem().decode(),
        )
        figures: dict[str, float] = {}
        for run in ("first", "re-run"):
            sb.reset_requests()
            start = time.perf_counter()
            outcome = run_gate(GitHub(settings), pull.number, out=io.StringIO(), match=False)
            figures[f"{run} seconds"] = time.perf_counter() - start
            counts = sb.request_counts()
            if run == "re-run" and verbose:
                print("  re-run requests:", dict(counts))
            figures[f"{run} requests"] = sum(counts.values())
            figures[f"{run} writes"] = sum(
                n
                for k, n in counts.items()
                if k.startswith(WRITE_METHODS) and not k.startswith("POST /app/")
            )
            figures[f"{run} state"] = outcome.state.value  # type: ignore[assignment]
        figures["goal"] = (
            8 + max(0, math.ceil(n_files / 100) - 1) + max(0, math.ceil(n_reviews / 100) - 1)
        )
        return figures


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--files", type=int, default=100)
    parser.add_argument("--reviews", type=int, default=50)
    parser.add_argument("--pools", type=int, nargs="+", default=[1, 10, 25])
    parser.add_argument("-v", "--verbose", action="store_true", help="list the re-run's requests")
    args = parser.parse_args()
    print(f"{args.files} request files, {args.reviews} reviews; GitHub requests per gate run")
    print("pools | first run (writes) | re-run (writes) | re-run goal | first s | re-run s")
    for n_pools in args.pools:
        f = scenario(args.files, args.reviews, n_pools, args.verbose)
        first = f"{f['first requests']:6.0f} ({f['first writes']:.0f}) {f['first state']:>8s}"
        print(
            f"{n_pools:5d} | {first} | {f['re-run requests']:5.0f} ({f['re-run writes']:.0f})"
            f" | {f['goal']:11.0f} | {f['first seconds']:7.2f} | {f['re-run seconds']:8.2f}"
        )


if __name__ == "__main__":
    main()
