"""Local stand-in for the parts of GitHub's REST API that launcher's jobs use.

See :mod:`launcher.sandbox` for an overview. Public entry point: :class:`GitHubSandbox`.
"""

from launcher.sandbox.github.events import Event
from launcher.sandbox.github.observe import Fault, LoggedRequest
from launcher.sandbox.github.sandbox import GitHubSandbox

__all__ = ["Event", "Fault", "GitHubSandbox", "LoggedRequest"]
