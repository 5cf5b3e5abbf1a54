"""Stand-in for `pip install ...` under the local runner's `pip_install="skip-installed"`.

Installing into the project's own venv would replace its editable install and needs the
network; instead each requirement must already be installed, else this fails like pip would.
A local path (`.`) means the project at that path, or the runner's configured project when
the path holds none (the stand-in repository carries only pools and requests); a `setup.py`
there is executed, as setuptools' build backend would.
Runs as a script: `python pipskip.py PROJECT ARGS...` where ARGS are pip's.
"""

import importlib.metadata as md
import re
import subprocess
import sys
import tomllib
from pathlib import Path

VALUE_OPTIONS = {"-i", "--index-url", "--extra-index-url", "-f", "--find-links", "-t", "--target"}


def main(argv: list[str]) -> int:
    project, args = argv[0], argv[1:]
    if "install" not in args:
        print("pipskip: only `pip install` is handled", file=sys.stderr)
        return 2
    args = args[args.index("install") + 1 :]
    wanted: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        if arg in ("-r", "--requirement", "-c", "--constraint"):
            print(f"pipskip: {arg} is not supported when pip installs are skipped", file=sys.stderr)
            return 2
        if arg in VALUE_OPTIONS:
            i += 2
            continue
        if arg in ("-e", "--editable"):
            i += 1
            arg = args[i] if i < len(args) else "."
        elif arg.startswith("-"):
            i += 1
            continue
        if arg.startswith((".", "/")):
            if (Path(arg) / "setup.py").is_file():
                # setuptools' build backend executes setup.py to build the project: so does
                # this stand-in, so a workflow installing a tree that has one runs it.
                subprocess.run([sys.executable, "setup.py", "--name"], cwd=arg, check=False)
            pyproject = Path(arg) / "pyproject.toml"
            name = project
            if pyproject.is_file():
                name = tomllib.loads(pyproject.read_text()).get("project", {}).get("name", name)
            wanted.append(name)
        else:
            match = re.match(r"[A-Za-z0-9._-]+", arg)
            wanted.append(match.group(0) if match else arg)
        i += 1
    for name in wanted:
        try:
            version = md.version(name)
        except md.PackageNotFoundError:
            print(f"pipskip: {name} is not installed in {sys.prefix}", file=sys.stderr)
            return 1
        print(f"pip install skipped by the local runner: {name} {version} is already installed")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
