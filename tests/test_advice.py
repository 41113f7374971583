"""The advice channel (#14): planes, network, search, advisers, runner, crowd file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from crowdzero.go.advice import ADVICE_SOURCES, Advice
from crowdzero.go.coords import BLACK, RESIGN, gtp_to_point
from crowdzero.go.features import ADVICE_PLANES, FeatureSpec, batch_features, position_features
from crowdzero.go.position import Position, Rules
from crowdzero.net.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from crowdzero.net.evaluator import TorchEvaluator
from crowdzero.net.model import NetConfig, PolicyValueNet
from crowdzero.net.symmetry import SYMMETRIES, augment_batch, transform_planes, transform_policy
from crowdzero.play.advice import AdvicePlan, AdviceRequest, ScheduledAdviser, draw_plan
from crowdzero.play.match_runner import MatchRunner, Pairing
from crowdzero.play.player import MoveChoice, MoveRequest, Player
from crowdzero.players.advisers import (
    EngineAdviser,
    OpponentAdviser,
    RandomAdviser,
    SuggestionBox,
    plausible_moves,
)
from crowdzero.players.agent import AgentPlayer
from crowdzero.players.crowd import Crowd, CrowdError
from crowdzero.players.engines import engine_available
from crowdzero.players.random import RandomNoEyePlayer, own_eye_mask
from crowdzero.search.config import SearchConfig

TINY = dict(board_size=5, history=2, blocks=1, channels=8, policy_channels=4, value_channels=4)

#: 5x5, black to play, with three plausible moves: B2 captures, E4 is fine, and C1 puts
#: black's own seven stones in atari (found among random games; checked by hand).
TRAP = "B1 D2 D1 A2 D5 C2 C3 C4 B3 D3 B5 A5 E3 A3 D4 E5 A1 A4 C5 E2 B4 E1"


def play(size: int, moves: str, komi: float = 0.5) -> Position:
    position = Position(Rules(size=size, komi=komi))
    for word in moves.split():
        position.play(gtp_to_point(word, size))
    return position


def pt(text: str, size: int = 5) -> int:
    return gtp_to_point(text, size)


# -- planes --------------------------------------------------------------------------


def test_advice_planes_come_last_and_blank_advice_is_all_zero() -> None:
    plain = FeatureSpec(history=2)
    spec = FeatureSpec(history=2, advice=True)
    assert spec.planes == plain.planes + ADVICE_PLANES
    position = play(5, "C3 D4")
    with_blank = position_features(position, spec)
    assert np.array_equal(with_blank[: plain.planes], position_features(position, plain))
    assert not with_blank[plain.planes :].any()
    advised = position_features(position, spec, Advice(pt("B2"), "opponent"))
    first = spec.advice_plane
    assert advised[first].reshape(-1)[pt("B2")] == 1 and advised[first].sum() == 1
    assert not advised[first + 1].any()  # not a pass
    source_planes = advised[first + 2 :]
    assert [bool(p.all()) for p in source_planes] == [s == "opponent" for s in ADVICE_SOURCES]
    passing = position_features(position, spec, Advice(25, "human"))
    assert passing[first + 1].all() and not passing[first].any()
    # A spec without advice planes ignores advice: a checkpoint without them still plays.
    assert np.array_equal(
        position_features(position, plain, Advice(pt("B2"), "helpful")),
        position_features(position, plain),
    )


def test_the_advice_plane_turns_with_the_board_under_every_symmetry() -> None:
    """A stone and advice on the same point, and a policy target there: every symmetry of
    the replay window's augmentation must move all three to the same point."""
    spec = FeatureSpec(history=1, liberties=False, advice=True)
    point = pt("B4")
    position = Position.from_stones(Rules(size=5), black=[point], to_play=BLACK)
    position.play(pt("D2"))  # black's move: white is to move, so B4 is on the opponent plane
    features = batch_features([position], spec, [Advice(point, "helpful")])
    policy = np.zeros((1, 26), np.float32)
    policy[0, point] = 1.0
    for s in SYMMETRIES:
        turned = transform_planes(features[0], s)
        target = transform_policy(policy[0], s)
        where = int(np.argmax(target))
        assert turned[spec.advice_plane].reshape(-1)[where] == 1
        assert turned[spec.opponent_plane].reshape(-1)[where] == 1  # black's stone
    rng = np.random.default_rng(0)
    batch = np.repeat(features, 16, axis=0)
    turned, targets, _ = augment_batch(batch, np.repeat(policy, 16, axis=0), None, rng)
    for row, target in zip(turned, targets, strict=True):
        assert row[spec.advice_plane].reshape(-1)[int(np.argmax(target))] == 1


