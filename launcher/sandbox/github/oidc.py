"""GitHub Actions' OIDC provider: the `sub` claim in its documented forms, and signed tokens.

Why: launcher's AWS role trusts a workflow by its OIDC subject. Which subject a job gets
decides whether a pull request's job can assume the launch role, so the stand-in forms it as
GitHub does:

- default template: ``repo:OWNER/REPO:`` + the context, which is ``environment:NAME`` when
  the job names an environment, else ``pull_request`` for pull_request(_target) events, else
  ``ref:refs/heads/BRANCH`` (or ``ref:refs/tags/TAG``);
- immutable subjects (GitHub, 2026): ``repo:OWNER@OWNER_ID/REPO@REPO_ID:...``, on by default for
  repositories created on or after 2026-07-15 and otherwise opted into per repository
  (``use_immutable_subject`` of ``PUT /repos/{o}/{r}/actions/oidc/customization/sub``) or per
  organization (`GitHubSandbox.set_org_immutable_subject`);
- a custom template (``use_default: false``, ``include_claim_keys``): ``key:value`` pairs in
  that order, ``repo`` and ``context`` standing for the two parts above; ``use_default: false``
  without keys takes the organization's template (set with
  ``PUT /orgs/{org}/actions/oidc/customization/sub``).

REST: ``GET|PUT /repos/{o}/{r}/actions/oidc/customization/sub`` and
``GET|PUT /orgs/{org}/actions/oidc/customization/sub``. Sandbox-only: the runner
registers a job's claims (`register_job`) and gets the ``ACTIONS_ID_TOKEN_REQUEST_URL`` the
job's steps call (``/_sandbox/actions/id-token/{request}``, with the job token as
``ACTIONS_ID_TOKEN_REQUEST_TOKEN``); ``GET /_sandbox/actions/oidc/jwks`` serves the signing key.
"""

from __future__ import annotations

import re
import secrets
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from launcher.sandbox.github.http import ApiError, Request, Response, Router, not_found
from launcher.sandbox.github.state import Repo, now

if TYPE_CHECKING:
    from launcher.sandbox.github.service import GitHub

ISSUER = "https://token.actions.githubusercontent.com"
IMMUTABLE_BY_DEFAULT_SINCE = datetime(2026, 7, 15, tzinfo=UTC).timestamp()
CLAIM_KEY = re.compile(r"[A-Za-z0-9_]+")
R = "/repos/{owner}/{repo}"


@dataclass
class SubjectSettings:
    use_default: bool = True
    include_claim_keys: list[str] = field(default_factory=list)
    use_immutable_subject: bool | None = None  # None: the organization's, else the default


@dataclass
class Oidc:
    repos: dict[str, SubjectSettings] = field(default_factory=dict)  # lower(full name)
    orgs_immutable: dict[str, bool] = field(default_factory=dict)  # lower(org login)
    orgs_template: dict[str, list[str]] = field(default_factory=dict)  # lower(org) -> keys
    requests: dict[str, dict[str, Any]] = field(default_factory=dict)  # request id -> claims
    _key: Any = None
    kid: str = field(default_factory=lambda: uuid.uuid4().hex)

    def settings(self, repo: Repo) -> SubjectSettings:
        return self.repos.setdefault(repo.full_name.lower(), SubjectSettings())

    def private_key(self) -> Any:
        if self._key is None:
            from cryptography.hazmat.primitives.asymmetric import rsa

            self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        return self._key


def immutable(gh: GitHub, repo: Repo) -> bool:
    chosen = gh.actions_oidc.settings(repo).use_immutable_subject
    if chosen is not None:
        return chosen
    org = gh.actions_oidc.orgs_immutable.get(repo.owner.lower())
    if org is not None:
        return org
    return repo.created_at >= IMMUTABLE_BY_DEFAULT_SINCE


def repo_part(gh: GitHub, repo: Repo) -> str:
    """``OWNER/REPO``, or ``OWNER@OWNER_ID/REPO@REPO_ID`` for immutable subjects."""
    if not immutable(gh, repo):
        return repo.full_name
    owner = gh.state.user(repo.owner)
    owner_id = owner.id if owner else 0
    return f"{repo.owner}@{owner_id}/{repo.name}@{repo.id}"


def context(event: str, ref: str, environment: str | None) -> str:
    if environment:
        return f"environment:{environment}"
    if event in ("pull_request", "pull_request_target"):
        return "pull_request"
    return f"ref:{ref}"


