"""EC2 through boto3: with `scheduler.py` (the expiry backstop), the only modules that import
boto3 or botocore.

One `EC2` object lives for one run: it reads each account-and-region's catalogue (zones,
instance types, offerings, AMIs) once and the pools' usage with one DescribeInstances per location,
so matching any number of requests costs a fixed number of calls. boto3 is imported lazily:
`launcher validate` must start fast and never needs it unless it previews matches.

Endpoints come from boto3 itself (`AWS_ENDPOINT_URL`, `AWS_ENDPOINT_URL_EC2`), credentials
from the default chain, and a provider's `role_arn` is assumed with STS once per role;
`aws_configured` is the cheap look at that configuration made before boto3 is imported.
"""

from __future__ import annotations

import hashlib
import os
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from fnmatch import fnmatchcase
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from launcher.core.backstop import Backstop
from launcher.core.compute import (
    BackstopChange,
    ComputeError,
    GroupLaunch,
    Launched,
    LaunchError,
    LaunchErrorKind,
)
from launcher.core.fleet import FleetInstance
from launcher.core.iam import read_role_arn
from launcher.core.matching import (
    ImageInfo,
    InstanceTypeInfo,
    Location,
    RegionCatalogue,
    location_of,
    locations_of,
)
from launcher.core.model import Pool
from launcher.core.quota import COUNTED_STATES, DEPLOYMENT_TAG, POOL_TAG, Usage, count_usage
from launcher.core.times import instant_or_none, utc_iso

if TYPE_CHECKING:
    import boto3

NO_CREDENTIALS = "no AWS credentials or endpoint (set AWS_ENDPOINT_URL or AWS credentials)"
ALL_TYPES = "*"
NAMES_PER_CALL = 100  # filter values per request, well under EC2's limits


@dataclass
class _LocationState:
    """What one run has read so far at one Location."""

    patterns: set[str] = field(default_factory=set)  # instance-type globs read ("*": all)
    types: dict[str, InstanceTypeInfo] = field(default_factory=dict)
    offered: set[str] = field(default_factory=set)
    zones: dict[str, set[str]] = field(default_factory=dict)
    zone_names: frozenset[str] | None = None  # from DescribeAvailabilityZones
    looked_up: set[str] = field(default_factory=set)  # AMI ids asked for, found or not
    images: dict[str, ImageInfo] = field(default_factory=dict)
    root_devices: dict[str, tuple[str, int | None]] = field(default_factory=dict)  # name, GiB
    subnet_zones: dict[str, str] = field(default_factory=dict)  # subnet id -> zone


class EC2Error(ComputeError):
    """An AWS call failed after botocore's retries; the message says which and why."""


def describe_error(exc: BaseException) -> str:
    """A short, human explanation of a botocore failure."""
    from botocore.exceptions import ClientError

    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return f"{error.get('Code', 'Error')}: {error.get('Message', '')}".rstrip(": ")
    return str(exc) or type(exc).__name__


_AWS_HINTS = (
    "AWS_ENDPOINT_URL",
    "AWS_ACCESS_KEY_ID",
    "AWS_PROFILE",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
)


def aws_configured(env: Mapping[str, str] | None = None) -> bool:
    """A cheap look for any sign of AWS configuration, before paying for importing boto3.

    False means matching is skipped at once (offline validation stays fast); True means the
    real credential chain is asked.
    """
    env = os.environ if env is None else env
    if any(env.get(name) for name in _AWS_HINTS):
        return True
    files = (
        env.get("AWS_SHARED_CREDENTIALS_FILE", "~/.aws/credentials"),
        env.get("AWS_CONFIG_FILE", "~/.aws/config"),
    )
    return any(Path(name).expanduser().is_file() for name in files)


def _aws_errors() -> tuple[type[BaseException], ...]:
    from botocore.exceptions import BotoCoreError, ClientError

    return (BotoCoreError, ClientError)


def credentials_problem(session: boto3.Session | None = None) -> str | None:
    """None when the default chain finds credentials, else why AWS cannot be used."""
    import boto3

    try:
        found = (session or boto3.Session()).get_credentials()
    except _aws_errors() as exc:
        return f"AWS credentials cannot be loaded: {describe_error(exc)}"
    return None if found is not None else NO_CREDENTIALS


