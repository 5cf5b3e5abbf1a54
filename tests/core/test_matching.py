"""Matching over hand-built catalogues: every reason, the order of providers and of types."""

from __future__ import annotations

from dataclasses import replace

import pytest

from launcher.core.fleet import FleetInstance
from launcher.core.matching import (
    ImageInfo,
    InstanceTypeInfo,
    Location,
    RegionCatalogue,
    locations_of,
    match_all,
    match_request,
    render,
    to_dict,
)
from launcher.core.model import (
    Hardware,
    InstanceGroup,
    LaunchRequest,
    Policy,
    Pool,
    Provider,
    Quota,
)
from launcher.core.quota import Usage, count_usage

TYPES = [
    InstanceTypeInfo("t3.small", 2, 2.0, ("x86_64",)),
    InstanceTypeInfo("t3.medium", 2, 4.0, ("x86_64",)),
    InstanceTypeInfo("c6i.large", 2, 4.0, ("x86_64",)),
    InstanceTypeInfo("t3.large", 2, 8.0, ("x86_64",)),
    InstanceTypeInfo("m6i.large", 2, 8.0, ("x86_64",)),
    InstanceTypeInfo("t3.xlarge", 4, 16.0, ("x86_64",)),
    InstanceTypeInfo("m6i.xlarge", 4, 16.0, ("x86_64",)),
    InstanceTypeInfo("r6i.large", 2, 16.0, ("x86_64",)),
    InstanceTypeInfo("m7g.large", 2, 8.0, ("arm64",)),
    InstanceTypeInfo("m7g.16xlarge", 64, 256.0, ("arm64",)),
    InstanceTypeInfo("i3.large", 2, 15.25, ("x86_64",), storage_gib=475),
    InstanceTypeInfo("M6I.LARGE", 2, 8.0, ("x86_64",)),
]

SMALL = Hardware(vcpus=2, memory_gib=4)
ARM = Hardware(vcpus=2, memory_gib=8, architecture="arm64")

AMI_USE1 = "ami-0123456789abcdef0"
AMI_EUW1 = "ami-0fedcba9876543210"
AMI_ARM = "ami-0aaaaaaaaaaaaaaaa"


def catalogue(
    region: str,
    *,
    types: list[InstanceTypeInfo] = TYPES,
    offered: set[str] | None = None,
    zones: dict[str, set[str]] | None = None,
    images: list[ImageInfo] = (),
) -> RegionCatalogue:
    names = {t.name for t in types} if offered is None else offered
    if zones is None:
        zones = {f"{region}a": names, f"{region}b": names}
    return RegionCatalogue(
        region=region,
        instance_types={t.name: t for t in types},
        offered=frozenset(names),
        zones={z: frozenset(n) for z, n in zones.items()},
        images={i.image_id: i for i in images},
    )


USE1 = Provider("dev-use1", "us-east-1", priority=1, instance_types=("t3.*", "m6i.*", "m7g.*"))
EUW1 = Provider("dev-euw1", "eu-west-1", priority=2, instance_types=("t3.*", "m6i.*"))

POOL = Pool(
    name="dev",
    quota=Quota(instances=20, vcpus=64),
    providers=(EUW1, USE1),  # YAML order must not matter: priority does
    images={
        "rhel9": {"us-east-1": AMI_USE1, "eu-west-1": AMI_EUW1},
        "al2023-arm": {"us-east-1": AMI_ARM},
    },
)

CATALOGUES = {
    Location("us-east-1"): catalogue(
        "us-east-1",
        images=[ImageInfo(AMI_USE1, "x86_64"), ImageInfo(AMI_ARM, "arm64")],
    ),
    Location("eu-west-1"): catalogue("eu-west-1", images=[ImageInfo(AMI_EUW1, "x86_64")]),
}


def request(*groups: InstanceGroup, name: str = "web", pool: str = "dev") -> LaunchRequest:
    return LaunchRequest(
        name=name, pool=pool, path=f"deployments/{pool}/{name}.yaml", instances=groups
    )


