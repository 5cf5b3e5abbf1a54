"""The local GitHub Actions runner: expressions, triggers, step plumbing, and gate.yml for real."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from launcher.sandbox.actions import ActionsRunner, WorkflowError, load_workflow, triggers
from launcher.sandbox.actions import expressions as ex
from launcher.sandbox.actions.runner import parse_env_file
from launcher.sandbox.actions.workflow import dispatch_inputs, filter_matches
from tests.conftest import REPO
from tests.jobs.conftest import World, app_runner, request, world  # noqa: F401

GATE = REPO / ".github" / "workflows" / "gate.yml"
VENV_BIN = Path(sys.executable).parent


# -- expressions ------------------------------------------------------------------------------
CONTEXTS: dict[str, Any] = {
    "github": ex.Strict(
        {"event_name": "push", "event": {"commits": [{"id": "a"}, {"id": "b"}], "n": 3}},
        "github property",
    ),
    "secrets": {"EMPTY": ""},
    "vars": {"NAME": "bot"},
    "inputs": ex.Strict({"dry": False, "count": 2}, "input"),
    "env": {"STAGE": "prod"},
    "steps": ex.Strict({"s": {"outputs": {"id": "i-1"}, "outcome": "success"}}, "step id"),
}


def ev(src: str, status: str = "success") -> Any:
    return ex.evaluate(ex.parse(src), ex.Scope(CONTEXTS, status))


@pytest.mark.parametrize(
    ("src", "expected"),
    [
        ("'it''s'", "it's"),
        ("null", None),
        ("0x10 == 16", True),
        ("1 == '1'", True),
        ("'ABC' == 'abc'", True),
        ("true == 1", True),
        ("null == 0", True),
        ("'a' != 'b'", True),
        ("2 < 10", True),
        ("'b' > 'A'", True),
        ("!inputs.dry", True),
        ("secrets.EMPTY || vars.NAME", "bot"),
        ("secrets.MISSING || 'default'", "default"),
        ("vars.NAME && env.STAGE", "prod"),
        ("github.event_name == 'push' && inputs.count > 1", True),
        ("github.EVENT_NAME", "push"),
        ("github.event.missing.deeper", None),
        ("github.event.commits[1].id", "b"),
        ("github.event.commits.*.id", ["a", "b"]),
        ("steps.s.outputs.id", "i-1"),
        ("steps.s.outputs.nothing", None),
        ("format('{0}-{1} {{x}}', env.STAGE, github.event.n)", "prod-3 {x}"),
        ("contains(github.event.commits.*.id, 'B')", True),
        ("contains('Hello', 'ell')", True),
        ("startsWith('refs/heads/main', 'refs/heads/')", True),
        ("endsWith('x.yml', '.YML')", True),
        ("join(github.event.commits.*.id, '+')", "a+b"),
        ("fromJSON('{\"a\": [1, 2]}').a[1]", 2),
        ("toJSON(inputs)", '{\n  "dry": false,\n  "count": 2\n}'),
        ("fromJSON('true') && always()", True),
        ("success()", True),
        ("(1 == 2) || (env.STAGE == 'prod')", True),
    ],
)
def test_expression_values(src: str, expected: Any) -> None:
    assert ev(src) == expected


@pytest.mark.parametrize(
    ("src", "message"),
    [
        ("sekrets.X", "unknown context 'sekrets'"),
        ("toJson2(env)", "unknown function toJson2()"),
        ("github.evnt_name", "unknown github property 'evnt_name'"),
        ("steps.typo.outputs.id", "unknown step id 'typo'"),
        ("inputs.nope", "unknown input 'nope'"),
        ("format('{1}', 'a')", "bad placeholder"),
        ("fromJSON('{')", "not JSON"),
        ("env.A ==", "unexpected 'end'"),
        ("contains('a')", "takes 2..2 arguments"),
        ("", "empty expression"),
    ],
)
def test_expression_errors(src: str, message: str) -> None:
    with pytest.raises(ex.ExpressionError, match=message.replace("(", r"\(").replace(")", r"\)")):
        ev(src)


def test_interpolation_and_conditions() -> None:
    scope = ex.Scope(CONTEXTS)
    assert ex.interpolate("${{ inputs.count }}", scope) == 2  # a lone expression keeps its type
    assert ex.interpolate("n=${{ inputs.count }} ${{ inputs.dry }}!", scope) == "n=2 false!"
    assert ex.interpolate({"k": ["${{ vars.NAME }}"]}, scope) == {"k": ["bot"]}
    assert ex.interpolate("${{ '}}' }}", scope) == "}}"
    assert ex.condition("env.STAGE == 'prod'", scope)
    assert ex.condition("${{ env.STAGE == 'prod' }}", scope)
    failed = ex.Scope(CONTEXTS, "failure")
    assert not ex.condition("env.STAGE == 'prod'", failed)  # implicit success() &&
    assert ex.condition("failure() && env.STAGE == 'prod'", failed)
    assert ex.condition("always()", failed)


# -- loading and triggers --------------------------------------------------------------------
def write(tmp: Path, text: str, name: str = "wf.yml") -> Path:
    path = tmp / name
    path.write_text(textwrap.dedent(text))
    return path


def test_gate_triggers_on_its_pull_request_and_review_types() -> None:
    wf = load_workflow(GATE)
    pr = {"action": "opened", "pull_request": {"base": {"ref": "main"}}}
    # The privileged gate runs the default branch's code only: never on pull_request(_review).
    assert triggers(wf, "pull_request_target", pr)
    assert triggers(wf, "pull_request_target", {**pr, "action": "edited"})
    # closed: a request an approver rejected is recorded FAILED rejected (issue 15)
    assert triggers(wf, "pull_request_target", {**pr, "action": "closed"})
    assert not triggers(wf, "pull_request_target", {**pr, "action": "labeled"})
    assert not triggers(wf, "pull_request", pr)
    assert not triggers(wf, "pull_request_review", {**pr, "action": "submitted"})

    def run_of(name: str) -> dict[str, Any]:
        return {"action": "completed", "workflow": {"name": name}, "workflow_run": {"name": name}}

    assert triggers(wf, "workflow_run", run_of("launcher review"))
    assert not triggers(wf, "workflow_run", run_of("other"))
    assert not triggers(wf, "push", {"ref": "refs/heads/main"})
    review = load_workflow(GATE.parent / "review.yml")
    assert triggers(review, "pull_request_review", {**pr, "action": "dismissed"})
    assert review.raw["permissions"] == {} and "environment" not in review.raw["jobs"]["hand-over"]


def test_push_schedule_and_dispatch_triggers(tmp_path: Path) -> None:
    wf = load_workflow(
        write(
            tmp_path,
            """\
            on:
              push: {branches: [main, "release/**", "!release/old"]}
              pull_request: {}
              schedule: [{cron: "*/5 * * * *"}]
              workflow_dispatch:
                inputs:
                  request: {required: true, type: string}
                  dry-run: {type: boolean, default: false}
                  size: {type: choice, options: [small, large], default: small}
            jobs:
              j: {runs-on: ubuntu-latest, steps: [{run: "true"}]}
            """,
        )
    )
    assert triggers(wf, "push", {"ref": "refs/heads/main"})
    assert triggers(wf, "push", {"ref": "refs/heads/release/1/2"})
    assert not triggers(wf, "push", {"ref": "refs/heads/release/old"})
    assert not triggers(wf, "push", {"ref": "refs/heads/feature"})
    assert not triggers(wf, "push", {"ref": "refs/tags/v1"})  # branches only: no tags
    assert triggers(wf, "pull_request", {"action": "synchronize"})
    assert not triggers(wf, "pull_request", {"action": "labeled"})  # default types
    assert triggers(wf, "schedule", {"schedule": "*/5 * * * *"})
    assert not triggers(wf, "schedule", {"schedule": "0 0 * * *"})
    assert triggers(wf, "workflow_dispatch", {})
    typed, raw = dispatch_inputs(wf, {"request": "web", "dry-run": "true"})
    assert typed == {"request": "web", "dry-run": True, "size": "small"}
    assert raw["dry-run"] == "true"
    for bad, message in [
        ({}, "'request' is required"),
        ({"request": "x", "extra": 1}, "unexpected inputs"),
        ({"request": "x", "size": "huge"}, "not one of its options"),
        ({"request": "x", "dry-run": "maybe"}, "true or false"),
    ]:
        with pytest.raises(WorkflowError, match=message):
            dispatch_inputs(wf, bad)
    assert filter_matches(["*.yml"], "a.yml") and not filter_matches(["*.yml"], "d/a.yml")


@pytest.mark.parametrize(
    ("steps", "message"),
    [
        ('[{run: "echo ${{ github.event.pull_request.title }}"}]', "inside run: is refused"),
        ("[{uses: actions/cache@v4}]", "'actions/cache@v4' is not emulated"),
        ("[{uses: ./local-action}]", "only owner/repo@ref"),
        ("[{run: 'true', shell: python}]", "only bash"),
        ("[{run: 'true', env: {A: '${{ secret.X }}'}}]", "unknown context 'secret'"),
        ("[{run: 'true', runs: x}]", "unknown keys"),
    ],
)
def test_workflows_the_runner_refuses(tmp_path: Path, steps: str, message: str) -> None:
    path = write(tmp_path, f"on: push\njobs:\n  j:\n    runs-on: x\n    steps: {steps}\n")
    with pytest.raises(WorkflowError, match=message):
        load_workflow(path)


def test_matrix_jobs_are_refused(tmp_path: Path) -> None:
    text = "on: push\njobs:\n  j: {strategy: {matrix: {a: [1]}}, steps: [{run: 'true'}]}\n"
    with pytest.raises(WorkflowError, match="not supported by the local runner"):
        load_workflow(write(tmp_path, text))


def test_on_parses_despite_yaml_1_1() -> None:
    assert "on" in load_workflow(GATE).raw and True not in load_workflow(GATE).raw


def test_env_files() -> None:
    text = "a=1\nb<<EOF\nline 1\nline=2\nEOF\nc=x=y\n"
    assert parse_env_file(text) == {"a": "1", "b": "line 1\nline=2", "c": "x=y"}


# -- running inline workflows ----------------------------------------------------------------
@pytest.fixture
def bare_repo(tmp_path: Path) -> Path:
    """A bare repository with one commit on main holding hello.txt."""
    src, bare = tmp_path / "src", tmp_path / "repo.git"
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run(["git", "init", "-q", "-b", "main", str(src)], check=True)
    (src / "hello.txt").write_text("hi\n")
    subprocess.run([*git, "-C", str(src), "add", "."], check=True)
    subprocess.run([*git, "-C", str(src), "commit", "-qm", "init"], check=True)
    subprocess.run(["git", "clone", "-q", "--bare", str(src), str(bare)], check=True)
    return bare


def runner(repo: Path, workflows: Path, **kwargs: Any) -> ActionsRunner:
    kwargs.setdefault("secrets", {"DEPLOY_KEY": "s3cr3t-value"})
    kwargs.setdefault("vars", {"STAGE": "test"})
    return ActionsRunner(
        repo,
        workflows,
        repository="acme/infra",
        api_url="http://127.0.0.1:9",
        token="ghs_token",
        python_bin_dir=VENV_BIN,
        **kwargs,
    )


PLUMBING = """\
name: plumbing
on:
  workflow_dispatch:
    inputs:
      who: {type: string, default: world}
