"""GitHub Actions `${{ ... }}` expressions: a small, strict evaluator.

It follows GitHub's documented semantics (loose `==` with number coercion, case-insensitive
string comparison, `&&`/`||` returning operands, null for missing properties of data) but
fails loudly where GitHub would silently give an empty string for a typo: unknown contexts
and functions are errors at parse time, and the `github`, `steps`, `inputs` and `needs`
contexts reject unknown properties at run time.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

CONTEXTS = frozenset(
    {"github", "secrets", "vars", "inputs", "env", "steps", "needs", "runner", "job", "matrix"}
)
FUNCTIONS: dict[str, tuple[int, int]] = {  # name -> (min args, max args)
    "contains": (2, 2),
    "startswith": (2, 2),
    "endswith": (2, 2),
    "format": (1, 99),
    "join": (1, 2),
    "tojson": (1, 1),
    "fromjson": (1, 1),
    "success": (0, 0),
    "failure": (0, 0),
    "always": (0, 0),
    "cancelled": (0, 0),
}
STATUS_FUNCTIONS = frozenset({"success", "failure", "always", "cancelled"})


class ExpressionError(ValueError):
    """An expression that does not parse, or names something that does not exist."""


class Strict(dict[str, Any]):
    """A context object whose unknown properties are errors, not null (typos must fail)."""

    what: str = "property"

    def __init__(self, data: Mapping[str, Any] | None = None, what: str = "property") -> None:
        super().__init__(data or {})
        self.what = what


class _Filtered(list[Any]):
    """The result of a `.*` filter: property access maps over its elements."""


# -- lexing and parsing ----------------------------------------------------------------------
_TOKEN = re.compile(
    r"""\s*(?:
    (?P<num>0x[0-9a-fA-F]+|[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)
  | (?P<str>'(?:[^']|'')*')
  | (?P<ident>[A-Za-z_][A-Za-z0-9_-]*)
  | (?P<op>&&|\|\||==|!=|<=|>=|[<>!().\[\],*])
    )""",
    re.VERBOSE,
)


@dataclass(frozen=True)
class Tok:
    kind: str  # num, str, ident, op, end
    text: str


def _lex(src: str) -> list[Tok]:
    toks: list[Tok] = []
    pos = 0
    while pos < len(src):
        if src[pos:].strip() == "":
            break
        m = _TOKEN.match(src, pos)
        if not m:
            raise ExpressionError(f"cannot parse {src!r} at {src[pos:].strip()[:20]!r}")
        kind = m.lastgroup or "op"
        text = m.group(kind)
        # A sign belongs to a number only where an operand is expected (not in `a -1`).
        if kind == "num" and text[0] in "+-" and toks and toks[-1].kind != "op":
            raise ExpressionError(f"unexpected {text!r} in {src!r}")
        toks.append(Tok(kind, text))
        pos = m.end()
    toks.append(Tok("end", ""))
    return toks


Node = tuple[Any, ...]


class _Parser:
    def __init__(self, src: str) -> None:
        self.src = src
        self.toks = _lex(src)
        self.i = 0

    def peek(self) -> Tok:
        return self.toks[self.i]

    def take(self, text: str | None = None) -> Tok:
        tok = self.toks[self.i]
        if text is not None and tok.text != text:
            raise ExpressionError(f"expected {text!r} in {self.src!r}, got {tok.text or 'end'!r}")
        self.i += 1
        return tok

    def parse(self) -> Node:
        if self.peek().kind == "end":
            raise ExpressionError("empty expression")
        node = self.or_()
        if self.peek().kind != "end":
            raise ExpressionError(f"unexpected {self.peek().text!r} in {self.src!r}")
        return node

    def or_(self) -> Node:
        node = self.and_()
        while self.peek().text == "||":
            self.take()
            node = ("or", node, self.and_())
        return node

    def and_(self) -> Node:
        node = self.eq()
        while self.peek().text == "&&":
            self.take()
            node = ("and", node, self.eq())
        return node

    def eq(self) -> Node:
        node = self.rel()
        while self.peek().text in ("==", "!="):
            op = self.take().text
            node = ("cmp", op, node, self.rel())
        return node

    def rel(self) -> Node:
        node = self.unary()
        while self.peek().text in ("<", "<=", ">", ">="):
            op = self.take().text
            node = ("cmp", op, node, self.unary())
        return node

    def unary(self) -> Node:
        if self.peek().text == "!":
            self.take()
            return ("not", self.unary())
        return self.postfix(self.primary())

    def postfix(self, node: Node) -> Node:
        while True:
            tok = self.peek()
            if tok.text == ".":
                self.take()
                nxt = self.take()
                if nxt.text == "*":
                    node = ("star", node)
                elif nxt.kind == "ident":
                    node = ("prop", node, nxt.text)
                else:
                    raise ExpressionError(f"expected a property name after '.' in {self.src!r}")
            elif tok.text == "[":
                self.take()
                if self.peek().text == "*":
                    self.take()
                    node = ("star", node)
                else:
                    node = ("index", node, self.or_())
                self.take("]")
            else:
                return node

    def primary(self) -> Node:
        tok = self.take()
        if tok.kind == "num":
            text = tok.text
            value = int(text, 16) if text.lower().startswith("0x") else float(text)
            return ("lit", value)
        if tok.kind == "str":
            return ("lit", tok.text[1:-1].replace("''", "'"))
        if tok.text == "(":
            node = self.or_()
            self.take(")")
            return node
        if tok.kind == "ident":
            name = tok.text
            if self.peek().text == "(":
                return self.call(name)
            low = name.lower()
            if low in ("true", "false"):
                return ("lit", low == "true")
            if low == "null":
                return ("lit", None)
            if low not in CONTEXTS:
                raise ExpressionError(f"unknown context {name!r} in {self.src!r}")
            return ("ctx", low)
        raise ExpressionError(f"unexpected {tok.text or 'end'!r} in {self.src!r}")

    def call(self, name: str) -> Node:
        low = name.lower()
        if low not in FUNCTIONS:
            raise ExpressionError(f"unknown function {name}() in {self.src!r}")
        self.take("(")
        args: list[Node] = []
        if self.peek().text != ")":
            args.append(self.or_())
            while self.peek().text == ",":
                self.take()
                args.append(self.or_())
        self.take(")")
        lo, hi = FUNCTIONS[low]
        if not lo <= len(args) <= hi:
            raise ExpressionError(f"{name}() takes {lo}..{hi} arguments, got {len(args)}")
        return ("call", low, tuple(args))


def parse(src: str) -> Node:
    """Parse one expression (the text between `${{` and `}}`); syntax errors raise."""
    return _Parser(src).parse()


def _children(node: Node) -> tuple[Node, ...]:
    kind = node[0]
    if kind in ("lit", "ctx"):
        return ()
    if kind == "call":
        return tuple(node[2])
    if kind == "cmp":
        return (node[2], node[3])
    if kind == "prop":
        return (node[1],)
    return tuple(c for c in node[1:] if isinstance(c, tuple))


def walk(node: Node) -> Iterator[Node]:
    yield node
    for child in _children(node):
        yield from walk(child)


def uses_status_function(node: Node) -> bool:
    """Whether `if:` already says when to run (else GitHub wraps it in `success() && ...`)."""
    return any(n[0] == "call" and n[1] in STATUS_FUNCTIONS for n in walk(node))


def contexts_used(node: Node) -> set[str]:
    """The context names an expression reads (for checking where it may appear)."""
    return {n[1] for n in walk(node) if n[0] == "ctx"}


# -- values ---------------------------------------------------------------------------------
def truthy(value: Any) -> bool:
    if value is None or value is False or value == "":
        return False
    if isinstance(value, int | float) and not isinstance(value, bool):
        return not (value == 0 or math.isnan(value))
    return True


def to_number(value: Any) -> float:
    if value is None:
        return 0.0
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        text = value.strip()
        if text == "":
            return 0.0
        try:
            return float(int(text, 16)) if text.lower().startswith("0x") else float(text)
        except ValueError:
            return math.nan
    return math.nan


def to_str(value: Any) -> str:
    """How a value reads when interpolated into a string (GitHub's rules)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        if isinstance(value, float) and math.isnan(value):
            return "NaN"
        if float(value).is_integer():
            return str(int(value))
        return repr(float(value))
    if isinstance(value, str):
        return value
    return "Array" if isinstance(value, list) else "Object"


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "object"


def loose_equal(a: Any, b: Any) -> bool:
    ka, kb = _kind(a), _kind(b)
    if ka == kb:
        if ka == "string":
            return a.casefold() == b.casefold()
        if ka == "number":
            return float(a) == float(b)
        if ka == "object":
            return a is b
        return bool(a == b)
    if "object" in (ka, kb):
        return False
    return to_number(a) == to_number(b)


def _compare(op: str, a: Any, b: Any) -> bool:
    if op == "==":
        return loose_equal(a, b)
    if op == "!=":
        return not loose_equal(a, b)
    if isinstance(a, str) and isinstance(b, str):
        x: Any = a.casefold()
        y: Any = b.casefold()
    else:
        x, y = to_number(a), to_number(b)
        if math.isnan(x) or math.isnan(y):
            return False
    return {"<": x < y, "<=": x <= y, ">": x > y, ">=": x >= y}[op]


def _get(obj: Any, key: Any) -> Any:
    if isinstance(obj, _Filtered):
        out = _Filtered()
        for item in obj:
            value = _get(item, key)
            if value is not None:
                out.extend(value if isinstance(value, _Filtered) else [value])
        return out
    if isinstance(obj, list):
        num = to_number(key)
        if math.isnan(num) or not num.is_integer():
            return None
        idx = int(num)
        return obj[idx] if 0 <= idx < len(obj) else None
    if isinstance(obj, dict):
        name = to_str(key)
        if name in obj:
            return obj[name]
        folded = name.casefold()
        for k, v in obj.items():
            if k.casefold() == folded:
                return v
        if isinstance(obj, Strict):
            known = ", ".join(sorted(obj)) or "none"
            raise ExpressionError(f"unknown {obj.what} {name!r} (known: {known})")
        return None
    return None


def _format(fmt: Any, *args: Any) -> str:
    text = to_str(fmt)
    out: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "{" and text.startswith("{{", i):
            out.append("{")
            i += 2
        elif ch == "}" and text.startswith("}}", i):
            out.append("}")
            i += 2
        elif ch == "{":
            end = text.find("}", i)
            spec = text[i + 1 : end] if end > 0 else ""
            if not spec.isdigit() or int(spec) >= len(args):
                raise ExpressionError(f"format(): bad placeholder in {text!r}")
            out.append(to_str(args[int(spec)]))
            i = end + 1
        elif ch == "}":
            raise ExpressionError(f"format(): unbalanced '}}' in {text!r}")
        else:
            out.append(ch)
            i += 1
    return "".join(out)


def _contains(search: Any, item: Any) -> bool:
    if isinstance(search, list):
        return any(loose_equal(x, item) for x in search)
    return to_str(item).casefold() in to_str(search).casefold()


def _from_json(text: Any) -> Any:
    try:
        return json.loads(to_str(text))
    except ValueError as exc:
        raise ExpressionError(f"fromJSON(): not JSON: {to_str(text)[:60]!r}") from exc


_PURE: dict[str, Callable[..., Any]] = {
    "contains": _contains,
    "startswith": lambda s, p: to_str(s).casefold().startswith(to_str(p).casefold()),
    "endswith": lambda s, p: to_str(s).casefold().endswith(to_str(p).casefold()),
    "format": _format,
    "join": lambda a, sep=",": (
        to_str(sep).join(to_str(x) for x in a) if isinstance(a, list) else to_str(a)
    ),
    "tojson": lambda v: json.dumps(v, indent=2),
    "fromjson": _from_json,
}


@dataclass
class Scope:
    """What an expression can see: the contexts available where it appears, and the job's
    status so far (for `success()` and friends)."""

    contexts: Mapping[str, Any]
    job_status: str = "success"  # success | failure | cancelled


def evaluate(node: Node, scope: Scope) -> Any:
    kind = node[0]
    if kind == "lit":
        return node[1]
    if kind == "ctx":
        if node[1] not in scope.contexts:
            raise ExpressionError(f"context {node[1]!r} is not available here")
        return scope.contexts[node[1]]
    if kind == "prop":
        return _get(evaluate(node[1], scope), node[2])
    if kind == "index":
        return _get(evaluate(node[1], scope), evaluate(node[2], scope))
    if kind == "star":
        base = evaluate(node[1], scope)
        if isinstance(base, dict):
            return _Filtered(base.values())
        return _Filtered(base) if isinstance(base, list) else _Filtered()
    if kind == "not":
        return not truthy(evaluate(node[1], scope))
    if kind == "and":
        left = evaluate(node[1], scope)
        return evaluate(node[2], scope) if truthy(left) else left
    if kind == "or":
        left = evaluate(node[1], scope)
        return left if truthy(left) else evaluate(node[2], scope)
    if kind == "cmp":
        return _compare(node[1], evaluate(node[2], scope), evaluate(node[3], scope))
    if kind == "call":
        name, args = node[1], node[2]
        if name in STATUS_FUNCTIONS:
            return {
                "always": True,
                "success": scope.job_status == "success",
                "failure": scope.job_status == "failure",
                "cancelled": scope.job_status == "cancelled",
            }[name]
        return _PURE[name](*(evaluate(a, scope) for a in args))
    raise AssertionError(kind)


# -- templates ------------------------------------------------------------------------------
def split_template(text: str) -> list[str | Node]:
    """Split a string into literal parts and parsed `${{ }}` expressions."""
    parts: list[str | Node] = []
    pos = 0
    while True:
        start = text.find("${{", pos)
        if start < 0:
            break
        if start > pos:
            parts.append(text[pos:start])
        i = start + 3
        in_str = False
        while i < len(text):
            if text[i] == "'":
                in_str = not in_str
            elif not in_str and text.startswith("}}", i):
                break
            i += 1
        else:
            raise ExpressionError(f"unclosed '${{{{' in {text!r}")
        parts.append(parse(text[start + 3 : i]))
        pos = i + 2
    if pos < len(text):
        parts.append(text[pos:])
    return parts


def has_expression(value: Any) -> bool:
    return isinstance(value, str) and "${{" in value


def interpolate(value: Any, scope: Scope) -> Any:
    """Evaluate `${{ }}` in a value: a lone expression keeps its type, mixed text is a string.

    Lists and mappings are walked; other scalars come back as they are.
    """
    if isinstance(value, dict):
        return {k: interpolate(v, scope) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, scope) for v in value]
    if not has_expression(value):
        return value
    parts = split_template(value)
    if len(parts) == 1 and isinstance(parts[0], tuple):
        result = evaluate(parts[0], scope)
        return list(result) if isinstance(result, _Filtered) else result
    return "".join(p if isinstance(p, str) else to_str(evaluate(p, scope)) for p in parts)


def condition(text: Any, scope: Scope) -> bool:
    """An `if:` value: `${{ }}` optional; without a status function it means `success() && x`."""
    if isinstance(text, bool):
        return text and scope.job_status == "success"
    src = str(text).strip()
    if src.startswith("${{") and src.endswith("}}") and src.count("${{") == 1:
        src = src[3:-2]
    if "${{" in src:  # mixed text: a non-empty string, as GitHub reads it
        return truthy(interpolate(src, scope)) and scope.job_status == "success"
    node = parse(src)
    if not uses_status_function(node):
        node = ("and", ("call", "success", ()), node)
    return truthy(evaluate(node, scope))


def check(value: Any) -> list[str]:
    """Parse every expression in a value; return the problems (for loading a workflow)."""
    problems: list[str] = []
    if isinstance(value, dict):
        for v in value.values():
            problems += check(v)
    elif isinstance(value, list):
        for v in value:
            problems += check(v)
    elif has_expression(value):
        try:
            split_template(value)
        except ExpressionError as exc:
            problems.append(str(exc))
    return problems