def _advice_reader() -> PolicyValueNet:
    """A net wired by hand so that its point logits are its advice plane: whatever it
    prefers, it prefers because of where the advice plane says."""
    config = NetConfig(
        board_size=5,
        history=1,
        blocks=0,
        channels=1,
        policy_channels=1,
        value_channels=1,
        liberty_features=False,
        global_pooling=False,
        score_head=False,
        opponent_policy_head=False,
        ownership_head=False,
        advice_planes=True,
    )
    net = PolicyValueNet(config).eval()
    with torch.no_grad():
        for parameter in net.parameters():
            parameter.zero_()
        for module in net.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.weight.fill_(1.0)
                module.running_mean.zero_()
                module.running_var.fill_(1.0)
        net.stem.conv.weight[0, config.features.advice_plane, 1, 1] = 10.0
        net.policy_conv.conv.weight.fill_(1.0)
        net.policy_points.weight.fill_(1.0)
    return net


@pytest.mark.parametrize("mode", ["none", "random", "average"])
def test_the_network_reads_the_advice_plane_in_the_right_orientation(mode: str) -> None:
    net = _advice_reader()
    evaluator = TorchEvaluator(net, threads=1, symmetry=mode, seed=3)  # type: ignore[arg-type]
    position = play(5, "C3")
    for word in ("B4", "E1", "A2", "D5"):
        features = batch_features([position], net.config.features, [Advice(pt(word), "human")])
        for _ in range(4):  # "random" draws a symmetry per call
            logits, _ = evaluator.evaluate(features)
            assert int(np.argmax(logits[0, :25])) == pt(word)
    # And straight through the net on turned planes: the answer turns with the board.
    features = batch_features([position], net.config.features, [Advice(pt("B4"), "human")])
    for s in SYMMETRIES:
        out = net(torch.from_numpy(transform_planes(features, s)))
        expected = transform_policy(np.eye(26, dtype=np.float32)[pt("B4")], s)
        assert int(out.policy_logits[0, :25].argmax()) == int(np.argmax(expected))


def test_blank_advice_gives_exactly_the_no_advice_networks_output() -> None:
    torch.manual_seed(0)
    with_advice = PolicyValueNet(NetConfig(**TINY, advice_planes=True)).eval()
    without = PolicyValueNet(NetConfig(**TINY)).eval()
    state = with_advice.state_dict()
    state["stem.conv.weight"] = state["stem.conv.weight"][:, : without.config.input_planes]
    without.load_state_dict(state)
    positions = [play(5, "C3 D4 B2"), play(5, "E5"), Position(Rules(size=5))]
    blank = batch_features(positions, with_advice.config.features)
    plain = batch_features(positions, without.config.features)
    a = with_advice(torch.from_numpy(blank))
    b = without(torch.from_numpy(plain))
    for x, y in zip(a, b, strict=True):
        if x is not None:
            assert torch.allclose(x, y, atol=1e-6, rtol=0)
    # The search's path: no advice at all and blank advice are the same planes.
    advised = batch_features(positions, with_advice.config.features, [None, None, None])
    assert np.array_equal(advised, blank)
    # And advice does reach the net: its answer moves.
    told = batch_features(positions, with_advice.config.features, [Advice(7, "helpful")] * 3)
    assert not torch.allclose(with_advice(torch.from_numpy(told)).policy_logits, a.policy_logits)


