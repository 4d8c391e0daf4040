"""The ``infergy`` command line: one module per command group; this one builds the parser and runs a command."""

from __future__ import annotations

import argparse
import sys
from typing import Sequence

from . import answers, data, fit, paper, report
from .options import compile_cache

__all__ = ["main", "build_parser"]


class _Parser(argparse.ArgumentParser):
    """Bad flags: one line naming the problem, exit code 2 (no usage dump)."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    from .. import __version__

    parser = _Parser(prog="infergy", description="Energy per LLM query, with calibrated uncertainty.")
    parser.add_argument("--version", action="version", version=f"infergy {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for register in (paper.register_replicate, data.register, fit.register_fit, fit.register_update, paper.register_compare,
                     fit.register_cv, fit.register_check, answers.register, report.register):
        register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        compile_cache()
        return args.func(args)
    except (ValueError, FileNotFoundError) as exc:  # bad input: one clear line, no traceback
        print(f"infergy: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
