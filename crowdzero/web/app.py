"""The web server where people play the learning agent: a FastAPI app over one run.

``create_app(run_dir)`` builds the app for a run directory: the page (static files that
ship in the package, no CDN), the JSON API, one `MatchRunner` on its own thread
(`RunnerThread`) that plays every game, the agent in one seat and the person in the other,
answering all the agent's moves in one batched search, and the run's game store, which
receives every finished game (``source="web"``) for the trainer to learn from.

API (all JSON; errors are ``{"detail": "reason"}``):

=======  ============================  ============================================
POST     /api/games                    {nickname, size, colour?} -> state + token
GET      /api/games/{id}?since=&wait=  state; long-polls up to `wait` s for a change
POST     /api/games/{id}/move          {token, move: "D4" | "pass"} -> state (once the
                                       game has taken the move in, up to `move_wait` s)
POST     /api/games/{id}/resign        {token} -> state (likewise: the stored game)
GET      /api/games/{id}/sgf           the game so far as SGF (from memory)
GET      /api/history?nickname=        finished web games, newest first
GET      /api/history/{store_id}       one finished game with a board per move
GET      /api/history/{store_id}/sgf   the stored game as SGF
GET      /api/info, /api/status        the run, the network, the agent's search counters
=======  ============================  ============================================

Status codes: 403 wrong token, 404 unknown game, 409 a move the rules or the turn
forbid (occupied, suicide, ko, the agent's move, the game is over), 422 a malformed body
or unreadable move, 413 a body over the size limit, 429 too many requests or too many
open games for one client, 503 the server is full.

Safety: secret per-game tokens compared in constant time; every move checked by the
rules engine; bodies validated by pydantic; per-client token buckets; nicknames validated
(and only ever put into the page as text); SQL only through the store's parameters; SGF
generated from records, never read from a path; a strict Content-Security-Policy (no
inline scripts, nothing from other origins); the server binds to 127.0.0.1 by default.
"""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import logging
import math
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Annotated, Any

import numpy as np
from fastapi import FastAPI, HTTPException, Query, Request, Response
from fastapi import Path as PathParam
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from crowdzero.play.match_runner import AGENT_NAME, MatchRunner
from crowdzero.play.sgf import game_to_sgf
from crowdzero.players.agent import AgentPlayer
from crowdzero.store.game_store import GameNotFound as StoredGameNotFound
from crowdzero.train.run_dir import RunDir
from crowdzero.web.games import (
    SOURCE,
    GameNotFound,
    GameTable,
    InvalidRequest,
    MoveRefused,
    ServerFull,
    TooManyGames,
    WebGameError,
    WrongToken,
)
from crowdzero.web.history import WebHistory, replay_json
from crowdzero.web.rate_limit import TokenBucketLimiter
from crowdzero.web.runner_thread import AgentNetwork, RunnerThread
from crowdzero.web.schemas import (
    NICKNAME_MAX,
    AdviceBody,
    MoveBody,
    NewGameBody,
    ResignBody,
    clean_nickname,
)

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).parent / "static"

_STATUS: dict[type[WebGameError], int] = {
    GameNotFound: 404,
    WrongToken: 403,
    MoveRefused: 409,
    InvalidRequest: 422,
    TooManyGames: 429,
    ServerFull: 503,
}

_SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
        "frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}

#: FastAPI's 400 detail for a JSON body it cannot decode (bytes that are not UTF-8).
_BODY_PARSE_ERROR = "There was an error parsing the body"

