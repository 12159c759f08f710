"""`longlm package DIR`: build the wheel and pinned requirements remote Beam workers install."""

from __future__ import annotations

import argparse
import os
import sys

from pipelines.launch.packaging import build_wheel, write_requirements


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "package",
        help="build the wheel and pinned requirements that remote Beam workers install",
        description="Write DIR/longlm_pipeline-VERSION-py3-none-any.whl and DIR/requirements.txt, and print the "
        "Beam flags that ship them. `longlm build` does this by itself for remote runners; use this to "
        "build once, or to bake both into a custom worker container.",
    )
    p.add_argument("dir", metavar="DIR", help="output directory (local)")
    p.set_defaults(func=run)


def run(args) -> int:
    try:
        wheel = build_wheel(args.dir)
    except RuntimeError as e:
        print(f"longlm package: {e}", file=sys.stderr)
        return 2
    requirements = write_requirements(os.path.join(args.dir, "requirements.txt"))
    print(f"--extra_package={wheel} --requirements_file={requirements}")
    return 0
