"""A local EC2 for tests and demos: moto's server on loopback, plus the seeding launcher needs.

The server runs in a thread of this process and is reached over HTTP through
`AWS_ENDPOINT_URL`, exactly like real EC2, so the adapter under test is the production one.
Clients passed to the helpers below are ordinary boto3 EC2 clients (e.g. `EC2().client(region)`);
this module itself never imports boto3 or botocore.

Its timestamps (LaunchTime...) follow the sandbox clock (`launcher.sandbox.clock`).

moto lacks AWS's ClientToken rule; `start_server` models it (`patch_client_tokens`): per
account and region, RunInstances with a token already used and the same parameters returns the
original reservation and launches nothing; with other parameters it fails with
`IdempotentParameterMismatch`; a token stays taken until 24 h after its instances terminated.
DescribeInstances accepts the `client-token` filter. Other gaps (only MinCount instances
launched, never InsufficientInstanceCapacity) are covered with `inject_ec2_error`, which makes
a client answer an operation with the real AWS error shape. EventBridge Scheduler's rules
and the firing of due schedules are in `launcher.sandbox.scheduler`.
"""

from __future__ import annotations

import logging
import os
import re
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from launcher.core.quota import DEPLOYMENT_TAG, POOL_TAG
from launcher.sandbox import clock

# moto reads these into moto.settings at import time; start_server also patches the module.
VALIDATION_SETTINGS = {
    "MOTO_EC2_ENABLE_INSTANCE_TYPE_VALIDATION": "EC2_ENABLE_INSTANCE_TYPE_VALIDATION",
    "MOTO_ENABLE_AMI_VALIDATION": "ENABLE_AMI_VALIDATION",
}


@dataclass
class MotoServer:
    """A running moto server; `stop()` it (or use `moto_server()`) when done."""

    host: str
    port: int
    _server: Any = field(repr=False, default=None)
    _saved: dict[str, Any] = field(repr=False, default_factory=dict)
    _unpatch_clock: Callable[[], None] | None = field(repr=False, default=None)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def env(self, region: str = "us-east-1") -> dict[str, str]:
        """Environment that points boto3 here with fake credentials and no other AWS config."""
        return {
            "AWS_ENDPOINT_URL": self.url,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_SESSION_TOKEN": "testing",
            "AWS_DEFAULT_REGION": region,
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "AWS_EC2_METADATA_DISABLED": "true",
        }

    def reset(self) -> None:
        """Forget every instance, image and tag (moto's own reset endpoint)."""
        request = urllib.request.Request(f"{self.url}/moto-api/reset", method="POST", data=b"")
        with urllib.request.urlopen(request, timeout=10) as response:
            response.read()

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None
        import moto.settings

        for name, value in self._saved.items():
            setattr(moto.settings, name, value)
        self._saved.clear()
        if self._unpatch_clock is not None:
            self._unpatch_clock()
            self._unpatch_clock = None


def start_server(host: str = "127.0.0.1", port: int = 0) -> MotoServer:
    """Start moto on a free loopback port with instance-type and AMI validation on."""
    for variable in VALIDATION_SETTINGS:
        os.environ[variable] = "true"
    import moto.settings
    from moto.server import ThreadedMotoServer

    saved = {}
    for attribute in VALIDATION_SETTINGS.values():
        saved[attribute] = getattr(moto.settings, attribute)
        setattr(moto.settings, attribute, True)  # in case moto was imported before
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per request on stderr
    server = ThreadedMotoServer(ip_address=host, port=port, verbose=False)
    server.start()
    bound_host, bound_port = server.get_host_and_port()
    # The server runs in this process: its LaunchTime etc. follow the sandbox clock, which
    # the GitHub stand-in and the runner's jobs share (launcher.sandbox.clock).
    unpatch_clock = clock.patch_moto()
    unpatch_tokens = patch_client_tokens()
    from launcher.sandbox.scheduler import patch_scheduler

    unpatch_scheduler = patch_scheduler()  # EventBridge Scheduler's rules (sandbox/scheduler.py)

    def unpatch() -> None:
        unpatch_scheduler()
        unpatch_tokens()
        unpatch_clock()

    return MotoServer(bound_host, bound_port, server, saved, unpatch)


