"""Load on the web server: many people at once, and how long each waits for the agent.

    python -m benchmarks.web_load                           # 50 games, 60 s, 9x9, 6x64 net
    python -m benchmarks.web_load --games 50 --seconds 60 --simulations 32
    python -m benchmarks.web_load --run runs/crowd-9x9      # a real run's newest checkpoint

Starts the real server (`crowdzero.web.app`, uvicorn) in a subprocess on a free port of
127.0.0.1, with a run directory (a fresh temporary one unless --run is given), then runs
`--games` concurrent clients (one thread and one HTTP connection each). Every client
opens a game, plays random legal moves that do not fill its own one-point eyes (passing
when there are none, or now and then), long-polls for the agent's reply, and stops when
its game ends or the time is up (then it resigns). It prints the errors (target 0) and
the time from a person's move being sent to the agent's reply arriving: p50, p95, max.
The agent answers all waiting games with one batched search, so the mean batch size the
server reports shows how many people shared each search.

Bounded: at most 500 games and 600 seconds; loopback only. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from crowdzero.go.coords import gtp_to_point, point_to_gtp
from crowdzero.go.position import Position, Rules

HOST = "127.0.0.1"
MAX_GAMES = 500
MAX_SECONDS = 600.0

_SERVER_CODE = """
import json, sys
import uvicorn
from crowdzero.web.app import WebSettings, create_app
run, port, settings = sys.argv[1], int(sys.argv[2]), json.loads(sys.argv[3])
app = create_app(run, WebSettings(**settings))
uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")
"""


@dataclass
class LoadReport:
    """What the clients saw (shared by all client threads, under `lock`)."""

    latencies: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    endings: Counter[str] = field(default_factory=Counter)
    moves: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def error(self, what: str) -> None:
        with self.lock:
            self.errors[what] += 1


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def make_run(path: Path, size: int, blocks: int, channels: int, simulations: int) -> Path:
    """A fresh run directory (no checkpoint: the server plays an untrained net)."""
    from crowdzero.net.model import NetConfig
    from crowdzero.search.config import SearchConfig
    from crowdzero.train.config import BoardConfig, RunConfig
    from crowdzero.train.run_dir import RunDir

    config = RunConfig(
        board=BoardConfig(size=size),
        net=NetConfig(blocks=blocks, channels=channels),
        search=SearchConfig(simulations=simulations),
    )
    return RunDir.create(path, config).path


def start_server(run: Path, port: int, settings: dict[str, Any]) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        [sys.executable, "-c", _SERVER_CODE, str(run), str(port), json.dumps(settings)],
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with code {process.returncode}")
        try:
            httpx.get(f"http://{HOST}:{port}/api/info", timeout=1.0)
            return process
        except httpx.TransportError:
            time.sleep(0.2)
    process.terminate()
    raise RuntimeError("the server did not answer within 120 s")


def choose_move(position: Position, rng: np.random.Generator, pass_rate: float) -> int:
    """A random legal move that does not fill one of our own one-point eyes; else pass."""
    n = position.size
    pass_point = n * n
    if rng.random() < pass_rate:
        return pass_point
    legal = np.flatnonzero(position.legal_mask()[:pass_point])
    rng.shuffle(legal)
    board = position.board
    me = position.to_play
    for point in legal:
        row, col = divmod(int(point), n)
        neighbours = [
            board[r * n + c]
            for r, c in ((row - 1, col), (row + 1, col), (row, col - 1), (row, col + 1))
            if 0 <= r < n and 0 <= c < n
        ]
        if not all(v == me for v in neighbours):
            return int(point)
    return pass_point


def play_one_game(
    base: str,
    size: int,
    index: int,
    deadline: float,
    report: LoadReport,
    pass_rate: float,
    seed: int,
) -> None:
    """One person: open a game, play until it ends or time is up (then resign)."""
    rng = np.random.default_rng(seed + index)
    colour = "black" if index % 2 == 0 else "white"
    with httpx.Client(base_url=base, timeout=60.0) as http:
        body = {"nickname": f"load{index}", "size": size, "colour": colour}
        r = http.post("/api/games", json=body)
        if r.status_code != 201:
            report.error(f"create {r.status_code}: {r.text[:80]}")
            return
        state = r.json()
        game_id, token = state["game_id"], state["token"]
        position = Position(Rules(size=state["size"], komi=state["komi"]))
        seen = 0
        sent_at: float | None = None
        while True:
            if state["status"] == "agent_thinking":
                if time.monotonic() > deadline + 120:
                    report.error("the agent did not answer within 120 s of the end")
                    return
                r = http.get(
                    f"/api/games/{game_id}", params={"since": state["version"], "wait": 25}
                )
                if r.status_code != 200:
                    report.error(f"poll {r.status_code}: {r.text[:80]}")
                    return
                state = r.json()
                continue
            if sent_at is not None and len(state["moves"]) > seen + 1:
                with report.lock:
                    report.latencies.append(time.perf_counter() - sent_at)
            sent_at = None
            for m in state["moves"][seen:]:
                position.play(gtp_to_point(m["move"], position.size))
            seen = len(state["moves"])
            if state["over"]:
                ending = "stopped" if state["error"] else "capped" if state["capped"] else "ended"
                if state["error"]:
                    report.error(f"game stopped: {state['error']}")
                with report.lock:
                    report.endings[ending] += 1
                return
            if time.monotonic() > deadline:
                r = http.post(f"/api/games/{game_id}/resign", json={"token": token})
                if r.status_code != 200:
                    report.error(f"resign {r.status_code}: {r.text[:80]}")
                with report.lock:
                    report.endings["time up (resigned)"] += 1
                return
            point = choose_move(position, rng, pass_rate)
            sent_at = time.perf_counter()
            r = http.post(
                f"/api/games/{game_id}/move",
                json={"token": token, "move": point_to_gtp(point, position.size)},
            )
            if r.status_code != 200:
                report.error(f"move {r.status_code}: {r.text[:80]}")
                return
            with report.lock:
                report.moves += 1
            state = r.json()


def run_clients(
    base: str, size: int, games: int, seconds: float, pass_rate: float, seed: int
) -> LoadReport:
    report = LoadReport()
    deadline = time.monotonic() + seconds

    def client(index: int) -> None:
        try:
            play_one_game(base, size, index, deadline, report, pass_rate, seed)
        except Exception as e:  # a client crash is an error to count, not to hide
            report.error(f"{type(e).__name__}: {e}")

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(games)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(seconds + 300)
    return report


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--games", type=int, default=50, help="concurrent games (people)")
    parser.add_argument("--seconds", type=float, default=60.0, help="time bound for playing")
    parser.add_argument("--simulations", type=int, default=None, help="override the search")
    parser.add_argument("--run", type=Path, default=None, help="an existing run directory")
    parser.add_argument("--size", type=int, default=9, help="board size of a fresh run")
    parser.add_argument("--blocks", type=int, default=6, help="net blocks of a fresh run")
    parser.add_argument("--channels", type=int, default=64, help="net channels of a fresh run")
    parser.add_argument("--pass-rate", type=float, default=0.02, help="chance a person passes")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if not 1 <= args.games <= MAX_GAMES:
        parser.error(f"--games must be in 1..{MAX_GAMES}")
    if not 0 < args.seconds <= MAX_SECONDS:
        parser.error(f"--seconds must be in (0, {MAX_SECONDS:g}]")

    with tempfile.TemporaryDirectory(prefix="crowdzero-web-load-") as tmp:
        simulations = args.simulations if args.simulations is not None else 32
        run = args.run or make_run(
            Path(tmp) / "run", args.size, args.blocks, args.channels, simulations
        )
        settings: dict[str, Any] = {
            "rate": 1e6,
            "burst": 1_000_000,
            "max_open_per_client": args.games,
            "max_open_total": max(500, args.games),
            "seed": args.seed,
        }
        if args.simulations is not None:
            settings["simulations"] = args.simulations
        port = free_port()
        server = start_server(run, port, settings)
        base = f"http://{HOST}:{port}"
        try:
            info = httpx.get(f"{base}/api/info").json()
            print(
                f"server: run {info['run']} ({run}), {info['board_sizes'][0]}x"
                f"{info['board_sizes'][0]}, {info['search']['algorithm']} "
                f"{info['search']['simulations']} simulations, network {info['network']}"
            )
            print(f"clients: {args.games} concurrent games for up to {args.seconds:g} s ...")
            started = time.perf_counter()
            size = int(info["board_sizes"][0])
            report = run_clients(base, size, args.games, args.seconds, args.pass_rate, args.seed)
            elapsed = time.perf_counter() - started
            status = httpx.get(f"{base}/api/status").json()
        finally:
            server.terminate()
            server.wait(30)
        from crowdzero.store.game_store import GameStore

        with GameStore(Path(run) / "games.sqlite") as store:
            stored = store.count_games(source="web")

    lat = report.latencies
    agent = status["agent"]
    print(f"elapsed {elapsed:.1f} s; person moves {report.moves}; agent replies timed {len(lat)}")
    print(f"games: {dict(report.endings)}; stored in the run's store (source=web): {stored}")
    print(f"errors: {sum(report.errors.values())}")
    for what, count in report.errors.most_common(10):
        print(f"  {count} x {what}")
    print(
        "move -> agent reply: "
        f"p50 {percentile(lat, 50) * 1000:.0f} ms, p95 {percentile(lat, 95) * 1000:.0f} ms, "
        f"max {max(lat, default=float('nan')) * 1000:.0f} ms"
    )
    print(
        f"agent: {agent['batches']} batched searches for {agent['moves']} moves "
        f"(mean batch {agent['mean_batch']:.1f}, largest {agent['largest_batch']}), "
        f"{agent['search_seconds']:.1f} s searching"
    )


if __name__ == "__main__":
    main()
