"""``infergy serve``: the answers over HTTP and the calculator page, from one process that opened the posterior and
compiled the propagation once.

A request is the command line's query in another form: ``GET /api/estimate?model=Llama%203.1%2070B&gpu=H100`` or a
``POST`` of ``{"model": "Llama 3.1 70B", "gpu": "H100"}``, with the fields named as the command's flags
(``--output-tokens`` -> ``output_tokens``). Both become that command's arguments and go through the command line's
own parser (its types, bounds and messages) and its own answer function, so a response is exactly what
``infergy <command> --json`` prints for the same query and seed. The request models are generated from the same
parser, so the OpenAPI schema at ``/openapi.json`` (Swagger UI at ``/docs``) cannot drift from the flags.

Answers are seeded, so each is kept by its full query (:data:`ANSWERS_KEPT` of them) and a repeated query is
answered from memory. One answer is computed at a time (JAX already spreads one over every core); the cache is
read without waiting. Nothing a request does writes to disk: the compile cache is read-only once the server has
warmed up.
"""


import argparse
import json
import math
import re
import threading
import time
from collections import OrderedDict
from pathlib import Path
from typing import Annotated, Any, Callable, Literal

__all__ = ["ANSWERS_KEPT", "MAX_BODY_BYTES", "MAX_SAMPLES", "SERVED_COMMANDS", "Answers", "RequestError",
           "create_app", "request_models"]

#: The commands served, each at ``/api/<command>``.
SERVED_COMMANDS = ("estimate", "pathways", "fleet", "regions")
#: Flags a request cannot set: what the server fixed at start (posterior, data, device) and what writes files or
#: chooses a text format.
NOT_FROM_REQUESTS = frozenset({"help", "posterior", "json", "device", "out", "batch", "batch_out", "data_add",
                               "force", "version"})
#: The most query-samples one request may ask for (about 3 s of one estimate on 2 CPU cores); the command line runs
#: more.
MAX_SAMPLES = 10_000_000
#: The largest request body accepted (HTTP 413 past it): a query is a few hundred bytes.
MAX_BODY_BYTES = 16 * 1024
#: The longest text a field may hold (a model name, a zone, a lever list).
MAX_TEXT = 200
#: Answers kept in memory by their full query.
ANSWERS_KEPT = 512


class RequestError(ValueError):
    """A request the command line would refuse: its message, one line, in the request's field names."""


def _fields_named(message: str) -> str:
    """A command-line message in a request's terms: ``--output-tokens`` -> ``output_tokens``, no usage hint."""
    message = re.sub(r"^infergy [a-z-]+: error: ", "", message.strip())
    message = re.sub(r" \(see infergy [a-z-]+ --help\)$", "", message)
    message = re.sub(r"^argument ", "", message)
    return re.sub(r"(?<![\w-])--(?:no-)?([a-z][a-z0-9-]*)", lambda m: m.group(1).replace("-", "_"),
                  message).splitlines()[0]


