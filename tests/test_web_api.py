"""The web API people play the agent through: games, rules checks, safety, storage.

Runs the real app (FastAPI TestClient, the real rules engine, the real SQLite store, the
real batched AgentPlayer on a tiny 1-block x 8-channel net with 4 simulations on 5x5).
Tests that need a particular board (a ko, a suicide point) let a scripted player sit in
the agent's seat: it answers through the same match runner and the same code path, but
its moves are known in advance.
"""

from __future__ import annotations

import re
import threading
import time
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

import crowdzero
from crowdzero.go.coords import BLACK, WHITE, gtp_to_point, point_to_gtp
from crowdzero.go.position import Position, Rules
from crowdzero.net.checkpoint import save_checkpoint
from crowdzero.net.model import NetConfig, PolicyValueNet
from crowdzero.play.match_runner import AGENT_NAME, MatchRunner
from crowdzero.play.player import MoveChoice, MoveRequest, Player
from crowdzero.play.record import Game
from crowdzero.play.sgf import sgf_to_game
from crowdzero.search.config import SearchConfig
from crowdzero.store.game_store import GameStore
from crowdzero.train.config import BoardConfig, RunConfig
from crowdzero.train.replay import ReplayWindow
from crowdzero.train.run_dir import RunDir
from crowdzero.web.app import WebSettings, create_app
from crowdzero.web.games import GameTable
from crowdzero.web.rate_limit import TokenBucketLimiter
from crowdzero.web.schemas import clean_nickname

SIZE = 5
GENEROUS = WebSettings(seed=0, rate=1000.0, burst=1000, checkpoint_poll=3600.0)


def tiny_run(path: Path, size: int = SIZE) -> RunDir:
    config = RunConfig(
        board=BoardConfig(size=size),
        net=NetConfig(blocks=1, channels=8, policy_channels=4, value_channels=4, value_hidden=8),
        search=SearchConfig(simulations=4, gumbel_considered=4),
    )
    return RunDir.create(path / "run", config)


@pytest.fixture
def run(tmp_path: Path) -> RunDir:
    return tiny_run(tmp_path)


@pytest.fixture
def client(run: RunDir) -> Iterator[TestClient]:
    with TestClient(create_app(run, GENEROUS)) as c:
        yield c


class ScriptedAgent(Player):
    """Sits in the agent's seat and plays a fixed list of GTP moves, then passes.

    `gate`, when given, holds every answer until it is set (to catch the agent's turn).
    """

    name = "agent"

    def __init__(self, moves: Sequence[str], gate: threading.Event | None = None) -> None:
        self.moves = deque(moves)
        self.gate = gate
        self.batches: list[int] = []

    def select_moves(self, requests: Sequence[MoveRequest]) -> list[MoveChoice]:
        if self.gate is not None:
            self.gate.wait(30)
        self.batches.append(len(requests))
        return [self.select_move(r) for r in requests]

    def select_move(self, request: MoveRequest) -> MoveChoice:
        n = request.position.size
        text = self.moves.popleft() if self.moves else "pass"
        return MoveChoice(gtp_to_point(text, n))


def scripted_client(run: RunDir, agent: Player, settings: WebSettings = GENEROUS) -> TestClient:
    app = create_app(run, settings)
    app.state.table.agent = agent
    return TestClient(app)


def new_game(client: TestClient, nickname: str = "alice", colour: str = "black") -> dict[str, Any]:
    r = client.post("/api/games", json={"nickname": nickname, "size": SIZE, "colour": colour})
    assert r.status_code == 201, r.text
    return r.json()


def wait_for_person(client: TestClient, state: dict[str, Any]) -> dict[str, Any]:
    """Long-poll until the agent has answered (or the game is over)."""
    deadline = time.monotonic() + 60
    while state["status"] == "agent_thinking":
        assert time.monotonic() < deadline, "the agent never answered"
        r = client.get(
            f"/api/games/{state['game_id']}", params={"since": state["version"], "wait": 10}
        )
        assert r.status_code == 200, r.text
        state = r.json()
    return state


def move(client: TestClient, game: dict[str, Any], text: str, token: str | None = None) -> Any:
    return client.post(
        f"/api/games/{game['game_id']}/move",
        json={"token": game["token"] if token is None else token, "move": text},
    )


