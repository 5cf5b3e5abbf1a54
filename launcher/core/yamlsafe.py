"""A safe, bounded YAML loader for untrusted files.

Pull-request content is data: it is parsed with PyYAML's safe constructors only, after size,
encoding and shape checks, and every refusal names a line and column. The composed node tree is
kept so that later checks (schema, semantics) can point at the exact line of a value.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import yaml
from yaml.constructor import ConstructorError
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

MAX_BYTES = 256 * 1024
MAX_NODES = 50_000  # after alias expansion; a "billion laughs" file expands far beyond this

_BaseLoader: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class YamlError(Exception):
    """A file that cannot be loaded; line and column are 1-based."""

    def __init__(self, message: str, line: int = 1, column: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.column = column


class _Loader(_BaseLoader):
    """Safe loader that refuses duplicate keys and keeps timestamps as strings.

    Timestamps stay strings so that `launch_at` is checked (timezone required) by our own code
    rather than silently read as a naive local time.
    """

    def construct_mapping(self, node: Node, deep: bool = False) -> dict[Any, Any]:
        if isinstance(node, MappingNode):
            seen: dict[Any, Node] = {}
            for key_node, _ in node.value:
                if not isinstance(key_node, ScalarNode):
                    raise ConstructorError(
                        None, None, "mapping keys must be plain values", key_node.start_mark
                    )
                key = (key_node.tag, key_node.value)
                if key in seen and key_node.value != "<<":
                    first = seen[key].start_mark.line + 1
                    raise ConstructorError(
                        None,
                        None,
                        f"duplicate key {key_node.value!r} (first defined on line {first})",
                        key_node.start_mark,
                    )
                seen[key] = key_node
        return super().construct_mapping(node, deep=deep)


def _finite_float(loader: _Loader, node: Node) -> float:
    """Floats, but never NaN or infinity: they slip through range checks (NaN compares false)."""
    assert isinstance(node, ScalarNode)  # the resolver sends only scalars here
    value = yaml.SafeLoader.construct_yaml_float(loader, node)
    if not math.isfinite(value):
        raise ConstructorError(
            None, None, f"{node.value!r} is not a finite number", node.start_mark
        )
    return value


_Loader.add_constructor("tag:yaml.org,2002:float", _finite_float)
_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_constructor("tag:yaml.org,2002:map", _Loader.construct_yaml_map)


@dataclass
class Document:
    """Loaded data plus the node tree, to find the line of any value."""

    data: dict[str, Any]
    root: MappingNode

    def locate(
        self, path: tuple[str | int, ...] | list[str | int], key: bool = False
    ) -> tuple[int, int]:
        """Line and column (1-based) of the value at `path`, or of its nearest parent.

        With key=True the position of the mapping key itself is returned (useful for
        "unknown key" messages).
        """
        node: Node = self.root
        mark = node.start_mark
        last = len(path) - 1
        for index, step in enumerate(path):
            child = _child(node, step)
            if child is None:
                break
            key_node, node = child
            at_key = key and index == last
            mark = key_node.start_mark if at_key and key_node is not None else node.start_mark
        return mark.line + 1, mark.column + 1


def _child(node: Node, step: str | int) -> tuple[Node | None, Node] | None:
    if isinstance(node, MappingNode):
        for key_node, value_node in reversed(node.value):
            if isinstance(key_node, ScalarNode) and key_node.value == str(step):
                return key_node, value_node
    elif isinstance(node, SequenceNode) and isinstance(step, int) and 0 <= step < len(node.value):
        return None, node.value[step]
    return None


def _expanded_size(root: Node) -> int:
    """Count nodes as a consumer would see them with aliases expanded, without expanding.

    Raises YamlError for a structure that contains itself (`a: &a [*a]`), which no consumer
    can walk.
    """
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()

    def size(node: Node) -> int:
        known = sizes.get(id(node))
        if known is not None:
            return known
        if id(node) in open_nodes:
            raise YamlError(
                "an alias refers to a value that contains it: write the values out instead",
                node.start_mark.line + 1,
                node.start_mark.column + 1,
            )
        open_nodes.add(id(node))
        if isinstance(node, MappingNode):
            n = 1 + sum(size(k) + size(v) for k, v in node.value)
        elif isinstance(node, SequenceNode):
            n = 1 + sum(size(v) for v in node.value)
        else:
            n = 1
        open_nodes.discard(id(node))
        sizes[id(node)] = n
        return n

    return size(root)


def decode(raw: bytes) -> str:
    """UTF-8 text or a YamlError that says where the bad byte is."""
    if len(raw) > MAX_BYTES:
        raise YamlError(
            f"file is larger than {MAX_BYTES // 1024} KiB, the limit for launcher files"
        )
    if b"\x00" in raw:
        line = raw[: raw.index(b"\x00")].count(b"\n") + 1
        raise YamlError("file is binary (contains a NUL byte), not YAML text", line, 1)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        before = raw[: exc.start]
        line = before.count(b"\n") + 1
        column = len(before) - (before.rfind(b"\n") + 1) + 1
        raise YamlError(
            f"file is not valid UTF-8 (byte 0x{raw[exc.start]:02x}): save it as UTF-8",
            line,
            column,
        ) from None
    return text.removeprefix("\ufeff")


def load(raw: bytes) -> Document:
    """Load one YAML mapping from untrusted bytes, or raise YamlError."""
    text = decode(raw)
    loader = _Loader(text)
    try:
        try:
            root = loader.get_single_node()
        except yaml.composer.ComposerError as exc:
            if "single document" in str(exc):
                mark = exc.problem_mark
                raise YamlError(
                    "file holds more than one YAML document (a second '---'): "
                    "keep one request per file",
                    mark.line + 1 if mark else 1,
                    mark.column + 1 if mark else 1,
                ) from None
            raise
        if root is None:
            raise YamlError("file is empty: expected a mapping of keys such as name and pool")
        if ("&" in text or "*" in text) and _expanded_size(root) > MAX_NODES:
            raise YamlError(
                f"anchors and aliases expand to more than {MAX_NODES:,} values: "
                "write the values out instead",
                root.start_mark.line + 1,
                root.start_mark.column + 1,
            )
        if not isinstance(root, MappingNode):
            kind = "a list" if isinstance(root, SequenceNode) else "a single value"
            raise YamlError(
                f"file holds {kind}; expected a mapping of keys such as name and pool",
                root.start_mark.line + 1,
                root.start_mark.column + 1,
            )
        data = loader.construct_document(root)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        message = " ".join(str(part) for part in (exc.context, exc.problem) if part)
        raise YamlError(
            f"invalid YAML: {message}",
            mark.line + 1 if mark else 1,
            mark.column + 1 if mark else 1,
        ) from None
    except yaml.YAMLError as exc:
        raise YamlError(f"invalid YAML: {exc}") from None
    except RecursionError:
        raise YamlError("YAML nesting is too deep") from None
    finally:
        loader.dispose()
    return Document(data=data, root=root)