env:
  STAGE: ${{ vars.STAGE }}
jobs:
  first:
    runs-on: ubuntu-latest
    outputs:
      greeting: ${{ steps.say.outputs.greeting }}
    steps:
      - uses: actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683 # v4.2.2
        with: {persist-credentials: false}
      - uses: actions/setup-python@a26af69be951a213d495a4c3e4e4022e16d87065 # v5.6.0
        with: {python-version: "3.11"}
      - id: say
        env:
          WHO: ${{ inputs.who }}
          SECRET: ${{ secrets.DEPLOY_KEY }}
        run: |
          test "$(cat hello.txt)" = hi
          echo "greeting=hello $WHO" >> "$GITHUB_OUTPUT"
          printf 'multi<<END\\na\\nb\\nEND\\n' >> "$GITHUB_OUTPUT"
          echo "EXPORTED=from-env-file" >> "$GITHUB_ENV"
          echo "### Summary for $WHO" >> "$GITHUB_STEP_SUMMARY"
          echo "secret is $SECRET"
      - name: Later step sees outputs, exports and the Actions environment
        env:
          GREETING: ${{ steps.say.outputs.greeting }}
          MULTI: ${{ steps.say.outputs.multi }}
        run: |
          test "$GREETING" = "hello octo"
          test "$MULTI" = "$(printf 'a\\nb')"
          test "$EXPORTED" = from-env-file
          test "$STAGE" = test && test "$CI" = true && test "$GITHUB_ACTIONS" = true
          test "$GITHUB_EVENT_NAME" = workflow_dispatch && test "$GITHUB_REPOSITORY" = acme/infra
          grep -q '"who": "octo"' "$GITHUB_EVENT_PATH"
          test "$GITHUB_WORKSPACE" = "$PWD" && test -n "$GITHUB_SHA" && test -d "$RUNNER_TEMP"
          test -z "${GITHUB_TOKEN:-}"  # only when the workflow passes it
          test "$EXTRA" = machine
          python -m pip install --disable-pip-version-check .
      - name: Fails
        id: broken
        continue-on-error: true
        run: exit 3
      - name: Skipped
        if: steps.broken.outcome == 'success'
        run: exit 1
  second:
    needs: first
    runs-on: ubuntu-latest
    steps:
      - env:
          GREETING: ${{ needs.first.outputs.greeting }}
        run: test "$GREETING" = "hello octo"
