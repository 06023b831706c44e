"""`python -m tule.algorithms.container train|serve`: the container's two entry points.

    train --algorithm <name or image URI> [--workspace /opt/ml] [--version 1.7-1]
    serve --algorithm <name or image URI> [--model-dir /opt/ml/model] [--port 8080]

The algorithm may also come from the `SAGEMAKER_ALGORITHM` environment variable (a name or an
image URI), so a runtime can start every job the same way.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tule.algorithms.container")
    sub = parser.add_subparsers(dest="command", required=True)
    for command in ("train", "serve"):
        p = sub.add_parser(command)
        p.add_argument("--algorithm", default=os.environ.get("SAGEMAKER_ALGORITHM"))
        p.add_argument("--version", default=None)
    sub.choices["train"].add_argument("--workspace", type=Path, default=Path("/opt/ml"))
    serve_parser = sub.choices["serve"]
    serve_parser.add_argument("--model-dir", type=Path, default=Path("/opt/ml/model"))
    serve_parser.add_argument("--host", default="0.0.0.0")
    serve_parser.add_argument(
        "--port", type=int, default=int(os.environ.get("SAGEMAKER_BIND_TO_PORT", 8080))
    )
    args = parser.parse_args(argv)
    if not args.algorithm:
        parser.error("--algorithm (or SAGEMAKER_ALGORITHM) is required")
    if args.command == "train":
        from tule.algorithms.container.train import run_training

        return run_training(args.workspace, args.algorithm, version=args.version)
    from tule.algorithms.container.serve import serve

    serve(args.model_dir, args.algorithm, host=args.host, port=args.port, version=args.version)
    return 0


if __name__ == "__main__":
    sys.exit(main())
