"""parliament over launcher's generated IAM documents, with the one documented waiver.

RunInstances is authorized per resource, so launcher's statements are split by resource and
each names only some of the resource types parliament expects of the action. That finding
(RESOURCE_MISMATCH), on those statements (matched by statement id, and only when the
statement's action is RunInstances alone), is the only one waived.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

WAIVED = re.compile(r"Run(Instance|Volume|NetworkInterface|Subnet|SecurityGroup|Image)[A-Za-z0-9]+")


def findings(text: str) -> list[tuple[str, str, Any]]:
    """(code, statement id, detail) of every parliament finding on one policy document."""
    from parliament import analyze_policy_string

    starts = [  # (line of the statement's `{`, its Sid): the Sid is the statement's first key
        (number - 1, match.group(1))
        for number, line in enumerate(text.splitlines(), start=1)
        if (match := re.search(r'"Sid": "([A-Za-z0-9]+)"', line))
    ]
    found = []
    for finding in analyze_policy_string(text).findings:
        line = (finding.location or {}).get("line") or 0
        within = [sid for start, sid in starts if start <= line]
        found.append((finding.issue, within[-1] if within else "", finding.detail))
    return found


def lint_folder(folder: Path) -> list[tuple[str, str, str, Any]]:
    unwaived = []
    for path in sorted(folder.glob("*.json")):
        if path.name.endswith(".trust.json"):
            continue  # trust policies have no Resource: parliament reads identity policies
        text = path.read_text()
        statements = {s["Sid"]: s for s in json.loads(text)["Statement"]}
        for code, sid, detail in findings(text):
            run_only = statements.get(sid, {}).get("Action") == "ec2:RunInstances"
            if code == "RESOURCE_MISMATCH" and WAIVED.fullmatch(sid) and run_only:
                continue
            unwaived.append((path.name, code, sid, detail))
    return unwaived


def lint_documents(documents: Mapping[str, Mapping[str, Any]]) -> list[tuple[str, str, str, Any]]:
    """The same, over documents in memory (rendered as `launcher iam-policy` writes them)."""
    import tempfile

    from launcher.core.iam import render

    with tempfile.TemporaryDirectory() as folder:
        for name, document in documents.items():
            (Path(folder) / name).write_text(render(document))
        return lint_folder(Path(folder))
