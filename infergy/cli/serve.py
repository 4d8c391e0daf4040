"""``infergy serve``: the answers over HTTP and the calculator page."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import options as opt


def _port(text: str) -> int:
    value = opt._whole(text, 0, "0-65535")
    if value > 65535:
        raise argparse.ArgumentTypeError(f"must be 0-65535, got {value}")
    return value


def _warm(text: str) -> tuple[str, ...]:
    from ..serve import SERVED_COMMANDS

    return opt.name_list(text, SERVED_COMMANDS, "command")


def register(sub) -> None:
    sp = sub.add_parser("serve", help="the answers over HTTP, and a calculator page in the browser",
                        description="Starts an HTTP server: /api/estimate, /api/pathways, /api/fleet and /api/regions "
                        "(GET with query parameters named as the commands' flags, or POST a JSON body; the answer "
                        "is the command's --json for the same query and seed), OpenAPI at /docs, /health, and the "
                        "calculator at /. The posterior is opened and the propagation compiled once, at start.")
    sp.add_argument("--host", default="127.0.0.1",
                    help="the address to listen on; 0.0.0.0 opens the server to the network [127.0.0.1: this machine "
                    "only]")
    sp.add_argument("--port", type=_port, default=8000, help="0 picks a free port [8000]")
    opt.add_posterior_option(sp)
    sp.add_argument("--data-add", type=Path, action="append", default=[], metavar="FILE",
                    help="the rows you added to the data when fitting --posterior (repeatable)")
    sp.add_argument("--warm", type=_warm, default=None, metavar="A,B,...",
                    help="commands answered once at start so their programs are compiled before the first request "
                    "[estimate,pathways,fleet,regions]; none starts fastest")
    opt.add_device_option(sp, "the answers")
    sp.set_defaults(func=_cmd_serve)


def _cmd_serve(args: argparse.Namespace) -> int:
    import socket

    import uvicorn

    from ..serve import SERVED_COMMANDS, create_app

    # the address is taken before the slow start, so a port in use is said at once
    family = socket.AF_INET6 if ":" in args.host else socket.AF_INET
    # proto=IPPROTO_TCP: asyncio turns Nagle off (TCP_NODELAY) only on sockets that say they are TCP; with it on, an
    # answer on a kept-alive connection would wait ~40 ms for the client's delayed ACK
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((args.host, args.port))
    except OSError as exc:
        sock.close()
        raise ValueError(f"cannot listen on {args.host}:{args.port}: {exc.strerror}") from None
    host, port = sock.getsockname()[:2]
    from ..devices import select_device

    choice = select_device(args.device, task="propagate")
    if choice.platform != "cpu" or args.device != "auto":
        print(f"infergy: {choice.line()}", file=sys.stderr)

    def log(line: str) -> None:
        print(f"infergy: {line}", file=sys.stderr, flush=True)

    app = create_app(args.posterior, data_add=tuple(args.data_add),
                     warm=SERVED_COMMANDS if args.warm is None else args.warm, log=log)
    reach = ("this machine only" if host in ("127.0.0.1", "::1", "localhost")
             else "every network this machine is on: anyone who can reach it can use it")
    url_host = f"[{host}]" if ":" in host else host
    log(f"serving on http://{url_host}:{port}/ ({reach}); API docs at /docs; Ctrl-C stops it")
    # the socket itself, not its descriptor (uvicorn takes a descriptor for a Unix socket's)
    uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False)).run(sockets=[sock])
    sock.close()
    return 0
