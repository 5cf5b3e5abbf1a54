"""Pull request, review and review-request endpoints."""

from __future__ import annotations

from launcher.sandbox.github import reviews
from launcher.sandbox.github.api_git import R, repo_of
from launcher.sandbox.github.http import ApiError, Request, Response, Router, not_found, validation
from launcher.sandbox.github.state import Issue, Repo


def pull_of(req: Request, repo: Repo) -> Issue:
    return req.gh.get_pull(repo, req.int_param("pull_number"))


def register(router: Router) -> None:
    P = f"{R}/pulls/{{pull_number}}"

    @router.add("GET", f"{R}/pulls", "pulls/list")
    def list_pulls(req: Request) -> Response:
        repo = repo_of(req)
        q = req.query
        state = q.get("state", "open")
        if state not in ("open", "closed", "all"):
            raise validation(resource="PullRequest", field="state", code="invalid")
        head = q.get("head")
        if head and ":" in head:
            owner, _, head = head.partition(":")
            if owner.lower() != repo.owner.lower():
                head = "\0"  # a fork we do not have: nothing matches
        items = []
        for issue in repo.pulls():
            pr = issue.pull
            assert pr is not None
            if state != "all" and issue.state != state:
                continue
            if head and pr.head_ref != head:
                continue
            if q.get("base") and pr.base_ref != q["base"]:
                continue
            items.append(issue)
        sort = q.get("sort", "created")
        key = {"updated": lambda i: i.updated_at}.get(sort, lambda i: (i.created_at, i.number))
        items.sort(key=key, reverse=q.get("direction", "desc") == "desc")
        return req.paginate([req.gh.shapes.pull(repo, i) for i in items])

    @router.add("POST", f"{R}/pulls", "pulls/create")
    def create_pull(req: Request) -> Response:
        repo = repo_of(req)
        actor = req.require_user()
        body = req.json()
        issue = req.gh.open_pull(
            repo,
            actor,
            body.get("title") or "",
            body.get("head") or "",
            body.get("base") or "",
            body.get("body"),
            bool(body.get("draft", False)),
            bool(body.get("maintainer_can_modify", False)),
        )
        return Response(
            201,
            req.gh.pull_json(repo, issue),
            {"Location": f"{req.base_url}/repos/{repo.full_name}/pulls/{issue.number}"},
        )

    @router.add("GET", P, "pulls/get")
    def get_pull(req: Request) -> Response:
        repo = repo_of(req)
        return Response(200, req.gh.pull_json(repo, pull_of(req, repo)))

    @router.add("PATCH", P, "pulls/update")
    def update_pull(req: Request) -> Response:
        repo = repo_of(req)
        issue = pull_of(req, repo)
        req.gh.update_pull(repo, issue, req.require_user(), req.json())
        return Response(200, req.gh.pull_json(repo, issue))

    @router.add("GET", f"{P}/merge", "pulls/check-if-merged")
    def check_merged(req: Request) -> Response:
        repo = repo_of(req)
        issue = pull_of(req, repo)
        assert issue.pull is not None
        if not issue.pull.merged:
            raise not_found()
        return Response(204)

    @router.add("PUT", f"{P}/merge", "pulls/merge")
    def merge(req: Request) -> Response:
        repo = repo_of(req)
        issue = pull_of(req, repo)
        body = req.json()
        sha = req.gh.merge_pull(
            repo,
            issue,
            req.require_user(),
            body.get("sha"),
            body.get("merge_method") or "merge",
            body.get("commit_title"),
            body.get("commit_message"),
        )
        return Response(
            200, {"sha": sha, "merged": True, "message": "Pull Request successfully merged"}
        )

    @router.add("GET", f"{P}/files", "pulls/list-files")
    def list_files(req: Request) -> Response:
        repo = repo_of(req)
        issue = pull_of(req, repo)
        files, _ = req.gh.pull_diff(repo, issue)
        head = repo.head_sha(issue)
        shapes = req.gh.shapes
        return req.paginate(
            files[:3000], lambda chunk: [shapes.diff_entry(repo, head, f) for f in chunk]
        )

    @router.add("GET", f"{P}/commits", "pulls/list-commits")
    def list_commits(req: Request) -> Response:
        repo = repo_of(req)
        issue = pull_of(req, repo)
        shas = repo.git.rev_list(repo.base_sha(issue), repo.head_sha(issue))
        shapes = req.gh.shapes
        return req.paginate(
            shas[:250],
            lambda chunk: [shapes.commit(repo, repo.git.commit(s)) for s in chunk],  # type: ignore[arg-type]
        )

    # -- reviews -------------------------------------------------------------------------
    @router.add("GET", f"{P}/reviews", "pulls/list-reviews")
    def list_reviews(req: Request) -> Response:
        repo = repo_of(req)
        issue = pull_of(req, repo)
        reviews = [
            r
            for r in repo.reviews.get(issue.number, [])
            if r.state != "PENDING" or (req.user and r.user.lower() == req.user.lower())
        ]
        shapes = req.gh.shapes
        return req.paginate(reviews, lambda chunk: [shapes.review(repo, r) for r in chunk])

    @router.add("POST", f"{P}/reviews", "pulls/create-review")
    def create_review(req: Request) -> Response:
        repo = repo_of(req)
        issue = pull_of(req, repo)
        body = req.json()
        review = req.gh.submit_review(
            repo,
            issue,
            req.require_user(),
            body.get("event"),
            body.get("body"),
            body.get("commit_id"),
        )
        return Response(200, req.gh.shapes.review(repo, review))

    @router.add("GET", f"{P}/reviews/{{review_id}}", "pulls/get-review")
    def get_review(req: Request) -> Response:
        repo = repo_of(req)
        issue = pull_of(req, repo)
        review = reviews.find(req.gh, repo, issue, req.int_param("review_id"), req.user)
        return Response(200, req.gh.shapes.review(repo, review))

    @router.add("PUT", f"{P}/reviews/{{review_id}}/dismissals", "pulls/dismiss-review")
    def dismiss_review(req: Request) -> Response:
        repo = repo_of(req)
        issue = pull_of(req, repo)
        review = req.gh.get_review(repo, issue, req.int_param("review_id"))
        body = req.json()
        req.gh.dismiss_review(repo, issue, review, req.require_user(), body.get("message"))
        return Response(200, req.gh.shapes.review(repo, review))

    # -- requested reviewers --------------------------------------------------------------
    def requested(req: Request, repo: Repo, issue: Issue) -> dict[str, list[object]]:
        pr = issue.pull
        assert pr is not None
        org = req.gh.state.orgs.get(repo.owner.lower())
        return {
            "users": [req.gh.shapes.simple_user(u) for u in pr.requested_users],
            "teams": [req.gh.shapes.team(org.teams[t]) for t in pr.requested_teams] if org else [],
        }

    @router.add("GET", f"{P}/requested_reviewers", "pulls/list-requested-reviewers")
    def list_requested(req: Request) -> Response:
        repo = repo_of(req)
        issue = pull_of(req, repo)
        return Response(200, requested(req, repo, issue))

    def change_requested(req: Request, remove: bool) -> Response:
        repo = repo_of(req)
        issue = pull_of(req, repo)
        body = req.json()
        users, teams = body.get("reviewers") or [], body.get("team_reviewers") or []
        if not isinstance(users, list) or not isinstance(teams, list):
            raise validation(resource="PullRequest", field="reviewers", code="invalid")
        if not remove and not users and not teams:
            raise ApiError(422, 'Invalid request.\n\nNo subschema in "anyOf" matched.')
        req.gh.request_reviewers(repo, issue, req.require_user(), users, teams, remove)
        if remove:
            return Response(200, req.gh.shapes.pull(repo, issue))
        return Response(201, req.gh.shapes.pull(repo, issue))

    @router.add("POST", f"{P}/requested_reviewers", "pulls/request-reviewers")
    def add_requested(req: Request) -> Response:
        return change_requested(req, remove=False)

    @router.add("DELETE", f"{P}/requested_reviewers", "pulls/remove-requested-reviewers")
    def remove_requested(req: Request) -> Response:
        return change_requested(req, remove=True)