def group(
    hardware: Hardware = SMALL,
    *,
    image: str = "rhel9",
    count: int = 1,
    realm: str | None = None,
    name: str = "web",
) -> InstanceGroup:
    return InstanceGroup(name=name, image=image, count=count, hardware=hardware, realm=realm)


def test_first_provider_by_priority_and_smallest_type():
    result = match_request(request(group(count=2)), POOL, CATALOGUES, {})
    chosen = result.chosen
    assert chosen is not None
    assert chosen.provider.name == "dev-use1"
    assert chosen.region == "us-east-1"
    [placed] = chosen.groups
    # t3.medium and c6i.large tie on memory and vCPUs; c6i is not allowed anyway.
    assert (placed.instance_type, placed.image_id, placed.zone) == ("t3.medium", AMI_USE1, None)
    assert (placed.vcpus, placed.memory_gib, placed.count) == (2, 4.0, 2)
    assert [m.provider.name for m in result.providers] == ["dev-use1", "dev-euw1"]
    assert result.reasons == []


def test_priority_ties_are_broken_by_name():
    a = replace(USE1, name="b-second", priority=5)
    b = replace(USE1, name="a-first", priority=5)
    pool = replace(POOL, providers=(a, b))
    result = match_request(request(group()), pool, CATALOGUES, {})
    assert result.chosen.provider.name == "a-first"
    assert [m.provider.name for m in result.providers] == ["a-first", "b-second"]


def test_least_memory_then_fewest_vcpus_then_name():
    types = [
        InstanceTypeInfo("t3.zeta", 4, 8.0, ("x86_64",)),
        InstanceTypeInfo("t3.beta", 2, 8.0, ("x86_64",)),
        InstanceTypeInfo("t3.alpha", 2, 8.0, ("x86_64",)),
        InstanceTypeInfo("t3.big", 2, 16.0, ("x86_64",)),
    ]
    cats = {
        Location("us-east-1"): catalogue(
            "us-east-1", types=types, images=[ImageInfo(AMI_USE1, "x86_64")]
        )
    }
    pool = replace(POOL, providers=(USE1,))

    def chosen(types_offered: set[str]) -> str:
        cat = cats[Location("us-east-1")]
        narrowed = {Location("us-east-1"): replace(cat, offered=frozenset(types_offered))}
        result = match_request(request(group(Hardware(2, 6))), pool, narrowed, {})
        return result.chosen.groups[0].instance_type

    assert chosen({"t3.zeta", "t3.beta", "t3.alpha", "t3.big"}) == "t3.alpha"  # name
    assert chosen({"t3.zeta", "t3.beta", "t3.big"}) == "t3.beta"  # fewer vCPUs
    assert chosen({"t3.zeta", "t3.big"}) == "t3.zeta"  # less memory beats fewer vCPUs


def test_globs_are_case_sensitive_shell_patterns():
    provider = replace(USE1, instance_types=("m6i.*",))
    pool = replace(POOL, providers=(provider,))
    result = match_request(request(group(Hardware(2, 8))), pool, CATALOGUES, {})
    assert result.chosen.groups[0].instance_type == "m6i.large"  # never M6I.LARGE
    provider = replace(USE1, instance_types=("M6I.*",))
    result = match_request(
        request(group(Hardware(2, 8))), replace(pool, providers=(provider,)), CATALOGUES, {}
    )
    assert result.chosen.groups[0].instance_type == "M6I.LARGE"


def test_type_must_be_offered_in_the_region():
    cat = replace(CATALOGUES[Location("us-east-1")], offered=frozenset({"m6i.xlarge"}))
    result = match_request(request(group()), POOL, {**CATALOGUES, Location("us-east-1"): cat}, {})
    assert result.chosen.groups[0].instance_type == "m6i.xlarge"


