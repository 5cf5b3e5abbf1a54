"""A local GitHub Actions runner for this repository's own workflows (demo and tests).

runner = ActionsRunner(sb.git_dir("acme/infra"), ".github/workflows",
                       repository="acme/infra", api_url=sb.url, token=bot_token,
                       vars={"LAUNCHER_BOT_LOGIN": "launcher-bot"},
                       python_bin_dir=".venv/bin")
jobs = runner.run_event("pull_request", sb.last_event("pull_request").payload)

With the stand-in's settings (environments, OIDC, job tokens scoped to `permissions:`,
workflow_run chaining) and the workflows read from the repository at the run's commit:

runner = ActionsRunner.for_sandbox(sb, "acme/infra", python_bin_dir=".venv/bin")
jobs = runner.run_webhook("pull_request", sb.last_event("pull_request").payload)
"""

from launcher.sandbox.actions.emulated import ActionError
from launcher.sandbox.actions.expressions import ExpressionError
from launcher.sandbox.actions.runner import ActionsRunner, JobResult, StepResult
from launcher.sandbox.actions.workflow import Workflow, WorkflowError, load_workflow, triggers

__all__ = [
    "ActionError",
    "ActionsRunner",
    "ExpressionError",
    "JobResult",
    "StepResult",
    "Workflow",
    "WorkflowError",
    "load_workflow",
    "triggers",
]