class EC2:
    """Catalogue and usage reader for one run; caches clients, roles and catalogues.

    `max_attempts` counts every try of a call, the first included (botocore standard mode
    retries throttling and transient errors with backoff).
    """

    def __init__(
        self,
        session: boto3.Session | None = None,
        *,
        max_attempts: int = 5,
        connect_timeout: float = 5,
        read_timeout: float = 30,
        role_session_name: str = "launcher",
        read_roles: bool = False,
    ) -> None:
        self._base = session
        # Reading only (status, the dashboard): a provider's account is reached through its
        # read-only role (`<role_arn>-read`, see launcher.core.iam), never the launching one.
        self._read_roles = read_roles
        self._max_attempts = max_attempts
        self._timeouts = (connect_timeout, read_timeout)
        self._role_session_name = role_session_name
        self._sessions: dict[str | None, boto3.Session] = {}
        self._clients: dict[tuple[str, str, str | None], Any] = {}
        self._read: dict[Location, _LocationState] = {}
        self.calls: Counter[str] = Counter()  # "ec2.DescribeInstances" -> API calls made

    # --- plumbing ------------------------------------------------------------------------

    @property
    def ec2_calls(self) -> int:
        return sum(n for name, n in self.calls.items() if name.startswith("ec2."))

    def _count(self, model: Any = None, **_: Any) -> None:
        self.calls[f"{model.service_model.service_name}.{model.name}"] += 1

    def session(self, role_arn: str | None = None) -> boto3.Session:
        """The default-chain session, or one holding the role's assumed credentials."""
        import boto3

        if role_arn not in self._sessions:
            if role_arn is None:
                self._sessions[None] = self._base or boto3.Session()
            else:
                sts = self._client("sts", self._region_for_sts(), None)
                assumed = read_role_arn(role_arn) if self._read_roles else role_arn
                creds = sts.assume_role(RoleArn=assumed, RoleSessionName=self._role_session_name)[
                    "Credentials"
                ]
                self._sessions[role_arn] = boto3.Session(
                    aws_access_key_id=creds["AccessKeyId"],
                    aws_secret_access_key=creds["SecretAccessKey"],
                    aws_session_token=creds["SessionToken"],
                )
        return self._sessions[role_arn]

    def _region_for_sts(self) -> str:
        return self.session(None).region_name or "us-east-1"

    def _client(
        self, service: Literal["ec2", "sts", "scheduler"], region: str, role_arn: str | None
    ) -> Any:
        key = (service, region, role_arn)
        if key not in self._clients:
            from botocore.config import Config

            config = Config(
                retries={"mode": "standard", "total_max_attempts": self._max_attempts},
                connect_timeout=self._timeouts[0],
                read_timeout=self._timeouts[1],
                user_agent_extra="launcher",
            )
            client = self.session(role_arn).client(service, region_name=region, config=config)
            client.meta.events.register("before-call", self._count)
            self._clients[key] = client
        return self._clients[key]

    def client(self, region: str, role_arn: str | None = None) -> Any:
        """The EC2 client for a location (cached); calls through it are counted."""
        return self._client("ec2", region, role_arn)

    # --- catalogue ------------------------------------------------------------------------

    def catalogue(
        self,
        location: Location,
        image_ids: Iterable[str] = (),
        patterns: Iterable[str] | None = None,
    ) -> RegionCatalogue:
        """The location's catalogue, reading only what this run has not read yet.

        `patterns` (instance-type globs, None for all) narrows DescribeInstanceTypes, whose full
        answer is large; types outside them may be missing from the result. Raises EC2Error;
        `catalogues()` turns that into an unavailable catalogue instead.
        """
        try:
            return self._catalogue(location, set(image_ids), patterns)
        except _aws_errors() as exc:
            raise EC2Error(
                f"reading the EC2 catalogue of {location.region} failed: {describe_error(exc)}"
            ) from exc

    def _catalogue(
        self, location: Location, image_ids: set[str], patterns: Iterable[str] | None = None
    ) -> RegionCatalogue:
        client = self.client(*location)
        state = self._read.setdefault(location, _LocationState())
        if state.zone_names is None:
            answer = client.describe_availability_zones()["AvailabilityZones"]
            state.zone_names = frozenset(z["ZoneName"] for z in answer)
        self._read_types(client, state, patterns)
        self._read_images(client, state, image_ids)
        return RegionCatalogue(
            region=location.region,
            instance_types=dict(state.types),
            offered=frozenset(state.offered),
            zones={zone: frozenset(names) for zone, names in state.zones.items()},
            images=dict(state.images),
            zone_names=state.zone_names,
        )

    def _read_types(
        self, client: Any, state: _LocationState, patterns: Iterable[str] | None
    ) -> None:
        """DescribeInstanceTypes for the globs not read yet, then where those types are offered.

        EC2 filters understand `*` and `?` like fnmatch; anything fancier reads every type.
        Nothing is kept unless every call succeeds, so a retry after an error starts clean.
        """
        if ALL_TYPES in state.patterns:
            return
        wanted = {ALL_TYPES} if patterns is None else set(patterns) - state.patterns
        # A plain name already covered by a glob read before needs no call.
        wanted = {
            p
            for p in wanted
            if any(c in p for c in "*?[") or not any(fnmatchcase(p, q) for q in state.patterns)
        }
        if not wanted:
            return
        if ALL_TYPES in wanted or any(c in p for p in wanted for c in "[]"):
            wanted, kwargs = {ALL_TYPES}, {}
        else:
            kwargs = {"Filters": [{"Name": "instance-type", "Values": sorted(wanted)}]}
        types = {}
        for page in client.get_paginator("describe_instance_types").paginate(**kwargs):
            for item in page["InstanceTypes"]:
                info = _instance_type(item)
                types[info.name] = info
        new = sorted(set(types) - set(state.types))
        offered, zones = self._read_offerings(client, None if ALL_TYPES in wanted else new)
        state.types.update(types)
        state.offered.update(offered)
        for zone, names in zones.items():
            state.zones.setdefault(zone, set()).update(names)
        state.patterns.update(wanted)

    def _read_offerings(
        self, client: Any, names: list[str] | None
    ) -> tuple[set[str], dict[str, set[str]]]:
        """Where the named types (all when None) are offered: in the region, and per zone.

        Filtering by name keeps the zone listing (types x zones, the largest answer) small.
        """
        offered: set[str] = set()
        zones: dict[str, set[str]] = {}
        if names == []:
            return offered, zones
        chunks: list[dict[str, Any]] = [{}]
        if names is not None:
            chunks = [
                {"Filters": [{"Name": "instance-type", "Values": names[i : i + NAMES_PER_CALL]}]}
                for i in range(0, len(names), NAMES_PER_CALL)
            ]
        paginator = client.get_paginator("describe_instance_type_offerings")
        for kwargs in chunks:
            for page in paginator.paginate(LocationType="region", **kwargs):
                offered.update(o["InstanceType"] for o in page["InstanceTypeOfferings"])
            for page in paginator.paginate(LocationType="availability-zone", **kwargs):
                for o in page["InstanceTypeOfferings"]:
                    zones.setdefault(o["Location"], set()).add(o["InstanceType"])
        return offered, zones

    def _read_images(self, client: Any, state: _LocationState, image_ids: set[str]) -> None:
        missing = sorted(image_ids - state.looked_up)
        for start in range(0, len(missing), NAMES_PER_CALL):
            chunk = missing[start : start + NAMES_PER_CALL]
            # A filter, not ImageIds: one unknown id must not fail the whole lookup.
            pages = client.get_paginator("describe_images").paginate(
                Filters=[{"Name": "image-id", "Values": chunk}], IncludeDeprecated=True
            )
            for page in pages:
                for image in page["Images"]:
                    state.images[image["ImageId"]] = ImageInfo(
                        image_id=image["ImageId"],
                        architecture=image.get("Architecture", ""),
                        state=image.get("State", "unknown"),
                    )
                    if image.get("RootDeviceName"):
                        state.root_devices[image["ImageId"]] = _root_device(image)
            state.looked_up.update(chunk)

    def catalogues(self, pools: Iterable[Pool]) -> dict[Location, RegionCatalogue]:
        """Catalogues for every location the pools use; failures become reasons, not crashes."""
        result = {}
        failures: tuple[type[BaseException], ...] = (EC2Error, *_aws_errors())
        for location, needs in locations_of(pools).items():
            try:
                result[location] = self.catalogue(location, needs.image_ids, needs.patterns)
            except failures as exc:
                result[location] = RegionCatalogue.unavailable(location.region, _message(exc))
        return result

    # --- usage ----------------------------------------------------------------------------

    def _vcpus(self, location: Location, instance: dict[str, Any]) -> int:
        cpu = instance.get("CpuOptions") or {}
        if cpu.get("CoreCount") and cpu.get("ThreadsPerCore"):
            return int(cpu["CoreCount"]) * int(cpu["ThreadsPerCore"])
        # Some EC2 look-alikes omit CpuOptions: fall back to the type's default vCPUs.
        name = instance["InstanceType"]
        state = self._read.get(location)
        info = state.types.get(name) if state else None
        if info is None:
            info = self._catalogue(location, set(), [name]).instance_types.get(name)
        if info is None:
            raise EC2Error(f"instance type {instance['InstanceType']} is not in the catalogue")
        return info.vcpus

    def usage(self, pools: Iterable[Pool]) -> dict[str, Usage]:
        """Usage per pool, from one DescribeInstances per location of the pools with a quota.

        Raises EC2Error: without usage no quota can be proven, so callers must not launch.
        """
        locations = {location_of(p) for pool in pools if pool.quota for p in pool.providers}
        return count_usage(self._tagged(locations, COUNTED_STATES, "counting"))

    # --- launching (launch job) -----------------------------------------------------------

    def fleet(self, locations: Iterable[Location]) -> list[FleetInstance]:
        """Every launcher-tagged instance not yet terminated, one paginated DescribeInstances
        per location, for all requests of a run. Raises EC2Error: without this view a run
        could launch twice, so it must not launch at all."""
        return self._tagged(locations, FLEET_STATES, "listing")

    def _tagged(
        self, locations: Iterable[Location], states: Iterable[str], doing: str
    ) -> list[FleetInstance]:
        """launcher-tagged instances in `states`, one paginated DescribeInstances per location."""
        filters = [
            {"Name": "tag-key", "Values": [POOL_TAG]},
            {"Name": "instance-state-name", "Values": list(states)},
        ]
        found: list[FleetInstance] = []
        for location in sorted(set(locations), key=lambda loc: (loc.region, loc.role_arn or "")):
            try:
                client = self.client(*location)
                pages = client.get_paginator("describe_instances").paginate(Filters=filters)
                for page in pages:
                    for reservation in page["Reservations"]:
                        for instance in reservation["Instances"]:
                            found.append(self._fleet_instance(location, instance))
            except _aws_errors() as exc:
                raise EC2Error(
                    f"{doing} launcher instances in {location.region} failed: {describe_error(exc)}"
                ) from exc
        return found

    def _fleet_instance(self, location: Location, instance: dict[str, Any]) -> FleetInstance:
        tags = {t["Key"]: t["Value"] for t in instance.get("Tags", [])}
        state = instance["State"]["Name"]
        return FleetInstance(
            instance_id=instance["InstanceId"],
            key=tags.get(DEPLOYMENT_TAG, ""),
            pool=tags.get(POOL_TAG, ""),
            commit=tags.get(COMMIT_TAG, ""),
            state=state,
            region=location.region,
            role_arn=location.role_arn,
            instance_type=instance.get("InstanceType", ""),
            zone=(instance.get("Placement") or {}).get("AvailabilityZone", ""),
            group=tags.get(GROUP_TAG, ""),
            expires_at=instant_or_none(tags.get(EXPIRES_TAG)),
            volume_ids=tuple(
                m["Ebs"]["VolumeId"]
                for m in instance.get("BlockDeviceMappings", [])
                if m.get("Ebs", {}).get("VolumeId")
            ),
            vcpus=self._vcpus(location, instance) if state in COUNTED_STATES else 0,
            launched_at=_launch_time(instance),
            requested_by=tags.get("launcher:requested-by", ""),
        )

    def subnet_zones(self, location: Location, subnet_ids: Iterable[str]) -> dict[str, str]:
        """Subnet id -> availability zone (DescribeSubnets once per location and subnet)."""
        state = self._read.setdefault(location, _LocationState())
        missing = sorted(set(subnet_ids) - set(state.subnet_zones))
        if missing:
            try:
                answer = self.client(*location).describe_subnets(SubnetIds=missing)["Subnets"]
            except _aws_errors() as exc:
                raise _launch_error(exc, f"reading subnets in {location.region}") from exc
            for subnet in answer:
                state.subnet_zones[subnet["SubnetId"]] = subnet["AvailabilityZone"]
        return {s: state.subnet_zones[s] for s in subnet_ids if s in state.subnet_zones}

    def root_device(self, location: Location, image_id: str) -> tuple[str, int | None]:
        """The AMI's root device (name, size in GiB), from the catalogue read or one
        DescribeImages."""
        state = self._read.setdefault(location, _LocationState())
        if image_id not in state.root_devices:
            try:
                [image] = self.client(*location).describe_images(ImageIds=[image_id])["Images"]
            except ValueError as exc:
                raise LaunchError(
                    LaunchErrorKind.REFUSED, "InvalidAMIID.NotFound", f"{image_id} not found"
                ) from exc
            except _aws_errors() as exc:
                raise _launch_error(exc, f"reading image {image_id}") from exc
            state.root_devices[image_id] = _root_device(image)
        return state.root_devices[image_id]

    def run_instances(self, launch: GroupLaunch) -> Launched:
        """RunInstances for one group: all `count` or none, IMDSv2 only, encrypted root
        volume, tags on instances and volumes, and the ClientToken that makes a retried call
        return the first call's instances instead of new ones. Every parameter depends only on
        the launch's fields, which are the token's inputs or follow from them (nothing from a
        clock). When EC2 says the token was used with other parameters
        (`IdempotentParameterMismatch`), the instances launched under it are found
        (DescribeInstances on `client-token`) and adopted. Raises LaunchError."""
        spec = run_spec(launch)
        tags = [{"Key": k, "Value": v} for k, v in spec.tags.items()]
        device, size = self.root_device(spec.location, spec.image_id)
        ebs: dict[str, Any] = {"Encrypted": True, "DeleteOnTermination": True}
        if size:
            ebs["VolumeSize"] = size  # the AMI's own size: some EC2 look-alikes insist on it
        kwargs: dict[str, Any] = {
            "ImageId": spec.image_id,
            "InstanceType": spec.instance_type,
            "MinCount": spec.count,
            "MaxCount": spec.count,
            "ClientToken": spec.client_token,
            "MetadataOptions": {"HttpTokens": "required", "HttpEndpoint": "enabled"},
            "BlockDeviceMappings": [{"DeviceName": device, "Ebs": ebs}],
            "TagSpecifications": [
                {"ResourceType": "instance", "Tags": tags},
                {"ResourceType": "volume", "Tags": tags},
            ],
        }
        if spec.subnet_id:
            kwargs["SubnetId"] = spec.subnet_id
        elif spec.zone:
            kwargs["Placement"] = {"AvailabilityZone": spec.zone}
        if spec.security_group_ids:
            kwargs["SecurityGroupIds"] = list(spec.security_group_ids)
        try:
            answer = self.client(*spec.location).run_instances(**kwargs)
            found = answer.get("Instances", [])
        except _aws_errors() as exc:
            error = _launch_error(exc, f"launching {spec.count} x {spec.instance_type}")
            if error.code != "IdempotentParameterMismatch":
                raise error from exc
            found = self._by_token(spec)
            if len(found) != spec.count:
                raise error from exc
        found = [i for i in found if (i.get("State") or {}).get("Name") != "terminated"]
        ids = [i["InstanceId"] for i in found]
        if len(ids) != spec.count:  # MinCount = MaxCount: EC2 never does this; fail closed
            self.terminate(spec.location, ids)
            raise LaunchError(
                LaunchErrorKind.REFUSED,
                "IncompleteLaunch",
                f"asked for {spec.count}, got {len(ids)}",
            )
        times = [t for i in found if (t := _launch_time(i)) is not None]
        volumes = tuple(
            m["Ebs"]["VolumeId"]
            for i in found
            for m in i.get("BlockDeviceMappings", [])
            if m.get("Ebs", {}).get("VolumeId")
        )
        return Launched(ids, min(times) if times else None, volumes)

    def _by_token(self, spec: RunSpec) -> list[dict[str, Any]]:
        """The live instances launched under the spec's ClientToken (an earlier run's)."""
        filters = [
            {"Name": "client-token", "Values": [spec.client_token]},
            {"Name": "instance-state-name", "Values": list(FLEET_STATES)},
        ]
        try:
            pages = self.client(*spec.location).get_paginator("describe_instances")
            return [
                i
                for page in pages.paginate(Filters=filters)
                for r in page["Reservations"]
                for i in r["Instances"]
            ]
        except _aws_errors() as exc:
            raise _launch_error(exc, "finding instances by client token") from exc

    def terminate(self, location: Location, instance_ids: Iterable[str]) -> None:
        """TerminateInstances, 500 ids per call; terminating a terminated one is a no-op."""
        ids = sorted(set(instance_ids))
        for start in range(0, len(ids), 500):
            try:
                self.client(*location).terminate_instances(InstanceIds=ids[start : start + 500])
            except _aws_errors() as exc:
                raise EC2Error(
                    f"terminating instances in {location.region} failed: {describe_error(exc)}"
                ) from exc

    def console_url(self, region: str, key: str) -> str | None:
        return console_url(region, key)

    def set_expiry(
        self, location: Location, resource_ids: Iterable[str], until: datetime | None
    ) -> None:
        """The `launcher:expires-at` tag (empty: never), written after launch."""
        self.retag(location, resource_ids, {EXPIRES_TAG: utc_iso(until) if until else ""})

    def retag(self, location: Location, resource_ids: Iterable[str], tags: dict[str, str]) -> None:
        """CreateTags (which overwrites) on instances and their volumes."""
        ids = sorted(set(resource_ids))
        items = [{"Key": k, "Value": v} for k, v in tags.items()]
        for start in range(0, len(ids), 500):
            try:
                self.client(*location).create_tags(Resources=ids[start : start + 500], Tags=items)
            except _aws_errors() as exc:
                raise EC2Error(
                    f"tagging instances in {location.region} failed: {describe_error(exc)}"
                ) from exc

    # --- the expiry backstop (launcher.adapters.scheduler) ----------------------------------

    def set_backstop(self, backstop: Backstop, *, dry_run: bool = False) -> BackstopChange:
        """The launch's EventBridge Scheduler schedule, in its own account and region."""
        from launcher.adapters.scheduler import set_schedule

        location = backstop.location
        try:
            return set_schedule(self._client("scheduler", *location), backstop, dry_run=dry_run)
        except _aws_errors() as exc:
            raise EC2Error(
                f"setting the expiry backstop {backstop.name} in {location.region} failed: "
                f"{describe_error(exc)}"
            ) from exc

    def drop_backstop(self, location: Location, name: str) -> bool:
        from launcher.adapters.scheduler import delete_schedule

        try:
            return delete_schedule(self._client("scheduler", *location), name)
        except _aws_errors() as exc:
            raise EC2Error(
                f"deleting the expiry backstop {name} in {location.region} failed: "
                f"{describe_error(exc)}"
            ) from exc


