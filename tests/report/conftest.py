"""The seeded GitHub stand-in and moto fixtures of tests/jobs, for the dashboard tests."""

from launcher.sandbox.pytest_plugin import github_sandbox  # noqa: F401
from tests.jobs.conftest import github_sandbox_checks, launch_world, world  # noqa: F401
