"""What the adapter tells of a failed call: refused access, or a failure worth retrying."""

from __future__ import annotations

import pytest
from github import GithubException, RateLimitExceededException

from launcher.adapters.github import GitHubError, _wrap


@pytest.mark.parametrize(
    ("raised", "refused"),
    [
        (GithubException(403, {"message": "Resource not accessible by integration"}), True),
        (GithubException(404, {"message": "Not Found"}), True),
        (GithubException(401, {"message": "Bad credentials"}), True),
        (RateLimitExceededException(403, {"message": "API rate limit exceeded"}), False),
        (RateLimitExceededException(429, {"message": "secondary rate limit"}), False),
        (GithubException(502, {"message": "Bad Gateway"}), False),
        (ConnectionError("reset"), False),
    ],
)
def test_refused_access_is_told_from_a_failure_worth_retrying(
    raised: Exception, refused: bool
) -> None:
    @_wrap("reading it")
    def call() -> None:
        raise raised

    with pytest.raises(GitHubError) as caught:
        call()
    assert caught.value.refused is refused
    assert str(caught.value).startswith("reading it: ")
