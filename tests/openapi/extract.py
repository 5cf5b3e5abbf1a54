"""Re-extract the GitHub schemas the sandbox conformance tests validate against.

The GitHub stand-in (``launcher.sandbox.github``) must answer exactly as GitHub's
published REST description says, and announce events as GitHub's published webhook
description says. Rather than vendoring the 80 MB descriptions, we vendor only the
response schemas of the operations the stand-in serves (``rest-operations.json``)
and the payload schemas of the webhook events it emits (``webhooks.json``), each with
the transitive closure of the component schemas they ``$ref``.

OpenAPI 3.0 ``nullable: true`` is rewritten to JSON Schema (``type: [..., "null"]``
or ``anyOf [..., {"type": "null"}]``) so the files validate with plain ``jsonschema``
(draft 2020-12); ``oneOf`` becomes ``anyOf`` (the description's alternatives overlap,
so a real GitHub body can match two of them); descriptions and examples are dropped
to keep the files small.

Re-run after updating the npm packages (outside the repo)::

    npm install --prefix /tmp/oa @octokit/openapi@23.0.2 @octokit/openapi-webhooks@12.1.0
    python tests/openapi/extract.py /tmp/oa/node_modules/@octokit

(the versions the vendored files record in their ``version`` field).

To add an operation or event: append its operationId to ``OPERATIONS`` (or its
webhook name to ``WEBHOOKS``) and re-run.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent

OPERATIONS: list[str] = [
    "users/get-authenticated",
    "users/get-by-username",
    "rate-limit/get",
    "orgs/get",
    "teams/list",
    "teams/get-by-name",
    "teams/list-members-in-org",
    "teams/get-membership-for-user-in-org",
    "teams/get-member-legacy",
    "repos/get",
    "repos/list-collaborators",
    "repos/check-collaborator",
    "repos/get-collaborator-permission-level",
    "repos/get-branch",
    "git/get-ref",
    "git/list-matching-refs",
    "git/create-ref",
    "git/update-ref",
    "git/delete-ref",
    "git/get-commit",
    "git/get-tree",
    "git/get-blob",
    "repos/get-content",
    "repos/create-or-update-file-contents",
    "repos/delete-file",
    "repos/get-commit",
    "repos/list-commits",
    "repos/compare-commits-with-basehead",
    "repos/list-pull-requests-associated-with-commit",
    "pulls/list",
    "pulls/create",
    "pulls/get",
    "pulls/update",
    "pulls/check-if-merged",
    "pulls/merge",
    "pulls/list-files",
    "pulls/list-commits",
    "pulls/list-reviews",
    "pulls/create-review",
    "pulls/get-review",
    "pulls/dismiss-review",
    "pulls/list-requested-reviewers",
    "pulls/request-reviewers",
    "pulls/remove-requested-reviewers",
    "issues/get",
    "issues/list-for-repo",
    "issues/list-comments",
    "issues/create-comment",
    "issues/get-comment",
    "issues/update-comment",
    "issues/delete-comment",
    "issues/list-labels-on-issue",
    "issues/add-labels",
    "issues/set-labels",
    "issues/remove-label",
    "issues/remove-all-labels",
    "issues/list-labels-for-repo",
    "issues/create-label",
    "issues/get-label",
    "repos/create-commit-status",
    "repos/list-commit-statuses-for-ref",
    "repos/get-combined-status-for-ref",
    "checks/create",
    "checks/get",
    "checks/update",
    "checks/list-for-ref",
    "repos/list-deployments",
    "repos/create-deployment",
    "repos/get-deployment",
    "repos/list-deployment-statuses",
    "repos/create-deployment-status",
    "repos/get-deployment-status",
    "search/issues-and-pull-requests",
    "repos/list-activities",
    "issues/list-events",
    "issues/list-events-for-repo",
    "issues/get-event",
    "issues/list-events-for-timeline",
    "git/create-blob",
    "git/create-tree",
    "git/create-commit",
    "pulls/update-review",
    "pulls/submit-review",
    "pulls/delete-pending-review",
    # Actions: environments, OIDC and re-requested checks (sandbox/github/environments.py,
    # api_actions.py)
    "repos/get-all-environments",
    "repos/get-environment",
    "repos/create-or-update-environment",
    "repos/delete-an-environment",
    "repos/list-deployment-branch-policies",
    "repos/create-deployment-branch-policy",
    "repos/get-deployment-branch-policy",
    "repos/update-deployment-branch-policy",
    "repos/delete-deployment-branch-policy",
    "actions/list-environment-secrets",
    "actions/get-custom-oidc-sub-claim-for-repo",
    "actions/set-custom-oidc-sub-claim-for-repo",
    "oidc/get-oidc-custom-sub-template-for-org",
    "oidc/update-oidc-custom-sub-template-for-org",
    "checks/rerequest-run",
    "checks/rerequest-suite",
    "apps/get-authenticated",
    "apps/get-by-slug",
    "apps/list-installations",
    "apps/get-installation",
    "apps/create-installation-access-token",
    "apps/get-repo-installation",
    "apps/get-org-installation",
    "apps/list-repos-accessible-to-installation",
    "apps/delete-installation",
    "apps/suspend-installation",
    "apps/unsuspend-installation",
    "apps/add-repo-to-installation-for-authenticated-user",
    "apps/remove-repo-from-installation-for-authenticated-user",
    # The app's webhook: its configuration, deliveries and redelivery (launcher serve).
    "apps/get-webhook-config-for-app",
    "apps/update-webhook-config-for-app",
    "apps/list-webhook-deliveries",
    "apps/get-webhook-delivery",
    "apps/redeliver-webhook-delivery",
    "repos/get-branch-protection",
    "repos/update-branch-protection",
    "repos/delete-branch-protection",
    "repos/get-repo-rulesets",
    "repos/create-repo-ruleset",
    "repos/get-repo-ruleset",
    "repos/update-repo-ruleset",
    "repos/delete-repo-ruleset",
    "repos/get-branch-rules",
    "teams/add-or-update-membership-for-user-in-org",
    "teams/remove-membership-for-user-in-org",
    "issues/create",
    "issues/update",
    "issues/update-label",
    "issues/delete-label",
]

# Generic error bodies, used for statuses an operation does not document.
ERROR_SCHEMAS = ["basic-error", "validation-error", "validation-error-simple"]
# Operations whose answer differs by media type: each listed media type becomes an operation
# "<operationId>@<media type>" (the stand-in records such answers under that name).
MEDIA_VARIANTS: dict[str, list[str]] = {
    "repos/get-content": ["application/vnd.github.object"],
}

WEBHOOKS: list[str] = [
    "push",
    "pull-request-opened",
    "pull-request-synchronize",
    "pull-request-closed",
    "pull-request-reopened",
    "pull-request-edited",
    "pull-request-labeled",
    "pull-request-unlabeled",
    "pull-request-review-requested",
    "pull-request-review-request-removed",
    "pull-request-review-submitted",
    "pull-request-review-dismissed",
    "pull-request-review-edited",
    "issue-comment-created",
    "issue-comment-edited",
    "issue-comment-deleted",
    "status",
    "deployment-created",
    "deployment-status-created",
    "check-run-created",
    "check-run-completed",
    "check-run-rerequested",
    "check-suite-rerequested",
    "workflow-run-completed",
    "merge-group-checks-requested",
    "merge-group-destroyed",
    "pull-request-enqueued",
    "pull-request-dequeued",
    "issues-opened",
    "issues-edited",
    "issues-closed",
    "issues-reopened",
    "issues-labeled",
    "issues-unlabeled",
    "label-created",
    "label-edited",
    "label-deleted",
    "branch-protection-rule-created",
    "branch-protection-rule-edited",
    "branch-protection-rule-deleted",
    "repository-ruleset-created",
    "repository-ruleset-edited",
    "repository-ruleset-deleted",
    "membership-added",
    "membership-removed",
    # delivered to every GitHub App, subscribed or not
    "installation-created",
    "installation-deleted",
    "installation-suspend",
    "installation-unsuspend",
    "installation-new-permissions-accepted",
    "installation-repositories-added",
    "installation-repositories-removed",
]

_DROP = {"description", "example", "examples", "title", "externalDocs", "deprecated"}
_SCHEMA_MAPS = {"properties", "patternProperties", "$defs", "definitions"}
_SCHEMA_LISTS = {"allOf", "anyOf", "oneOf", "prefixItems"}
_SCHEMA_ONE = {"items", "additionalProperties", "not", "contains", "if", "then", "else"}


def to_json_schema(node: Any) -> Any:
    """Convert one OpenAPI 3.0/3.1 schema object to draft 2020-12 JSON Schema."""
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _DROP or key.startswith("x-") or key in {"nullable", "discriminator"}:
            continue
        if key in _SCHEMA_MAPS and isinstance(value, dict):
            out[key] = {k: to_json_schema(v) for k, v in value.items()}
        elif key == "oneOf" and isinstance(value, list):
            # GitHub's description uses oneOf where alternatives overlap (e.g. basic-error
            # vs repository-rule-violation-error); it means "one of these shapes".
            out["anyOf"] = [to_json_schema(v) for v in value]
        elif key in _SCHEMA_LISTS and isinstance(value, list):
            out[key] = [to_json_schema(v) for v in value]
        elif key in _SCHEMA_ONE:
            out[key] = to_json_schema(value)
        else:
            out[key] = value
    if node.get("nullable") is True:
        if "enum" in out and None not in out["enum"]:
            out["enum"] = [*out["enum"], None]
        if isinstance(out.get("type"), str) and "$ref" not in out:
            out["type"] = [out["type"], "null"]
        elif isinstance(out.get("type"), list):
            if "null" not in out["type"]:
                out["type"] = [*out["type"], "null"]
        else:
            out = {"anyOf": [out, {"type": "null"}]}
    return out


def _refs(node: Any, found: set[str]) -> None:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
            found.add(ref.rsplit("/", 1)[1])
        for value in node.values():
            _refs(value, found)
    elif isinstance(node, list):
        for value in node:
            _refs(value, found)


def _closure(roots: list[Any], schemas: dict[str, Any]) -> dict[str, Any]:
    todo: set[str] = set()
    for root in roots:
        _refs(root, todo)
    done: dict[str, Any] = {}
    while todo:
        name = todo.pop()
        if name in done:
            continue
        done[name] = to_json_schema(schemas[name])
        more: set[str] = set()
        _refs(done[name], more)
        todo |= more - done.keys()
    return dict(sorted(done.items()))


def _response_schema(resp: dict[str, Any], spec: dict[str, Any]) -> Any:
    ref = resp.get("$ref")
    if ref:
        resp = spec["components"]["responses"][ref.rsplit("/", 1)[1]]
    content = resp.get("content") or {}
    media = content.get("application/json") or next(iter(content.values()), None)
    if not media or "schema" not in media:
        return None  # no body (e.g. 204)
    return to_json_schema(media["schema"])


def extract_rest(spec: dict[str, Any]) -> dict[str, Any]:
    by_id: dict[str, tuple[str, str, dict[str, Any]]] = {}
    for path, item in spec["paths"].items():
        for method, op in item.items():
            if isinstance(op, dict) and "operationId" in op:
                by_id[op["operationId"]] = (method.upper(), path, op)
    ops: dict[str, Any] = {}
    for op_id in OPERATIONS:
        method, path, op = by_id[op_id]
        responses = {
            status: _response_schema(resp, spec) for status, resp in op["responses"].items()
        }
        ops[op_id] = {
            "method": method,
            "path": path,
            "docs": op.get("externalDocs", {}).get("url"),
            "responses": responses,
        }
    for op_id, medias in MEDIA_VARIANTS.items():
        method, path, op = by_id[op_id]
        for media in medias:
            ops[f"{op_id}@{media}"] = {
                "method": method,
                "path": path,
                "docs": op.get("externalDocs", {}).get("url"),
                "responses": {
                    status: to_json_schema(resp["content"][media]["schema"])
                    for status, resp in op["responses"].items()
                    if media in (resp.get("content") or {})
                },
            }
    roots: list[Any] = list(ops.values()) + [
        {"$ref": f"#/components/schemas/{n}"} for n in ERROR_SCHEMAS
    ]
    return {
        "source": "@octokit/openapi generated/api.github.com.json",
        "version": spec["info"].get("version"),
        "operations": ops,
        "components": {"schemas": _closure(roots, spec["components"]["schemas"])},
    }


def extract_webhooks(spec: dict[str, Any]) -> dict[str, Any]:
    hooks: dict[str, Any] = {}
    for name in WEBHOOKS:
        body = spec["webhooks"][name]["post"]["requestBody"]["content"]["application/json"]
        hooks[name] = to_json_schema(body["schema"])
    return {
        "source": "@octokit/openapi-webhooks generated/api.github.com.json",
        "version": spec["info"].get("version"),
        "webhooks": hooks,
        "components": {"schemas": _closure(list(hooks.values()), spec["components"]["schemas"])},
    }


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__)
        return 2
    root = Path(argv[0])
    rest = json.loads((root / "openapi/generated/api.github.com.json").read_text())
    hooks = json.loads((root / "openapi-webhooks/generated/api.github.com.json").read_text())
    for name, data in (
        ("rest-operations.json", extract_rest(rest)),
        ("webhooks.json", extract_webhooks(hooks)),
    ):
        (HERE / name).write_text(json.dumps(data, indent=1, sort_keys=False) + "\n")
        print(f"wrote {HERE / name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
