"""JSON Schema checks with messages a person can act on, each at the offending line."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from launcher.core.fastschema import Check, compile_schema
from launcher.core.problems import Problem
from launcher.core.yamlsafe import Document

_TYPE_NAMES = {
    "object": "a mapping",
    "array": "a list",
    "string": "a string",
    "integer": "a whole number",
    "number": "a number",
    "boolean": "true or false",
    "null": "empty",
}


@cache
def schema(name: str) -> dict[str, Any]:
    """The schema `deployment` or `pools`, as shipped in launcher/schemas/."""
    text = resources.files("launcher.schemas").joinpath(f"{name}.schema.json").read_text()
    return json.loads(text)


@cache
def validator(name: str) -> Draft202012Validator:
    """The explaining validator, built once per process and used only on invalid files."""
    return Draft202012Validator(schema(name))


@cache
def fast_check(name: str) -> Check:
    return compile_schema(schema(name))


def warm() -> None:
    """Compile both checks now. A long-running process (launcher serve) calls this at start:
    otherwise its first decisions compile them, each worker its own copy when many start at
    once (`cache` does not hold the others back), in the first burst's time."""
    for name in ("deployment", "pools"):
        fast_check(name)


def dotted(path: Any) -> str:
    """`instances[0].count` for a jsonschema path."""
    text = ""
    for step in path:
        text += f"[{step}]" if isinstance(step, int) else (f".{step}" if text else str(step))
    return text


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "true or false"
    if value is None:
        return "empty"
    for name, types in (("a mapping", dict), ("a list", list), ("a string", str)):
        if isinstance(value, types):
            return name
    return "a number"


def _message(error: ValidationError) -> tuple[str, bool]:
    """The message for one schema error, and whether it points at a key rather than a value."""
    where = dotted(error.absolute_path)
    prefix = f"{where}: " if where else ""
    # jsonschema types these as possibly unset; an error from iter_errors always has them
    keyword: Any = error.validator
    value: Any = error.instance
    wanted_value: Any = error.validator_value
    schema = error.schema if isinstance(error.schema, dict) else {}
    if keyword == "required":
        missing = [k for k in wanted_value if k not in value]
        return f"{prefix or 'top level: '}missing required key {missing[0]!r}", False
    if keyword == "additionalProperties":
        allowed = sorted(schema.get("properties", {}))
        # keys may be of mixed types (1, true, name): sort them as text, never compare them
        extra = sorted((k for k in value if k not in schema.get("properties", {})), key=str)
        hint = f" (allowed: {', '.join(allowed)})" if allowed else ""
        return f"{prefix}unknown key {str(extra[0])!r}{hint}", True
    if keyword == "type":
        expected = wanted_value
        names = [expected] if isinstance(expected, str) else list(expected)
        wanted = " or ".join(_TYPE_NAMES.get(n, n) for n in names)
        return f"{prefix}must be {wanted}, not {_kind(value)}", False
    if keyword == "pattern":
        hint = schema.get("x-hint", f"must match {wanted_value}")
        return f"{prefix}{value!r} is not valid: {hint}", False
    if keyword == "enum":
        options = ", ".join(str(o) for o in wanted_value)
        return f"{prefix}must be one of {options}, not {value!r}", False
    if keyword == "const":
        return f"{prefix}must be {wanted_value!r}, not {value!r}", False
    if keyword in ("minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum"):
        words = {
            "minimum": "at least",
            "exclusiveMinimum": "more than",
            "maximum": "at most",
            "exclusiveMaximum": "less than",
        }[keyword]
        return f"{prefix}must be {words} {wanted_value}, not {value!r}", False
    if keyword == "minItems":
        return f"{prefix}needs at least {wanted_value} item(s)", False
    if keyword == "maxItems":
        return f"{prefix}has more than {wanted_value} items", False
    if keyword == "maxLength":
        return f"{prefix}is longer than {wanted_value} characters", False
    if keyword == "minProperties":
        return f"{prefix}needs at least {wanted_value} entry", False
    if keyword == "oneOf" and "x-oneOf-hint" in schema:
        return f"{prefix}{schema['x-oneOf-hint']}", False
    if keyword == "propertyNames":
        return f"{prefix}{error.message}", True
    return f"{prefix}{error.message}", False


def _leaves(error: ValidationError) -> list[ValidationError]:
    """propertyNames errors hide the real cause (the pattern) in their context."""
    if error.validator == "propertyNames" and error.context:
        return list(error.context)
    return [error]


def check(name: str, doc: Document, path: str) -> list[Problem]:
    """Schema problems in `doc`, sorted by position."""
    if fast_check(name)(doc.data):
        return []
    problems = []
    for top in validator(name).iter_errors(doc.data):
        for error in _leaves(top):
            message, at_key = _message(error)
            instance: Any = error.instance
            error_schema: Any = error.schema
            if top.validator == "propertyNames":
                where = dotted(top.absolute_path)
                hint = error_schema.get("x-hint", "") if isinstance(error_schema, dict) else ""
                message = f"{where + ': ' if where else ''}{instance!r} is not a valid name"
                message += f": {hint}" if hint else ""
                line, column = doc.locate([*top.absolute_path, instance], key=True)
            else:
                line, column = doc.locate(list(error.absolute_path), key=at_key)
                if at_key and error.validator == "additionalProperties":
                    extra = sorted(
                        str(k) for k in instance if k not in error_schema.get("properties", {})
                    )
                    line, column = doc.locate([*error.absolute_path, extra[0]], key=True)
            problems.append(Problem(path, line, column, message))
    return sorted(problems, key=lambda p: (p.line, p.column, p.message))
