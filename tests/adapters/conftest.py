"""EC2 adapter tests run against a real moto server (see tests/fixtures_ec2.py)."""

# Until the top-level conftest lists `pytest_plugins = ["tests.fixtures_ec2"]`.
from tests.fixtures_ec2 import moto_server, moto_server_session, no_aws  # noqa: F401
