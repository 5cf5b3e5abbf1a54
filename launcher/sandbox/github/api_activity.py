"""Who did what, as GitHub records it: repository activity, issue events and timelines."""

from __future__ import annotations

from urllib.parse import urlencode

from launcher.sandbox.github import activity
from launcher.sandbox.github.api_git import R, repo_of
from launcher.sandbox.github.http import Request, Response, Router, not_found
from launcher.sandbox.github.state import now
from launcher.sandbox.github.timeline import issue_event, timeline_item


def register(router: Router) -> None:
    @router.add("GET", f"{R}/activity", "repos/list-activities")
    def list_activities(req: Request) -> Response:
        repo = repo_of(req)
        gh = req.gh

        def login_of(name: str) -> str | None:
            user = gh.state.user(name)
            return user.login if user else None

        entries = gh.activity.for_repo(repo)
        page, has_prev, has_next = activity.select(entries, req.query, now(), login_of)
        body = [activity.render(gh.shapes, repo, a) for a in page]
        links = []

        def url(key: str, value: str) -> str:
            q = [(k, v) for k, v in req.raw_query if k not in ("before", "after")]
            return f"<{req.base_url}{req.path}?{urlencode([*q, (key, value)])}>"

        if has_prev and page:
            links.append(f'{url("before", activity.cursor(page[0]))}; rel="prev"')
        if has_next and page:
            links.append(f'{url("after", activity.cursor(page[-1]))}; rel="next"')
        return Response(200, body, {"Link": ", ".join(links)} if links else {})

    @router.add("GET", f"{R}/issues/{{issue_number}}/events", "issues/list-events")
    def list_issue_events(req: Request) -> Response:
        repo = repo_of(req)
        issue = req.gh.get_issue(repo, req.int_param("issue_number"))
        records = req.gh.timeline.issue_events(repo, issue.number)
        shapes = req.gh.shapes
        return req.paginate(records, lambda chunk: [issue_event(shapes, repo, r) for r in chunk])

    @router.add("GET", f"{R}/issues/events", "issues/list-events-for-repo")
    def list_repo_events(req: Request) -> Response:
        repo = repo_of(req)
        records = list(reversed(req.gh.timeline.issue_events(repo)))
        shapes = req.gh.shapes
        return req.paginate(
            records,
            lambda chunk: [issue_event(shapes, repo, r, repo.issues[r.number]) for r in chunk],
        )

    @router.add("GET", f"{R}/issues/events/{{event_id}}", "issues/get-event")
    def get_event(req: Request) -> Response:
        repo = repo_of(req)
        rec = req.gh.timeline.get(repo, req.int_param("event_id"))
        if rec is None:
            raise not_found()
        return Response(200, issue_event(req.gh.shapes, repo, rec, repo.issues[rec.number]))

    @router.add("GET", f"{R}/issues/{{issue_number}}/timeline", "issues/list-events-for-timeline")
    def list_timeline(req: Request) -> Response:
        repo = repo_of(req)
        issue = req.gh.get_issue(repo, req.int_param("issue_number"))
        shapes = req.gh.shapes
        items = [
            item
            for r in req.gh.timeline.timeline(repo, issue.number)
            if (item := timeline_item(shapes, repo, r)) is not None
        ]
        return req.paginate(items)
