"""Reading EC2's vCPU service quotas for `launcher doctor` (Service Quotas API).

The launch role's account is read with the default credential chain; each provider account
through its read-only role (`<provider role>-read`, which `launcher iam-policy` generates with
servicequotas:GetServiceQuota), never through the role that may launch. A quota that cannot be
read is returned as the reason, for doctor to show.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from launcher.core.doctor_aws import SERVICE_CODE, Reading, Where
from launcher.core.iam import read_role_arn


def read_quotas(wanted: Iterable[tuple[Where, str]]) -> dict[tuple[Where, str], Reading]:
    import boto3
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError, ClientError

    config = Config(retries={"mode": "standard", "total_max_attempts": 2}, connect_timeout=3)
    sessions: dict[str | None, Any] = {}
    out: dict[tuple[Where, str], Reading] = {}

    def session(role: str | None) -> Any:
        if role not in sessions:
            if role is None:
                sessions[None] = boto3.Session()
            else:
                creds = boto3.client("sts", config=config).assume_role(
                    RoleArn=read_role_arn(role), RoleSessionName="launcher-doctor"
                )["Credentials"]
                sessions[role] = boto3.Session(
                    aws_access_key_id=creds["AccessKeyId"],
                    aws_secret_access_key=creds["SecretAccessKey"],
                    aws_session_token=creds["SessionToken"],
                )
        return sessions[role]

    for (role, region), code in wanted:
        try:
            client = session(role).client("service-quotas", region_name=region, config=config)
            answer = client.get_service_quota(ServiceCode=SERVICE_CODE, QuotaCode=code)
            out[((role, region), code)] = float(answer["Quota"]["Value"])
        except ClientError as exc:
            error = exc.response.get("Error", {})
            out[((role, region), code)] = f"{error.get('Code')}: {error.get('Message')}"
        except BotoCoreError as exc:
            out[((role, region), code)] = str(exc)
    return out
