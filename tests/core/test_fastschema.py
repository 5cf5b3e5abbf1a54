"""The fast schema check must agree with jsonschema: it may never accept an invalid file."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from launcher.core import schemas
from launcher.core.fastschema import UnsupportedSchema, compile_schema
from launcher.core.yamlsafe import load

REPO = Path(__file__).resolve().parents[2]
ODD_VALUES: list[Any] = [
    None,
    True,
    False,
    0,
    1,
    -1,
    1.5,
    2.0,
    10**9,
    "",
    "x",
    "web\n",
    "Bad Name",
    "ami-0123456789",
    "us-east-1a",
    "8h",
    "x" * 3000,
    [],
    ["a"],
    [{}],
    {},
    {"a": 1},
    {"vcpus": 2, "memory_gib": 4},
]


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield prefix
    if isinstance(value, dict):
        for key, item in value.items():
            yield from paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from paths(item, (*prefix, index))


def mutations(doc: dict[str, Any]) -> Iterator[Any]:
    """Every value replaced by odd values, every key removed, an unknown key added anywhere."""
    for path in paths(doc):
        if not path:
            continue
        for odd in ODD_VALUES:
            changed = copy.deepcopy(doc)
            parent = changed
            for step in path[:-1]:
                parent = parent[step]
            parent[path[-1]] = odd
            yield changed
        changed = copy.deepcopy(doc)
        parent = changed
        for step in path[:-1]:
            parent = parent[step]
        if isinstance(parent, dict):
            del parent[path[-1]]
            yield changed
            parent["unexpected"] = 1
            yield changed
        else:
            parent.pop(path[-1])
            yield changed


def documents(name: str) -> list[dict[str, Any]]:
    """The repository's own examples, loaded as launcher loads them."""
    if name == "pools":  # one pool is enough to reach every kind of value, and keeps this fast
        policy = load((REPO / "pools.yaml").read_bytes()).data
        return [{**policy, "pools": {"dev": policy["pools"]["dev"]}}]
    return [load(p.read_bytes()).data for p in sorted((REPO / "deployments").rglob("*.yaml"))]


@pytest.mark.parametrize("name", ["deployment", "pools"])
def test_fast_check_agrees_with_jsonschema(name: str) -> None:
    fast = compile_schema(schemas.schema(name))
    slow = Draft202012Validator(schemas.schema(name))
    checked = disagreements = 0
    for doc in documents(name):
        for variant in [doc, *mutations(doc)]:
            checked += 1
            if fast(variant) != slow.is_valid(variant):
                disagreements += 1
    assert checked > 500
    assert disagreements == 0


def test_unknown_keywords_are_refused_not_ignored() -> None:
    with pytest.raises(UnsupportedSchema):
        compile_schema({"type": "array", "uniqueItems": True})
    with pytest.raises(UnsupportedSchema):
        compile_schema({"$ref": "https://example.invalid/schema.json"})


def test_json_equality_rules() -> None:
    check = compile_schema({"const": 1})
    assert check(1) and check(1.0)
    assert not check(True)
    assert compile_schema({"enum": [False]})(False) and not compile_schema({"enum": [False]})(0)