GameId = Annotated[str, PathParam(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]


@dataclass(frozen=True)
class WebSettings:
    """How the server treats its clients; the defaults suit people on the open internet."""

    rate: float = 10.0  # requests per second per client IP (token bucket refill)
    burst: int = 60  # requests a client may make at once before the rate applies
    max_open_per_client: int = 5  # unfinished games per client IP
    max_open_total: int = 500  # unfinished games in all (memory bound)
    idle_timeout: float = 1800.0  # seconds without a request before a game is dropped
    finished_ttl: float = 600.0  # seconds a finished game stays in memory (then: history)
    checkpoint_poll: float = 10.0  # seconds between looks for a newer checkpoint
    long_poll_max: float = 30.0  # longest `wait` a GET may ask for
    move_wait: float = 10.0  # longest a move waits for the game to take it in
    max_body_bytes: int = 4096  # larger request bodies are refused (413)
    torch_threads: int | None = 2  # threads for the network (None = torch's default)
    simulations: int | None = None  # override the run's search.simulations (tests, demos)
    seed: int | None = None  # seeds colour draws and search ties (None = fresh entropy)


def create_app(run_dir: RunDir | str | Path, settings: WebSettings | None = None) -> FastAPI:
    """The web app for a run directory (which must exist: `RunDir.open` rules apply)."""
    settings = settings or WebSettings()
    run = run_dir if isinstance(run_dir, RunDir) else RunDir.open(run_dir)
    config = run.config
    search = config.search
    if settings.simulations is not None:
        search = replace(search, simulations=settings.simulations)
    rng = np.random.default_rng(settings.seed)
    store = run.open_store()
    runner = MatchRunner(
        config.rules,
        None,  # it draws no games: people start them
        concurrency=settings.max_open_total,
        max_moves=config.max_moves,
        workers=1,  # people answer through futures, holding no worker thread
        source=SOURCE,
        void_on_learner_error=True,
    )
    network = AgentNetwork(run, threads=settings.torch_threads)
    agent = AgentPlayer(network.evaluator, search, name=AGENT_NAME, add_noise=False, rng=rng)
    table = GameTable(
        runner,
        agent,
        on_finished=lambda game: store.add_game(game, source=SOURCE),
        checkpoint=lambda: network.label,
        max_open_per_client=settings.max_open_per_client,
        max_open_total=settings.max_open_total,
        idle_timeout=settings.idle_timeout,
        finished_ttl=settings.finished_ttl,
        rng=rng,
    )
    runner_thread = RunnerThread(
        runner, table, network, agent, checkpoint_poll=settings.checkpoint_poll
    )
    history = WebHistory(store)
    limiter = TokenBucketLimiter(settings.rate, settings.burst)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runner_thread.start()
        try:
            yield
        finally:
            await asyncio.to_thread(runner_thread.close)
            store.close()

    app = FastAPI(
        title="crowdzero: play the learning agent",
        docs_url=None,  # Swagger UI and ReDoc load from a CDN; the page must not
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.run = run
    app.state.table = table
    app.state.runner_thread = runner_thread
    app.state.network = network
    app.state.store = store
    app.state.history = history
    app.state.limiter = limiter
    app.state.settings = settings

    # Added first, so it sits inside `guard`: its 413 is raised straight into the
    # endpoint's body read (FastAPI passes HTTPException from there through as is).
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)

    @app.middleware("http")
    async def guard(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        response = await _check_request(request, limiter, settings)
        if response is None:
            response = await call_next(request)
        for name, value in _SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response

    @app.exception_handler(WebGameError)
    async def game_error(request: Request, exc: WebGameError) -> JSONResponse:
        status = next((s for t, s in _STATUS.items() if isinstance(exc, t)), 400)
        return JSONResponse({"detail": _printable(str(exc))}, status_code=status)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        # FastAPI's own handler echoes the input, which JSON cannot always carry (1e309
        # parses to inf, "\ud800" is no text): the reason alone, as every other error.
        return JSONResponse({"detail": validation_reason(exc.errors())}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 400 and exc.detail == _BODY_PARSE_ERROR:
            # FastAPI's answer to a body that is not UTF-8; a malformed body is a 422 here.
            return JSONResponse({"detail": "the body is not valid UTF-8 JSON"}, status_code=422)
        return await http_exception_handler(request, exc)

    @app.exception_handler(StoredGameNotFound)
    async def stored_game_missing(request: Request, exc: StoredGameNotFound) -> JSONResponse:
        return JSONResponse({"detail": "there is no such finished web game"}, status_code=404)

    # -- the page -----------------------------------------------------------------

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html", headers={"Cache-Control": "no-cache"})

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    # -- the run ------------------------------------------------------------------

    @app.get("/api/info")
    def info() -> dict[str, Any]:
        return {
            "run": run.name,
            "board_sizes": [config.board.size],
            "komi": config.board.komi,
            "ko": str(config.board.ko),
            "max_moves": config.max_moves,
            "search": {"algorithm": search.algorithm, "simulations": search.simulations},
            "network": network.describe(),
            "nickname_max": NICKNAME_MAX,
        }

    @app.get("/api/status")
    def status() -> dict[str, Any]:
        return {
            "open_games": table.open_games(),
            "games_in_memory": len(table),
            "agent": runner_thread.stats(),
            "worker_running": runner_thread.running,
            "network": network.describe(),
        }

    # -- games --------------------------------------------------------------------

    @app.post("/api/games", status_code=201)
    def new_game(body: NewGameBody, request: Request) -> dict[str, Any]:
        return table.create(body.nickname, body.size, body.colour, _client(request))

    @app.get("/api/games/{game_id}")
    async def game_state(
        game_id: GameId,
        since: Annotated[int | None, Query(ge=0)] = None,
        wait: Annotated[float, Query(ge=0.0)] = 0.0,
    ) -> dict[str, Any]:
        """The game's state; with `since` (a version) and `wait`, waits for a newer one."""
        if since is not None and wait > 0:
            await _version_past(table, game_id, since, min(wait, settings.long_poll_max))
        return table.state(game_id)

    @app.post("/api/games/{game_id}/move")
    async def play(game_id: GameId, body: MoveBody) -> dict[str, Any]:
        """The move is checked at once; the answer waits (without holding a thread) until
        the runner has taken it in, so it shows the stone, or the stored game if it ended."""
        since = table.play(game_id, body.token, body.move)
        await _version_past(table, game_id, since, settings.move_wait)
        return table.state(game_id)

    @app.post("/api/games/{game_id}/advice")
    def advise(game_id: GameId, body: AdviceBody) -> dict[str, Any]:
        """A suggestion for the agent's next move, checked like a move (see
        `GameTable.advise`); the answer is the game's state, with the pending advice."""
        return table.advise(game_id, body.token, body.advice)

    @app.post("/api/games/{game_id}/resign")
    async def resign(game_id: GameId, body: ResignBody) -> dict[str, Any]:
        since = table.resign(game_id, body.token)
        await _version_past(table, game_id, since, settings.move_wait)
        return table.state(game_id)

    @app.get("/api/games/{game_id}/sgf")
    def game_sgf(game_id: GameId) -> Response:
        return _sgf_response(game_to_sgf(table.record(game_id)), f"crowdzero-{game_id}.sgf")

    # -- history ------------------------------------------------------------------

    @app.get("/api/history")
    def history_list(
        nickname: Annotated[str | None, Query(max_length=4 * NICKNAME_MAX)] = None,
        limit: Annotated[int, Query(ge=1, le=200)] = 50,
    ) -> dict[str, Any]:
        name = None
        if nickname:
            try:
                name = clean_nickname(nickname)
            except ValueError as e:
                raise InvalidRequest(str(e)) from None
        games = history.list(name, limit)
        return {"games": [g.to_json() for g in games]}

    @app.get("/api/history/{store_id}")
    def history_game(store_id: Annotated[int, PathParam(ge=1)]) -> dict[str, Any]:
        return replay_json(store_id, history.game(store_id))

    @app.get("/api/history/{store_id}/sgf")
    def history_sgf(store_id: Annotated[int, PathParam(ge=1)]) -> Response:
        data = game_to_sgf(history.game(store_id))
        return _sgf_response(data, f"crowdzero-web-{store_id}.sgf")

    return app


class BodySizeLimit:
    """ASGI middleware: refuse (413) a request body that grows past `max_bytes` while it is
    read, which also covers chunked bodies that send no Content-Length."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise HTTPException(
                        413, f"request bodies are limited to {self.max_bytes} bytes"
                    )
            return message

        await self.app(scope, limited_receive, send)


def validation_reason(errors: Sequence[Any]) -> str:
    """One line saying what is wrong with a request, from pydantic's error list; never
    quotes the input (it may be huge, non-finite or not text)."""
    reasons = []
    for error in errors[:3]:
        where = [
            str(part) for part in error.get("loc", ()) if part not in ("body", "query", "path")
        ]
        message = str(error.get("msg", "is invalid")).removeprefix("Value error, ")
        if error.get("type") == "json_invalid":
            message = "the body is not valid JSON"
        reasons.append(f"{'.'.join(where)}: {message}" if where else message)
    more = f" (and {len(errors) - 3} more)" if len(errors) > 3 else ""
    return _printable("; ".join(reasons) + more) or "invalid request"


def _printable(text: str) -> str:
    """`text` with anything UTF-8 cannot carry (lone surrogates) escaped."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _client(request: Request) -> str:
    """The client's address (what rate limits and open-game limits count by)."""
    return request.client.host if request.client is not None else "unknown"


async def _check_request(
    request: Request, limiter: TokenBucketLimiter, settings: WebSettings
) -> Response | None:
    """A refusal for requests over the body limit or the client's rate, else None."""
    length = request.headers.get("content-length")
    if length is not None:
        try:
            too_big = int(length) > settings.max_body_bytes
        except ValueError:
            return JSONResponse({"detail": "invalid Content-Length"}, status_code=400)
        if too_big:
            return JSONResponse(
                {"detail": f"request bodies are limited to {settings.max_body_bytes} bytes"},
                status_code=413,
            )
    if request.url.path.startswith("/api/"):
        wait = limiter.allow(_client(request))
        if wait > 0:
            return JSONResponse(
                {"detail": "too many requests; please slow down"},
                status_code=429,
                headers={"Retry-After": str(max(1, math.ceil(wait)))},
            )
    return None


async def _version_past(table: GameTable, game_id: str, since: int, seconds: float) -> None:
    """Wait up to `seconds` for the game's version to move past `since`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while table.version(game_id) == since and loop.time() < deadline:
        await asyncio.sleep(0.05)


def _sgf_response(data: bytes, filename: str) -> Response:
    return Response(
        content=data,
        media_type="application/x-go-sgf",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def serve_main(
    run_dir_path: str | Path,
    host: str = "127.0.0.1",
    port: int = 8000,
    settings: WebSettings | None = None,
    forwarded_allow_ips: str | None = None,
) -> None:
    """Serve the page for the run at `run_dir_path` until interrupted (Ctrl-C).

    Binds to 127.0.0.1 unless told otherwise: putting the page on a network is a choice.
    X-Forwarded-For is believed only from the proxies in `forwarded_allow_ips` (comma
    separated addresses, as uvicorn takes them); by default from nobody, or any local
    client could pose as many and dodge the per-client limits.
    Raises RunDirError if there is no run there and ServeError if it cannot listen on
    host:port, both before anything is written.
    """
    import uvicorn

    run = RunDir.open(run_dir_path)
    check_address(host, port)
    app = create_app(run, settings)
    if not _is_loopback(host):
        log.warning("serving on %s: the page is reachable from other machines", host)
    display = f"[{host}]" if ":" in host else host
    print(f"crowdzero: people can play the agent at http://{display}:{port}/", flush=True)
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_level="info",
        proxy_headers=forwarded_allow_ips is not None,
        forwarded_allow_ips=forwarded_allow_ips,
    )


class ServeError(RuntimeError):
    """The server cannot listen as asked: a port out of range or in use, an unknown host."""


def check_address(host: str, port: int) -> None:
    """ServeError unless a server can listen on `port` at every address `host` names.

    Tried here, with a socket bound and closed, because uvicorn reports a failed bind in
    several log lines after the app (and its game store) has been opened.
    """
    if not 1 <= port <= 65535:
        raise ServeError(f"--port must be 1..65535, not {port}")
    try:
        addresses = socket.getaddrinfo(
            host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
    except socket.gaierror as exc:
        raise ServeError(f"cannot serve on host {host!r}: {exc.strerror or exc}") from None
    except ValueError as exc:  # a NUL in the name, a label too long for IDNA
        raise ServeError(f"cannot serve on host {host!r}: {exc}") from None
    for family, kind, proto, _, address in addresses:
        try:
            sock = socket.socket(family, kind, proto)
        except OSError:
            continue  # a family this machine lacks; the server skips it too
        with sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            try:
                sock.bind(address)
            except OSError as exc:
                hint = (
                    "; another program listens there, choose another --port"
                    if exc.errno == errno.EADDRINUSE
                    else ""
                )
                raise ServeError(
                    f"cannot listen on {host}:{port}: {exc.strerror or exc}{hint}"
                ) from None


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
