"""Why a request cannot be placed, typed: a reason's kind travels with its text.

Matching and quotas explain themselves in sentences for people; the launch job must also know
which failure category a refusal is (`quota` or `no_match`). It reads `kind`, never the words:
an image alias named `quota-team` is not a quota.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import Enum


class ReasonKind(Enum):
    QUOTA = "quota"  # the pool's quota would be exceeded
    NO_MATCH = "no_match"  # types, zones, images, providers, catalogue


class Why(str):
    """A reason: its text (it is a str, so every report shows it as before) and its kind."""

    kind: ReasonKind

    def __new__(cls, kind: ReasonKind, text: str) -> Why:
        reason = super().__new__(cls, text)
        reason.kind = kind
        return reason


def kind_of(reason: str) -> ReasonKind:
    """A reason's kind; a plain sentence (no kind given) is a placement reason."""
    return reason.kind if isinstance(reason, Why) else ReasonKind.NO_MATCH


def quota(text: str) -> Why:
    return Why(ReasonKind.QUOTA, text)


def all_quota(reasons: Iterable[str]) -> bool:
    found = list(reasons)
    return bool(found) and all(kind_of(r) is ReasonKind.QUOTA for r in found)
