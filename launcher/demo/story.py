"""The demo's narrative: six requests, told as their authors and approvers see them.

Every outcome printed is read back from the GitHub stand-in or EC2 (moto), never assumed; an
outcome that differs from the expected one stops the demo with an error.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TextIO

from launcher.core.times import utc_iso
from launcher.demo.stage import DemoError, Stage, now_utc, project_root, set_clock

DEV = "deployments/dev/{}.yaml"


def _request(name: str, count: int, profile: str = "small", extra: str = "") -> str:
    return (
        f"name: {name}\npool: dev\ndescription: demo request\ninstances:\n"
        f"  - name: {name}\n    image: rhel9\n    hardware_profile: {profile}\n"
        f"    count: {count}\n{extra}"
    )


@dataclass
class Story:
    stage: Stage
    out: TextIO
    t0: datetime
    pulls: dict[str, int] = field(default_factory=dict)

    def say(self, text: str = "") -> None:
        self.out.write(text + "\n")
        self.out.flush()

    def expect(self, what: str, got: Any, check: Callable[[Any], bool]) -> None:
        if not check(got):
            raise DemoError(f"expected {what}, got {got!r}")

    def gate_says(self, number: int, state: str) -> str:
        got = self.stage.status(number)
        self.expect(f"launcher/approval {state} on #{number}", got, lambda s: s[0] == state)
        return f"launcher/approval {got[0]}: {got[1]}"

    def instances(self, key: str) -> list[dict[str, Any]]:
        import boto3

        found = []
        for region in ("us-east-1", "eu-west-1"):
            client = boto3.client("ec2", region_name=region)
            answer = client.describe_instances(
                Filters=[
                    {"Name": "tag:launcher:deployment", "Values": [key]},
                    {"Name": "instance-state-name", "Values": ["pending", "running"]},
                ]
            )
            for reservation in answer["Reservations"]:
                found += reservation["Instances"]
        return found

    def show_instances(self, key: str, count: int) -> None:
        found = self.instances(key)
        self.expect(f"{count} instance(s) of {key}", len(found), lambda n: n == count)
        kinds = sorted({(i["InstanceType"], i["Placement"]["AvailabilityZone"]) for i in found})
        ids = ", ".join(sorted(i["InstanceId"] for i in found))
        where = "; ".join(f"{t} in {z}" for t, z in kinds)
        self.say(f"   → EC2: {len(found)} × {where} ({ids})")

    # --- the six requests -----------------------------------------------------------------

    def run(self) -> None:
        s = self.stage
        self.say("1. alice (create on pool dev) asks for two web servers")
        web = (project_root() / DEV.format("web-frontend")).read_text()
        n1 = s.open_pr("alice", DEV.format("web-frontend"), web, "Web frontend", "Q4 load test")
        s.pump()
        self.say(f"   PR #{n1} opened → {self.gate_says(n1, 'success')}")
        s.merge("alice", n1)
        s.pump()
        self.say("   merged → launch.yml launches it")
        self.show_instances("dev/web-frontend", 2)

        self.say("2. bob (create_with_approval on pool dev) asks for an API server")
        n2 = s.open_pr("bob", DEV.format("api"), _request("api", 1, "medium"), "API", "For QA")
        s.pump()
        self.say(f"   PR #{n2} opened → {self.gate_says(n2, 'pending')}")
        users, teams = s.repo("bob").get_pull(n2).get_review_requests()
        asked = ", ".join([f"@{u.login}" for u in users] + [f"@acme/{t.slug}" for t in teams])
        self.expect("review requests to dave and erin", asked, lambda a: "@dave" in a)
        self.say(f"   reviews requested from {asked}")
        s.review("alice", n2, "APPROVE", "looks good to me")
        s.pump()
        self.say(f"   alice approves (not an approver of dev) → {self.gate_says(n2, 'pending')}")
        s.review("dave", n2, "APPROVE", "OK for the QA cycle")
        s.pump()
        self.say(f'   dave approves: "OK for the QA cycle" → {self.gate_says(n2, "success")}')
        s.merge("bob", n2)
        s.pump()
        self.say("   merged → launched")
        self.show_instances("dev/api", 1)

        self.say("3. carol asks for eight load generators; erin rejects it")
        n3 = s.open_pr("carol", DEV.format("load-test"), _request("load-test", 8), "Load", "Soak")
        s.pump()
        reason = "Eight is too many for dev: use two, or ask in the perf pool."
        s.review("erin", n3, "REQUEST_CHANGES", reason)
        s.pump()
        self.say(f"   PR #{n3} → {self.gate_says(n3, 'failure')}")

        launch_at = self.t0 + timedelta(hours=2)
        self.say(f"4. bob schedules a nightly run for {launch_at:%H:%M} UTC; nobody approves it")
        extra = f"launch_at: {utc_iso(launch_at)}\n"
        n4 = s.open_pr(
            "bob", DEV.format("nightly"), _request("nightly", 1, extra=extra), "Nightly", ""
        )
        s.pump()
        self.say(f"   PR #{n4} opened → {self.gate_says(n4, 'pending')}")
        set_clock(launch_at)
        s.dispatch("sweep.yml")
        state = s.repo("bob").get_pull(n4).state
        self.expect(f"PR #{n4} closed by the sweep", state, lambda st: st == "closed")
        self.say(f"   sweep at {launch_at:%H:%M} → {self.gate_says(n4, 'failure')}; PR closed")

        start = self.t0 + timedelta(hours=3)
        self.say(f"5. alice schedules a batch job for {start:%H:%M} UTC, to run for one hour")
        extra = f"launch_at: {utc_iso(start)}\nmax_runtime: 1h\n"
        n5 = s.open_pr("alice", DEV.format("batch"), _request("batch", 2, extra=extra), "Batch", "")
        s.pump()
        self.say(f"   PR #{n5} opened → {self.gate_says(n5, 'success')}")
        s.merge("alice", n5)
        s.pump()
        self.expect(
            "no batch instances before its launch time",
            len(self.instances("dev/batch")),
            lambda n: n == 0,
        )
        self.say("   merged → recorded as SCHEDULED, nothing runs yet")
        set_clock(start)
        s.dispatch("sweep.yml")
        self.say(f"   sweep at {start:%H:%M} → launched")
        self.show_instances("dev/batch", 2)
        # The clock keeps running once moved, so the launch happened a few seconds after
        # `start` and its hour ends a few seconds after start + 1h: sweep a minute later, as
        # the next scheduled sweep would (it runs every 15 minutes).
        end = start + timedelta(hours=1, minutes=1)
        set_clock(end)
        s.dispatch("sweep.yml")
        self.expect(
            "batch terminated at expiry", len(self.instances("dev/batch")), lambda n: n == 0
        )
        self.say(f"   sweep at {end:%H:%M} → max_runtime reached: terminated")

        self.say("6. mallory (no permission on pool dev) asks for a server")
        n6 = s.open_pr("mallory", DEV.format("mine"), _request("mine", 1), "Mine", "")
        s.pump()
        self.say(f"   PR #{n6} → {self.gate_says(n6, 'failure')}")
        self.pulls = {
            "dev/web-frontend": n1,
            "dev/api": n2,
            "dev/load-test": n3,
            "dev/nightly": n4,
            "dev/batch": n5,
            "dev/mine": n6,
        }


def run_story(stage: Stage, out: TextIO) -> dict[str, int]:
    story = Story(stage, out, now_utc())
    story.run()
    return story.pulls
