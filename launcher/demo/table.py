"""The demo's closing table: each request's state, read back from GitHub and EC2."""

from __future__ import annotations

from launcher.demo.stage import Stage

DEPLOYMENT_STATES = {
    "success": "RUNNING",
    "queued": "SCHEDULED",
    "pending": "SCHEDULED",
    "in_progress": "LAUNCHING",
}


def state_of(stage: Stage, key: str, number: int) -> tuple[str, str]:
    """(STATE, detail) from the request's newest deployment, or else its pull request."""
    repo = stage.repo("alice")
    deployments = sorted(repo.get_deployments(environment=key), key=lambda d: d.id)
    if deployments:
        statuses = list(deployments[-1].get_statuses())  # newest first
        if statuses:
            state, description = statuses[0].state, statuses[0].description or ""
            if state == "failure":
                return "FAILED", description
            if state == "inactive":
                return (
                    "EXPIRED" if description.startswith("expired") else "TERMINATED"
                ), description
            return DEPLOYMENT_STATES.get(state, state.upper()), description
    pull = repo.get_pull(number)
    labels = {label.name for label in pull.labels}
    check = stage.status(number)
    if "launch:rejected" in labels:
        return "REJECTED", check[1]
    if check[0] == "pending":
        return "PENDING_APPROVAL", check[1]
    if check[0] == "failure":
        return "REFUSED", check[1]
    return check[0].upper(), check[1]


def render(stage: Stage, pulls: dict[str, int]) -> str:
    rows: list[tuple[str, str, str, str]] = []
    for key, number in pulls.items():
        state, detail = state_of(stage, key, number)
        rows.append((key, f"#{number}", state, detail))
    widths = [max(len(row[i]) for row in rows + [_HEAD]) for i in range(3)]
    lines = []
    for row in [_HEAD, *rows]:
        lines.append(
            "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:3])) + "  " + row[3]
        )
    return "\n".join(lines)


_HEAD = ("request", "PR", "state", "details")


def states(stage: Stage, pulls: dict[str, int]) -> dict[str, str]:
    return {key: state_of(stage, key, number)[0] for key, number in pulls.items()}
