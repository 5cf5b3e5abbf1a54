"""pytest plugin: a real moto server over HTTP for EC2 tests (`moto_server` fixture).

Enable with `pytest_plugins = ["tests.fixtures_ec2"]` in the top-level conftest. One server
runs per test session on a free loopback port; every test that uses `moto_server` gets a
fresh moto state and an environment pointing boto3 at it (restored afterwards).
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from launcher.sandbox.moto import MotoServer, start_server

# Names that could make boto3 look beyond the sandbox (profiles, containers, SSO, roles).
AWS_VARIABLES = (
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_REGION",
    "AWS_ENDPOINT_URL_EC2",
    "AWS_ENDPOINT_URL_STS",
)


@pytest.fixture(scope="session")
def moto_server_session() -> Iterator[MotoServer]:
    server = start_server("127.0.0.1", 0)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def moto_server(
    moto_server_session: MotoServer, monkeypatch: pytest.MonkeyPatch
) -> Iterator[MotoServer]:
    """The session's moto server, reset, with AWS_* pointing at it for this test only."""
    for name in AWS_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    for name, value in moto_server_session.env("us-east-1").items():
        monkeypatch.setenv(name, value)
    moto_server_session.reset()
    yield moto_server_session


@pytest.fixture
def no_aws(monkeypatch: pytest.MonkeyPatch) -> None:
    """An environment where the default credential chain finds nothing and reaches nothing."""
    for name in (
        *AWS_VARIABLES,
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_ENDPOINT_URL",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