def test_no_allowed_type_reason_uses_hardware_describe():
    huge = Hardware(vcpus=64, memory_gib=256, architecture="arm64")
    pool = replace(POOL, images={"rhel9": {"us-east-1": AMI_ARM, "eu-west-1": AMI_EUW1}})
    result = match_request(
        request(group(huge)),
        replace(pool, providers=(replace(USE1, instance_types=("t3.*", "m6i.*")),)),
        CATALOGUES,
        {},
    )
    assert result.chosen is None
    assert result.reasons == ["dev-use1: no allowed instance type offers 64 vCPU / 256 GiB / arm64"]
    # Allowing m7g.* makes the same request fit.
    result = match_request(request(group(huge)), replace(pool, providers=(USE1,)), CATALOGUES, {})
    assert result.chosen.groups[0].instance_type == "m7g.16xlarge"


def test_arm64_and_x86_64_pick_their_own_types():
    req = request(
        group(ARM, image="al2023-arm", name="arm"),
        group(Hardware(2, 8), name="x86"),
    )
    result = match_request(req, POOL, CATALOGUES, {})
    placed = {g.group: g.instance_type for g in result.chosen.groups}
    assert placed == {"arm": "m7g.large", "x86": "m6i.large"}  # m6i < t3 by name


def test_image_architecture_must_match_the_hardware():
    result = match_request(request(group(Hardware(2, 8), image="al2023-arm")), POOL, CATALOGUES, {})
    assert result.chosen is None
    assert result.reasons == [
        f"dev-use1: image al2023-arm ({AMI_ARM}) is arm64 but the hardware asks for x86_64",
        "dev-euw1: image al2023-arm has no AMI in eu-west-1",
    ]


def test_storage_is_checked_when_asked():
    disk = Hardware(vcpus=2, memory_gib=8, storage_gib=400)
    provider = replace(USE1, instance_types=("t3.*", "i3.*"))
    result = match_request(
        request(group(disk)), replace(POOL, providers=(provider,)), CATALOGUES, {}
    )
    assert result.chosen.groups[0].instance_type == "i3.large"
    result = match_request(request(group(disk)), replace(POOL, providers=(USE1,)), CATALOGUES, {})
    assert result.reasons == [
        "dev-use1: no allowed instance type offers 2 vCPU / 8 GiB / x86_64 / 400 GiB storage"
    ]


def test_image_missing_in_first_region_falls_through_to_next_provider():
    pool = replace(POOL, images={"rhel9": {"eu-west-1": AMI_EUW1}})
    result = match_request(request(group()), pool, CATALOGUES, {})
    assert result.chosen.provider.name == "dev-euw1"
    assert result.chosen.groups[0].image_id == AMI_EUW1
    assert result.providers[0].reasons == ("dev-use1: image rhel9 has no AMI in us-east-1",)


def test_ami_must_exist_and_be_available():
    cats = {
        Location("us-east-1"): replace(CATALOGUES[Location("us-east-1")], images={}),
        Location("eu-west-1"): replace(
            CATALOGUES[Location("eu-west-1")],
            images={AMI_EUW1: ImageInfo(AMI_EUW1, "x86_64", "pending")},
        ),
    }
    result = match_request(request(group()), POOL, cats, {})
    assert result.reasons == [
        f"dev-use1: image rhel9 ({AMI_USE1}) does not exist in us-east-1",
        f"dev-euw1: image rhel9 ({AMI_EUW1}) is pending in eu-west-1, not available",
    ]


def test_realm_picks_the_zone_and_types_offered_there():
    cat = catalogue(
        "us-east-1",
        zones={"us-east-1a": {"t3.large"}, "us-east-1b": {"t3.medium", "t3.large"}},
        images=[ImageInfo(AMI_USE1, "x86_64")],
    )
    cats = {**CATALOGUES, Location("us-east-1"): cat}
    result = match_request(request(group(realm="us-east-1a")), POOL, cats, {})
    assert (result.chosen.groups[0].instance_type, result.chosen.groups[0].zone) == (
        "t3.large",
        "us-east-1a",
    )
    result = match_request(request(group(realm="us-east-1b")), POOL, cats, {})
    assert result.chosen.groups[0].instance_type == "t3.medium"


