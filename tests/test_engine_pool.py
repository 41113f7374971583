"""EnginePool: many concurrent games share a few real GnuGo processes; failures stay local."""

from __future__ import annotations

import os
import signal
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from crowdzero.go.coords import RESIGN
from crowdzero.go.position import Position, Rules
from crowdzero.play.player import MoveRequest, PlayerError
from crowdzero.players.engine_pool import EnginePool, PooledEnginePlayer
from crowdzero.players.engines import (
    EngineConfig,
    EngineUnavailable,
    find_gnugo,
    find_pachi,
    gnugo_config,
)
from crowdzero.players.registry import PlayerSpecError, make_player

pytestmark = pytest.mark.gnugo

RULES = Rules(size=9, komi=7.5)


def _process_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def _dead_or_zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rpartition(")")[2].split()[0] == "Z"


def play_game(pool: EnginePool, game_id: str, max_moves: int = 200) -> Position:
    """The pool plays both colours of one game to its end; every move must be legal."""
    position = Position(RULES)
    while not position.is_over and len(position.moves) < max_moves:
        point = pool.genmove(game_id, position)
        if point == RESIGN:
            position.resign()
        else:
            position.play(point)  # raises IllegalMove if the engine was out of sync
    return position


def run_games(pool: EnginePool, game_ids: list[str]) -> dict[str, Position | Exception]:
    outcome: dict[str, Position | Exception] = {}

    def worker(game_id: str) -> None:
        try:
            outcome[game_id] = play_game(pool, game_id)
        except Exception as exc:  # recorded and asserted on by the test
            outcome[game_id] = exc

    threads = [threading.Thread(target=worker, args=(g,)) for g in game_ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return outcome


@pytest.fixture
def gnugo0() -> EngineConfig:
    try:
        return gnugo_config(0)
    except EngineUnavailable as exc:
        pytest.skip(str(exc))


def test_four_concurrent_games_finish_on_a_pool_of_two(gnugo0: EngineConfig) -> None:
    with EnginePool(gnugo0, size=2) as pool:
        outcome = run_games(pool, [f"game-{i}" for i in range(4)])
        status = pool.status()
        assert pool.replaced == 0
    assert sorted(outcome) == [f"game-{i}" for i in range(4)]
    for position in outcome.values():
        assert isinstance(position, Position)
        assert position.is_over
    assert len({s.pid for s in status}) == 2  # both engines were used, no more were started
    assert {s.seed for s in status} == {0, 1}


def test_a_lone_game_stays_on_one_engine(gnugo0: EngineConfig) -> None:
    with EnginePool(gnugo0, size=2) as pool:
        position = play_game(pool, "alone")
        status = pool.status()
    assert position.is_over
    assert [s.pid is not None for s in status] == [True, False]
    assert status[0].last_game == "alone"


def test_games_interleaved_on_one_engine_are_resynced(gnugo0: EngineConfig) -> None:
    games = {"a": Position(RULES), "b": Position(RULES)}
    games["b"].play(40)  # the two boards differ from the first move on
    with EnginePool(gnugo0, size=1) as pool:
        for _ in range(15):
            for game_id, position in games.items():
                if not position.is_over:
                    position.play(pool.genmove(game_id, position))  # legal on OUR board
    assert all(len(position.moves) > 10 for position in games.values())


def test_killing_an_engine_mid_move_fails_only_its_game(gnugo0: EngineConfig) -> None:
    game_ids = [f"game-{i}" for i in range(4)]
    victim: dict[str, int | str | None] = {}
    games_over = threading.Event()
    with EnginePool(gnugo0, size=2) as pool:

        def kill_one_engine_while_it_thinks() -> None:
            # Freeze a busy engine; if half a second later it still serves the same game,
            # its reply was never read, so the kill -9 lands in the middle of a move.
            while not games_over.is_set():
                for s in pool.status():
                    if s.busy and s.pid is not None:
                        os.kill(s.pid, signal.SIGSTOP)
                        time.sleep(0.5)
                        again = pool.status()[s.index]
                        if again.busy and again.serving == s.serving and again.pid == s.pid:
                            os.kill(s.pid, signal.SIGKILL)
                            victim.update(game=s.serving, pid=s.pid, index=s.index)
                            return
                        os.kill(s.pid, signal.SIGCONT)
                time.sleep(0.001)

        killer = threading.Thread(target=kill_one_engine_while_it_thinks)
        killer.start()
        outcome = run_games(pool, game_ids)
        games_over.set()
        killer.join(timeout=10)
        status = pool.status()
        replaced = pool.replaced

    assert victim, "the killer never caught an engine mid-move"
    assert replaced == 1
    failed = {g for g, result in outcome.items() if isinstance(result, Exception)}
    assert failed == {victim["game"]}
    error = outcome[str(victim["game"])]
    assert isinstance(error, PlayerError)
    assert "exited" in str(error)
    for game_id in set(game_ids) - failed:
        result = outcome[game_id]
        assert isinstance(result, Position) and result.is_over
    killed_pid = int(str(victim["pid"]))
    assert status[int(str(victim["index"]))].pid not in (None, killed_pid)  # a new process
    assert _process_gone(killed_pid)


def test_an_engine_that_died_while_idle_is_restarted_and_the_game_goes_on(
    gnugo0: EngineConfig,
) -> None:
    with EnginePool(gnugo0, size=1) as pool:
        position = Position(RULES)
        for _ in range(6):
            position.play(pool.genmove("g", position))
        pid = pool.status()[0].pid
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        while not _dead_or_zombie(pid):
            time.sleep(0.01)
        position.play(pool.genmove("g", position))  # replayed onto a fresh engine
        assert pool.status()[0].pid != pid
        assert pool.replaced == 0  # no game was waiting on it, so nothing failed


FAKE_ENGINE = textwrap.dedent(
    """
    # A GTP engine that hangs on genmove while the file named by argv[1] exists.
    import os, sys, time
    hang_file = sys.argv[1]
    for line in sys.stdin:
        parts = line.split()
        if not parts:
            continue
        cmd_id, cmd = (parts[0], parts[1]) if parts[0].isdigit() else ("", parts[0])
        if cmd == "genmove" and os.path.exists(hang_file):
            time.sleep(3600)
        answer = "pass" if cmd == "genmove" else ""
        sys.stdout.write(f"={cmd_id} {answer}\\n\\n")
        sys.stdout.flush()
        if cmd == "quit":
            break
    """
)


@pytest.fixture
def hanging_engine(tmp_path: Path) -> tuple[EngineConfig, Path]:
    script = tmp_path / "fake_engine.py"
    script.write_text(FAKE_ENGINE)
    hang_file = tmp_path / "hang"
    hang_file.touch()
    config = EngineConfig(
        name="fake",
        binary=sys.executable,
        args=(str(script), str(hang_file)),
        seed_flag=("--seed",),
    )
    return config, hang_file


def test_a_hung_engine_times_out_and_is_replaced(
    hanging_engine: tuple[EngineConfig, Path],
) -> None:
    config, hang_file = hanging_engine
    hang_file.unlink()
    # The replacement engine is a fresh Python process that must answer within the move
    # timeout: 1 s was tight on a loaded 2-core machine; the hang is endless either way.
    with EnginePool(config, size=1, move_timeout=3.0) as pool:
        position = Position(RULES)
        assert pool.genmove("first", position) == position.pass_point
        hung_pid = pool.status()[0].pid
        assert hung_pid is not None
        hang_file.touch()
        with pytest.raises(PlayerError, match="did not answer"):
            pool.genmove("stuck", position)
        assert pool.replaced == 1
        assert _process_gone(hung_pid)
        replacement = pool.status()[0]
        assert replacement.pid not in (None, hung_pid) and replacement.seed == 1
        hang_file.unlink()
        assert pool.genmove("next", position) == position.pass_point
        assert pool.status()[0].pid == replacement.pid


def test_a_game_waits_for_a_free_engine_only_until_its_deadline(
    hanging_engine: tuple[EngineConfig, Path],
) -> None:
    config, _ = hanging_engine
    with EnginePool(config, size=1, move_timeout=2.0, borrow_timeout=0.3) as pool:
        errors: list[Exception] = []

        def occupy() -> None:
            try:
                pool.genmove("stuck", Position(RULES))
            except PlayerError as exc:
                errors.append(exc)

        holder = threading.Thread(target=occupy)
        holder.start()
        while not pool.status()[0].busy:
            time.sleep(0.01)
        with pytest.raises(PlayerError, match="no engine became free"):
            pool.genmove("waiting", Position(RULES))
        holder.join(timeout=30)
    assert len(errors) == 1


def test_a_closed_pool_refuses_moves(gnugo0: EngineConfig) -> None:
    pool = EnginePool(gnugo0, size=1)
    pool.genmove("g", Position(RULES))
    pid = pool.status()[0].pid
    pool.close()
    with pytest.raises(PlayerError, match="closed"):
        pool.genmove("g", Position(RULES))
    assert pid is not None and _process_gone(pid)


def test_a_fixed_seed_makes_gnugo_repeat_its_game(gnugo0: EngineConfig) -> None:
    games = []
    for _ in range(2):
        with EnginePool(gnugo0, size=1, seed=7) as pool:
            games.append(play_game(pool, "g", max_moves=20).moves)
    assert games[0] == games[1]


def test_gnugo_spec_builds_a_blocking_pooled_player(gnugo0: EngineConfig) -> None:
    player = make_player("gnugo:3")
    try:
        assert isinstance(player, PooledEnginePlayer)
        assert player.blocking and player.name == "gnugo:3"
        choice = player.select_move(MoveRequest("g", Position(RULES)))
        assert Position(RULES).is_legal(choice.point)
    finally:
        player.close()
    with pytest.raises(PlayerSpecError, match="0 to 10"):
        make_player("gnugo:11")


def test_a_missing_binary_raises_engine_unavailable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("CROWDZERO_GNUGO", str(tmp_path / "no-gnugo"))
    monkeypatch.setenv("CROWDZERO_PACHI", str(tmp_path / "no-pachi"))
    with pytest.raises(EngineUnavailable, match="CROWDZERO_GNUGO"):
        find_gnugo()
    with pytest.raises(EngineUnavailable, match="CROWDZERO_PACHI"):
        find_pachi()
    with pytest.raises(EngineUnavailable):
        make_player("pachi:1000")


def test_games_get_a_busy_engine_in_the_order_they_asked(gnugo0: EngineConfig) -> None:
    """First come, first served: a game that asks just as the engine comes back must not
    take it from a game that has been waiting (with 32 games on two GnuGo-10 engines,
    games that lost that race again and again waited past the timeout and were voided)."""
    with EnginePool(gnugo0, size=1, borrow_timeout=30) as pool:
        held = pool._borrow("first")
        served: list[str] = []

        def wait_for_engine(game_id: str) -> None:
            slot = pool._borrow(game_id)
            served.append(game_id)
            pool._return(slot)

        waiting = threading.Thread(target=wait_for_engine, args=("waiting",))
        waiting.start()
        while len(pool._waiting) < 1:
            time.sleep(0.005)
        time.sleep(0.05)  # the waiting game is asleep on the pool
        for _ in range(20):  # give it twenty chances to be overtaken
            pool._return(held)
            if served:
                break
            held = pool._borrow("late")
            served.append("late")
        waiting.join(timeout=30)
    assert served[0] == "waiting"
