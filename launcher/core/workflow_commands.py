"""GitHub Actions workflow commands (`::error file=…::…`): annotations on files and lines,
escaped so that untrusted text (a file name, a review) can never start a command of its own."""

from __future__ import annotations


def escape_data(text: str) -> str:
    """Escape a workflow command message so untrusted text cannot start a new command."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def workflow_command(
    kind: str,
    message: str,
    *,
    file: str | None = None,
    line: int | None = None,
    col: int | None = None,
) -> str:
    """`::error file=…,line=…,col=…::message`, escaped as the Actions runner expects."""
    props = []
    if file is not None:
        props.append(f"file={escape_property(file)}")
    if line is not None:
        props.append(f"line={line}")
    if col is not None:
        props.append(f"col={col}")
    head = f"::{kind}" + (" " + ",".join(props) if props else "")
    return f"{head}::{escape_data(message)}"
