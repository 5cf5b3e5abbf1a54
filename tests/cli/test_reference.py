"""docs/reference.md is generated; it must match the schemas, states and commands as they are."""

from __future__ import annotations

from launcher import reference
from launcher.core.lifecycle import Category, RequestState
from tests.conftest import REPO


def test_reference_is_current() -> None:
    committed = (REPO / "docs" / "reference.md").read_text(encoding="utf-8")
    assert committed == reference.render(), "run: python -m launcher.reference"


def test_every_state_and_category_is_explained() -> None:
    assert set(reference.STATE_MEANINGS) == set(RequestState)
    assert set(reference.CATEGORY_MEANINGS) == set(Category)


def test_every_request_key_is_documented() -> None:
    text = reference.render()
    for key in ("`name`", "`instances[].hardware_profile`", "`launch_at`", "`max_runtime`"):
        assert key in text
    for command in ("validate", "match", "gate", "launch", "sweep", "demo", "codeowners"):
        assert f"### `launcher {command}`" in text


def test_what_a_compute_provider_implements_is_documented() -> None:
    from launcher.core import compute

    text = reference.render()
    for method in ("fleet", "catalogues", "run_instances", "terminate", "set_expiry"):
        assert f"| `{method}(" in text
    assert "` |  |" not in text  # every method says what it does
    assert set(reference.KIND_OF_ERROR) == set(compute.LaunchErrorKind)
