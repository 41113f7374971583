"""The SQLite game store: round trips, atomicity, concurrency and integrity checks."""

from __future__ import annotations

import multiprocessing
import sqlite3
import tempfile
import threading
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crowdzero.go.coords import BLACK, RESIGN, WHITE
from crowdzero.go.position import KoRule, Position, Rules
from crowdzero.play.record import Game, Move
from crowdzero.store import game_store
from crowdzero.store.game_store import GameNotFound, GameStore, PairResult, StoreError
from crowdzero.store.schema import SCHEMA_VERSION


def make_game(
    seed: int = 0,
    size: int = 5,
    max_moves: int = 30,
    black: str = "agent",
    white: str = "random",
    agent_colour: int = BLACK,
    resign: bool = False,
    checkpoint: str | None = None,
) -> Game:
    """A legal random game; the agent's moves carry float32-exact policies and values."""
    rng = np.random.default_rng(seed)
    rules = Rules(size=size, komi=2.5 + seed % 3, ko=list(KoRule)[seed % 3])
    position = Position(rules)
    moves: list[Move] = []
    while not position.is_over and len(moves) < max_moves:
        colour = position.to_play
        legal = np.flatnonzero(position.legal_mask()[:-1])
        pass_point = size * size
        point = int(rng.choice(legal)) if len(legal) and rng.random() > 0.05 else pass_point
        name = black if colour == BLACK else white
        if colour == agent_colour or agent_colour == 2:
            policy = rng.random(size * size + 1).astype(np.float32)
            policy /= policy.sum()
            value = None if len(moves) % 3 == 0 else float(rng.uniform(-1, 1))
            moves.append(Move(colour, point, tuple(policy.tolist()), value, name))
        else:
            moves.append(Move(colour, point, None, None, name if len(moves) % 2 else None))
        position.play(point)
    if resign and not position.is_over:
        moves.append(Move(position.to_play, RESIGN, player=None))
        position.resign()
    return Game(
        rules=rules,
        black=black,
        white=white,
        moves=tuple(moves),
        result=position.result_string(),
        winner=position.winner(),
        date="2026-05-09T12:00:00+00:00",
        agent_colour=agent_colour,
        checkpoint=checkpoint,
        metadata={"seed": str(seed)},
    )


@pytest.fixture
def store(tmp_path: Path):
    with GameStore(tmp_path / "games.sqlite") as s:
        yield s


def test_game_round_trips_with_policies_and_none_values(store: GameStore) -> None:
    game = make_game(seed=1, resign=True)
    assert any(m.policy is not None for m in game.moves)
    assert any(m.root_value is None for m in game.moves)
    assert any(m.player is None for m in game.moves)
    assert game.moves[-1].point == RESIGN
    game_id = store.add_game(game)
    back = store.get_game(game_id)
    assert back == game
    assert back.metadata == game.metadata


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    size=st.integers(5, 9),
    length=st.integers(0, 40),
    agent=st.sampled_from([BLACK, WHITE, 0, 2]),
)
def test_any_legal_game_round_trips(seed: int, size: int, length: int, agent: int) -> None:
    game = make_game(seed=seed, size=size, max_moves=length, agent_colour=agent)
    with tempfile.TemporaryDirectory() as tmp, GameStore(Path(tmp) / "g.sqlite") as store:
        assert store.get_game(store.add_game(game)) == game


def test_policy_comes_back_rounded_to_float32(store: GameStore) -> None:
    policy = tuple([0.1] * 25 + [0.0])
    game = replace(make_game(max_moves=0), moves=(Move(BLACK, 3, policy, 0.123456789),))
    back = store.get_game(store.add_game(game)).moves[0]
    assert back.policy == (*[np.float32(0.1).item()] * 25, 0.0)
    assert back.root_value == 0.123456789