@contextmanager
def moto_server(host: str = "127.0.0.1", port: int = 0) -> Iterator[MotoServer]:
    server = start_server(host, port)
    try:
        yield server
    finally:
        server.stop()


@contextmanager
def patched_env(values: Mapping[str, str], remove: tuple[str, ...] = ()) -> Iterator[None]:
    """Set (and unset) environment variables, restoring the previous values afterwards."""
    saved = {name: os.environ.get(name) for name in (*values, *remove)}
    os.environ.update(values)
    for name in remove:
        os.environ.pop(name, None)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


# --- AWS's ClientToken rule, which moto lacks ------------------------------------------------

TOKEN_VALIDITY = timedelta(hours=24)  # after the instances terminated (AWS: "at least 24 h")
_IGNORED = frozenset({"Action", "Version", "ClientToken"})
_TERMINATED_AT = re.compile(r"\((\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) UTC\)")


def patch_client_tokens() -> Callable[[], None]:
    """Make the in-process moto server keep AWS's ClientToken rule for RunInstances (per
    account and region: same token and parameters, the original reservation; other
    parameters, IdempotentParameterMismatch; taken until 24 h after termination) and accept
    DescribeInstances' `client-token` filter. Returns the function that undoes it."""
    from moto.core.responses import ActionResult
    from moto.ec2.exceptions import EC2ClientError
    from moto.ec2.responses.instances import InstanceResponse
    from moto.ec2.utils import filter_dict_attribute_mapping

    original = InstanceResponse.run_instances

    def run_instances(self: Any) -> Any:
        token = self._get_param("ClientToken")
        if not token:
            return original(self)
        # the table lives on the region's backend: moto's reset forgets it with the instances
        table = self.ec2_backend.__dict__.setdefault("_launcher_client_tokens", {})
        params = sorted(
            (k, tuple(v) if isinstance(v, list) else v)
            for k, v in self.querystring.items()
            if k not in _IGNORED
        )
        known = table.get(token)
        if known is not None and not _token_expired(known[1]):
            if known[0] != params:
                raise EC2ClientError(
                    "IdempotentParameterMismatch",
                    f"The client token {token} has already been used with other parameters.",
                )
            return ActionResult(known[1])
        result = original(self)
        table[token] = (params, result.result)
        return result

    InstanceResponse.run_instances = run_instances  # type: ignore[method-assign]
    filter_dict_attribute_mapping["client-token"] = "client_token"

    def undo() -> None:
        InstanceResponse.run_instances = original  # type: ignore[method-assign]
        filter_dict_attribute_mapping.pop("client-token", None)

    return undo