def test_checkpoints_record_their_plane_count_and_refuse_a_mismatch(tmp_path: Path) -> None:
    net = PolicyValueNet(NetConfig(**TINY))
    path = save_checkpoint(tmp_path / "ckpt-00000001.pt", net, step=1)
    loaded = load_checkpoint(path, expect_planes=net.config.input_planes)
    assert loaded.config.input_planes == net.config.input_planes
    advice_planes = NetConfig(**TINY, advice_planes=True).input_planes
    with pytest.raises(CheckpointError, match=r"advice_planes"):
        load_checkpoint(path, expect_planes=advice_planes)
    # A checkpoint without advice planes plays, and the advice it is given is ignored.
    agent = AgentPlayer(
        TorchEvaluator(loaded.build_model(), threads=1),
        SearchConfig(simulations=8),
        add_noise=False,
    )
    position = play(5, "C3")
    told = agent.select_move(MoveRequest("g", position, advice=Advice(pt("A1"), "opponent")))
    agent.end_game("g")
    plain = agent.select_move(MoveRequest("g", position))
    assert told.point == plain.point


def test_the_search_reads_advice_at_its_root_only() -> None:
    net = _advice_reader()
    agent = AgentPlayer(
        TorchEvaluator(net, threads=1), SearchConfig(simulations=4), add_noise=False
    )
    position = play(5, "C3")
    choice = agent.select_move(MoveRequest("g", position, advice=Advice(pt("A1"), "helpful")))
    assert choice.point == pt("A1")  # the prior follows the plane; the value is flat


# -- advisers --------------------------------------------------------------------------


def test_plausible_moves_never_fill_an_own_eye() -> None:
    position = play(5, TRAP)
    points = plausible_moves(position)
    assert not own_eye_mask(position)[points].any()
    assert sorted(points.tolist()) == sorted([pt("C1"), pt("B2"), pt("E4")])


def test_the_opponent_advises_the_move_that_loses_its_own_group() -> None:
    position = play(5, TRAP)
    adviser = OpponentAdviser(playouts=64, seed=0)
    request = AdviceRequest("g", position, RandomNoEyePlayer(seed=1))
    assert adviser.advise(request) == pt("C1")  # self-atari of seven stones


def test_an_opponent_with_a_network_rates_moves_with_its_own_value_net() -> None:
    torch.manual_seed(1)
    net = PolicyValueNet(NetConfig(**TINY)).eval()
    evaluator = TorchEvaluator(net, threads=1)
    opponent = AgentPlayer(evaluator, SearchConfig(simulations=2))
    position = play(5, TRAP)
    adviser = OpponentAdviser()
    points = plausible_moves(position)
    ratings = adviser.ratings(opponent, position, points)
    children = []
    for point in points:
        child = position.copy()
        child.play(int(point))
        children.append(child)
    _, values = evaluator.evaluate(batch_features(children, evaluator.feature_spec))
    assert np.allclose(ratings, -values, atol=1e-6)
    advice = adviser.advise(AdviceRequest("g", position, opponent))
    assert advice == int(points[int(np.argmin(-values))])


@pytest.mark.skipif(not engine_available("gnugo"), reason="GnuGo is not installed")
def test_a_helpful_engine_never_advises_the_losing_move() -> None:
    from crowdzero.players.registry import make_player

    adviser = EngineAdviser(make_player("gnugo-single:10"))
    try:
        advice = adviser.advise(AdviceRequest("g", play(5, TRAP), RandomNoEyePlayer()))
    finally:
        adviser.close()
    assert advice in (pt("B2"), pt("E4"))


def test_an_engine_that_would_resign_in_the_agents_seat_gives_no_advice() -> None:
    class Resigner(Player):
        name = "resigner"

        def select_move(self, request: MoveRequest) -> MoveChoice:
            return MoveChoice(RESIGN)

    adviser = EngineAdviser(Resigner())
    assert adviser.advise(AdviceRequest("g", play(5, TRAP), RandomNoEyePlayer())) is None


def test_random_advice_is_a_plausible_move_and_covers_them() -> None:
    position = play(5, TRAP)
    adviser = RandomAdviser(seed=0)
    seen = {adviser.advise(AdviceRequest("g", position, RandomNoEyePlayer())) for _ in range(60)}
    assert seen == {pt("C1"), pt("B2"), pt("E4")}