def subject(gh: GitHub, repo: Repo, claims: dict[str, Any]) -> str:
    """The ``sub`` claim of a job whose other claims are ``claims``."""
    prefix = f"repo:{repo_part(gh, repo)}"
    ctx = context(claims["event_name"], claims["ref"], claims.get("environment"))
    settings = gh.actions_oidc.settings(repo)
    keys = settings.include_claim_keys
    if not settings.use_default and not keys:
        # {"use_default": false} alone: the organization's template, as GitHub documents.
        keys = gh.actions_oidc.orgs_template.get(repo.owner.lower(), [])
    if settings.use_default or not keys:
        return f"{prefix}:{ctx}"
    parts = []
    for key in keys:
        if key == "repo":
            parts.append(prefix)
        elif key == "context":
            parts.append(ctx)
        else:
            parts.append(f"{key}:{claims.get(key, '')}")
    return ":".join(parts)


def ref_protected(gh: GitHub, repo: Repo, ref: str) -> bool:
    """The ``ref_protected`` claim: whether protections or active rulesets apply to the ref."""
    if not ref.startswith("refs/heads/"):
        return False
    with gh.state.lock:
        return bool(gh.rules.sources(repo, ref.removeprefix("refs/heads/")))


def job_claims(
    gh: GitHub,
    repo: Repo,
    *,
    event_name: str,
    ref: str,
    sha: str,
    workflow_path: str,
    workflow_name: str,
    actor: str,
    run_id: str,
    environment: str | None = None,
    head_ref: str = "",
    base_ref: str = "",
    job_workflow_ref: str | None = None,
) -> dict[str, Any]:
    """Everything but aud/iat/exp/jti, as GitHub documents the token's claims."""
    owner = gh.state.user(repo.owner)
    who = gh.state.user(actor)
    workflow_ref = f"{repo.full_name}/{workflow_path}@{ref}"
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "ref": ref,
        "ref_type": "tag" if ref.startswith("refs/tags/") else "branch",
        "ref_protected": "true" if ref_protected(gh, repo, ref) else "false",
        "sha": sha,
        "repository": repo.full_name,
        "repository_id": str(repo.id),
        "repository_owner": repo.owner,
        "repository_owner_id": str(owner.id if owner else 0),
        "repository_visibility": "private" if repo.private else "public",
        "actor": actor,
        "actor_id": str(who.id if who else 0),
        "event_name": event_name,
        "workflow": workflow_name,
        "workflow_ref": workflow_ref,
        "workflow_sha": sha,
        "job_workflow_ref": job_workflow_ref or workflow_ref,
        "job_workflow_sha": sha,
        "run_id": run_id,
        "run_number": "1",
        "run_attempt": "1",
        "runner_environment": "github-hosted",
        "head_ref": head_ref,
        "base_ref": base_ref,
    }
    if environment:
        claims["environment"] = environment
    claims["sub"] = subject(gh, repo, claims)
    return claims


def register_job(gh: GitHub, claims: dict[str, Any]) -> str:
    """Remember a job's claims; return the ACTIONS_ID_TOKEN_REQUEST_URL its steps call."""
    request = secrets.token_urlsafe(24)
    with gh.state.lock:
        gh.actions_oidc.requests[request] = dict(claims)
    return f"{gh.base_url}/_sandbox/actions/id-token/{request}?api-version=2.0"


def sign(gh: GitHub, claims: dict[str, Any], audience: str) -> str:
    import jwt

    issued = int(now())
    body = {
        **claims,
        "aud": audience,
        "jti": str(uuid.uuid4()),
        "nbf": issued - 5,
        "iat": issued,
        "exp": issued + 300,
    }
    return jwt.encode(
        body,
        gh.actions_oidc.private_key(),
        algorithm="RS256",
        headers={"kid": gh.actions_oidc.kid, "typ": "JWT"},
    )


def jwks(gh: GitHub) -> dict[str, Any]:
    import json

    from jwt.algorithms import RSAAlgorithm

    public = gh.actions_oidc.private_key().public_key()
    key = json.loads(RSAAlgorithm.to_jwk(public))
    return {"keys": [{**key, "kid": gh.actions_oidc.kid, "use": "sig", "alg": "RS256"}]}