def _parser() -> argparse.ArgumentParser:
    """The command line's parser, raising :class:`RequestError` where the command line would exit."""
    from .cli import build_parser

    def refuse(message: str):
        raise RequestError(_fields_named(message))

    return build_parser(on_error=refuse)


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def _served_actions(sub: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    return {a.dest: a for a in sub._actions if a.option_strings and a.dest not in NOT_FROM_REQUESTS}


def _field_type(action: argparse.Action) -> Any:
    """The request type of a flag: from its argparse type (the parser checks the rest: bounds, wholeness)."""
    from annotated_types import Ge, Le
    from pydantic import AllowInfNan, StringConstraints

    from .cli import options as opt

    if isinstance(action, argparse._StoreTrueAction):
        return bool
    if isinstance(action, argparse.BooleanOptionalAction):
        return bool | None
    if action.choices is not None:
        kind = Literal[tuple(action.choices)]  # type: ignore[valid-type]
    elif action.type in (opt.positive_int, opt.seed, opt.year, int):
        kind = Annotated[int, Ge(-2**53), Le(2**53)]
    elif action.type in (opt.positive_float, opt.pue, opt.share, opt.grams_per_kwh, float):
        kind = Annotated[float, AllowInfNan(False)]
    elif action.type is opt.count:
        kind = Annotated[float, AllowInfNan(False), Le(MAX_SAMPLES)]
    else:  # names, lever lists, a paper version: text the parser reads
        kind = Annotated[str, StringConstraints(max_length=MAX_TEXT)]
    if isinstance(action, argparse._AppendAction):
        kind = list[kind]  # type: ignore[valid-type]
    return kind | None


def request_models(parser: argparse.ArgumentParser | None = None) -> dict[str, tuple[type, type]]:
    """For each served command, its request model for query parameters (text read as numbers) and for a JSON
    body (strict: a number must be a JSON number), generated from the command's flags."""
    from pydantic import ConfigDict, Field, create_model

    subs = _subparsers(parser or _parser())
    models = {}
    for command in SERVED_COMMANDS:
        sub = subs[command]
        fields = {}
        for dest, action in _served_actions(sub).items():
            kind = _field_type(action)
            default = False if isinstance(action, argparse._StoreTrueAction) else None
            described = (action.help or "").replace("%%", "%")
            if dest == "samples":
                described += f" (at most {MAX_SAMPLES:.0e} per request)"
            fields[dest] = (kind, Field(default, description=described))
        title = command.capitalize()
        doc = (sub.description or "").replace("%%", "%")
        lax = create_model(f"{title}Query", __config__=ConfigDict(extra="forbid"), __doc__=doc, **fields)
        strict = create_model(f"{title}Body", __config__=ConfigDict(extra="forbid", strict=True), __doc__=doc,
                              **fields)
        models[command] = (lax, strict)
    return models


def _text(value: Any) -> str:
    """A value as the command line would be given it: 300, not 300.0 (messages quote it); floats exactly."""
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 2**53 else repr(value)
    return str(value)


_COMPILED = {"programs": 0, "listening": False}


def _count_compiles() -> None:
    """Count the programs JAX lowers from here on (a new shape or a new function: what a request must not cause
    once the server is warm); reported by ``/health``."""
    import jax
    from jax._src.dispatch import JAXPR_TO_MLIR_MODULE_EVENT

    if _COMPILED["listening"]:
        return

    def listen(event: str, duration: float, **kwargs) -> None:
        if event == JAXPR_TO_MLIR_MODULE_EVENT:
            _COMPILED["programs"] += 1

    jax.monitoring.register_event_duration_secs_listener(listen)
    _COMPILED["listening"] = True


class Answers:
    """The server's state: the posterior opened once, the command line's parser, the answers kept by query."""

    def __init__(self, posterior: str | Path | None = None, data_add: tuple[Path, ...] = ()):
        from .analysis.estimate import open_posterior
        from .cli import answers
        from .data import load

        _count_compiles()
        bundle = load(extra=list(data_add)) if data_add else None
        self.source = open_posterior(None if posterior is None else str(posterior), bundle)
        self.parser = _parser()
        self._subs = _subparsers(self.parser)
        self._actions = {c: _served_actions(self._subs[c]) for c in SERVED_COMMANDS}
        self._answer: dict[str, Callable[[argparse.Namespace], dict]] = {
            "estimate": answers.estimate_answer, "pathways": answers.pathways_answer,
            "fleet": answers.fleet_answer, "regions": _regions_answer}
        self._kept: OrderedDict[tuple[str, ...], bytes] = OrderedDict()
        self._kept_lock = threading.Lock()
        self._compute_lock = threading.Lock()
        self.computed = 0

    def argv(self, command: str, fields: dict[str, Any]) -> list[str]:
        """The command line of a request's fields (those given), in a fixed order: the answer's key."""
        actions = self._actions[command]
        argv = [command]
        for dest in sorted(fields):
            value, action = fields[dest], actions.get(dest)
            if action is None:
                raise RequestError(f"{dest}: not an option of {command}")
            if value is None or (value is False and isinstance(action, argparse._StoreTrueAction)):
                continue
            flag = action.option_strings[0]
            if isinstance(action, argparse._StoreTrueAction):
                argv.append(flag)
            elif isinstance(action, argparse.BooleanOptionalAction):
                argv.append(flag if value else "--no-" + flag[2:])
            elif isinstance(value, list):
                argv += [f"{flag}={_text(v)}" for v in value]
            else:
                argv.append(f"{flag}={_text(value)}")
        return argv

    def namespace(self, argv: list[str]) -> argparse.Namespace:
        """The command line's arguments for ``argv``, checked as the command line checks them."""
        from .cli import options as opt

        args = self.parser.parse_args(argv)
        sub = self._subs[argv[0]]
        opt.check_extremes(sub, args)
        opt.check_samples(sub, args)
        if hasattr(args, "posterior"):  # the server's, already open (requests cannot name one)
            args.posterior, args.data_add = self.source, []
        return args

    def answer(self, command: str, fields: dict[str, Any]) -> bytes:
        """The JSON answer (bytes) of ``command`` for a request's fields: from memory when asked before."""
        key = tuple(self.argv(command, fields))
        with self._kept_lock:
            if key in self._kept:
                self._kept.move_to_end(key)
                return self._kept[key]
        args = self.namespace(list(key))
        with self._compute_lock:
            with self._kept_lock:  # answered while this request waited its turn
                if key in self._kept:
                    return self._kept[key]
            try:
                result = self._answer[command](args)
            except (ValueError, FileNotFoundError, KeyError) as exc:
                text = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
                raise RequestError(_fields_named(str(text))) from None
            self.computed += 1
        body = json.dumps(result, allow_nan=False).encode()
        with self._kept_lock:
            self._kept[key] = body
            while len(self._kept) > ANSWERS_KEPT:
                self._kept.popitem(last=False)
        return body

    @property
    def kept(self) -> int:
        return len(self._kept)


def _regions_answer(args: argparse.Namespace) -> dict:
    from .analysis.impacts import regions_table

    return regions_table(continent=args.continent, search=args.search, sort=args.sort)


def options_answer(answers: Answers) -> dict:
    """What the calculator offers: the vocabulary, each flag's default and help, the boundaries spelled out, the
    zones, and the figures an answer is shown beside (paper mode, the operators' disclosures)."""
    from .analysis.estimate import BOUNDARY_DESCRIPTIONS
    from .analysis.impacts import regions_table
    from .data.vocab import GPU_IDS, SERVABLE_PRECISIONS
    from .model.names import REGIMES
    from .model.paper import PUBLISHED

    coords = answers.source.draws_coords[1]
    estimate_actions = answers._actions["estimate"]
    flags = {dest: {"default": a.default if not callable(a.default) else None, "help": (a.help or "").replace("%%", "%")}
             for dest, a in estimate_actions.items()}
    paper = [{"model": key[1] if key[0] == "per_model" else None, "regime": key[-1], **dict(q), "source": src}
             for key, (q, src) in PUBLISHED["v2"].items() if key[0] in ("per_model", "blended")]
    prod = answers.source.bundle.tables["production"]
    disc = prod[prod["operator_disclosure"].fillna(False).astype(bool) & prod["wh_per_query"].notna()]
    disclosures = [{"system": str(r["model_or_system"]), "statistic": str(r["statistic"]),
                    "boundary": str(r["boundary"]), "wh_per_query": float(r["wh_per_query"]),
                    "source": str(r["source"]), "source_url": str(r["source_url"]) if isinstance(r["source_url"], str)
                    else None} for _, r in disc.iterrows()]
    zones = [{"zone": z["zone"], "name": z["name"], "continent": z["continent"]} for z in regions_table()["zones"]]
    return {
        "models": list(coords.get("model", [])), "gpu_names": sorted(GPU_IDS), "precisions": list(SERVABLE_PRECISIONS),
        "regimes": list(REGIMES), "boundaries": BOUNDARY_DESCRIPTIONS, "zones": zones, "flags": flags,
        "max_samples": MAX_SAMPLES,
        "paper_mode": {"version": "v2", "boundary": "facility", "input_tokens": 500,
                       "label": "paper mode (Oviedo et al. 2026, v2): hand-set ranges, 500 input tokens, 8xH100 FP8",
                       "figures": paper},
        "disclosures": disclosures,
        "posterior": dict(answers.source.info, path=answers.source.path),
    }


#: Queries answered while the server starts, so that the calculator's requests find their programs compiled.
WARM_QUERIES = {
    "estimate": ({"model": "Llama 3.1 70B"}, {"model": "Llama 3.1 70B", "output_tokens": 300.0},
                 {"model": "Llama 3.1 70B", "input_tokens": 500.0, "output_tokens": 300.0},
                 {"model": "Llama 3.1 70B", "per": "token"}, {"model": "Llama 3.1 70B", "agent_steps": 3},
                 {"model": "Llama 3.1 70B", "region": "IE"}),
    "pathways": ({},),
    "fleet": ({},),
    "regions": ({},),
}


def warm_up(answers: Answers, commands: tuple[str, ...], log: Callable[[str], None] = lambda s: None) -> None:
    """Answer :data:`WARM_QUERIES` of ``commands`` (compiling their programs), then stop writing compiled programs
    to the persistent compile cache: after this, a request writes nothing to disk."""
    import jax

    for command in commands:
        started = time.perf_counter()
        for fields in WARM_QUERIES[command]:
            answers.answer(command, fields)
        log(f"warmed {command} in {time.perf_counter() - started:.1f} s")
    jax.config.update("jax_persistent_cache_min_compile_time_secs", math.inf)


def _one_line(errors: list[dict]) -> str:
    parts = []
    for e in errors[:3]:
        if e.get("type") == "json_invalid":
            parts.append(f"the body is not valid JSON ({e.get('ctx', {}).get('error', 'unreadable')})")
            continue
        where = ".".join(str(p) for p in e.get("loc", ()) if p not in ("query", "body"))
        parts.append(f"{where}: {e.get('msg', 'invalid')}" if where else str(e.get("msg", "invalid")))
    return "; ".join(parts) + ("; ..." if len(errors) > 3 else "")


STATIC = Path(__file__).parent / "static"


def create_app(posterior: str | Path | None = None, *, data_add: tuple[Path, ...] = (),
               warm: tuple[str, ...] = SERVED_COMMANDS, log: Callable[[str], None] = lambda s: None):
    """The ASGI application: ``/api/<command>`` (GET and POST), ``/api/options``, ``/health``, the calculator at
    ``/``, OpenAPI at ``/openapi.json`` and ``/docs``. Opens the posterior and answers :data:`WARM_QUERIES` of
    ``warm`` before it returns."""
    from fastapi import FastAPI, Query, Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import FileResponse, JSONResponse, Response
    from fastapi.staticfiles import StaticFiles

    from . import __version__

    started = time.perf_counter()
    answers = Answers(posterior, tuple(data_add))
    log(f"opened the posterior ({answers.source.path}) in {time.perf_counter() - started:.1f} s")
    warm_up(answers, tuple(c for c in SERVED_COMMANDS if c in warm), log)
    options = options_answer(answers)
    models = request_models(answers.parser)

    app = FastAPI(title="infergy", version=__version__,
                  description="Energy, carbon and water per LLM query with calibrated uncertainty: the answers of "
                  "`infergy estimate`, `pathways`, `fleet` and `regions --json`, for the same query and seed.",
                  max_body_size=MAX_BODY_BYTES)
    app.state.answers = answers

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError):
        return JSONResponse({"detail": _one_line(exc.errors())}, status_code=422)

    @app.exception_handler(RequestError)
    async def _refused(request: Request, exc: RequestError):
        return JSONResponse({"detail": str(exc)}, status_code=422)

    @app.exception_handler(Exception)
    async def _fault(request: Request, exc: Exception):
        first = (str(exc).strip().splitlines() or [""])[0][:200]
        return JSONResponse({"detail": f"internal error: {type(exc).__name__}: {first}"}, status_code=500)

    def _json(body: bytes) -> Response:
        return Response(body, media_type="application/json")

    def _route(command: str) -> None:
        lax, strict = models[command]

        def get(query: Annotated[lax, Query()]) -> Response:  # type: ignore[valid-type]
            return _json(answers.answer(command, query.model_dump(exclude_defaults=True)))

        def post(body: strict) -> Response:  # type: ignore[valid-type]
            return _json(answers.answer(command, body.model_dump(exclude_defaults=True)))

        doc = (f"The answer of `infergy {command} --json`: fields named as its flags "
               "(`--output-tokens` -> `output_tokens`).")
        app.add_api_route(f"/api/{command}", get, methods=["GET"], summary=f"{command} (query parameters)",
                          description=doc, name=f"{command}_get")
        app.add_api_route(f"/api/{command}", post, methods=["POST"], summary=f"{command} (JSON body)",
                          description=doc, name=f"{command}_post")

    for command in SERVED_COMMANDS:
        _route(command)

    @app.get("/api/options", summary="what the calculator offers: models, GPUs, zones, defaults, references")
    def _options() -> JSONResponse:
        return JSONResponse(options)

    @app.get("/health", summary="the server is up: its posterior and how many answers it keeps")
    def _health() -> JSONResponse:
        return JSONResponse({"status": "ok", "version": __version__, "posterior": answers.source.path,
                             "data_hash": answers.source.info.get("data_hash"), "answers_kept": answers.kept,
                             "answers_computed": answers.computed, "programs_compiled": _COMPILED["programs"]})

    @app.get("/", include_in_schema=False)
    def _calculator() -> FileResponse:
        return FileResponse(STATIC / "index.html", media_type="text/html")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app