def test_a_game_whose_insert_fails_half_way_leaves_nothing(store: GameStore) -> None:
    good = make_game(seed=2)
    moves = list(good.moves)
    moves[len(moves) // 2] = replace(moves[len(moves) // 2], colour=3)  # the schema refuses it
    bad = replace(good, moves=tuple(moves), black="someone-new")
    with pytest.raises(StoreError, match="nothing was stored"):
        store.add_game(bad)
    assert store.count_games() == 0
    assert store.players() == []
    raw = sqlite3.connect(store.path)
    assert raw.execute("SELECT count(*) FROM moves").fetchone()[0] == 0
    raw.close()
    # The store is still usable after the failed transaction.
    assert store.get_game(store.add_game(good)) == good


def test_add_games_is_all_or_nothing(store: GameStore) -> None:
    bad = replace(make_game(seed=3), winner=5)
    with pytest.raises(StoreError):
        store.add_games([make_game(seed=4), bad])
    assert store.count_games() == 0


def test_a_policy_of_the_wrong_length_is_refused(store: GameStore) -> None:
    game = replace(make_game(max_moves=0), moves=(Move(BLACK, 3, (1.0, 0.0)),))
    with pytest.raises(StoreError, match="26"):
        store.add_game(game)


def test_missing_game_raises_game_not_found(store: GameStore) -> None:
    with pytest.raises(GameNotFound):
        store.get_game(42)


def test_iter_games_filters_by_id_source_and_player(
    store: GameStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(game_store, "PAGE_SIZE", 3)  # so iteration crosses pages
    ids = []
    for i in range(10):
        white = "gnugo:5" if i % 2 else "random"
        source = "arena" if i % 3 == 0 else "train"
        ids.append(store.add_game(make_game(seed=i, max_moves=6, white=white), source=source))
    assert [i for i, _ in store.iter_games()] == ids
    assert [i for i, _ in store.iter_games(since_id=ids[6])] == ids[7:]
    arena = [i for i, _ in store.iter_games(source="arena")]
    assert arena == [ids[i] for i in (0, 3, 6, 9)]
    gnugo = list(store.iter_games(player="gnugo:5"))
    assert [i for i, _ in gnugo] == ids[1::2]
    assert all(g.white == "gnugo:5" for _, g in gnugo)
    assert store.count_games() == 10
    assert store.count_games(source="arena", player="gnugo:5") == 2
    assert store.count_games(player="nobody") == 0
    assert store.last_game_id() == ids[-1]


def test_empty_store_has_no_games(store: GameStore) -> None:
    assert store.last_game_id() == 0
    assert list(store.iter_games()) == []
    assert store.latest_checkpoint() is None
    assert store.results_table() == []


def test_games_between_finds_both_colour_assignments(store: GameStore) -> None:
    a = store.add_game(make_game(seed=1, black="agent", white="random"))
    store.add_game(make_game(seed=2, black="agent", white="gnugo:1"))
    b = store.add_game(make_game(seed=3, black="random", white="agent", agent_colour=WHITE))
    assert [i for i, _ in store.games_between("agent", "random")] == [a, b]
    assert [i for i, _ in store.games_between("random", "agent")] == [a, b]


def _decided(black: str, white: str, result: str, winner: int) -> Game:
    return replace(make_game(max_moves=2), black=black, white=white, result=result, winner=winner)


def test_results_table_counts_by_colour_and_skips_void_games(store: GameStore) -> None:
    for result, winner in [("B+3.5", BLACK), ("B+R", BLACK), ("W+1.5", WHITE), ("0", 0)]:
        store.add_game(_decided("agent", "random", result, winner))
    store.add_game(_decided("agent", "random", "Void", 0))
    store.add_game(_decided("random", "agent", "B+R", BLACK), source="arena")
    assert store.results_table() == [
        PairResult("agent", "random", black_wins=2, white_wins=1, draws=1),
        PairResult("random", "agent", black_wins=1, white_wins=0, draws=0),
    ]
    assert store.results_table(source="arena") == [PairResult("random", "agent", 1, 0, 0)]


def test_checkpoints_are_registered_and_linked_to_games(store: GameStore) -> None:
    first = store.add_checkpoint(100, "runs/x/checkpoints/ckpt-00000100.pt", games_seen=10)
    second = store.add_checkpoint(200, "runs/x/checkpoints/ckpt-00000200.pt", games_seen=25)
    assert [c.step for c in store.checkpoints()] == [100, 200]
    latest = store.latest_checkpoint()
    assert latest is not None and (latest.id, latest.games_seen) == (second, 25)
    # Registering a step again (a resumed run) updates it in place, keeping its id.
    assert store.add_checkpoint(100, "elsewhere/ckpt-00000100.pt", games_seen=11) == first
    assert store.checkpoints()[0].path == "elsewhere/ckpt-00000100.pt"
    game_id = store.add_game(make_game(checkpoint="ckpt-00000200.pt"))
    unknown = store.add_game(make_game(checkpoint="not-registered"))
    raw = sqlite3.connect(store.path)
    linked = dict(raw.execute("SELECT id, checkpoint_id FROM games").fetchall())
    raw.close()
    assert linked == {game_id: second, unknown: None}
    assert store.get_game(unknown).checkpoint == "not-registered"


def test_reopening_keeps_games_and_uses_wal(tmp_path: Path) -> None:
    path = tmp_path / "games.sqlite"
    with GameStore(path) as store:
        game_id = store.add_game(make_game(seed=5))
    with GameStore(path) as store:
        assert store.get_game(game_id) == make_game(seed=5)
    raw = sqlite3.connect(path)
    assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert raw.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    raw.close()


def test_a_file_that_is_not_sqlite_raises_store_error(tmp_path: Path) -> None:
    path = tmp_path / "games.sqlite"
    path.write_text("these are not the games you are looking for\n" * 100)
    with pytest.raises(StoreError, match="not a crowdzero game store"):
        GameStore(path)


def test_another_applications_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.sqlite"
    raw = sqlite3.connect(path)
    raw.execute("CREATE TABLE photos (id INTEGER PRIMARY KEY)")
    raw.commit()
    raw.close()
    with pytest.raises(StoreError, match="other tables"):
        GameStore(path)


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "games.sqlite"
    GameStore(path).close()
    raw = sqlite3.connect(path)
    raw.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    raw.close()
    with pytest.raises(StoreError, match="newer"):
        GameStore(path)


def test_an_unreachable_path_raises_store_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError):
        GameStore(tmp_path / "no" / "such" / "dir" / "games.sqlite")


def test_a_closed_store_says_so(tmp_path: Path) -> None:
    store = GameStore(tmp_path / "g.sqlite")
    store.close()
    with pytest.raises(StoreError, match="closed"):
        store.count_games()


def test_threads_can_share_one_store(store: GameStore) -> None:
    errors: list[BaseException] = []

    def write(offset: int) -> None:
        try:
            for i in range(10):
                store.add_game(make_game(seed=offset + i, max_moves=8))
                store.count_games()
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=write, args=(100 * t,)) for t in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert store.count_games() == 40
    assert store.integrity_check() == []