def _token_expired(reservation: Any) -> bool:
    """All its instances terminated more than TOKEN_VALIDITY ago (on the sandbox clock)."""
    ended = []
    for instance in reservation.instances:
        if instance.state != "terminated":
            return False
        match = _TERMINATED_AT.search(instance._reason or "")
        if match is None:
            return False
        ended.append(datetime.strptime(match[1], "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC))
    return bool(ended) and max(ended) + TOKEN_VALIDITY <= clock.now_datetime()


# --- seeding ------------------------------------------------------------------------------------


def create_image(client: Any, name: str, architecture: str = "x86_64") -> str:
    """A new AMI of `architecture` that exists only in the client's region.

    Made from a short-lived instance of a built-in AMI, since moto's RegisterImage leaves the
    architecture empty.
    """
    source = default_image(client, architecture)
    instance_type = "t4g.nano" if architecture == "arm64" else "t3.nano"
    reservation = client.run_instances(
        ImageId=source, InstanceType=instance_type, MinCount=1, MaxCount=1
    )
    instance_id = reservation["Instances"][0]["InstanceId"]
    image_id = client.create_image(InstanceId=instance_id, Name=name)["ImageId"]
    client.terminate_instances(InstanceIds=[instance_id])
    return image_id


# Public AMIs moto loads into every region (moto/ec2/resources/amis.json).
BUILTIN_AMIS = {"x86_64": "ami-04681a1dbd79675a5", "arm64": "ami-0e9271c829888680e"}


def default_image(client: Any, architecture: str) -> str:
    """One of moto's built-in public AMIs of an architecture, present in every region."""
    image_id = BUILTIN_AMIS[architecture]
    [image] = client.describe_images(ImageIds=[image_id])["Images"]
    if image["Architecture"] != architecture:
        raise LookupError(f"moto's {image_id} is {image['Architecture']}, not {architecture}")
    return image_id


def launch_tagged(
    client: Any,
    pool: str,
    deployment: str,
    *,
    image_id: str,
    instance_type: str = "t3.micro",
    count: int = 1,
    state: str = "running",
) -> list[str]:
    """Instances tagged as launcher would tag them, left in `state` (running or stopped)."""
    tags = [
        {"Key": POOL_TAG, "Value": pool},
        {"Key": DEPLOYMENT_TAG, "Value": f"{pool}/{deployment}"},
    ]
    reservation = client.run_instances(
        ImageId=image_id,
        InstanceType=instance_type,
        MinCount=count,
        MaxCount=count,
        TagSpecifications=[{"ResourceType": "instance", "Tags": tags}],
    )
    ids = [i["InstanceId"] for i in reservation["Instances"]]
    if state == "stopped":
        client.stop_instances(InstanceIds=ids)
    elif state == "terminated":
        client.terminate_instances(InstanceIds=ids)
    elif state != "running":
        raise ValueError(f"cannot leave sandbox instances {state}")
    return ids


# --- errors moto never gives ----------------------------------------------------------------


class _ErrorResponse:
    """Just enough of an HTTP response for botocore to raise the error it describes."""

    def __init__(self, status_code: int) -> None:
        self.status_code = status_code
        self.headers: dict[str, str] = {}
        self.content = b""
        self.text = ""
        self.raw = None


def _events(target: Any) -> Any:
    """The event system of a boto3 client, a boto3 Session or a botocore session."""
    if hasattr(target, "meta") and hasattr(target.meta, "events"):
        return target.meta.events
    if hasattr(target, "events"):
        return target.events
    return target  # a botocore session registers handlers itself


@contextmanager
def inject_ec2_error(
    target: Any,
    operation: str,
    code: str,
    message: str,
    *,
    times: int = 1,
    status: int = 400,
) -> Iterator[list[dict[str, Any]]]:
    """Answer the next `times` calls of an EC2 `operation` (e.g. "RunInstances") with an error.

    Works on a client, or on a session before it creates clients. The real error shape
    (`Error.Code`, `Error.Message`, `ResponseMetadata`) reaches the caller as botocore's
    ClientError, with no request sent. Yields each intercepted request as botocore built it
    (for EC2, `body` holds the wire parameters, e.g. `body["ClientToken"]`).
    """
    intercepted: list[dict[str, Any]] = []
    event = f"before-call.ec2.{operation}"

    def handler(params: dict[str, Any] | None = None, **_: Any) -> Any:
        if len(intercepted) >= times:
            return None
        intercepted.append(params or {})
        parsed = {
            "Error": {"Code": code, "Message": message},
            "ResponseMetadata": {"HTTPStatusCode": status, "RequestId": "launcher-sandbox"},
        }
        return _ErrorResponse(status), parsed

    events = _events(target)
    unique_id = f"launcher-inject-{id(handler)}"
    events.register(event, handler, unique_id=unique_id)
    try:
        yield intercepted
    finally:
        events.unregister(event, handler, unique_id=unique_id)
