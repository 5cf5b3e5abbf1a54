"""`launcher validate` on a provider's `scheduler_role` (the expiry backstop's role)."""

from __future__ import annotations

from pathlib import Path

from tests.cli.test_validate import POOLS, validate

PROVIDER = "    providers:\n      - name: dev-use1\n        region: us-east-1\n{extra}"


def pools(extra: str) -> str:
    return POOLS.replace("    images:\n", PROVIDER.format(extra=extra) + "    images:\n", 1)


def test_a_scheduler_role_in_the_providers_account_is_valid(tmp_path: Path) -> None:
    extra = (
        "        role_arn: arn:aws:iam::111111111111:role/launcher\n"
        "        scheduler_role: arn:aws:iam::111111111111:role/launcher-scheduler\n"
    )
    result = validate(tmp_path, {}, "pools.yaml", pools=pools(extra))
    assert result.code == 0, result.out


def test_a_scheduler_role_of_another_account_is_refused(tmp_path: Path) -> None:
    extra = (
        "        role_arn: arn:aws:iam::111111111111:role/launcher\n"
        "        scheduler_role: arn:aws:iam::222222222222:role/launcher-scheduler\n"
    )
    result = validate(tmp_path, {}, "pools.yaml", pools=pools(extra))
    assert result.code == 1
    assert result.out.splitlines()[0] == (
        "pools.yaml:19:25: error: pool dev: provider dev-use1: scheduler_role must be in the "
        "account of role_arn (111111111111), not 222222222222"
    )


def test_a_scheduler_role_that_is_not_a_role_arn_is_refused(tmp_path: Path) -> None:
    extra = "        scheduler_role: launcher-scheduler\n"
    result = validate(tmp_path, {}, "pools.yaml", pools=pools(extra))
    assert result.code == 1
    assert "scheduler_role" in result.out and "launcher-scheduler" in result.out