FLEET_STATES = ("pending", "running", "stopping", "stopped")
COMMIT_TAG = "launcher:commit"
EXPIRES_TAG = "launcher:expires-at"
GROUP_TAG = "launcher:group"
REQUESTED_BY_TAG = "launcher:requested-by"
PR_TAG = "launcher:pr"
APPROVED_BY_TAG = "launcher:approved-by"


@dataclass(frozen=True)
class RunSpec:
    """One RunInstances call as EC2 sees it: the tags on the wire and the ClientToken."""

    location: Location
    image_id: str
    instance_type: str
    count: int
    client_token: str
    tags: dict[str, str]
    zone: str | None = None
    subnet_id: str | None = None
    security_group_ids: tuple[str, ...] = ()


def run_spec(launch: GroupLaunch) -> RunSpec:
    """The RunInstances call of a group launch: the tags that let the fleet be read back
    (`_fleet_instance`) and its client token."""
    tags = {
        "Name": f"{launch.key}/{launch.group}",
        DEPLOYMENT_TAG: launch.key,
        POOL_TAG: launch.pool,
        GROUP_TAG: launch.group,
        REQUESTED_BY_TAG: launch.requested_by,
        COMMIT_TAG: launch.commit,
        PR_TAG: str(launch.pr),
    }
    if launch.approved_by:
        tags[APPROVED_BY_TAG] = _tag_value(",".join(launch.approved_by))
    return RunSpec(
        location=launch.location,
        image_id=launch.image_id,
        instance_type=launch.instance_type,
        count=launch.count,
        client_token=client_token(launch),
        tags=tags,
        zone=launch.zone,
        subnet_id=launch.subnet_id,
        security_group_ids=launch.security_group_ids,
    )