# -- REST --------------------------------------------------------------------------------------
def settings_json(gh: GitHub, repo: Repo) -> dict[str, Any]:
    s = gh.actions_oidc.settings(repo)
    out: dict[str, Any] = {"use_default": s.use_default}
    if not s.use_default:
        org_keys = gh.actions_oidc.orgs_template.get(repo.owner.lower(), [])
        out["include_claim_keys"] = list(s.include_claim_keys or org_keys)
    out["use_immutable_subject"] = immutable(gh, repo)
    out["sub_claim_prefix"] = f"repo:{repo_part(gh, repo)}"
    return out


def customization(body: dict[str, Any]) -> tuple[list[str] | None, bool | None]:
    """The ``include_claim_keys`` and ``use_immutable_subject`` of a customization PUT
    (repository or organization), each None when absent; 422 as GitHub when malformed."""
    keys = body.get("include_claim_keys")
    if keys is not None and (
        not isinstance(keys, list)
        or not all(isinstance(k, str) and CLAIM_KEY.fullmatch(k) for k in keys)
        or len(set(keys)) != len(keys)
    ):
        raise ApiError(422, "Invalid request: include_claim_keys must be unique claim keys")
    chosen = body.get("use_immutable_subject")
    if chosen is not None and not isinstance(chosen, bool):
        raise ApiError(422, "Invalid request: use_immutable_subject must be a boolean")
    return keys, chosen


def register(router: Router) -> None:
    def repo_of(req: Request) -> Repo:
        return req.gh.get_repo(req.params["owner"], req.params["repo"], req.user)

    path = R + "/actions/oidc/customization/sub"

    @router.add("GET", path, "actions/get-custom-oidc-sub-claim-for-repo")
    def get_sub(req: Request) -> Response:
        repo = repo_of(req)
        return Response(200, settings_json(req.gh, repo))

    @router.add("PUT", path, "actions/set-custom-oidc-sub-claim-for-repo")
    def put_sub(req: Request) -> Response:
        repo = repo_of(req)
        req.gh.require(repo, req.user, "admin")
        body = req.json()
        use_default = body.get("use_default")
        if not isinstance(use_default, bool):
            raise ApiError(422, "Invalid request: use_default is required and must be a boolean")
        keys, chosen = customization(body)
        with req.gh.state.lock:
            s = req.gh.actions_oidc.settings(repo)
            s.use_default = use_default
            if not use_default:  # without keys: the organization's template
                s.include_claim_keys = list(keys or [])
            if chosen is not None:
                s.use_immutable_subject = chosen
        return Response(201, {})

    org_path = "/orgs/{org}/actions/oidc/customization/sub"

    def org_of(req: Request) -> str:
        org = req.gh.state.orgs.get(req.params["org"].lower())
        if org is None:
            raise not_found()
        return org.user.login.lower()

    @router.add("GET", org_path, "oidc/get-oidc-custom-sub-template-for-org")
    def get_org_sub(req: Request) -> Response:
        org = org_of(req)
        req.require_user()
        oidc = req.gh.actions_oidc
        out: dict[str, Any] = {"include_claim_keys": list(oidc.orgs_template.get(org, []))}
        if org in oidc.orgs_immutable:
            out["use_immutable_subject"] = oidc.orgs_immutable[org]
        return Response(200, out)

    @router.add("PUT", org_path, "oidc/update-oidc-custom-sub-template-for-org")
    def put_org_sub(req: Request) -> Response:
        org = org_of(req)
        user = req.require_user()
        if req.gh.state.orgs[org].members.get(user.lower()) != "admin":
            raise ApiError(403, "Must have admin rights to Repository.")
        body = req.json()
        keys, chosen = customization(body)
        with req.gh.state.lock:
            if keys is not None:
                req.gh.actions_oidc.orgs_template[org] = list(keys)
            if chosen is not None:
                req.gh.actions_oidc.orgs_immutable[org] = chosen
        return Response(201, {})


def register_sandbox(router: Router) -> None:
    @router.add("GET", "/_sandbox/actions/id-token/{request}", "_sandbox/id-token")
    def id_token(req: Request) -> Response:
        req.require_user()  # the job's token, as ACTIONS_ID_TOKEN_REQUEST_TOKEN
        claims = req.gh.actions_oidc.requests.get(req.params["request"])
        if claims is None:
            raise not_found()
        audience = req.query.get("audience") or f"https://github.com/{claims['repository_owner']}"
        return Response(200, {"count": 1, "value": sign(req.gh, claims, audience)})

    @router.add("GET", "/_sandbox/actions/oidc/jwks", "_sandbox/oidc-jwks")
    def keys(req: Request) -> Response:
        return Response(200, jwks(req.gh))
