"""``launcher sandbox github`` as a process: seeded, reachable, stops cleanly."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SEED = """
users: [alice, bob, {login: ci, bot: true, token: ghs_fixed}]
orgs:
  acme: {members: [alice, bob], teams: {approvers: [bob]}}
repos:
  - {owner: acme, name: infra, files: {README.md: "hi"}, collaborators: {alice: write},
     teams: {approvers: push},
     protection: {main: {required_status_checks: null, enforce_admins: true,
                         required_pull_request_reviews: {}, restrictions: null}}}
apps:
  - {slug: gate, owner: acme, install: [acme], permissions: {checks: write}}
"""


def test_cli_serves_a_seeded_sandbox(tmp_path: Path) -> None:
    seed = tmp_path / "seed.yaml"
    seed.write_text(SEED)
    state = tmp_path / "state"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "launcher.sandbox.cli",
            "github",
            "--port",
            "0",
            "--state-dir",
            str(state),
            "--seed",
            str(seed),
        ],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        lines = []
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line.split())
            if line.strip() == "READY":
                break
        url = next(parts[1] for parts in lines if parts[0] == "URL")
        tokens = {parts[1]: parts[2] for parts in lines if parts[0] == "TOKEN"}
        assert tokens["ci"] == "ghs_fixed" and set(tokens) == {"alice", "bob", "ci"}
        repo_dir = next(parts[2] for parts in lines if parts[0] == "REPO")
        assert Path(repo_dir).is_dir() and Path(repo_dir).is_relative_to(state)
        req = urllib.request.Request(
            f"{url}/repos/acme/infra", headers={"Authorization": f"token {tokens['alice']}"}
        )
        with urllib.request.urlopen(req, timeout=5) as resp:
            assert json.loads(resp.read())["permissions"]["push"] is True
        branch = urllib.request.Request(
            f"{url}/repos/acme/infra/branches/main",
            headers={"Authorization": f"token {tokens['alice']}"},
        )
        with urllib.request.urlopen(branch, timeout=5) as resp:
            assert json.loads(resp.read())["protected"] is True
        (app_line,) = [parts for parts in lines if parts[0] == "APP"]
        assert app_line[1] == "gate" and Path(app_line[3]).read_bytes().startswith(b"-----BEGIN")
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
        assert proc.stdout is not None and proc.stderr is not None
        proc.stdout.close()
        proc.stderr.close()
