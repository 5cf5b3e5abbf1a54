"""A compiled yes/no check for our JSON Schemas, for the common case where a file is valid.

jsonschema explains errors well but is slow on the happy path (about 0.5 ms per request file,
most of `launcher validate`'s time on a large repository). This compiles a schema once into
plain Python functions that only answer "valid?". Files it rejects go to jsonschema for exact
messages, so it must never accept what jsonschema rejects: it implements a fixed set of keywords
with jsonschema's semantics and refuses to compile a schema with any other keyword that could
reject something (tests also check agreement on many mutated documents).

Only the project's own schema files are compiled; no document content ever becomes code.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

Check = Callable[[Any], bool]

# Keywords that never make a document invalid (annotations, identifiers, our hints).
_ANNOTATIONS = {
    "$schema",
    "$id",
    "$comment",
    "title",
    "description",
    "default",
    "examples",
    "format",
    "$defs",
}

_TYPE_TESTS = {
    "object": "isinstance({v}, dict)",
    "array": "isinstance({v}, list)",
    "string": "isinstance({v}, str)",
    "number": "(isinstance({v}, (int, float)) and not isinstance({v}, bool))",
    "integer": "(isinstance({v}, int) and not isinstance({v}, bool)"
    " or isinstance({v}, float) and {v}.is_integer())",
    "boolean": "isinstance({v}, bool)",
    "null": "{v} is None",
}
_NUMBER = _TYPE_TESTS["number"]


class UnsupportedSchema(ValueError):
    """The schema uses a keyword this compiler does not implement."""


def json_equal(a: Any, b: Any) -> bool:
    """JSON equality: true is not 1, and containers compare element-wise by the same rule."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(json_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b, strict=True))
    return a == b


class _Compiler:
    def __init__(self, root: dict[str, Any]) -> None:
        self.root = root
        self.lines: list[str] = []
        self.names: dict[int, str] = {}  # id(schema) -> function name
        self.consts: dict[str, Any] = {"json_equal": json_equal}
        self.pending: list[tuple[str, Any]] = []
        self.tables: list[tuple[str, dict[str, str]]] = []  # property name -> function name

    def const(self, value: Any) -> str:
        name = f"K{len(self.consts)}"
        self.consts[name] = value
        return name

    def function_for(self, schema: Any) -> str:
        if isinstance(schema, dict) and set(schema) == {"$ref"}:
            schema = self.resolve(schema["$ref"])
        key = id(schema)
        if key not in self.names:
            self.names[key] = f"c{len(self.names)}"
            self.pending.append((self.names[key], schema))
        return self.names[key]

    def resolve(self, pointer: str) -> Any:
        if not pointer.startswith("#/"):
            raise UnsupportedSchema(f"only local references are supported, not {pointer}")
        target: Any = self.root
        for part in pointer[2:].split("/"):
            target = target[part]
        return target

    def compile(self) -> Check:
        entry = self.function_for(self.root)
        while self.pending:
            name, schema = self.pending.pop()
            self.emit_function(name, schema)
        for table, functions in self.tables:
            entries = ", ".join(f"{key!r}: {function}" for key, function in functions.items())
            self.lines.append(f"{table} = {{{entries}}}")
        namespace = dict(self.consts)
        exec(compile("\n".join(self.lines), "<launcher-fastschema>", "exec"), namespace)  # noqa: S102
        return namespace[entry]

    def emit_function(self, name: str, schema: Any) -> None:
        out = self.lines
        out.append(f"def {name}(v):")
        if schema is False:
            out.append("    return False")
            return
        if schema is True:
            out.append("    return True")
            return
        body: list[str] = []
        for keyword, value in schema.items():
            if keyword in _ANNOTATIONS or keyword.startswith("x-"):
                continue
            body.extend(self.keyword(keyword, value, schema))
        out.extend("    " + line for line in body)
        out.append("    return True")

    def keyword(self, keyword: str, value: Any, schema: dict[str, Any]) -> list[str]:
        if keyword == "$ref":
            return [f"if not {self.function_for(self.resolve(value))}(v): return False"]
        if keyword == "type":
            names = [value] if isinstance(value, str) else list(value)
            test = " or ".join(_TYPE_TESTS[n].format(v="v") for n in names)
            return [f"if not ({test}): return False"]
        if keyword == "properties":
            table = f"T{len(self.tables)}"
            self.tables.append((table, {k: self.function_for(s) for k, s in value.items()}))
            return [
                "if isinstance(v, dict):",
                "    for k, x in v.items():",
                f"        f = {table}.get(k)",
                "        if f is not None and not f(x): return False",
            ]
        if keyword == "additionalProperties":
            if "patternProperties" in schema:
                raise UnsupportedSchema("patternProperties")
            known = self.const(frozenset(schema.get("properties", {})))
            if value is False:
                return [f"if isinstance(v, dict) and not {known}.issuperset(v): return False"]
            extra = self.function_for(value)
            return [
                "if isinstance(v, dict):",
                "    for k, x in v.items():",
                f"        if k not in {known} and not {extra}(x): return False",
            ]
        if keyword == "required":
            needed = self.const(tuple(value))
            return [f"if isinstance(v, dict) and not all(k in v for k in {needed}): return False"]
        if keyword == "propertyNames":
            check = self.function_for(value)
            return [f"if isinstance(v, dict) and not all({check}(k) for k in v): return False"]
        if keyword == "minProperties":
            return [f"if isinstance(v, dict) and len(v) < {int(value)}: return False"]
        if keyword == "items":
            item = self.function_for(value)
            return [f"if isinstance(v, list) and not all({item}(x) for x in v): return False"]
        limits = {
            "minItems": ("list", "<"),
            "maxItems": ("list", ">"),
            "minLength": ("str", "<"),
            "maxLength": ("str", ">"),
        }
        if keyword in limits:
            kind, op = limits[keyword]
            return [f"if isinstance(v, {kind}) and len(v) {op} {int(value)}: return False"]
        if keyword == "pattern":
            # JSON Schema patterns are unanchored: re.search, as jsonschema does.
            search = self.const(re.compile(value).search)
            return [f"if isinstance(v, str) and {search}(v) is None: return False"]
        if keyword in ("enum", "const"):
            options = self.const(list(value) if keyword == "enum" else [value])
            return [f"if not any(json_equal(v, o) for o in {options}): return False"]
        bounds = {
            "minimum": "<",
            "maximum": ">",
            "exclusiveMinimum": "<=",
            "exclusiveMaximum": ">=",
        }
        if keyword in bounds:
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                raise UnsupportedSchema(f"{keyword} must be a number")
            number = _NUMBER.format(v="v")
            return [f"if {number} and v {bounds[keyword]} {value!r}: return False"]
        if keyword in ("oneOf", "anyOf", "allOf"):
            subs = [self.function_for(sub) for sub in value]
            calls = ", ".join(f"{s}(v)" for s in subs)
            rule = {"oneOf": "== 1", "anyOf": ">= 1", "allOf": f"== {len(subs)}"}[keyword]
            return [f"if not (sum(({calls},)) {rule}): return False"]
        if keyword == "not":
            return [f"if {self.function_for(value)}(v): return False"]
        raise UnsupportedSchema(f"keyword {keyword!r} is not supported by the fast check")


def compile_schema(root: dict[str, Any]) -> Check:
    """Compile `root` (with local `#/$defs/...` references) into a predicate."""
    return _Compiler(root).compile()