def play(client: TestClient, game: dict[str, Any], text: str) -> dict[str, Any]:
    """Play `text` (must be accepted) and wait for the agent's answer."""
    r = move(client, game, text)
    assert r.status_code == 200, r.text
    return wait_for_person(client, r.json())


def replay_state(state: dict[str, Any]) -> Position:
    """The position the state's move list leads to, rebuilt with the rules engine."""
    position = Position(Rules(size=state["size"], komi=state["komi"]))
    for m in state["moves"]:
        position.play(gtp_to_point(m["move"], state["size"]))
    return position


def web_games(run: RunDir) -> list[Any]:
    with GameStore(run.games_path) as store:
        return list(store.iter_games(source="web"))


def web_count(run: RunDir) -> int:
    with GameStore(run.games_path) as store:
        return store.count_games(source="web")


# ---------------------------------------------------------------------- full games


def test_full_game_is_stored_as_a_crowd_game_with_the_agents_search_targets(
    client: TestClient, run: RunDir
) -> None:
    state = new_game(client, "alice", "black")
    game = dict(state)
    for _ in range(3):  # a few stones, each a legal point chosen by the rules engine
        position = replay_state(state)
        legal = np.flatnonzero(position.legal_mask()[: SIZE * SIZE])
        state = play(client, game, point_to_gtp(int(legal[len(legal) // 2]), SIZE))
    while not state["over"]:
        state = play(client, game, "pass")
    assert state["status"] == "over"
    assert state["result"] is not None and state["store_id"] is not None

    [(store_id, stored)] = web_games(run)
    assert store_id == state["store_id"]
    assert (stored.black, stored.white, stored.agent_colour) == ("human:alice", "agent", WHITE)
    assert stored.result == state["result"]
    assert stored.metadata["source"] == "web"
    final = stored.replay()
    assert final.winner() == stored.winner
    if not state["capped"]:
        assert [m.point for m in stored.moves[-2:]] == [SIZE * SIZE] * 2  # ended by two passes
    agent_moves = [m for m in stored.moves if m.colour == WHITE]
    human_moves = [m for m in stored.moves if m.colour == BLACK]
    assert agent_moves and all(m.player == "agent" for m in agent_moves)
    for m in agent_moves:
        assert m.policy is not None and len(m.policy) == SIZE * SIZE + 1
        assert sum(m.policy) == pytest.approx(1.0, abs=1e-4)
        assert m.root_value is not None and -1.0 <= m.root_value <= 1.0
    assert all(m.policy is None and m.player == "human:alice" for m in human_moves)
    # A trainer polling this store learns its value from every position and its policy
    # from exactly the agent's moves.
    window = ReplayWindow(SIZE, run.config.net.features, capacity=1000)
    assert window.add_game(stored, store_id) == len(stored.moves)
    assert window.policy_rows_added == len(agent_moves)


def test_person_playing_white_sees_the_agent_move_first(client: TestClient, run: RunDir) -> None:
    state = new_game(client, "bob", "white")
    assert state["human_colour"] == "white"
    state = wait_for_person(client, state)
    assert len(state["moves"]) == 1 and state["moves"][0]["player"] == "agent"
    assert state["to_play"] == "white" and state["status"] == "your_move"


def test_two_passes_end_the_game_and_show_the_area_score(run: RunDir) -> None:
    with scripted_client(run, ScriptedAgent(["B2", "pass"])) as client:
        game = new_game(client)
        play(client, game, "C3")
        state = play(client, game, "pass")
    assert state["over"] and [m["move"] for m in state["moves"]] == ["C3", "B2", "pass", "pass"]
    assert state["score"] == {"black_area": 1, "white_area": 1, "komi": 7.5, "margin": -7.5}
    assert state["result"] == "W+7.5" and state["winner"] == "white"
    assert web_count(run) == 1


def test_resignation_ends_the_game_and_is_stored(client: TestClient, run: RunDir) -> None:
    game = new_game(client, "carol")
    play(client, game, "C3")
    r = client.post(f"/api/games/{game['game_id']}/resign", json={"token": game["token"]})
    assert r.status_code == 200, r.text
    state = r.json()
    assert state["over"] and state["result"] == "W+R" and state["winner"] == "white"
    [(_, stored)] = web_games(run)
    assert stored.result == "W+R" and stored.winner == WHITE
    assert stored.moves[-1].point == -1 and stored.moves[-1].player == "human:carol"


# ---------------------------------------------------------------------- illegal moves


def refused(response: Any, status: int, reason: str) -> None:
    assert response.status_code == status, response.text
    assert reason in response.json()["detail"]


def test_move_on_an_occupied_point_is_refused_and_nothing_is_stored(
    client: TestClient, run: RunDir
) -> None:
    game = new_game(client)
    play(client, game, "C3")
    refused(move(client, game, "C3"), 409, "C3 is occupied")
    assert web_count(run) == 0


def test_suicide_is_refused_with_the_reason(run: RunDir) -> None:
    with scripted_client(run, ScriptedAgent(["A2", "B1"])) as client:
        game = new_game(client)
        play(client, game, "C3")
        play(client, game, "D4")
        refused(move(client, game, "A1"), 409, "A1 is suicide")
        state = client.get(f"/api/games/{game['game_id']}").json()
    assert state["status"] == "your_move" and len(state["moves"]) == 4
    assert web_count(run) == 0


def test_retaking_a_ko_at_once_is_refused(run: RunDir) -> None:
    # White (scripted) surrounds C3 on three sides, black D3 on three; black takes C3 and
    # white captures it with D3: black may not retake at C3 at once.
    with scripted_client(run, ScriptedAgent(["C4", "B3", "C2", "D3"])) as client:
        game = new_game(client)
        for text in ("D4", "E3", "D2", "C3"):
            state = play(client, game, text)
        assert state["captures"]["white"] == 1
        response = move(client, game, "C3")
    assert response.status_code == 409
    assert "ko" in response.json()["detail"] and "C3" in response.json()["detail"]
    assert web_count(run) == 0


@pytest.mark.parametrize(
    ("text", "reason"),
    [("F6", "off the 5x5 board"), ("Z9", "not a GTP point"), ("I3", "not a GTP point")],
)
def test_move_off_the_board_is_refused(
    client: TestClient, run: RunDir, text: str, reason: str
) -> None:
    game = new_game(client)
    refused(move(client, game, text), 422, reason)
    assert web_count(run) == 0


def test_move_on_the_agents_turn_is_refused(run: RunDir) -> None:
    gate = threading.Event()
    with scripted_client(run, ScriptedAgent(["B2"], gate=gate)) as client:
        game = new_game(client)
        r = move(client, game, "C3")
        assert r.json()["status"] == "agent_thinking"
        refused(move(client, game, "D4"), 409, "it is the agent's move")
        refused(
            client.post(f"/api/games/{game['game_id']}/resign", json={"token": game["token"]}),
            409,
            "agent's move",
        )
        gate.set()
        state = wait_for_person(client, r.json())
    assert [m["move"] for m in state["moves"]] == ["C3", "B2"]
    assert web_count(run) == 0


def test_moves_after_the_end_are_refused(run: RunDir) -> None:
    with scripted_client(run, ScriptedAgent([])) as client:
        game = new_game(client)
        state = play(client, game, "pass")
        assert state["over"]
        refused(move(client, game, "C3"), 409, "the game is over")
        refused(move(client, game, "pass"), 409, "the game is over")
        r = client.post(f"/api/games/{game['game_id']}/resign", json={"token": game["token"]})
        refused(r, 409, "the game is over")
    assert web_count(run) == 1


# ---------------------------------------------------------------------- safety


def test_a_move_with_another_games_token_is_forbidden(client: TestClient, run: RunDir) -> None:
    alice = new_game(client, "alice")
    mallory = new_game(client, "mallory")
    refused(move(client, alice, "C3", token=mallory["token"]), 403, "belongs to someone else")
    refused(move(client, alice, "C3", token="guess"), 403, "belongs to someone else")
    r = client.post(f"/api/games/{alice['game_id']}/resign", json={"token": mallory["token"]})
    refused(r, 403, "belongs to someone else")
    state = client.get(f"/api/games/{alice['game_id']}").json()
    assert state["moves"] == [] and not state["over"]
    assert "token" not in state  # the secret is only ever returned to its creator
    assert web_count(run) == 0


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b'{"token": "abc"}',
        b'{"token": "abc", "move": "C3", "extra": 1}',
        b'{"token": 5, "move": "C3"}',
        b'["C3"]',
        b"",
    ],
)
def test_malformed_bodies_are_refused(client: TestClient, run: RunDir, body: bytes) -> None:
    game = new_game(client)
    r = client.post(
        f"/api/games/{game['game_id']}/move",
        content=body,
        headers={"Content-Type": "application/json"},
    )
    assert r.status_code == 422, r.text
    assert client.get(f"/api/games/{game['game_id']}").json()["moves"] == []


@pytest.mark.parametrize(
    "body",
    [
        {"nickname": "", "size": SIZE},
        {"nickname": "x" * 33, "size": SIZE},
        {"nickname": "bad\u202ename", "size": SIZE},
        {"nickname": "new\nline", "size": SIZE},
        {"nickname": "ok", "size": 9},
        {"nickname": "ok", "size": SIZE, "colour": "green"},
        {"nickname": "ok", "size": "five"},
    ],
)
def test_bad_new_game_requests_are_refused(client: TestClient, body: dict[str, Any]) -> None:
    r = client.post("/api/games", json=body)
    assert r.status_code == 422, r.text


def test_nickname_with_markup_is_stored_and_returned_verbatim(run: RunDir) -> None:
    nick = "<script>alert(1)</script>"
    with scripted_client(run, ScriptedAgent([])) as client:
        game = new_game(client, nick)
        state = play(client, game, "pass")
        listed = client.get("/api/history").json()["games"]
        page = client.get("/").text
        script = client.get("/static/app.js").text
    assert state["nickname"] == nick and state["black"] == f"human:{nick}"
    [(_, stored)] = web_games(run)
    assert stored.black == f"human:{nick}"
    assert listed[0]["black"] == f"human:{nick}"  # JSON, not HTML: no escaping needed here
    # The page never turns data into HTML: names reach the document only as text.
    assert "innerHTML" not in script and "insertAdjacentHTML" not in script
    assert "document.write" not in script
    assert nick not in page


def test_nicknames_are_normalised_and_checked() -> None:
    assert clean_nickname("  Zoë  ") == "Zoë"
    assert clean_nickname("e\u0301") == "\u00e9"  # NFC
    for bad in ("", "   ", "a\tb", "a\u200bb", "two  spaces"):
        with pytest.raises(ValueError):
            clean_nickname(bad)


def test_too_many_requests_get_429(run: RunDir) -> None:
    settings = WebSettings(seed=0, rate=0.01, burst=3, checkpoint_poll=3600.0)
    with TestClient(create_app(run, settings)) as client:
        codes = [client.get("/api/info").status_code for _ in range(5)]
        last = client.get("/api/info")
    assert codes[:3] == [200, 200, 200] and codes[3:] == [429, 429]
    assert last.status_code == 429 and int(last.headers["Retry-After"]) >= 1


def test_token_bucket_refills_at_its_rate() -> None:
    now = [0.0]
    limiter = TokenBucketLimiter(rate=2.0, burst=2, clock=lambda: now[0])
    assert [limiter.allow("a") for _ in range(2)] == [0.0, 0.0]
    assert limiter.allow("a") == pytest.approx(0.5)
    assert limiter.allow("b") == 0.0  # buckets are per client
    now[0] += 0.5
    assert limiter.allow("a") == 0.0


def test_open_games_per_client_are_limited(run: RunDir) -> None:
    settings = WebSettings(seed=0, rate=1000.0, burst=1000, max_open_per_client=2)
    with TestClient(create_app(run, settings)) as client:
        new_game(client, "a")
        new_game(client, "b")
        r = client.post("/api/games", json={"nickname": "c", "size": SIZE})
    refused(r, 429, "open games")


def test_oversized_bodies_are_refused(client: TestClient) -> None:
    big = b'{"nickname": "' + b"x" * 10_000 + b'", "size": 5}'
    headers = {"Content-Type": "application/json"}
    assert client.post("/api/games", content=big, headers=headers).status_code == 413
    # Chunked, with no Content-Length: refused while it is read.
    chunks = iter([big[:2000], big[2000:6000], big[6000:]])
    assert client.post("/api/games", content=chunks, headers=headers).status_code == 413


def test_abandoned_games_are_dropped_by_the_runner_without_being_stored() -> None:
    now = [0.0]
    stored: list[Game] = []

    def store(game: Game) -> int:
        stored.append(game)
        return len(stored)

    runner = MatchRunner(Rules(size=SIZE), None, source="web")
    table = GameTable(
        runner,
        ScriptedAgent([]),
        on_finished=store,
        idle_timeout=60.0,
        finished_ttl=100.0,
        clock=lambda: now[0],
    )
    idle = table.create("idle", SIZE, "black", "1.2.3.4")
    done = table.create("done", SIZE, "black", "1.2.3.4")
    table.resign(done["game_id"], done["token"])
    runner.step(0)
    assert table.state(done["game_id"])["over"] and len(stored) == 1
    now[0] = 30.0
    assert table.expire() == []
    now[0] = 61.0
    assert table.expire() == [idle["game_id"]]  # idle too long: the person left
    with pytest.raises(LookupError):
        table.state(idle["game_id"])
    _, dropped = runner.step(0)
    assert [d.game_id for d in dropped] == [idle["game_id"]]  # the runner voids it
    assert "human:idle" in dropped[0].reason and "left" in dropped[0].reason
    assert runner.live_games == 0
    now[0] = 101.0
    assert table.expire() == [done["game_id"]]  # finished games stay a while, then go
    assert len(table) == 0 and len(stored) == 1  # only the finished game was stored


def test_unknown_games_are_404_and_paths_never_reach_files(client: TestClient) -> None:
    assert client.get("/api/games/nosuchgame").status_code == 404
    assert client.get("/api/games/nosuchgame/sgf").status_code == 404
    for path in ("/api/games/..%2F..%2Fetc%2Fpasswd/sgf", "/api/games/%2Fetc%2Fpasswd/sgf"):
        r = client.get(path)
        assert r.status_code in (404, 422) and "root:" not in r.text
    assert client.get("/api/history/999").status_code == 404
    assert client.get("/static/../games.py").status_code == 404


def test_pages_carry_a_strict_content_security_policy(client: TestClient) -> None:
    r = client.get("/")
    assert r.status_code == 200 and "<svg" in r.text
    policy = r.headers["Content-Security-Policy"]
    assert "default-src 'self'" in policy and "script-src 'self'" in policy
    assert "http" not in r.text.replace('xmlns="http', "")  # no external resources
    assert r.headers["X-Content-Type-Options"] == "nosniff"


# ---------------------------------------------------------------------- SGF, history, replay


def test_sgf_download_is_the_game_record(run: RunDir) -> None:
    with scripted_client(run, ScriptedAgent(["B2"])) as client:
        game = new_game(client, "dora")
        play(client, game, "C3")
        live = client.get(f"/api/games/{game['game_id']}/sgf")
        state = play(client, game, "pass")
        final = client.get(f"/api/games/{game['game_id']}/sgf")
        stored = client.get(f"/api/history/{state['store_id']}/sgf")
    assert live.status_code == 200 and "attachment" in live.headers["Content-Disposition"]
    partial = sgf_to_game(live.content)
    assert [m.point for m in partial.moves] == [gtp_to_point("C3", 5), gtp_to_point("B2", 5)]
    record = sgf_to_game(final.content)
    assert record.black == "human:dora" and record.result == state["result"]
    assert len(record.moves) == 4
    assert sgf_to_game(stored.content).moves == record.moves


def test_history_lists_finished_games_and_replays_them_move_by_move(run: RunDir) -> None:
    with scripted_client(run, ScriptedAgent(["B2", "pass", "D4", "pass"])) as client:
        first = new_game(client, "erin")
        play(client, first, "C3")
        end1 = play(client, first, "pass")
        second = new_game(client, "frank")
        play(client, second, "A1")
        end2 = play(client, second, "pass")
        everyone = client.get("/api/history").json()["games"]
        erins = client.get("/api/history", params={"nickname": "erin"}).json()["games"]
        replay = client.get(f"/api/history/{end1['store_id']}").json()
    assert [g["store_id"] for g in everyone] == [end2["store_id"], end1["store_id"]]
    assert [g["store_id"] for g in erins] == [end1["store_id"]]
    frames = replay["frames"]
    assert len(frames) == len(replay["move_list"]) + 1 == 5
    assert frames[0]["board"] == "." * 25 and frames[-1]["board"] == end1["board"]
    assert frames[1]["last_point"] == gtp_to_point("C3", 5)


# ---------------------------------------------------------------------- the agent


def test_waiting_games_are_answered_by_one_batched_search(run: RunDir) -> None:
    app = create_app(run, GENEROUS)
    with TestClient(app) as client:
        runner_thread = app.state.runner_thread
        runner_thread.stop()  # step the runner by hand to see the batch
        games = [new_game(client, f"p{i}", "white") for i in range(3)]
        assert runner_thread.step() == 3
        stats = client.get("/api/status").json()["agent"]
        assert stats["batches"] == 1 and stats["largest_batch"] == 3
        states = [client.get(f"/api/games/{g['game_id']}").json() for g in games]
    assert all(s["status"] == "your_move" and len(s["moves"]) == 1 for s in states)
    assert app.state.table.agent.add_noise is False  # people meet the agent's best play


def test_several_peoples_moves_share_one_batched_agent_search(run: RunDir) -> None:
    """People who move while the agent searches are all answered by its next search."""
    agent = ScriptedAgent([])
    app = create_app(run, replace(GENEROUS, move_wait=0.0))  # nobody steps the runner yet
    app.state.table.agent = agent
    with TestClient(app) as client:
        runner_thread = app.state.runner_thread
        runner_thread.stop()
        games = [new_game(client, f"p{i}", "black") for i in range(3)]
        for game, text in zip(games, ("A1", "B2", "C3"), strict=True):
            assert move(client, game, text).status_code == 200  # accepted, not yet played
        runner_thread.step()  # takes the three moves in, then searches once for all
        states = [client.get(f"/api/games/{g['game_id']}").json() for g in games]
    assert agent.batches == [3]
    assert all(s["status"] == "your_move" and len(s["moves"]) == 2 for s in states)


def test_every_record_the_web_shows_or_stores_is_built_by_the_match_runner(
    run: RunDir, monkeypatch: pytest.MonkeyPatch
) -> None:
    built: list[Game] = []
    record = MatchRunner._record

    def spy(self: MatchRunner, *args: Any, **kwargs: Any) -> Game:
        built.append(record(self, *args, **kwargs))
        return built[-1]

    monkeypatch.setattr(MatchRunner, "_record", spy)
    with scripted_client(run, ScriptedAgent(["B2"])) as client:
        game = new_game(client, "hana")
        play(client, game, "C3")
        live = sgf_to_game(client.get(f"/api/games/{game['game_id']}/sgf").content)
        play(client, game, "pass")
    [(_, stored)] = web_games(run)
    assert live == next(g for g in built if g.result == "?" and len(g.moves) == 2)
    assert stored == built[-1] and stored.result != "?"


def test_an_agent_that_fails_stops_its_games_and_the_server_goes_on(run: RunDir) -> None:
    class BrokenAgent(ScriptedAgent):
        def select_moves(self, requests: Sequence[MoveRequest]) -> list[MoveChoice]:
            raise RuntimeError("the network is gone")

    with scripted_client(run, BrokenAgent([])) as client:
        state = wait_for_person(client, new_game(client, "ivy", "white"))
        assert state["status"] == "stopped" and "the network is gone" in state["error"]
        assert client.get("/api/status").json()["agent"]["failures"] == 1
        assert client.get("/api/status").json()["worker_running"]
        new_game(client, "ivy", "black")  # people can still start games
    assert web_count(run) == 0


def test_agent_picks_up_a_newer_checkpoint(run: RunDir) -> None:
    settings = WebSettings(seed=0, rate=1000.0, burst=1000, checkpoint_poll=0.05)
    with TestClient(create_app(run, settings)) as client:
        assert client.get("/api/info").json()["network"]["fresh"] is True
        save_checkpoint(run.checkpoint_path(7), PolicyValueNet(run.config.net), step=7)
        deadline = time.monotonic() + 30
        while client.get("/api/info").json()["network"]["fresh"]:
            assert time.monotonic() < deadline, "the new checkpoint was never picked up"
            time.sleep(0.05)
        assert client.get("/api/info").json()["network"]["label"] == "run@7"
        game = new_game(client, "gina")
        state = play(client, game, "pass")
        while not state["over"]:
            state = play(client, game, "pass")
    [(_, stored)] = web_games(run)
    assert stored.checkpoint == "run@7"


def test_the_agents_name_is_defined_once_for_training_and_the_web() -> None:
    from crowdzero.web import app

    package = Path(crowdzero.__file__).parent
    defining = [
        path.relative_to(package).as_posix()
        for path in sorted(package.rglob("*.py"))
        if re.search(r"^AGENT_NAME\b.*=", path.read_text(), re.MULTILINE)
    ]
    assert defining == ["play/match_runner.py"]
    assert app.AGENT_NAME is AGENT_NAME
