"""The Dockerfile's steps, without a container engine (none runs here): its pinned
dependencies installed into a fresh virtual environment by its own `RUN` command, launcher's
package copied as its `COPY` says, and its `ENTRYPOINT` started with its `ENV` and nothing
else, answering a signed delivery with a verdict and its `HEALTHCHECK` with success. What
stays untested is the base image and the container runtime themselves."""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from launcher.sandbox.serve_process import ServeProcess
from tests.jobs.conftest import World, request
from tests.serve.conftest import EVENTS, SECRET, Served

ROOT = Path(__file__).parents[2]
WEB = "deployments/dev/web.yaml"


def instructions(dockerfile: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order, continuation lines joined, comments left out."""
    out: list[tuple[str, str]] = []
    pending = ""
    for raw in dockerfile.read_text().splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line, pending = pending + line, ""
        keyword, _, args = line.partition(" ")
        out.append((keyword.upper(), args.strip()))
    return out


def env_of(steps: list[tuple[str, str]]) -> dict[str, str]:
    env: dict[str, str] = {}
    for keyword, args in steps:
        if keyword == "ENV":
            env.update(dict(pair.split("=", 1) for pair in shlex.split(args)))
    return env


def one(steps: list[tuple[str, str]], keyword: str) -> str:
    found = [args for k, args in steps if k == keyword]
    assert len(found) == 1, f"the Dockerfile has {len(found)} {keyword} instructions"
    return found[0]


def pinned(requirements: Path) -> dict[str, str]:
    """name (normalised) -> the requirement line, for `name==version --hash=...` lines."""
    out = {}
    for line in requirements.read_text().splitlines():
        if not line or line.startswith(("#", " ")):
            continue
        name = re.split(r"[=<>!~\[; ]", line, maxsplit=1)[0]
        out[re.sub(r"[-_.]+", "-", name).lower()] = line
    return out


def test_the_image_pins_every_runtime_dependency_and_runs_as_a_non_root_user() -> None:
    steps = instructions(ROOT / "Dockerfile")
    user = one(steps, "USER").split(":")[0]
    assert user.isdigit() and int(user) != 0, "the service must not run as root"
    install = one(steps, "RUN")
    assert "--require-hashes" in install and "--only-binary=:all:" in install
    requirements = pinned(ROOT / "requirements-serve.txt")
    for line in requirements.values():
        assert "==" in line and "--hash=sha256:" in line, f"not pinned with a hash: {line}"
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    needed = [*project["dependencies"], *project["optional-dependencies"]["serve"]]
    for dependency in needed:
        name = re.sub(r"[-_.]+", "-", re.split(r"[=<>!~\[; ]", dependency)[0]).lower()
        assert name in requirements, f"{dependency} (pyproject.toml) is not pinned for the image"
    assert json.loads(one(steps, "ENTRYPOINT")) == ["python", "-m", "launcher", "serve"]


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(the image's python, its root): a fresh virtual environment stands for the base
    image's interpreter; the Dockerfile's COPY and RUN steps fill the tree under the root."""
    steps = instructions(ROOT / "Dockerfile")
    base = tmp_path_factory.mktemp("image")
    subprocess.run([sys.executable, "-m", "venv", str(base / "venv")], check=True)
    python = base / "venv" / "bin" / "python"
    workdir = base / one(steps, "WORKDIR").lstrip("/")
    workdir.mkdir(parents=True)
    for keyword, args in steps:
        if keyword == "COPY":
            source, target = shlex.split(args)
            destination = workdir / target if not target.startswith("/") else base / target[1:]
            if (ROOT / source).is_dir():
                shutil.copytree(
                    ROOT / source, destination, ignore=shutil.ignore_patterns("__pycache__")
                )
            else:
                shutil.copy(ROOT / source, destination)
        elif keyword == "RUN":
            # the install; the `useradd` after it needs root and only makes the USER
            install = shlex.split(args.split("&&")[0])
            assert install[0] == "python"
            env = {"PATH": "/usr/bin:/bin", "HOME": str(base), **env_of(steps)}
            done = subprocess.run(
                [str(python), *install[1:]], cwd=workdir, env=env, capture_output=True, text=True
            )
            assert done.returncode == 0, done.stdout + done.stderr
    return python, base


def test_the_images_entrypoint_answers_a_delivery_and_its_healthcheck(
    image: tuple[Path, Path], world: World
) -> None:
    python, root = image
    steps = instructions(ROOT / "Dockerfile")
    env = env_of(steps)
    # the image's own environment, its paths under the image's root (PYTHONPATH: launcher
    # run in place), and its listening address overridden as `docker run -e` would (a free
    # loopback port here)
    env["PYTHONPATH"] = str(root / env["PYTHONPATH"].lstrip("/"))
    del env["LAUNCHER_SERVE_HOST"], env["LAUNCHER_SERVE_PORT"]
    entrypoint = json.loads(one(steps, "ENTRYPOINT"))
    replica = ServeProcess.start(
        world.sb.url, world.app, world.tmp, SECRET, env, [str(python), *entrypoint[1:]]
    )
    served = Served(world, [replica])
    try:
        world.sb.set_app_webhook(world.app, replica.url + "/webhook", SECRET, events=EVENTS)
        number = world.open_pr("bob", {WEB: request()})
        world.review("dave", number)
        served.settle()
        assert world.status(number) == ("success", "1 request may launch")
        # the image's interpreter and packages, not the test's (no test dependency there)
        assert subprocess.run([str(python), "-c", "import pytest"], capture_output=True).returncode
        probe = json.loads(one(steps, "HEALTHCHECK").split("CMD", 1)[1])
        assert probe[:2] == ["python", "-c"]
        port = replica.url.rsplit(":", 1)[1]
        script = probe[2].replace("127.0.0.1:8080", f"127.0.0.1:{port}")
        assert script != probe[2], "the HEALTHCHECK no longer probes the service's port"
        done = subprocess.run([str(python), "-c", script], timeout=30)
        assert done.returncode == 0
    finally:
        served.stop()
