"""The advice measurement (#14) on a tiny real setup: games played with a tiny network
that hears advice, stored, then measured per source over checkpoints, against a twin
whose network has no advice planes."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from crowdzero.analysis.study.advice import (
    AdviceResults,
    CheckpointAdvice,
    FollowRates,
    PlayedAdvice,
    advice_results_from_json,
    advice_table,
    advised_moves,
    measure_advice,
    played_advice,
    raw_choices,
    spread_checkpoints,
    study_advice,
)
from crowdzero.analysis.study.metrics import Estimate
from crowdzero.analysis.study.report import markdown_table_html, write_advice
from crowdzero.analysis.study.results import plain_json
from crowdzero.go.coords import BLACK
from crowdzero.go.position import Rules
from crowdzero.net.checkpoint import save_checkpoint
from crowdzero.net.evaluator import TorchEvaluator
from crowdzero.net.model import NetConfig, PolicyValueNet
from crowdzero.play.advice import AdvicePlan
from crowdzero.play.match_runner import AGENT_NAME, MatchRunner, Pairing
from crowdzero.play.record import Game
from crowdzero.players.advisers import OpponentAdviser, RandomAdviser
from crowdzero.players.agent import AgentPlayer
from crowdzero.players.random import RandomNoEyePlayer
from crowdzero.search.config import SearchConfig
from crowdzero.store.game_store import GameStore
from crowdzero.train.config import BoardConfig, RunConfig, TrainConfig
from crowdzero.train.run_dir import RunDir
from tests.test_advice import _advice_reader

RULES = Rules(size=5, komi=0.5)


def _games(net: PolicyValueNet, count: int) -> list[Game]:
    agent = AgentPlayer(
        TorchEvaluator(net, threads=1), SearchConfig(simulations=4), name=AGENT_NAME
    )
    plan = AdvicePlan(((OpponentAdviser(playouts=2, seed=0), 0.4), (RandomAdviser(seed=1), 0.6)))
    index = iter(range(10**6))

    def pairing() -> Pairing:
        member = RandomNoEyePlayer(seed=next(index))
        if next(index) % 4 < 2:
            return Pairing(agent, member, frozenset({BLACK}), advice=plan)
        return Pairing(member, agent, frozenset({-BLACK}), advice=plan)

    runner = MatchRunner(RULES, pairing, concurrency=3, max_moves=24)
    try:
        return [g for g in runner.play(count) if isinstance(g, Game)]
    finally:
        runner.close()


@pytest.fixture(scope="module")
def played() -> list[tuple[int, Game]]:
    return list(enumerate(_games(_advice_reader(), 6), start=1))


def test_advised_moves_are_the_agents_with_their_game_result(played: list) -> None:
    moves = advised_moves(played)
    assert moves and {m.advice.source for m in moves} == {"opponent", "random"}
    for move in moves:
        game = dict(played)[move.game]
        assert game.moves[move.ply].player == AGENT_NAME
        assert move.score == game.score_for(game.moves[move.ply].colour)
        assert move.position.legal_mask()[move.advice.point]


def test_an_agent_that_reads_advice_follows_it_and_a_blind_twin_does_not(
    played: list, tmp_path: Path
) -> None:
    reader = _advice_reader()
    twin = PolicyValueNet(NetConfig(**{**reader.config.to_dict(), "advice_planes": False}))
    paths = [
        save_checkpoint(tmp_path / "ckpt-00000001.pt", reader, step=1),
        save_checkpoint(tmp_path / "ckpt-00000002.pt", twin, step=2),
    ]
    results = measure_advice("tiny", played, paths, simulations=4, board_size=5)
    moves = advised_moves(played)
    assert results.positions == len(moves)
    assert results.games == len({m.game for m in moves})
    hears, blind = results.checkpoints
    assert hears.reads_advice and not blind.reads_advice
    for rates in hears.raw:
        if rates.follow.empty:
            continue
        # The reader's logits are its advice plane: it always plays the advised move.
        assert rates.follow.value == 1.0
        mine = [m for m in moves if m.advice.source == rates.source]
        blank = raw_choices(TorchEvaluator(reader, threads=1), mine, advice=False)
        expected = 1.0 - np.mean([b == m.advice.point for b, m in zip(blank, mine, strict=True)])
        assert rates.effect.value == pytest.approx(expected)
        assert rates.follow.n == len(mine)
        assert rates.follow.games == len({m.game for m in mine})
        assert rates.effect.low <= rates.effect.value <= rates.effect.high
    for rates in (*blind.raw, *blind.search):
        if not rates.follow.empty:  # a net without advice planes cannot hear it
            assert rates.effect.value == 0.0 and rates.effect.low == rates.effect.high == 0.0
    text = "\n".join(advice_table(results))
    assert "| ckpt-00000001.pt | 1 | yes | random | raw net |" in text


def test_follow_or_not_splits_the_game_scores(played: list) -> None:
    moves = advised_moves(played)
    for split in played_advice(moves):
        mine = [m for m in moves if m.advice.source == split.source]
        if not mine:
            assert split.follow.empty
            continue
        followed = [m.score for m in mine if m.followed]
        assert split.follow.value == pytest.approx(len(followed) / len(mine))
        if followed:
            assert split.score_followed.value == pytest.approx(np.mean(followed))
            assert split.score_followed.n == len(followed)


def test_study_advice_measures_a_run_and_its_twin(played: list, tmp_path: Path) -> None:
    runs = {}
    for name, net in (("advice", _advice_reader()), ("blank", None)):
        reader = _advice_reader()
        model = net or PolicyValueNet(
            NetConfig(**{**reader.config.to_dict(), "advice_planes": False})
        )
        config = RunConfig(
            board=BoardConfig(size=5, komi=0.5),
            net=model.config,
            train=TrainConfig(ownership_weight=0.0, score_weight=0.0, opponent_policy_weight=0.0),
        )
        run_dir = RunDir.create(tmp_path / name, config)
        with run_dir.open_store() as store:
            store.add_games([game for _, game in played], source="train")
        for step in (1, 5, 9):
            save_checkpoint(run_dir.checkpoint_path(step), model, step=step)
        runs[name] = run_dir.path
    out = tmp_path / "study"
    results = study_advice(
        runs["advice"], twin=runs["blank"], checkpoints=2, simulations=0, threads=1
    )
    write_advice(results, out)
    assert [c.step for c in results.checkpoints] == [1, 9]
    assert results.twin is not None and not results.twin.checkpoints[0].reads_advice
    data = json.loads((out / "advice.json").read_text())
    assert data["twin"]["run"] == "blank"
    assert "### Advice: blank" in (out / "advice.md").read_text()
    assert (out / "advice.png").stat().st_size > 10_000  # the figure over checkpoints
    assert advice_results_from_json(data) == results  # redrawn from the numbers alone
    page = markdown_table_html(advice_table(results))
    assert "<h3>Advice: advice</h3>" in page and "<td>ckpt-00000001.pt</td>" in page

    from typer.testing import CliRunner

    from crowdzero.cli import app

    cli_out = tmp_path / "cli"
    args = ["study", "--crowd", str(runs["advice"]), "--advice", "--out", str(cli_out)]
    result = CliRunner().invoke(app, [*args, "--advice-simulations", "0"])
    assert result.exit_code == 0, result.output
    assert (cli_out / "advice.json").is_file()
    bad = CliRunner().invoke(app, [*args, "--advice-twin", str(tmp_path)])
    assert bad.exit_code == 2 and "not a crowdzero run" in bad.output


def test_advice_json_with_no_interval_loads_back() -> None:
    # plain_json writes every non-finite float as null, the interval's ends included.
    hole = Estimate(math.nan, math.nan, math.nan, 0, 0)
    rates = FollowRates("human", hole, hole, hole)
    results = AdviceResults(
        run="r",
        checkpoints=(CheckpointAdvice("ckpt-00000001.pt", 1, True, (rates,), ()),),
        played=(PlayedAdvice("human", hole, hole, hole),),
        positions=0,
        games=0,
        simulations=0,
    )
    back = advice_results_from_json(json.loads(plain_json(results)))
    (loaded,) = back.checkpoints[0].raw
    assert loaded.follow.empty and math.isnan(loaded.follow.low)
    assert math.isnan(back.played[0].score_followed.high)


def test_spread_checkpoints_keeps_the_first_and_the_newest() -> None:
    paths = [Path(f"ckpt-{i:08d}.pt") for i in range(10)]
    picked = spread_checkpoints(list(reversed(paths)), 3)
    assert picked == [paths[0], paths[4], paths[9]] or picked == [paths[0], paths[5], paths[9]]
    assert spread_checkpoints(paths[:2], 5) == paths[:2]
    assert spread_checkpoints([], 3) == []


def test_stored_games_keep_their_advice_for_the_measurement(played: list, tmp_path: Path) -> None:
    with GameStore(tmp_path / "g.sqlite") as store:
        store.add_games([game for _, game in played])
        again = list(store.iter_games())
    assert len(advised_moves(again)) == len(advised_moves(played))


def test_a_crowd_run_with_advisers_stores_advice_and_trains_on_its_planes(
    tmp_path: Path,
) -> None:
    from crowdzero.train.config import apply_overrides
    from crowdzero.train.training_run import TrainingRun
    from tests.test_training_run import TINY, _play

    crowd = tmp_path / "crowd.toml"
    crowd.write_text(
        '[[member]]\nspec = "random-noeye"\n\n'
        '[[adviser]]\nsource = "random"\nrate = 0.5\n\n'
        '[[adviser]]\nsource = "opponent"\nrate = 0.3\n',
        encoding="utf-8",
    )
    overrides = {
        **TINY,
        "train.mode": "crowd",
        "train.crowd": str(crowd),
        "net.advice_planes": True,
    }
    run_dir = RunDir.create(tmp_path / "run", apply_overrides(RunConfig(), overrides))
    run = _play(TrainingRun(run_dir), 4)
    with GameStore(run_dir.games_path) as store:
        games = list(store.iter_games())
    advised = [m for _, g in games for m in g.moves if m.advice is not None]
    assert advised and {m.advice.source for m in advised} <= {"random", "opponent"}
    assert all(m.player == AGENT_NAME for m in advised)
    replay = run.replay
    spec = run.config.net.features
    rows = replay._features[: len(replay), spec.advice_plane : spec.advice_plane + 2]
    heard = int((rows.reshape(len(replay), -1).sum(axis=1) > 0).sum())
    assert heard == len(advised)  # every advised move's row carries its advice planes
