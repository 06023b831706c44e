"""`tule` command: `serve` runs the server, `coverage` writes the operation coverage table."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tule import __version__


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tule", description="The AWS ML stack, for real, locally."
    )
    parser.add_argument("--version", action="version", version=f"tule {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the AWS-compatible server")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=4566)
    serve.add_argument(
        "--data-dir", type=Path, default=None, help="default: $TULE_DATA_DIR or ./.tule"
    )
    serve.add_argument("--auth", action="store_true", help="require valid SigV4 signatures")
    serve.add_argument(
        "--keys-file", type=Path, default=None, help="access keys: 'ID SECRET' lines"
    )
    serve.add_argument("--fsync", choices=["on", "off"], default="on")
    serve.add_argument("--kinesis-limits", choices=["on", "off"], default="on")
    serve.add_argument("--log-level", default="info")

    cov = sub.add_parser("coverage", help="write the table of implemented AWS operations")
    cov.add_argument("--write", type=Path, default=None, help="file to write (default: stdout)")
    cov.add_argument("--readme", type=Path, default=None, help="README whose summary to refresh")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "serve":
        from tule.cli.serve import serve

        return serve(args)
    if args.command == "coverage":
        from tule.cli.coverage import coverage_markdown, refresh_readme

        text = coverage_markdown()
        if args.write:
            args.write.write_text(text)
        else:
            sys.stdout.write(text)
        if args.readme:
            refresh_readme(args.readme)
        return 0
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
