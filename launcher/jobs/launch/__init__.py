"""The launch job: reconcile the requests on the default branch with EC2 and with the record.

Each run reads three views (the default branch's tree, launcher's GitHub deployments, and
launcher-tagged EC2 instances), asks `launcher.core.lifecycle.plan` what is outstanding and
does it: launch (after re-checking the approval at launch time), schedule, retag, replace,
terminate, or finish what a crashed run started. It is a reconcile, not an event handler, so a
run dropped by the concurrency group is made up by the next one. One request's failure never
stops the others; the run exits 1 when any request failed or could not be handled.

The job is split by concern: `views` (reading), `approval` (the launch-time re-check),
`placement` (fallback and rollback), `recording`, `notifying`, `applying` (the actions) and
`run` (read, plan, apply); this package re-exports what commands, the sweep, tests and
benchmarks import.
"""

from launcher.jobs.launch.common import (
    COMMENT_MARKER,
    TASK,
    Approval,
    LaunchOptions,
    LaunchReport,
    Refused,
    Transient,
    git_blob_sha,
)
from launcher.jobs.launch.placement import client_token
from launcher.jobs.launch.run import _Run, run_launch

__all__ = [
    "COMMENT_MARKER",
    "TASK",
    "Approval",
    "LaunchOptions",
    "LaunchReport",
    "Refused",
    "Transient",
    "_Run",
    "client_token",
    "git_blob_sha",
    "run_launch",
]