def client_token(launch: GroupLaunch) -> str:
    """Same request, version, asking commit, placement, group and attempt -> same token (≤ 64
    characters, EC2's limit): EC2 returns the first call's instances to a retried call instead
    of launching more. Nothing else goes in, and nothing in the call depends on anything else
    (no clock), so two runs racing send identical calls. A re-add or a revert is asked by
    another commit, so it gets another token (EC2 keeps one for at least 24 h after the
    instances end). The other parameters (image, subnet, the approvers' tag) follow from the
    commit and pools.yaml; should they differ between two runs (pools.yaml changed between
    them), EC2 answers IdempotentParameterMismatch and `run_instances` adopts the instances
    the token launched, rather than a token that changes with them launching twice."""
    parts = [launch.key, launch.version, launch.commit, launch.provider, launch.location.region]
    parts += [launch.group, launch.instance_type, launch.zone or "", str(launch.attempt)]
    return "launcher-" + hashlib.sha256("\n".join(parts).encode()).hexdigest()[:40]


def _tag_value(text: str) -> str:
    """EC2 tag values hold 256 characters."""
    return text if len(text) <= 256 else text[:255] + "…"


# Codes that mean "no capacity here": try the next zone, type or provider.
CAPACITY_CODES = frozenset(
    {
        "InsufficientInstanceCapacity",
        "InsufficientHostCapacity",
        "InsufficientReservedInstanceCapacity",
        "InsufficientCapacityOnHost",
        "Unsupported",  # the type is not offered in the zone chosen
    }
)
# Codes that may pass on their own: leave the request for the next run, unrecorded.
TRANSIENT_CODES = frozenset(
    {
        "RequestLimitExceeded",
        "Throttling",
        "ThrottlingException",
        "InternalError",
        "InternalFailure",
        "ServiceUnavailable",
        "Unavailable",
        "RequestExpired",
    }
)