def test_realm_reasons():
    cat = catalogue(
        "us-east-1",
        zones={"us-east-1a": {"t3.small"}},
        images=[ImageInfo(AMI_USE1, "x86_64")],
    )
    cats = {**CATALOGUES, Location("us-east-1"): cat}
    result = match_request(request(group(realm="us-east-1a")), POOL, cats, {})
    assert result.reasons == [
        "dev-use1: no allowed instance type offers 2 vCPU / 4 GiB / x86_64 in us-east-1a",
        "dev-euw1: availability zone us-east-1a is not in eu-west-1",
    ]
    result = match_request(request(group(realm="us-east-1z")), POOL, cats, {})
    assert result.reasons[0] == "dev-use1: availability zone us-east-1z does not exist in us-east-1"
    # us-east-10a would be a different region, not a zone of us-east-1.
    result = match_request(request(group(realm="us-east-10a")), POOL, cats, {})
    assert result.reasons[0] == "dev-use1: availability zone us-east-10a is not in us-east-1"


def test_a_zone_that_exists_but_offers_no_allowed_type_is_not_called_missing():
    cat = replace(
        catalogue(
            "us-east-1", zones={"us-east-1a": {"t3.small"}}, images=[ImageInfo(AMI_USE1, "x86_64")]
        ),
        zone_names=frozenset({"us-east-1a", "us-east-1e"}),
    )
    result = match_request(
        request(group(realm="us-east-1e")),
        replace(POOL, providers=(USE1,)),
        {Location("us-east-1"): cat},
        {},
    )
    assert result.reasons == [
        "dev-use1: no allowed instance type offers 2 vCPU / 4 GiB / x86_64 in us-east-1e"
    ]


def test_all_groups_share_one_provider():
    # web fits only in us-east-1 (AMI), db only in eu-west-1 (zone): no single provider fits.
    pool = replace(
        POOL,
        images={
            **POOL.images,
            "rhel9": {"us-east-1": AMI_USE1},
            "db": {"eu-west-1": AMI_EUW1, "us-east-1": AMI_USE1},
        },
    )
    req = request(group(name="web"), group(image="db", name="db", realm="eu-west-1a"))
    result = match_request(req, pool, CATALOGUES, {})
    assert result.chosen is None
    assert result.reasons == [
        "dev-use1: availability zone eu-west-1a is not in us-east-1",
        "dev-euw1: image rhel9 has no AMI in eu-west-1",
    ]


def test_quota_by_instances():
    usage = {"dev": Usage(instances=18, vcpus=36)}
    result = match_request(request(group(count=4)), POOL, CATALOGUES, usage)
    assert result.chosen is None
    assert result.pool_reasons == (
        "pool dev: quota reached (18 running + 4 requested > 20 instances)",
    )
    assert result.providers[0].placement is not None  # the pool, not the provider, says no
    assert match_request(request(group(count=2)), POOL, CATALOGUES, usage).chosen is not None


def test_quota_by_vcpus():
    usage = {"dev": Usage(instances=10, vcpus=60)}
    result = match_request(request(group(Hardware(4, 8), count=2)), POOL, CATALOGUES, usage)
    assert result.reasons == ["pool dev: quota reached (60 running + 8 requested > 64 vCPUs)"]


def test_vcpu_quota_counts_the_types_chosen_not_only_the_ask():
    # 3 vCPUs asked, 4 placed (t3.xlarge): 61 + 3 fits the quota but 61 + 4 does not.
    usage = {"dev": Usage(instances=10, vcpus=61)}
    result = match_request(request(group(Hardware(3, 16))), POOL, CATALOGUES, usage)
    assert result.chosen is None
    assert result.reasons[0] == (
        "dev-use1: quota of pool dev reached on the chosen types (61 running + 4 placed > 64 vCPUs)"
    )


def test_pool_without_providers():
    result = match_request(request(group()), replace(POOL, providers=()), CATALOGUES, {})
    assert result.chosen is None
    assert result.reasons == ["pool dev has no providers"]