def _write_games(path: str | None, store: GameStore | None, writer: int, n: int) -> None:
    own = store is None
    if store is None:
        assert path is not None
        store = GameStore(path)
    for i in range(n):
        game = make_game(seed=1000 * writer + i, max_moves=10, white=f"writer:{writer}")
        store.add_game(game, source=f"writer{writer}")
    if own:
        store.close()


def test_two_processes_writing_fifty_games_each_all_arrive(tmp_path: Path) -> None:
    path = tmp_path / "games.sqlite"
    ctx = multiprocessing.get_context("fork")
    with GameStore(path) as store:
        store.add_player("agent")
        # One writer opens its own store (the web server); the other inherits the
        # parent's object through fork (the store must not reuse the parent's connection).
        procs = [
            ctx.Process(target=_write_games, args=(str(path), None, 1, 50)),
            ctx.Process(target=_write_games, args=(None, store, 2, 50)),
        ]
        for p in procs:
            p.start()
        seen = 0
        while any(p.is_alive() for p in procs):  # read while they write
            seen = max(seen, store.count_games())
        for p in procs:
            p.join()
            assert p.exitcode == 0
        assert store.count_games() == 100
        for writer in (1, 2):
            stored = [g for _, g in store.iter_games(source=f"writer{writer}")]
            expected = [
                make_game(seed=1000 * writer + i, max_moves=10, white=f"writer:{writer}")
                for i in range(50)
            ]
            assert sorted(stored, key=lambda g: g.metadata["seed"]) == sorted(
                expected, key=lambda g: g.metadata["seed"]
            )
        assert store.integrity_check(replay=True) == []


def _corrupt(path: Path, sql: str) -> None:
    raw = sqlite3.connect(path)
    raw.execute(sql)
    raw.commit()
    raw.close()


def test_integrity_check_passes_a_healthy_store(store: GameStore) -> None:
    for seed in range(5):
        store.add_game(make_game(seed=seed, resign=seed % 2 == 0))
    assert store.integrity_check(replay=True) == []


def test_integrity_check_catches_a_missing_move(store: GameStore) -> None:
    game_id = store.add_game(make_game(seed=1, max_moves=10))
    _corrupt(store.path, f"DELETE FROM moves WHERE game_id = {game_id} AND ply = 4")
    assert store.integrity_check() == [
        f"game {game_id}: 10 moves recorded but 9 stored (plies 0..9)"
    ]


def test_integrity_check_catches_misnumbered_plies(store: GameStore) -> None:
    game_id = store.add_game(make_game(seed=1, max_moves=10))
    _corrupt(store.path, f"UPDATE moves SET ply = 17 WHERE game_id = {game_id} AND ply = 9")
    problems = store.integrity_check()
    assert len(problems) == 1 and "plies 0..17" in problems[0]


def test_integrity_check_catches_a_truncated_policy(store: GameStore) -> None:
    game_id = store.add_game(make_game(seed=1, max_moves=10))
    _corrupt(
        store.path,
        f"UPDATE moves SET policy = substr(policy, 1, 8) WHERE game_id = {game_id} AND ply = 0",
    )
    assert store.integrity_check() == [f"game {game_id} move 0: policy does not have 26 entries"]


def test_integrity_replay_catches_an_illegal_move(store: GameStore) -> None:
    game = make_game(seed=1, max_moves=10)
    game_id = store.add_game(game)
    first = game.moves[0].point
    assert store.integrity_check(replay=True) == []
    _corrupt(store.path, f"UPDATE moves SET point = {first} WHERE game_id = {game_id} AND ply = 2")
    assert store.integrity_check() == []  # structurally fine...
    problems = store.integrity_check(replay=True)  # ...but not a legal game
    assert len(problems) == 1 and "does not replay" in problems[0]


