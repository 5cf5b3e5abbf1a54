"""Size and count limits GitHub enforces, each refused with GitHub's 422.

Why: a job that writes a 70,000-character comment or a 200-character status description
works against a permissive stand-in and fails on github.com; refusing here surfaces it in
tests. Limits: issue/comment/review bodies 65,536 characters; status and deployment
status descriptions 140; check-run output summary and text 65,535; 50 annotations per
request; 1,000 statuses per commit and context.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from launcher.sandbox.github.http import ApiError, validation

BODY_MAX = 65536
DESCRIPTION_MAX = 140
CHECK_TEXT_MAX = 65535
ANNOTATIONS_MAX = 50
STATUSES_PER_CONTEXT = 1000


def check_body(body: Any, resource: str) -> None:
    """Issue, comment and review bodies: at most 65,536 characters."""
    if isinstance(body, str) and len(body) > BODY_MAX and resource == "PullRequestReview":
        # The review endpoints answer the "simple" validation shape (errors are strings).
        raise ApiError(
            422, "Unprocessable Entity", [f"Body is too long (maximum is {BODY_MAX} characters)"]
        )
    if isinstance(body, str) and len(body) > BODY_MAX:
        raise validation(
            resource=resource,
            code="custom",
            field="body",
            message=f"body is too long (maximum is {BODY_MAX} characters)",
        )


def check_description(description: Any, resource: str) -> None:
    """Commit status and deployment status descriptions: at most 140 characters."""
    if isinstance(description, str) and len(description) > DESCRIPTION_MAX:
        raise validation(
            resource=resource,
            code="custom",
            field="description",
            message=f"description is too long (maximum is {DESCRIPTION_MAX} characters)",
        )


def check_statuses_count(existing: int) -> None:
    """At most 1,000 statuses per commit SHA and context."""
    if existing >= STATUSES_PER_CONTEXT:
        raise validation(
            resource="Status",
            code="custom",
            field="context",
            message="This SHA and context has reached the maximum number of statuses.",
        )


def check_run_output(body: Mapping[str, Any], creating: bool = False) -> None:
    """Check-run output: ``title`` (on create) and ``summary`` required, summary and text up
    to 65,535 characters, 50 annotations a request."""
    output = body.get("output")
    if not isinstance(output, Mapping):
        return
    for key in ("title", "summary") if creating else ("summary",):
        if key not in output:
            raise ApiError(422, f'Invalid request.\n\n"{key}" wasn\'t supplied.')
    for key in ("summary", "text"):
        value = output.get(key)
        if isinstance(value, str) and len(value) > CHECK_TEXT_MAX:
            raise ApiError(
                422,
                f"Invalid request.\n\nOnly {CHECK_TEXT_MAX} characters are allowed; "
                f"{len(value)} were supplied.",
            )
    annotations = output.get("annotations")
    if isinstance(annotations, list) and len(annotations) > ANNOTATIONS_MAX:
        raise ApiError(
            422,
            f"Invalid request.\n\nOnly {ANNOTATIONS_MAX} elements are allowed; "
            f"{len(annotations)} were supplied.",
        )
