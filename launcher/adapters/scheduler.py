"""The expiry backstop on AWS: one EventBridge Scheduler one-time schedule per launch.

Each schedule lives in the instances' own account and region (the provider's location, so
the client is the one `EC2` holds for that role and region) in the `default` schedule group,
and says: at the expiry (`at(yyyy-mm-ddThh:mm:ss)`, time zone UTC, no flexible window), call
the universal target `ec2:terminateInstances` with exactly that launch's instance ids, as the
provider's scheduler role, then delete yourself (`ActionAfterCompletion` DELETE). Scheduler
retries a failed call (its default retry policy: up to 185 times within 24 hours).

UpdateSchedule rewrites every field (an omitted one goes back to its default), so a move
always sends the whole schedule. `EC2.set_backstop` / `EC2.drop_backstop` call these.
"""

from __future__ import annotations

import json
from typing import Any

from launcher.core.backstop import Backstop
from launcher.core.compute import BackstopChange

ACTION = "ec2:terminateInstances"
GROUP = "default"


def target_arn(role_arn: str) -> str:
    """The universal target, in the scheduler role's partition (`aws` outside China and
    GovCloud)."""
    partition = role_arn.split(":")[1] if role_arn.count(":") >= 2 else "aws"
    return f"arn:{partition}:scheduler:::aws-sdk:{ACTION}"


def schedule_fields(backstop: Backstop) -> dict[str, Any]:
    """CreateSchedule's (and UpdateSchedule's) parameters for a backstop."""
    return {
        "Name": backstop.name,
        "GroupName": GROUP,
        "Description": f"launcher: end {backstop.key or 'a request'} at its max_runtime"[:512],
        "ScheduleExpression": f"at({backstop.at:%Y-%m-%dT%H:%M:%S})",
        "ScheduleExpressionTimezone": "UTC",
        "FlexibleTimeWindow": {"Mode": "OFF"},
        "ActionAfterCompletion": "DELETE",
        "State": "ENABLED",
        "Target": {
            "Arn": target_arn(backstop.role_arn),
            "RoleArn": backstop.role_arn,
            "Input": json.dumps({"InstanceIds": list(backstop.instance_ids)}),
        },
    }


def _same(found: dict[str, Any], wanted: dict[str, Any]) -> bool:
    """The schedule read back (GetSchedule) is the one wanted, field by field."""
    target, want = found.get("Target") or {}, wanted["Target"]
    try:
        found_input = json.loads(target.get("Input") or "null")
    except ValueError:
        return False
    return (
        found.get("ScheduleExpression") == wanted["ScheduleExpression"]
        and found.get("ScheduleExpressionTimezone") == wanted["ScheduleExpressionTimezone"]
        and (found.get("FlexibleTimeWindow") or {}).get("Mode") == "OFF"
        and found.get("ActionAfterCompletion") == wanted["ActionAfterCompletion"]
        and found.get("State") == wanted["State"]
        and target.get("Arn") == want["Arn"]
        and target.get("RoleArn") == want["RoleArn"]
        and found_input == json.loads(want["Input"])
    )


def set_schedule(client: Any, backstop: Backstop, *, dry_run: bool = False) -> BackstopChange:
    """GetSchedule, then CreateSchedule or UpdateSchedule only when it differs (with
    `dry_run`, GetSchedule only). A schedule created meanwhile by a racing run
    (ConflictException) is compared and moved like any."""
    from botocore.exceptions import ClientError

    wanted = schedule_fields(backstop)
    found = _get(client, backstop.name)
    if dry_run:
        if found is None:
            return BackstopChange.CREATED
        return BackstopChange.KEPT if _same(found, wanted) else BackstopChange.MOVED
    if found is None:
        try:
            client.create_schedule(**wanted)
            return BackstopChange.CREATED
        except ClientError as exc:
            if _code(exc) != "ConflictException":
                raise
        found = _get(client, backstop.name)
    if found is not None and _same(found, wanted):
        return BackstopChange.KEPT
    client.update_schedule(**wanted)
    return BackstopChange.MOVED


def delete_schedule(client: Any, name: str) -> bool:
    from botocore.exceptions import ClientError

    try:
        client.delete_schedule(Name=name, GroupName=GROUP)
    except ClientError as exc:
        if _code(exc) == "ResourceNotFoundException":
            return False
        raise
    return True


def _get(client: Any, name: str) -> dict[str, Any] | None:
    from botocore.exceptions import ClientError

    try:
        answer: dict[str, Any] = client.get_schedule(Name=name, GroupName=GROUP)
    except ClientError as exc:
        if _code(exc) == "ResourceNotFoundException":
            return None
        raise
    return answer


def _code(exc: Any) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))
