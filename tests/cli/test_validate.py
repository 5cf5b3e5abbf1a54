"""`launcher validate` as a user runs it: every bad input and every tier, exact messages."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, run_cli

POOLS = """\
version: 1
admins: ["@acme/platform"]
groups:
  dev-owners: [dave, erin]
pools:
  dev:
    description: Developer sandboxes
    permissions:
      create: [alice]
      create_with_approval: [bob, carol, "@acme/interns"]
      modify: ["group:dev-owners"]
    approvals_required: 1
    quota: {instances: 20, vcpus: 64}
    max_runtime: 7d
    images:
      rhel9: {us-east-1: ami-0123456789abcdef0}
    hardware_profiles:
      small: {vcpus: 2, memory_gib: 4, architecture: x86_64}
  ops:
    permissions:
      create: ["@acme/platform"]
      modify: [Zoe]
    images:
      rhel9: {us-east-1: ami-0123456789abcdef0}
    hardware_profiles:
      small: {vcpus: 2, memory_gib: 4}
"""

GOOD = """\
name: web
pool: dev
description: Frontend for the Q4 load test
instances:
  - name: web
    image: rhel9
    hardware_profile: small
    count: 2
    realm: us-east-1a
launch_at: 2026-12-01T09:00:00Z
max_runtime: 8h
"""


def make_repo(tmp_path: Path, files: dict[str, str | bytes], pools: str = POOLS) -> Path:
    (tmp_path / "pools.yaml").write_text(pools)
    for name, content in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content.encode() if isinstance(content, str) else content)
    return tmp_path


def validate(tmp_path: Path, files: dict[str, str | bytes], *args: str, pools: str = POOLS):
    return run_cli(make_repo(tmp_path, files, pools), "validate", *args)


def test_valid_examples_pass(tmp_path: Path) -> None:
    result = validate(tmp_path, {"deployments/dev/web.yaml": GOOD}, "--no-match")
    assert result.code == 0
    assert result.out == "2 files checked: 0 errors, 0 warnings\n"


def test_repository_examples_are_valid() -> None:
    result = run_cli(REPO, "validate")
    assert result.code == 0, result.out
    assert "0 errors" in result.out


# --- unsafe or malformed files: refused by the loader, each with a line and column -----------

LOADER_CASES = {
    "too large": (
        b"name: web\ndescription: " + b"x" * 300_000 + b"\n",
        "deployments/dev/web.yaml:1:1: error: file is larger than 256 KiB, the limit for "
        "launcher files",
    ),
    "alias bomb": (
        b"a: &a [x, x, x, x, x, x, x, x, x, x]\n"
        b"b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
        b"c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
        b"d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
        b"e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n",
        "deployments/dev/web.yaml:1:1: error: anchors and aliases expand to more than 50,000 "
        "values: write the values out instead",
    ),
    "self-referencing alias": (
        b"name: web\nloop: &l [*l]\n",
        "deployments/dev/web.yaml:2:7: error: an alias refers to a value that contains it: "
        "write the values out instead",
    ),
    "duplicate key": (
        b"name: web\npool: dev\nname: api\n",
        "deployments/dev/web.yaml:3:1: error: invalid YAML: duplicate key 'name' "
        "(first defined on line 1)",
    ),
    "a list": (
        b"- name: web\n",
        "deployments/dev/web.yaml:1:1: error: file holds a list; expected a mapping of keys "
        "such as name and pool",
    ),
    "a single value": (
        b"just text\n",
        "deployments/dev/web.yaml:1:1: error: file holds a single value; expected a mapping "
        "of keys such as name and pool",
    ),
    "empty": (
        b"# nothing here\n",
        "deployments/dev/web.yaml:1:1: error: file is empty: expected a mapping of keys such "
        "as name and pool",
    ),
    "two documents": (
        b"name: web\n---\nname: api\n",
        "deployments/dev/web.yaml:2:1: error: file holds more than one YAML document "
        "(a second '---'): keep one request per file",
    ),
    "not UTF-8": (
        b"name: web\ndescription: caf\xe9\n",
        "deployments/dev/web.yaml:2:17: error: file is not valid UTF-8 (byte 0xe9): save it "
        "as UTF-8",
    ),
    "binary": (
        b"\x89PNG\r\n\x1a\n\x00\x00",
        "deployments/dev/web.yaml:3:1: error: file is binary (contains a NUL byte), not YAML text",
    ),
    "syntax error": (
        b"name: web\ninstances: [\n",
        "deployments/dev/web.yaml:3:1: error: invalid YAML: while parsing a flow node "
        "did not find expected node content",
    ),
    "python tag": (
        b"name: !!python/object/apply:os.system [echo hi]\n",
        "deployments/dev/web.yaml:1:7: error: invalid YAML: could not determine a constructor "
        "for the tag 'tag:yaml.org,2002:python/object/apply:os.system'",
    ),
}


@pytest.mark.parametrize("case", LOADER_CASES)
def test_loader_refuses_unsafe_or_malformed_files(tmp_path: Path, case: str) -> None:
    content, message = LOADER_CASES[case]
    result = validate(tmp_path, {"deployments/dev/web.yaml": content})
    assert result.code == 1
    assert result.out.splitlines()[0] == message


# --- schema -----------------------------------------------------------------------------------

SCHEMA_CASES = {
    "missing key": (
        GOOD.replace("pool: dev\n", ""),
        "deployments/dev/web.yaml:1:1: error: top level: missing required key 'pool'",
    ),
    "unknown key": (
        GOOD + "colour: blue\n",
        "deployments/dev/web.yaml:12:1: error: unknown key 'colour' (allowed: description, "
        "instances, launch_at, max_runtime, name, pool)",
    ),
    "wrong type": (
        GOOD.replace("count: 2", "count: two"),
        "deployments/dev/web.yaml:8:12: error: instances[0].count: must be a whole number, "
        "not a string",
    ),
    "count zero": (
        GOOD.replace("count: 2", "count: 0"),
        "deployments/dev/web.yaml:8:12: error: instances[0].count: must be at least 1, not 0",
    ),
    "negative count": (
        GOOD.replace("count: 2", "count: -3"),
        "deployments/dev/web.yaml:8:12: error: instances[0].count: must be at least 1, not -3",
    ),
    "bad name": (
        GOOD.replace("name: web\npool", "name: Web_1\npool"),
        "deployments/dev/web.yaml:1:7: error: name: 'Web_1' is not valid: use 1 to 63 "
        "lowercase letters, digits and dashes, starting and ending with a letter or digit",
    ),
    "both hardware forms": (
        GOOD.replace(
            "hardware_profile: small",
            "hardware_profile: small\n    hardware: {vcpus: 2, memory_gib: 4}",
        ),
        "deployments/dev/web.yaml:5:5: error: instances[0]: give exactly one of "
        "hardware_profile or hardware",
    ),
    "bad architecture": (
        GOOD.replace(
            "hardware_profile: small", "hardware: {vcpus: 2, memory_gib: 4, architecture: amd64}"
        ),
        "deployments/dev/web.yaml:7:55: error: instances[0].hardware.architecture: must be one "
        "of x86_64, arm64, not 'amd64'",
    ),
    "trailing newline in an identifier": (
        GOOD.replace("realm: us-east-1a", 'realm: "us-east-1a\\n"'),
        "deployments/dev/web.yaml:9:12: error: instances[0].realm: 'us-east-1a\\n' is not "
        "valid: use an availability zone name like us-east-1a",
    ),
    "bad max_runtime": (
        GOOD.replace("max_runtime: 8h", "max_runtime: 8 hours"),
        "deployments/dev/web.yaml:11:14: error: max_runtime: '8 hours' is not valid: use a "
        "number with m, h, d or w (like 8h or 7d), or ISO 8601 (like PT8H)",
    ),
}


@pytest.mark.parametrize("case", SCHEMA_CASES)
def test_schema_errors_point_at_the_line(tmp_path: Path, case: str) -> None:
    content, message = SCHEMA_CASES[case]
    result = validate(tmp_path, {"deployments/dev/web.yaml": content})
    assert result.code == 1
    assert result.out.splitlines()[0] == message


# --- rules beyond the schema ------------------------------------------------------------------

SEMANTIC_CASES = {
    "name differs from file": (
        "deployments/dev/web.yaml",
        GOOD.replace("name: web\npool", "name: api\npool"),
        "deployments/dev/web.yaml:1:7: error: name 'api' does not match the file name web.yaml: "
        "make them the same",
    ),
    "pool differs from folder": (
        "deployments/ops/web.yaml",
        GOOD,
        "deployments/ops/web.yaml:2:7: error: pool 'dev' does not match the folder "
        "deployments/ops/: move the file or fix the pool",
    ),
    "unknown pool": (
        "deployments/qa/web.yaml",
        GOOD.replace("pool: dev", "pool: qa"),
        "deployments/qa/web.yaml:2:7: error: pool 'qa' is not defined in pools.yaml "
        "(pools: dev, ops)",
    ),
    "unknown image": (
        "deployments/dev/web.yaml",
        GOOD.replace("image: rhel9", "image: rhel8"),
        "deployments/dev/web.yaml:6:12: error: instances[0].image: pool dev has no image "
        "'rhel8' (images: rhel9)",
    ),
    "unknown hardware profile": (
        "deployments/dev/web.yaml",
        GOOD.replace("hardware_profile: small", "hardware_profile: huge"),
        "deployments/dev/web.yaml:7:23: error: instances[0].hardware_profile: pool dev has no "
        "hardware profile 'huge' (profiles: small)",
    ),
    "max_runtime over the pool cap": (
        "deployments/dev/web.yaml",
        GOOD.replace("max_runtime: 8h", "max_runtime: 10d"),
        "deployments/dev/web.yaml:11:14: error: max_runtime 10d is over pool dev's cap of 1w",
    ),
    "launch_at without time zone": (
        "deployments/dev/web.yaml",
        GOOD.replace("2026-12-01T09:00:00Z", "2026-12-01T09:00:00"),
        "deployments/dev/web.yaml:10:12: error: launch_at 2026-12-01T09:00:00 has no time zone: "
        "add Z for UTC or an offset like +01:00",
    ),
    "launch_at without time": (
        "deployments/dev/web.yaml",
        GOOD.replace("2026-12-01T09:00:00Z", "2026-12-01"),
        "deployments/dev/web.yaml:10:12: error: launch_at 2026-12-01 has no time zone: "
        "add Z for UTC or an offset like +01:00",
    ),
    "launch_at not a date": (
        "deployments/dev/web.yaml",
        GOOD.replace("2026-12-01T09:00:00Z", "next tuesday"),
        "deployments/dev/web.yaml:10:12: error: launch_at 'next tuesday' is not an ISO 8601 "
        "date and time (write it like 2026-12-01T09:00:00Z)",
    ),
    "duplicate group names": (
        "deployments/dev/web.yaml",
        GOOD.replace(
            "max_runtime: 8h",
            "max_runtime: 8h\n",
        ).replace(
            "    realm: us-east-1a\n",
            "    realm: us-east-1a\n  - name: web\n    image: rhel9\n    hardware_profile: small\n"
            "    count: 1\n",
        ),
        "deployments/dev/web.yaml:10:11: error: instances[1].name: instance group 'web' is "
        "already defined at instances[0]",
    ),
}


@pytest.mark.parametrize("case", SEMANTIC_CASES)
def test_semantic_errors(tmp_path: Path, case: str) -> None:
    path, content, message = SEMANTIC_CASES[case]
    result = validate(tmp_path, {path: content})
    assert result.code == 1
    assert message in result.out.splitlines()


@pytest.mark.parametrize(
    "path",
    ["deployments/web.yaml", "deployments/dev/team/web.yaml", "deployments/dev/README.md"],
)
def test_files_that_are_not_pool_name_yaml(tmp_path: Path, path: str) -> None:
    result = validate(tmp_path, {path: GOOD})
    assert result.code == 1
    assert result.out.splitlines()[0] == (
        f"{path}:1:1: error: {path} is not a launch request path: "
        "launch requests live at deployments/<pool>/<name>.yaml"
    )


def test_yml_extension_gets_a_hint(tmp_path: Path) -> None:
    result = validate(tmp_path, {"deployments/dev/web.yml": GOOD})
    assert result.out.splitlines()[0] == (
        "deployments/dev/web.yml:1:1: error: deployments/dev/web.yml is not a launch request "
        "path (use the .yaml extension): launch requests live at deployments/<pool>/<name>.yaml"
    )


def test_hidden_files_under_deployments_are_ignored(tmp_path: Path) -> None:
    result = validate(tmp_path, {"deployments/dev/web.yaml": GOOD, "deployments/dev/.gitkeep": ""})
    assert result.code == 0


# --- pools.yaml -------------------------------------------------------------------------------


def test_unknown_group_in_pools(tmp_path: Path) -> None:
    pools = POOLS.replace('modify: ["group:dev-owners"]', 'modify: ["group:dev-owner"]')
    result = validate(tmp_path, {"deployments/dev/web.yaml": GOOD}, pools=pools)
    assert result.code == 1
    lines = result.out.splitlines()
    assert lines[0] == (
        "pools.yaml:11:16: error: pools.dev.permissions.modify[0]: unknown group 'dev-owner' "
        "(groups: dev-owners)"
    )
    assert lines[1] == (
        "deployments/dev/web.yaml:1:1: error: pools.yaml has errors, so this request cannot be "
        "checked: fix pools.yaml first"
    )


def test_pool_without_approvers_is_refused(tmp_path: Path) -> None:
    pools = POOLS.replace('      modify: ["group:dev-owners"]\n', "")
    result = validate(tmp_path, {}, "pools.yaml", pools=pools)
    assert result.out.splitlines()[0] == (
        "pools.yaml:8:5: error: pool dev: has create_with_approval users but no approvers: "
        "list them under permissions.modify"
    )


def test_more_approvals_than_approvers(tmp_path: Path) -> None:
    pools = POOLS.replace("approvals_required: 1", "approvals_required: 3")
    result = validate(tmp_path, {}, "pools.yaml", pools=pools)
    assert result.out.splitlines()[0] == (
        "pools.yaml:12:25: error: pool dev: approvals_required is 3 but only 2 approver(s) "
        "are listed under permissions.modify"
    )


def test_bad_principal(tmp_path: Path) -> None:
    pools = POOLS.replace("create: [alice]", "create: [alice smith]")
    result = validate(tmp_path, {}, "pools.yaml", pools=pools)
    assert result.out.splitlines()[0] == (
        "pools.yaml:9:16: error: pools.dev.permissions.create[0]: 'alice smith' is not valid: "
        "write a GitHub login (alice), a team (@org/team) or a local group (group:NAME)"
    )


def test_missing_pools_file(tmp_path: Path) -> None:
    (tmp_path / "deployments/dev").mkdir(parents=True)
    (tmp_path / "deployments/dev/web.yaml").write_text(GOOD)
    result = run_cli(tmp_path, "validate", "deployments/dev/web.yaml")
    assert result.code == 1
    assert result.out.splitlines()[:2] == [
        "pools.yaml:1:1: error: pools.yaml not found: requests are checked against it",
        "deployments/dev/web.yaml:1:1: error: pools.yaml has errors, so this request cannot be "
        "checked: fix pools.yaml first",
    ]


# --- tiers --------------------------------------------------------------------------------------

TIER_CASES = {
    "alice": (0, "create", "alice has create on pool dev: may launch without approval"),
    "ALICE": (0, "create", "ALICE has create on pool dev: may launch without approval"),
    "bob": (
        0,
        "create_with_approval",
        "bob has create_with_approval on pool dev: needs an approving review from one of "
        "@dave, @erin",
    ),
    "dave": (
        0,
        "modify",
        "dave has modify on pool dev: may launch without approval (and approves requests)",
    ),
    "ivy": (
        0,
        "create_with_approval",
        "ivy has create_with_approval on pool dev: needs an approving review from one of "
        "@dave, @erin",
    ),
    "mallory": (
        1,
        "none",
        "mallory has no permission on pool dev: ask an admin (@acme/platform) to add them to "
        "create or create_with_approval in pools.yaml",
    ),
}


@pytest.mark.parametrize("author", TIER_CASES)
def test_tiers(tmp_path: Path, author: str) -> None:
    code, tier, message = TIER_CASES[author]
    make_repo(tmp_path, {"deployments/dev/web.yaml": GOOD})
    (tmp_path / "teams.yaml").write_text('"@acme/interns": [ivy]\n')
    text = run_cli(tmp_path, "validate", "--author", author, "--teams", "teams.yaml")
    assert text.code == code
    prefix = "deployments/dev/web.yaml: " + ("error: " if code else "")
    assert text.out.splitlines()[0] == prefix + message
    js = run_cli(
        tmp_path, "validate", "--author", author, "--teams", "teams.yaml", "--format", "json"
    )
    (entry,) = [f for f in json.loads(js.out)["files"] if f["path"].startswith("deployments")]
    assert entry["tier"] == tier
    assert entry["permitted"] is (code == 0)


def test_unknown_team_offline_is_not_a_pass(tmp_path: Path) -> None:
    result = validate(tmp_path, {"deployments/dev/web.yaml": GOOD}, "--author", "mallory")
    assert result.code == 1
    assert result.out.splitlines()[0] == (
        "deployments/dev/web.yaml: error: cannot tell what mallory may do on pool dev: "
        "membership of @acme/interns is not known here (pass --teams FILE, or let the gate "
        "check it)"
    )


def test_approvers_listed_in_json(tmp_path: Path) -> None:
    result = validate(
        tmp_path, {"deployments/dev/web.yaml": GOOD}, "--author", "bob", "--format", "json"
    )
    body = json.loads(result.out)
    assert body["ok"] is True
    (entry,) = [f for f in body["files"] if f["path"] == "deployments/dev/web.yaml"]
    assert entry == {
        "path": "deployments/dev/web.yaml",
        "errors": [],
        "warnings": [],
        "tier": "create_with_approval",
        "permitted": True,
        "message": "bob has create_with_approval on pool dev: needs an approving review from "
        "one of @dave, @erin",
        "approvers": ["@dave", "@erin"],
        "approvals_required": 1,
    }


# --- output formats and exit codes ------------------------------------------------------------


def test_json_errors_carry_line_and_column(tmp_path: Path) -> None:
    bad = GOOD.replace("count: 2", "count: 0")
    result = validate(tmp_path, {"deployments/dev/web.yaml": bad}, "--format", "json")
    assert result.code == 1
    body = json.loads(result.out)
    assert body["ok"] is False
    (entry,) = [f for f in body["files"] if f["path"] == "deployments/dev/web.yaml"]
    assert entry["errors"] == [
        {"line": 8, "column": 12, "message": "instances[0].count: must be at least 1, not 0"}
    ]


def test_github_format_prints_escaped_workflow_commands(tmp_path: Path) -> None:
    bad = GOOD.replace("description: Frontend for the Q4 load test", "description: [oops")
    result = validate(tmp_path, {"deployments/dev/web.yaml": bad}, "--format", "github")
    assert result.code == 1
    first = result.out.splitlines()[0]
    assert first.startswith("::error file=deployments/dev/web.yaml,line=")
    assert "::invalid YAML:" in first


def test_github_format_cannot_be_tricked_into_new_commands(tmp_path: Path) -> None:
    sneaky = "deployments/dev/x\n::warning::pwned,line=1.yaml"
    result = validate(tmp_path, {sneaky: GOOD}, "--format", "github")
    assert result.code == 1
    lines = result.out.splitlines()
    assert lines[0].startswith("::error file=deployments/dev/x%0A%3A%3Awarning%3A%3Apwned%2Cline=1")
    assert "::deployments/dev/x%0A::warning::pwned,line=1.yaml is not a launch request" in lines[0]
    assert len(lines) == 2 and lines[1] == "2 files checked: 1 error, 0 warnings"


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    make_repo(tmp_path, {})
    assert run_cli(tmp_path, "validate", "--format", "xml").code == 2
    missing = run_cli(tmp_path, "validate", "deployments/dev/nope.yaml")
    assert missing.code == 2
    assert missing.err == "launcher validate: no such file: deployments/dev/nope.yaml\n"


@pytest.mark.parametrize("entry", ["python -m launcher", "console script"])
def test_installed_entry_points_work(tmp_path: Path, entry: str) -> None:
    make_repo(tmp_path, {"deployments/dev/web.yaml": GOOD})
    script = Path(sys.executable).parent / "launcher"
    command = [sys.executable, "-m", "launcher"] if entry.startswith("python") else [str(script)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["HOME"] = str(tmp_path)  # no ~/.aws either
    proc = subprocess.run(
        [*command, "validate", "--author", "alice"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [
        "deployments/dev/web.yaml: alice has create on pool dev: may launch without approval",
        "note: instance match skipped: no AWS credentials or endpoint (set AWS_ENDPOINT_URL or "
        "AWS credentials)",
        "2 files checked: 0 errors, 0 warnings",
    ]


# --- instance match (issue 4): a warning, never an error, and only when AWS is reachable -----


def test_no_match_is_a_warning_when_aws_is_reachable(tmp_path: Path, moto_server) -> None:
    import boto3

    from launcher.sandbox.moto import default_image

    ami = default_image(boto3.client("ec2", region_name="us-east-1"), "x86_64")
    pools = POOLS.replace("ami-0123456789abcdef0", ami).replace(
        "    max_runtime: 7d\n",
        "    max_runtime: 7d\n    providers:\n      - {name: dev-use1, region: us-east-1, "
        "instance_types: ['t3.*']}\n",
    )
    fits = GOOD.replace("    realm: us-east-1a\n", "")
    huge = (
        fits.replace("name: web\npool", "name: huge\npool")
        .replace("hardware_profile: small", "hardware: {vcpus: 32, memory_gib: 256}")
        .replace("count: 2", "count: 1")
    )
    result = validate(
        tmp_path,
        {"deployments/dev/web.yaml": fits, "deployments/dev/huge.yaml": huge},
        pools=pools,
    )
    assert result.code == 0, result.out
    assert result.out.splitlines() == [
        "deployments/dev/huge.yaml:1:1: warning: no instance match: dev-use1: no allowed "
        "instance type offers 32 vCPU / 256 GiB / x86_64",
        "3 files checked: 0 errors, 1 warning",
    ]


def test_match_is_skipped_without_aws(tmp_path: Path, no_aws) -> None:
    result = validate(tmp_path, {"deployments/dev/web.yaml": GOOD}, "--format", "json")
    assert json.loads(result.out)["match_skipped"] == (
        "instance match skipped: no AWS credentials or endpoint (set AWS_ENDPOINT_URL or AWS "
        "credentials)"
    )


def test_large_trees_are_checked_in_parallel_with_the_same_result(tmp_path: Path) -> None:
    files: dict[str, str | bytes] = {
        f"deployments/dev/r{i:03d}.yaml": GOOD.replace("name: web\n", f"name: r{i:03d}\n")
        for i in range(450)
    }
    files["deployments/dev/r007.yaml"] = GOOD.replace("name: web\n", "name: r007\n").replace(
        "count: 2", "count: 0"
    )
    make_repo(tmp_path, files)
    runs = [
        run_cli(tmp_path, "validate", "--no-match", "--author", "bob", "--jobs", jobs)
        for jobs in ("1", "2")
    ]
    assert runs[0].out == runs[1].out
    assert runs[1].code == 1
    assert runs[1].out.splitlines()[-1] == "451 files checked: 1 error, 0 warnings"
    assert (
        "deployments/dev/r007.yaml:8:12: error: instances[0].count: must be at least 1, not 0"
        in (runs[1].out)
    )
    assert run_cli(tmp_path, "validate", "--jobs", "0").code == 2


def test_not_a_number_is_refused_where_range_checks_would_let_it_through(tmp_path: Path) -> None:
    nan = GOOD.replace("hardware_profile: small", "hardware: {vcpus: 2, memory_gib: .nan}")
    result = validate(tmp_path, {"deployments/dev/web.yaml": nan})
    assert result.code == 1
    assert result.out.splitlines()[0] == (
        "deployments/dev/web.yaml:7:38: error: invalid YAML: '.nan' is not a finite number"
    )


def test_whole_numbers_written_as_floats_become_ints(tmp_path: Path) -> None:
    from launcher.core.documents import load_policy, load_request

    policy, problems = load_policy(POOLS.encode())
    assert policy is not None, problems
    request, problems = load_request(
        GOOD.replace("count: 2", "count: 2.0").encode(), "deployments/dev/web.yaml", policy
    )
    assert request is not None, problems
    assert request.instances[0].count == 2 and isinstance(request.instances[0].count, int)


def test_github_format_adds_the_counts_to_the_job_summary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    summary = tmp_path / "summary.md"
    summary.write_text("earlier step\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    monkeypatch.delenv("GITHUB_TOKEN", raising=False)  # validate needs no GitHub access
    repo = tmp_path / "repo"
    repo.mkdir()
    result = validate(repo, {"deployments/dev/web.yaml": GOOD}, "--format", "github", "--no-match")
    assert result.code == 0
    assert summary.read_text() == (
        "earlier step\nlauncher validate: 2 files checked: 0 errors, 0 warnings\n"
    )