"""


def test_a_workflow_run_plumbs_outputs_env_and_summary(bare_repo: Path, tmp_path: Path) -> None:
    (tmp_path / "wf").mkdir()
    write(tmp_path / "wf", PLUMBING, "plumbing.yml")
    r = runner(bare_repo, tmp_path / "wf", extra_env={"EXTRA": "machine"})
    first, second = r.run_workflow("plumbing.yml", "workflow_dispatch", inputs={"who": "octo"})
    assert first.ok, first.log()
    outcomes = [s.outcome for s in first.steps]
    assert outcomes == ["success"] * 4 + ["failure", "skipped"]
    assert first.steps[4].conclusion == "success" and first.steps[4].exit_code == 3
    assert first.steps[2].outputs == {"greeting": "hello octo", "multi": "a\nb"}
    assert "secret is ***" in first.steps[2].stdout  # secrets are masked in logs
    assert "### Summary for octo" in first.summary
    assert "pip install skipped by the local runner: launcher" in first.steps[3].stdout
    assert first.outputs == {"greeting": "hello octo"}
    assert second.ok, second.log()


def test_a_failing_step_stops_the_job_and_its_dependents(bare_repo: Path, tmp_path: Path) -> None:
    write(
        tmp_path,
        """\
        on: push
        jobs:
          a:
            runs-on: ubuntu-latest
            steps:
              - run: "false"
              - run: echo never
              - if: failure()
                run: echo cleanup
          b: {needs: a, runs-on: ubuntu-latest, steps: [{run: "true"}]}
        """,
        "push.yml",
    )
    a, b = runner(bare_repo, tmp_path).run_event("push", {"ref": "refs/heads/main"})
    assert a.result == "failure"
    assert [s.outcome for s in a.steps] == ["failure", "skipped", "success"]
    assert b.result == "skipped"


def test_declared_inputs_are_empty_on_a_schedule(bare_repo: Path, tmp_path: Path) -> None:
    write(
        tmp_path,
        """\
        on:
          schedule: [{cron: "7 * * * *"}]
          workflow_dispatch: {inputs: {dry-run: {type: boolean, default: false}}}
        jobs:
          a:
            steps:
              - env: {DRY_RUN: "${{ inputs.dry-run }}", NAME: "${{ github.event_name }}"}
                run: test -z "$DRY_RUN" && test "$NAME" = schedule
        """,
    )
    (job,) = runner(bare_repo, tmp_path).run_event("schedule", {"schedule": "7 * * * *"})
    assert job.ok, job.log()
    (job,) = runner(bare_repo, tmp_path).run_workflow("wf.yml", "workflow_dispatch")
    assert job.result == "failure"  # dry-run is false there, not empty


def test_a_step_that_hangs_is_killed(bare_repo: Path, tmp_path: Path) -> None:
    write(tmp_path, "on: push\njobs:\n  a: {steps: [{run: sleep 30}]}\n")
    (job,) = runner(bare_repo, tmp_path, step_timeout=0.5).run_event(
        "push", {"ref": "refs/heads/main"}
    )
    assert job.result == "failure" and job.steps[0].exit_code == 124
    assert "timed out" in job.steps[0].stderr


def test_unknown_action_input_and_missing_aws_fail_the_step(
    bare_repo: Path, tmp_path: Path
) -> None:
    write(
        tmp_path,
        """\
        on: push
        jobs:
          a:
            steps:
              - uses: actions/checkout@v4
                with: {persist-credential: false}
          b:
            steps:
              - uses: aws-actions/configure-aws-credentials@v4
                with: {aws-region: us-east-1}
          c:
            steps:
              - uses: aws-actions/configure-aws-credentials@v4
                with: {aws-region: eu-west-1, role-to-assume: arn:aws:iam::1:role/x}
              - run: test "$AWS_REGION" = eu-west-1 && test "$AWS_ENDPOINT_URL" = http://moto
        """,
    )
    a, b, c = runner(bare_repo, tmp_path).run_event("push", {"ref": "refs/heads/main"})
    assert "'persist-credential'] are not emulated" in a.steps[0].stderr
    assert "the runner has no aws_env" in b.steps[0].stderr
    assert not c.ok
    r = runner(bare_repo, tmp_path, aws_env={"AWS_ENDPOINT_URL": "http://moto"})
    *_, c = r.run_event("push", {"ref": "refs/heads/main"})
    assert c.ok, c.log()


# -- gate.yml for real, against the GitHub stand-in ------------------------------------------
def gate_runner(world: World, workflows: Path) -> ActionsRunner:  # noqa: F811
    return app_runner(world, workflows)


def test_gate_workflow_sets_the_approval_check(world: World) -> None:  # noqa: F811
    runner = gate_runner(world, GATE.parent)
    number = world.open_pr("alice", {"deployments/dev/web.yaml": request()})
    event = world.sb.last_event("pull_request")
    (job,) = runner.run_event("pull_request_target", event.payload)
    assert job.ok, job.log()
    assert job.name == "launcher gate" and job.environment == "launcher-gate"
    assert [s.name for s in job.steps][-1] == "Gate"
    assert world.status(number) == ("success", "1 request may launch")
    assert world.labels(number) == ["launch:approved"]
    # launcher's code comes from the default branch's latest commit
    assert job.steps[0].outputs["commit"] == world.sb.branch_sha("acme/infra", "main")
    assert "**launcher/approval**: success: 1 request may launch" in job.summary


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ('launcher/run.py" gate', 'launcher/run.py" gait'),  # the wrong command
        ("LAUNCHER_APP_PRIVATE_KEY: ${{", "LAUNCHER_APP_KEY: ${{"),  # the wrong variable
    ],
)
def test_a_broken_gate_workflow_fails(world: World, tmp_path: Path, old: str, new: str) -> None:  # noqa: F811
    text = GATE.read_text()
    assert old in text
    write(tmp_path, text.replace(old, new), "gate.yml")
    runner = gate_runner(world, tmp_path)
    number = world.open_pr("alice", {"deployments/dev/web.yaml": request()})
    event = world.sb.last_event("pull_request")
    (job,) = runner.run_event("pull_request_target", event.payload)
    assert job.result == "failure"
    assert job.steps[-1].exit_code != 0
    assert world.status(number) is None