class Running:
    """``infergy serve`` in a child process on a free loopback port, for tests, benchmarks and notebooks::

        with Running("--warm", "estimate") as server:
            httpx.get(server.url + "api/estimate", params={"model": "Llama 3.1 70B"})

    ``url`` ends with ``/``; ``log`` holds the server's standard error so far. The server is stopped on exit."""

    def __init__(self, *flags: str, env: dict | None = None, cwd: str | Path | None = None,
                 start_timeout_s: float = 300.0):
        self.flags, self.env, self.cwd, self.start_timeout_s = flags, env, cwd, start_timeout_s
        self.url, self.log, self.process = "", [], None

    def __enter__(self) -> "Running":
        import subprocess
        import sys

        self.process = subprocess.Popen(
            [sys.executable, "-m", "infergy", "serve", "--port", "0", *self.flags], stderr=subprocess.PIPE,
            stdout=subprocess.DEVNULL, text=True, env=self.env, cwd=self.cwd)
        ready = threading.Event()

        def read() -> None:
            for line in self.process.stderr:
                self.log.append(line.rstrip("\n"))
                if found := re.search(r"serving on (http://\S+/)", line):
                    self.url = found.group(1)
                    ready.set()
            ready.set()

        threading.Thread(target=read, name="infergy-serve-log", daemon=True).start()
        if not ready.wait(self.start_timeout_s) or not self.url:
            self.__exit__(None, None, None)
            raise RuntimeError("infergy serve did not start: " + " | ".join(self.log[-5:]))
        return self

    def __exit__(self, *exc) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except Exception:
                self.process.kill()
