"""EventBridge Scheduler in the sandbox: AWS's rules moto lacks, and the firing moto never does.

moto stores schedules (CreateSchedule, GetSchedule, UpdateSchedule, DeleteSchedule over HTTP)
but never runs them, and accepts what AWS refuses. `patch_scheduler` (applied by
`launcher.sandbox.moto.start_server`) makes its server keep the documented rules launcher
depends on:

- a schedule's name is 1 to 64 characters of `[0-9a-zA-Z-_.]` (ValidationException);
- an `at()` expression is `at(yyyy-mm-ddThh:mm:ss)`, a real time (ValidationException);
- the target's RoleArn is an IAM role ARN (ValidationException);
- `ActionAfterCompletion` is NONE or DELETE, NONE when omitted;
- UpdateSchedule "uses all values, including empty values": an omitted
  `ActionAfterCompletion` goes back to NONE (moto kept the old value).

`fire_due` plays the service's part: every enabled one-time schedule due on the sandbox clock
calls its universal target (`arn:aws:scheduler:::aws-sdk:SERVICE:ACTION`) with its Input,
over HTTP against the same moto server, with credentials of the schedule's RoleArn (assumed
through moto's STS, so the call lands in that role's account), then is deleted when its
ActionAfterCompletion is DELETE.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

from launcher.sandbox import clock

NAME = re.compile(r"[0-9a-zA-Z_.-]{1,64}")
AT = re.compile(r"at\((\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)\)")
ROLE_ARN = re.compile(r"arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]+")
UNIVERSAL = re.compile(r"arn:aws[a-z-]*:scheduler:::aws-sdk:([a-z0-9-]+):([a-zA-Z0-9]+)")
ACTIONS_AFTER_COMPLETION = ("NONE", "DELETE")


def patch_scheduler() -> Callable[[], None]:
    """Make the in-process moto server validate schedules as AWS does (see the module's
    docstring). Returns the function that undoes it."""
    from moto.scheduler.exceptions import ValidationException
    from moto.scheduler.responses import EventBridgeSchedulerResponse

    original_create = EventBridgeSchedulerResponse.create_schedule
    original_update = EventBridgeSchedulerResponse.update_schedule

    def check(self: Any) -> str:
        name = unquote(self.uri.split("?")[0].split("/")[-1])
        if not NAME.fullmatch(name):
            raise ValidationException(
                f"1 validation error detected: Value '{name}' at 'name' failed to satisfy "
                "constraint: Member must satisfy regular expression pattern: [0-9a-zA-Z-_.]+ "
                "and have length less than or equal to 64"
            )
        expression = self._get_param("ScheduleExpression") or ""
        if expression.startswith("at("):
            match = AT.fullmatch(expression)
            try:
                valid = match is not None and bool(datetime.fromisoformat(match[1]))
            except ValueError:
                valid = False
            if not valid:
                raise ValidationException(f"Invalid Schedule Expression {expression}.")
        role = (self._get_param("Target") or {}).get("RoleArn") or ""
        if not ROLE_ARN.fullmatch(role):
            raise ValidationException(f"Provided RoleArn {role} is not a valid IAM role ARN.")
        action = self._get_param("ActionAfterCompletion") or "NONE"
        if action not in ACTIONS_AFTER_COMPLETION:
            raise ValidationException(f"Invalid ActionAfterCompletion {action}.")
        return str(action)

    def backend_schedule(self: Any) -> Any:
        name = unquote(self.uri.split("?")[0].split("/")[-1])
        return self.scheduler_backend.get_schedule(self._get_param("GroupName"), name)

    def create_schedule(self: Any) -> str:
        action = check(self)
        result = original_create(self)
        backend_schedule(self).action_after_completion = action
        return result

    def update_schedule(self: Any) -> str:
        action = check(self)
        result = original_update(self)
        backend_schedule(self).action_after_completion = action  # omitted: back to NONE
        return result

    EventBridgeSchedulerResponse.create_schedule = create_schedule  # type: ignore[method-assign]
    EventBridgeSchedulerResponse.update_schedule = update_schedule  # type: ignore[method-assign]

    def undo() -> None:
        EventBridgeSchedulerResponse.create_schedule = original_create  # type: ignore[method-assign]
        EventBridgeSchedulerResponse.update_schedule = original_update  # type: ignore[method-assign]

    return undo


@dataclass(frozen=True)
class Fired:
    """One schedule the sandbox ran: where, when it was due, what it called, what came of it."""

    account: str
    region: str
    name: str
    at: datetime
    target: str
    input: dict[str, Any]
    error: str | None = None


def due_schedules(now: datetime | None = None) -> list[tuple[str, str, Any, Any, datetime]]:
    """(account, region, group, schedule, at) of every enabled one-time schedule due at
    `now` (default: the sandbox clock), oldest first. Reads moto's in-process store."""
    from moto.scheduler.models import scheduler_backends

    now = now or clock.now_datetime()
    found = []
    for account, regions in list(scheduler_backends.items()):
        for region, backend in list(regions.items()):
            for group in list(backend.schedule_groups.values()):
                for schedule in list(group.schedules.values()):
                    match = AT.fullmatch(schedule.schedule_expression or "")
                    if match is None or schedule.state != "ENABLED":
                        continue
                    if (schedule.schedule_expression_timezone or "UTC") != "UTC":
                        raise NotImplementedError("the sandbox fires UTC schedules only")
                    at = datetime.fromisoformat(match[1]).replace(tzinfo=UTC)
                    if at <= now:
                        found.append((account, region, group, schedule, at))
    return sorted(found, key=lambda item: (item[4], item[3].name))


def fire_due(endpoint_url: str, now: datetime | None = None) -> list[Fired]:
    """Run every due schedule as EventBridge Scheduler would (see the module's docstring)."""
    import boto3
    from botocore import xform_name

    new_client: Any = boto3.client  # any service, named at run time
    from botocore.exceptions import BotoCoreError, ClientError

    fired = []
    for account, region, group, schedule, at in due_schedules(now):
        target = schedule.target
        match = UNIVERSAL.fullmatch(target.get("Arn", ""))
        if match is None:
            raise NotImplementedError(f"the sandbox fires universal targets only: {target}")
        service, action = match[1], match[2]
        payload = json.loads(target.get("Input") or "{}")
        error = None
        try:
            base = {
                "region_name": region,
                "endpoint_url": endpoint_url,
                "aws_access_key_id": "testing",
                "aws_secret_access_key": "testing",
            }
            creds = new_client("sts", **base).assume_role(
                RoleArn=target["RoleArn"], RoleSessionName="eventbridge-scheduler"
            )["Credentials"]
            client = new_client(
                service,
                region_name=region,
                endpoint_url=endpoint_url,
                aws_access_key_id=creds["AccessKeyId"],
                aws_secret_access_key=creds["SecretAccessKey"],
                aws_session_token=creds["SessionToken"],
            )
            getattr(client, xform_name(action[0].upper() + action[1:]))(**payload)
        except (BotoCoreError, ClientError) as exc:
            error = str(exc)
        if schedule.action_after_completion == "DELETE":
            group.delete_schedule(schedule.name)
        fired.append(Fired(account, region, schedule.name, at, target["Arn"], payload, error))
    return fired
