"""Review endpoints beyond create/get/dismiss: update, submit and delete a pending review."""

from __future__ import annotations

from launcher.sandbox.github import reviews
from launcher.sandbox.github.api_git import R, repo_of
from launcher.sandbox.github.api_pulls import pull_of
from launcher.sandbox.github.http import Request, Response, Router


def register(router: Router) -> None:
    RV = f"{R}/pulls/{{pull_number}}/reviews/{{review_id}}"

    @router.add("PUT", RV, "pulls/update-review")
    def update_review(req: Request) -> Response:
        repo = repo_of(req)
        issue = pull_of(req, repo)
        actor = req.require_user()
        review = reviews.find(req.gh, repo, issue, req.int_param("review_id"), actor)
        reviews.update(req.gh, repo, issue, review, actor, req.json().get("body"))  # type: ignore[arg-type]
        return Response(200, req.gh.shapes.review(repo, review))

    @router.add("POST", f"{RV}/events", "pulls/submit-review")
    def submit_review(req: Request) -> Response:
        repo = repo_of(req)
        issue = pull_of(req, repo)
        actor = req.require_user()
        review = reviews.find(req.gh, repo, issue, req.int_param("review_id"), actor)
        body = req.json()
        reviews.submit(req.gh, repo, issue, review, actor, body.get("event"), body.get("body"))
        return Response(200, req.gh.shapes.review(repo, review))

    @router.add("DELETE", RV, "pulls/delete-pending-review")
    def delete_review(req: Request) -> Response:
        repo = repo_of(req)
        issue = pull_of(req, repo)
        actor = req.require_user()
        review = reviews.find(req.gh, repo, issue, req.int_param("review_id"), actor)
        reviews.delete(req.gh, repo, issue, review, actor)
        return Response(200, req.gh.shapes.review(repo, review))