def test_a_persons_suggestion_is_used_once() -> None:
    box = SuggestionBox()
    request = AdviceRequest("g", play(5, "C3"), RandomNoEyePlayer())
    assert box.advise(request) is None
    box.suggest("g", pt("D4"))
    assert box.pending("g") == pt("D4")
    assert box.advise(request) == pt("D4")
    assert box.advise(request) is None


# -- the runner and the crowd file ---------------------------------------------------


def test_advised_learner_moves_carry_their_advice_and_crowd_moves_none() -> None:
    rules = Rules(size=5, komi=0.5)
    agent = AgentPlayer(
        TorchEvaluator(PolicyValueNet(NetConfig(**TINY, advice_planes=True)), threads=1),
        SearchConfig(simulations=4),
    )
    member = RandomNoEyePlayer(seed=2)
    plan = AdvicePlan(((OpponentAdviser(playouts=2, seed=1), 0.5), (RandomAdviser(seed=3), 1.0)))
    runner = MatchRunner(
        rules,
        lambda: Pairing(agent, member, frozenset({BLACK}), advice=plan),
        concurrency=2,
        max_moves=20,
    )
    try:
        games = [g for g in runner.play(2) if not hasattr(g, "reason")]
    finally:
        runner.close()
    assert games
    sources = set()
    for game in games:
        for position, move in zip(game.positions(), game.moves, strict=True):
            if move.player == agent.name:
                assert move.advice is not None  # the random adviser speaks every move
                assert position.legal_mask()[move.advice.point]
                sources.add(move.advice.source)
            else:
                assert move.advice is None
    assert sources == {"opponent", "random"}


def test_an_adviser_that_fails_gives_no_advice_and_the_game_goes_on() -> None:
    class Broken(RandomAdviser):
        def advise(self, request: AdviceRequest) -> int | None:
            raise RuntimeError("engine died")

    rules = Rules(size=5, komi=0.5)
    agent = AgentPlayer(
        TorchEvaluator(PolicyValueNet(NetConfig(**TINY)), threads=1), SearchConfig(simulations=2)
    )
    plan = AdvicePlan(((Broken(), 1.0),))
    runner = MatchRunner(
        rules,
        lambda: Pairing(agent, RandomNoEyePlayer(), frozenset({BLACK}), advice=plan),
        concurrency=1,
        max_moves=10,
    )
    try:
        (game,) = list(runner.play(1))
    finally:
        runner.close()
    assert all(move.advice is None for move in game.moves)  # type: ignore[union-attr]


def test_advice_frequency_per_game_and_per_source() -> None:
    rng = np.random.default_rng(0)
    never = ScheduledAdviser(RandomAdviser(), games=0.0, rate=1.0)
    half = ScheduledAdviser(OpponentAdviser(), games=0.5, rate=0.2)
    assert draw_plan((), rng) is None
    assert draw_plan((never,), rng) is None
    plans = [draw_plan((never, half), rng) for _ in range(400)]
    joined = [p for p in plans if p is not None]
    assert 150 < len(joined) < 250
    assert all(len(p.advisers) == 1 and p.advisers[0][1] == 0.2 for p in joined)
    plan = joined[0]
    gen = plan.rng()
    spoke = sum(plan.draw(gen) is not None for _ in range(1000))
    assert 150 < spoke < 250
    with pytest.raises(ValueError, match="chance"):
        ScheduledAdviser(RandomAdviser(), games=1.5)


def test_the_crowd_file_configures_advisers() -> None:
    text = """
[[member]]
spec = "random"

[[adviser]]
source = "opponent"
games = 0.5
rate = 0.1

[[adviser]]
source = "random"
"""
    crowd = Crowd.from_toml(text)
    try:
        assert [(s.adviser.source, s.games, s.rate) for s in crowd.advice] == [
            ("opponent", 0.5, 0.1),
            ("random", 1.0, 0.25),
        ]
    finally:
        crowd.close()
    for bad, match in (
        ('[[adviser]]\nsource = "human"', "source must be one of"),
        ('[[adviser]]\nsource = "helpful"', "needs a spec"),
        ('[[adviser]]\nsource = "random"\nspec = "gnugo:3"', "others take none"),
        ('[[adviser]]\nsource = "random"\nrate = 2', "rate must be a chance"),
        ('[[adviser]]\nsource = "helpful"\nspec = "nosuch:1"', "unknown adviser spec"),
    ):
        with pytest.raises(CrowdError, match=match):
            Crowd.from_toml('[[member]]\nspec = "random"\n' + bad, build_players=False)