def test_unreadable_catalogue_is_a_reason():
    cats = {Location("us-east-1"): RegionCatalogue.unavailable("us-east-1", "AccessDenied: no")}
    result = match_request(request(group()), replace(POOL, providers=(USE1, EUW1)), cats, {})
    assert result.reasons == [
        "dev-use1: cannot read the EC2 catalogue of us-east-1: AccessDenied: no",
        "dev-euw1: cannot read the EC2 catalogue of eu-west-1: not read",
    ]


def test_batch_reserves_quota_in_order_and_reports_unknown_pools():
    policy = Policy(pools={"dev": POOL})
    requests = [request(group(count=8), name=f"r{i}") for i in range(3)]
    requests.append(request(group(), name="x", pool="nope"))
    results = match_all(requests, policy, CATALOGUES, {"dev": Usage(2, 4)})
    assert [r.chosen is not None for r in results] == [True, True, False, False]
    assert results[2].reasons == [
        "pool dev: quota reached (18 running + 8 requested > 20 instances)"
    ]
    assert results[3].reasons == ["pool nope is not defined in pools.yaml"]
    independent = match_all(requests[:3], policy, CATALOGUES, {}, reserve=False)
    assert all(r.chosen for r in independent)


def test_batch_of_many_requests_matches_like_one_by_one():
    policy = Policy(pools={"dev": POOL})
    requests = [request(group(Hardware(2, 2 * (i % 4 + 1))), name=f"r{i}") for i in range(40)]
    batch = match_all(requests, policy, CATALOGUES, {}, reserve=False)
    single = [match_request(r, POOL, CATALOGUES, {}) for r in requests]
    assert [b.chosen for b in batch] == [s.chosen for s in single]


def test_render_and_json():
    ok = match_request(request(group(count=2, realm="us-east-1a")), POOL, CATALOGUES, {})
    assert render(ok) == [
        "deployments/dev/web.yaml: dev/web -> dev-use1 (us-east-1)",
        f"  web: 2 x t3.medium in us-east-1a, {AMI_USE1}, 2 vCPU / 4 GiB each",
    ]
    bad = match_request(request(group(count=30)), POOL, CATALOGUES, {})
    assert render(bad) == [
        "deployments/dev/web.yaml: no placement for dev/web",
        "  pool dev: quota reached (0 running + 30 requested > 20 instances)",
    ]
    data = to_dict(ok)
    assert data["matched"] is True
    assert data["placement"]["groups"][0]["instance_type"] == "t3.medium"
    assert to_dict(bad)["pool_reasons"] == list(bad.pool_reasons)


def test_locations_gather_amis_and_globs_per_account_and_region():
    role = replace(USE1, name="prod", role_arn="arn:aws:iam::1:role/x", instance_types=("c6i.*",))
    wanted = locations_of([replace(POOL, providers=(USE1, EUW1, role))])
    assert set(wanted) == {
        Location("us-east-1"),
        Location("eu-west-1"),
        Location("us-east-1", "arn:aws:iam::1:role/x"),
    }
    assert wanted[Location("us-east-1")].image_ids == {AMI_USE1, AMI_ARM}
    assert wanted[Location("us-east-1", "arn:aws:iam::1:role/x")].patterns == {"c6i.*"}


def instance(instance_id: str, pool: str, state: str, vcpus: int) -> FleetInstance:
    return FleetInstance(
        instance_id=instance_id,
        key=f"{pool}/x",
        pool=pool,
        commit="c1",
        state=state,
        region="us-east-1",
        vcpus=vcpus,
    )


@pytest.mark.parametrize(
    ("state", "counted"), [("pending", True), ("running", True), ("stopped", False)]
)
def test_usage_counts_pending_and_running_once(state, counted):
    seen = [
        instance("i-1", "dev", state, 2),
        instance("i-1", "dev", state, 2),  # the same, seen through two providers of one account
        instance("i-2", "gpu", "running", 8),
    ]
    usage = count_usage(seen)
    assert usage.get("dev") == (Usage(1, 2) if counted else None)
    assert usage["gpu"] == Usage(1, 8)
