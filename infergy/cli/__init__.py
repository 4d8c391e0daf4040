"""The ``infergy`` command line: one module per command group; this one builds the parser and runs a command."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Sequence

from . import answers, data, fit, impacts, paper, report, serve
from . import options
from .options import compile_cache

__all__ = ["main", "build_parser"]

#: Set to 1 for the traceback of an internal error (the command line shows one line).
DEBUG_VAR = "INFERGY_DEBUG"


class _Parser(argparse.ArgumentParser):
    """Bad flags: one line naming the problem, exit code 2 (no usage dump). Flags are never abbreviated: a
    shortened ``--out`` must not become ``--output-tokens``."""

    on_error = None  # a callable taking the message instead of exiting (``infergy serve``'s requests)

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str):
        if self.on_error is not None:
            self.on_error(f"{self.prog}: error: {message}")
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser(on_error=None) -> argparse.ArgumentParser:
    """The command line's parser; ``on_error(message)``, when given, is called (and must raise) where the parser
    would print the message and exit."""
    from .. import __version__

    parser_class = _Parser if on_error is None else type("_RequestParser", (_Parser,), {"on_error": staticmethod(on_error)})
    parser = parser_class(prog="infergy", description="Energy per LLM query, with calibrated uncertainty.")
    parser.add_argument("--version", action="version", version=f"infergy {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for register in (paper.register_replicate, data.register, fit.register_fit, fit.register_update, paper.register_compare,
                     fit.register_cv, fit.register_check, answers.register, impacts.register, report.register, serve.register):
        register(sub)
    return parser


def _subparser(parser: argparse.ArgumentParser, args: argparse.Namespace) -> argparse.ArgumentParser:
    """The parser of the command given (so its errors name it, as argparse's own do)."""
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return action.choices.get(getattr(args, "command", None), parser)


def _stop_on_interrupt() -> None:
    """Ctrl-C (or SIGTERM) ends the command within a moment, even inside a long JAX computation: the signals are
    blocked in every thread and a waiting thread takes them (the main thread may be in compiled code that Python's
    own handler would wait for). Files still being written are removed; finished ones were renamed into place
    whole, so nothing is left half-written."""
    import signal
    import threading

    stops = {signal.SIGINT, signal.SIGTERM}
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "pthread_sigmask"):
        return
    signal.pthread_sigmask(signal.SIG_BLOCK, stops)

    def wait() -> None:
        signum = signal.sigwait(stops)
        from ..inference.files import discard_pending

        discard_pending()
        name = "interrupted" if signum == signal.SIGINT else "terminated"
        os.write(2, f"infergy: {name}: stopped; files being written were removed, none is left half-written\n"
                 .encode())
        os._exit(128 + signum)

    threading.Thread(target=wait, name="infergy-interrupt", daemon=True).start()


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    options.check_extremes(_subparser(parser, args), args)
    options.check_samples(_subparser(parser, args), args)
    if argv is None:  # the command line itself, not a caller's process (a test, a notebook)
        _stop_on_interrupt()
    try:
        compile_cache()
        return args.func(args)
    except (ValueError, FileNotFoundError) as exc:  # bad input: one clear line, no traceback
        print(f"infergy: error: {exc}", file=sys.stderr)
        return 2
    except MemoryError:
        print("infergy: error: out of memory: fewer samples (--samples) or a machine with more memory",
              file=sys.stderr)
        return 1
    except BrokenPipeError:  # the reader stopped early (`| head`): not an error of infergy's; say nothing
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # Python's own flush at exit would raise again
        return 1
    except Exception as exc:  # a fault of infergy's, not of the input: one line, the traceback on request
        if os.environ.get(DEBUG_VAR):
            raise
        first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
        print(f"infergy: internal error: {type(exc).__name__}: {first} (please report it; {DEBUG_VAR}=1 shows "
              "the traceback)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