# -- GTP -----------------------------------------------------------------------------


def test_gtp_cz_advice_reaches_the_next_genmove_only() -> None:
    import io

    from crowdzero.players.gtp_engine import GtpEngine

    agent = AgentPlayer(
        TorchEvaluator(_advice_reader(), threads=1), SearchConfig(simulations=4), add_noise=False
    )
    engine = GtpEngine(agent, Rules(size=5, komi=0.5), log=io.StringIO())
    assert engine.handle("play b C3") == "= \n\n"
    assert engine.handle("cz-advice D4") == "= \n\n"
    assert engine.handle("genmove w") == "= D4\n\n"
    told = engine.handle("genmove b")  # used once: no advice now, so no plane to follow
    assert told is not None and told.startswith("=")
    assert engine.handle("cz-advice E5 opponent") == "= \n\n"
    assert engine.handle("genmove w") == "= E5\n\n"
    for bad, words in (
        ("cz-advice C3", "occupied"),
        ("cz-advice Z9", "invalid coordinate"),
        ("cz-advice B2 friend", "unknown advice source"),
        ("cz-advice", None),
    ):
        reply = engine.handle(bad)
        assert reply is not None
        if words is None:
            assert reply.startswith("=")
        else:
            assert reply.startswith("?") and words in reply
    assert "cz-advice" in (engine.handle("list_commands") or "")


# -- training rows --------------------------------------------------------------------


def test_the_replay_window_feeds_the_advice_the_agent_heard_into_training() -> None:
    from dataclasses import replace

    from crowdzero.play.record import Game, Move
    from crowdzero.train.replay import ReplayWindow

    rules = Rules(size=5, komi=0.5)
    words = ["C3", "D4", "B2", "pass", "pass"]
    advice = Advice(pt("B2"), "opponent")
    moves = []
    for i, word in enumerate(words):
        point = 25 if word == "pass" else pt(word)
        mine = i % 2 == 0
        moves.append(
            Move(
                colour=BLACK if mine else -BLACK,
                point=point,
                policy=tuple(np.eye(26, dtype=np.float32)[point].tolist()) if mine else None,
                player="agent" if mine else "random",
                advice=advice if i == 2 else None,
            )
        )
    game = Game(rules, "agent", "random", tuple(moves), "B+1", BLACK, "2026-12-02", BLACK)
    spec = FeatureSpec(history=2, advice=True)
    window = ReplayWindow(5, spec, capacity=16)
    assert window.add_game(game, 1) == len(moves)
    batch = window.sample(64, np.random.default_rng(0), augment=True)
    planes = batch.features[:, spec.advice_plane]
    heard = planes.reshape(64, -1).sum(axis=1) == 1
    assert heard.any() and not heard.all()  # only the advised row has its advice plane
    for row in np.flatnonzero(heard):
        # Turned with the board: the advised point is where the policy target points.
        assert int(np.argmax(planes[row].reshape(-1))) == int(np.argmax(batch.policy[row]))
        assert batch.features[row, spec.advice_plane + 2 + ADVICE_SOURCES.index("opponent")].all()
    blind = ReplayWindow(5, FeatureSpec(history=2), capacity=16)
    assert blind.add_game(replace(game), 1) == len(moves)  # a net without the planes: ignored


def test_a_checkpoint_whose_plane_count_disagrees_with_its_config_is_refused(
    tmp_path: Path,
) -> None:
    path = save_checkpoint(tmp_path / "c.pt", PolicyValueNet(NetConfig(**TINY)), step=1)
    payload = torch.load(path, weights_only=True)
    assert payload["input_planes"] == NetConfig(**TINY).input_planes
    payload["input_planes"] += 6
    torch.save(payload, path)
    with pytest.raises(CheckpointError, match="records 18 input planes but its config reads 12"):
        load_checkpoint(path)
    del payload["input_planes"]  # written before the count existed: still loads
    torch.save(payload, path)
    assert load_checkpoint(path).config == NetConfig(**TINY)
