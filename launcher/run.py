"""Run launcher from its package directory alone: `python -I path/to/launcher/run.py ARGS`.

Why: the privileged workflows (gate, launch, sweep, report) must not execute anything of the
repository's but launcher's own code, so they neither `pip install .` (setuptools would run a
`setup.py`; `python -m pip` in the checkout would run a `pip/` there) nor put the checkout on
the path (a `sitecustomize.py`, `setuptools/` or `yaml/` beside launcher would shadow the real
ones). They copy this package directory out of the default branch's checkout and run this file
with `python -I`, which ignores PYTHON* variables, the user site and the script's directory;
only the directory holding this package is then added to the path.
"""

import sys
from pathlib import Path

if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from launcher.cli import main

    sys.exit(main())