def test_integrity_replay_catches_a_wrong_winner(store: GameStore) -> None:
    game = make_game(seed=1, resign=True)
    game_id = store.add_game(game)
    _corrupt(store.path, f"UPDATE games SET winner = {-game.winner} WHERE id = {game_id}")
    problems = store.integrity_check(replay=True)
    assert len(problems) == 1 and "winner" in problems[0]


def test_a_version_1_store_upgrades_and_keeps_its_games(tmp_path: Path) -> None:
    from crowdzero.store.schema import APPLICATION_ID, MIGRATIONS

    path = tmp_path / "old.sqlite"
    raw = sqlite3.connect(path, isolation_level=None)
    MIGRATIONS[0](raw)  # the schema runs were made with before move weights and game uids
    raw.execute("PRAGMA user_version = 1")
    raw.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    raw.close()
    with GameStore(path) as store:
        old_id = store.add_game(make_game(seed=1))  # written as a version-2 store would
    raw = sqlite3.connect(path, isolation_level=None)
    raw.execute("PRAGMA user_version = 1")  # pretend it was written by the old code ...
    raw.execute("DROP INDEX games_uid")
    raw.execute("ALTER TABLE moves DROP COLUMN weights_step")
    for column in ("advice_point", "advice_source", "adviser"):  # added by version 3
        raw.execute(f"ALTER TABLE moves DROP COLUMN {column}")
    raw.close()
    with GameStore(path) as store:  # ... and opened by the new one
        assert store.get_game(old_id) == make_game(seed=1)
        assert set(store.weights_steps(old_id)) == {None}
        assert store.integrity_check(replay=True) == []


def test_each_move_keeps_the_weights_step_it_was_searched_with(tmp_path: Path) -> None:
    game = make_game(seed=3)
    steps = [25 if move.policy is not None else None for move in game.moves]
    steps[-1] = None if steps[-1] is None else 50
    stamped = replace(
        game,
        moves=tuple(
            replace(move, weights_step=step) for move, step in zip(game.moves, steps, strict=True)
        ),
    )
    with GameStore(tmp_path / "g.sqlite") as store:
        game_id = store.add_game(stamped)
        assert store.weights_steps(game_id) == steps
        assert store.get_game(game_id) == stamped


def test_a_game_with_a_stored_uid_is_refused_whole(tmp_path: Path) -> None:
    from crowdzero.store.game_store import DuplicateGame

    game = replace(make_game(seed=4), metadata={"uid": "w1-7"})
    with GameStore(tmp_path / "g.sqlite") as store:
        store.add_game(game)
        with pytest.raises(DuplicateGame):
            store.add_game(game)
        with pytest.raises(DuplicateGame):  # in a batch, the batch is refused
            store.add_games([replace(game, metadata={"uid": "w1-8"}), game])
        store.add_game(make_game(seed=4))  # games without a uid are never compared
        store.add_game(make_game(seed=4))
        assert store.count_games() == 3
        assert store.integrity_check() == []


def test_a_version_2_store_gains_advice_columns_and_keeps_its_games(tmp_path: Path) -> None:
    from crowdzero.store.schema import APPLICATION_ID, MIGRATIONS

    path = tmp_path / "v2.sqlite"
    raw = sqlite3.connect(path, isolation_level=None)
    MIGRATIONS[0](raw)
    MIGRATIONS[1](raw)
    raw.execute("PRAGMA user_version = 2")
    raw.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    raw.close()
    with GameStore(path) as store:
        game_id = store.add_game(make_game(seed=5))
        assert store.get_game(game_id) == make_game(seed=5)
        assert all(move.advice is None for move in store.get_game(game_id).moves)


def test_a_move_keeps_the_advice_it_was_given(tmp_path: Path) -> None:
    from crowdzero.go.advice import Advice

    game = make_game(seed=6)
    moves = list(game.moves)
    moves[0] = replace(moves[0], advice=Advice(12, "helpful", "gnugo:10"))
    moves[1] = replace(moves[1], advice=Advice(25, "human"))  # advice to pass
    game = replace(game, moves=tuple(moves))
    with GameStore(tmp_path / "g.sqlite") as store:
        game_id = store.add_game(game)
        back = store.get_game(game_id)
        assert back.moves[0].advice == Advice(12, "helpful", "gnugo:10")
        assert back.moves[1].advice == Advice(25, "human")
        assert back.moves[2].advice is None
        off_board = replace(game, moves=(replace(moves[0], advice=Advice(26, "random")),))
        with pytest.raises(StoreError, match="advice 26"):
            store.add_game(off_board)