def console_url(region: str, key: str) -> str | None:
    """The EC2 console filtered on a request's instances (its `launcher:deployment` tag)."""
    if not region:
        return None
    return (
        f"https://{region}.console.aws.amazon.com/ec2/home?region={region}"
        f"#Instances:tag:{DEPLOYMENT_TAG}={key}"
    )


def _launch_time(instance: dict[str, Any]) -> datetime | None:
    value = instance.get("LaunchTime")
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return instant_or_none(value) if isinstance(value, str) else None


def _root_device(image: dict[str, Any]) -> tuple[str, int | None]:
    name = image.get("RootDeviceName") or "/dev/xvda"
    for mapping in image.get("BlockDeviceMappings", []):
        if mapping.get("DeviceName") == name and mapping.get("Ebs", {}).get("VolumeSize"):
            return name, int(mapping["Ebs"]["VolumeSize"])
    return name, None


def _launch_error(exc: BaseException, doing: str) -> LaunchError:
    from botocore.exceptions import ClientError

    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = error.get("Code", "Error")
        return LaunchError(_kind(code), code, f"{doing}: {error.get('Message', '')}")
    return LaunchError(LaunchErrorKind.TRANSIENT, "Connection", f"{doing}: {describe_error(exc)}")


def _kind(code: str) -> LaunchErrorKind:
    """What an EC2 error code means for the launch: the adapter's knowledge, nobody else's."""
    if code in CAPACITY_CODES:
        return LaunchErrorKind.CAPACITY
    if code in TRANSIENT_CODES:
        return LaunchErrorKind.TRANSIENT
    return LaunchErrorKind.REFUSED


def _message(exc: BaseException) -> str:
    return str(exc) if isinstance(exc, EC2Error) else describe_error(exc)


def _instance_type(item: dict[str, Any]) -> InstanceTypeInfo:
    storage = item.get("InstanceStorageInfo") or {}
    return InstanceTypeInfo(
        name=item["InstanceType"],
        vcpus=int(item.get("VCpuInfo", {}).get("DefaultVCpus", 0)),
        memory_gib=item.get("MemoryInfo", {}).get("SizeInMiB", 0) / 1024,
        architectures=tuple(item.get("ProcessorInfo", {}).get("SupportedArchitectures", ())),
        storage_gib=int(storage.get("TotalSizeInGB", 0) or 0),
    )
