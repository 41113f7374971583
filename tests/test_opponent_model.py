"""Opponent-modelling search: the opponent's nodes take the opponent's prior, nothing else
changes, and a model learned from one member's games knows that member's habits."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from rich.console import Console
from tiny_run import TINY_CROWD as CROWD
from tiny_run import TINY_RUN, stored_run

from crowdzero.analysis.study.cli_study import study_main
from crowdzero.analysis.study.imitation_agent import FitPlan, build_member_window
from crowdzero.analysis.study.opponent_modelling import (
    OPPONENT_MODEL_LABEL,
    MemberModelError,
    load_opponent_model,
    modelled_members,
    opponent_modelling_agent,
    train_opponent_model,
)
from crowdzero.analysis.study.settings import StudySettings
from crowdzero.go.coords import BLACK, RESIGN, WHITE
from crowdzero.go.position import Position, Rules
from crowdzero.net.checkpoint import save_checkpoint
from crowdzero.net.evaluator import TorchEvaluator
from crowdzero.net.model import NetConfig, PolicyValueNet
from crowdzero.play.match_runner import MatchRunner, Pairing
from crowdzero.play.player import MoveChoice, MoveRequest, Player
from crowdzero.play.record import Game
from crowdzero.players.random import RandomPlayer
from crowdzero.players.registry import make_player
from crowdzero.search.config import SearchConfig
from crowdzero.search.evaluator import AreaScoreEvaluator, UniformEvaluator
from crowdzero.search.opponent_model import (
    DistributionOpponentModel,
    NetworkOpponentModel,
    OpponentModelError,
)
from crowdzero.search.searcher import BatchedSearcher, SearchError, masked_softmax
from crowdzero.search.tree import EXPANDED, SearchTree
from crowdzero.store.game_store import GameStore
from crowdzero.train.config import (
    BoardConfig,
    ConfigError,
    RunConfig,
    TrainConfig,
    apply_overrides,
)
from crowdzero.train.run_dir import RunDir

RULES_5 = Rules(5, komi=0.5)
TINY_NET = NetConfig(board_size=5, history=2, blocks=1, channels=8)
C1 = 2  # row 0, column C on 5x5
D4 = 18  # row 3, column D on 5x5


class Favourite(Player):
    """Always plays `point` when it is legal (else the lowest legal point, else passes);
    its move distribution says exactly that."""

    def __init__(self, name: str, point: int) -> None:
        self.name = name
        self.point = point
        self.calls = 0

    def move_distribution(self, position: Position) -> np.ndarray:
        self.calls += 1
        out = np.zeros(position.size * position.size + 1)
        legal = np.flatnonzero(position.legal_mask())
        if position.is_legal(self.point):
            out[self.point] = 1.0
        else:
            out[legal[0]] = 1.0
        return out

    def select_move(self, request: MoveRequest) -> MoveChoice:
        return MoveChoice(int(np.argmax(self.move_distribution(request.position))))


class Silent(Player):
    """A player with no move distribution (like GnuGo)."""

    name = "silent"

    def select_move(self, request: MoveRequest) -> MoveChoice:
        return MoveChoice(request.position.pass_point)


def random_position(seed: int, moves: int) -> Position:
    rng = np.random.default_rng(seed)
    position = Position(RULES_5)
    for _ in range(moves):
        legal = np.flatnonzero(position.legal_mask()[:-1])
        position.play(int(rng.choice(legal)))
    return position


def expanded_nodes(tree: SearchTree) -> list[int]:
    return [node for node in range(len(tree)) if tree.state(node) == EXPANDED]


# -- the search ------------------------------------------------------------------------


@pytest.mark.parametrize("algorithm", ["puct", "gumbel"])
def test_opponent_nodes_carry_the_modelled_members_prior(algorithm: str) -> None:
    member = Favourite("fav", C1)
    config = SearchConfig(algorithm=algorithm, simulations=48, opponent_model=True)  # type: ignore[arg-type]
    searcher = BatchedSearcher(
        UniformEvaluator(),
        config,
        np.random.default_rng(0),
        opponent_models={"fav": DistributionOpponentModel(member)},
    )
    searcher.search([MoveRequest("g", Position(RULES_5), opponent="fav")], add_noise=False)
    tree = searcher.kept_tree("g")
    assert tree is not None
    opponent_nodes = own_nodes = 0
    for node in expanded_nodes(tree):
        position = tree.positions[node]
        legal = position.legal_mask()
        prior = tree.children_prior[node]
        if position.to_play != tree.root.to_play:
            opponent_nodes += 1
            assert np.allclose(prior, member.move_distribution(position))
            if position.is_legal(C1):
                assert prior[C1] == pytest.approx(1.0)
        else:
            own_nodes += 1
            assert np.allclose(prior, legal / legal.sum())  # the agent's own (uniform) policy
    assert opponent_nodes > 0 and own_nodes > 0
    assert searcher.positions_modelled == opponent_nodes


@pytest.mark.parametrize("algorithm", ["puct", "gumbel"])
def test_requests_without_a_registered_opponent_search_exactly_as_before(algorithm: str) -> None:
    bystander = Favourite("fav", C1)
    evaluator = AreaScoreEvaluator(komi=0.5)
    plain = BatchedSearcher(
        evaluator,
        SearchConfig(algorithm=algorithm, simulations=32),  # type: ignore[arg-type]
        np.random.default_rng(3),
    )
    modelled = BatchedSearcher(
        evaluator,
        SearchConfig(algorithm=algorithm, simulations=32, opponent_model=True),  # type: ignore[arg-type]
        np.random.default_rng(3),
        opponent_models={"fav": DistributionOpponentModel(bystander)},
    )
    positions = {"a": random_position(1, 6), "b": random_position(2, 9)}
    for _ in range(2):  # the second search continues from the kept subtrees
        asked = [
            MoveRequest("a", positions["a"]),
            MoveRequest("b", positions["b"], opponent="somebody-else"),
        ]
        expected = plain.search(asked, add_noise=False)
        got = modelled.search(asked, add_noise=False)
        for e, g in zip(expected, got, strict=True):
            assert g.point == e.point and g.simulations == e.simulations
            assert g.root_value == e.root_value
            assert np.array_equal(g.policy, e.policy) and np.array_equal(g.visits, e.visits)
        for request, result in zip(asked, expected, strict=True):
            request.position.play(result.point)
            legal = np.flatnonzero(request.position.legal_mask())
            request.position.play(int(legal[0]))
    assert bystander.calls == 0 and modelled.positions_modelled == 0


def test_models_without_opponent_modelling_switched_on_are_refused() -> None:
    with pytest.raises(SearchError, match="opponent_model=True"):
        BatchedSearcher(
            UniformEvaluator(),
            SearchConfig(),
            opponent_models={"fav": DistributionOpponentModel(Favourite("fav", C1))},
        )


def test_training_runs_refuse_opponent_modelling() -> None:
    with pytest.raises(ConfigError, match="opponent_model"):
        apply_overrides(RunConfig(), {"search.opponent_model": True})


def test_a_member_without_a_distribution_cannot_be_an_oracle_model() -> None:
    with pytest.raises(OpponentModelError, match="silent has no move distribution"):
        DistributionOpponentModel(Silent()).policy_logits([Position(RULES_5)])


def test_one_player_searching_both_seats_does_not_reuse_a_modelled_subtree() -> None:
    # The node one move down is the other side's: its prior came from the model, so it
    # must not become a root whose prior the agent trusts as its own.
    searcher = BatchedSearcher(
        UniformEvaluator(),
        SearchConfig(simulations=16, opponent_model=True),
        np.random.default_rng(0),
        opponent_models={"fav": DistributionOpponentModel(Favourite("fav", C1))},
    )
    position = Position(RULES_5)
    result = searcher.search([MoveRequest("g", position, opponent="fav")], add_noise=False)[0]
    position.play(result.point)
    searcher.search([MoveRequest("g", position, opponent="fav")], add_noise=False)
    tree = searcher.kept_tree("g")
    assert tree is not None
    legal = position.legal_mask()
    assert np.allclose(tree.root_prior, legal / legal.sum())


# -- the match runner ------------------------------------------------------------------


class Recorder(Player):
    """Plays the lowest legal point and remembers whom each request said it faced."""

    def __init__(self, name: str, blocking: bool) -> None:
        self.name = name
        self.blocking = blocking
        self.opponents: list[str | None] = []

    def select_move(self, request: MoveRequest) -> MoveChoice:
        self.opponents.append(request.opponent)
        return MoveChoice(int(np.flatnonzero(request.position.legal_mask())[0]))


def test_match_runner_tells_each_player_its_opponent() -> None:
    batched, blocking = Recorder("batched", False), Recorder("engine", True)
    mirror = Recorder("mirror", False)
    schedule = iter(
        [
            Pairing(batched, blocking, frozenset({BLACK})),
            Pairing(blocking, batched, frozenset({WHITE})),
            Pairing(batched, mirror),
        ]
    )
    runner = MatchRunner(RULES_5, lambda: next(schedule), concurrency=3, max_moves=12)
    try:
        games = list(runner.play(3))
    finally:
        runner.close()
    assert all(isinstance(game, Game) for game in games)
    assert set(blocking.opponents) == {"batched"}
    assert set(mirror.opponents) == {"batched"}
    assert set(batched.opponents) == {"engine", "mirror"}


# -- learned models --------------------------------------------------------------------


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GameStore]:
    """Games of a (random) agent against two members with different favourite points."""
    path = tmp_path_factory.mktemp("opponent-models") / "games.sqlite"
    agent = RandomPlayer(seed=0)
    agent.name = "agent"
    members = [Favourite("corner-lover", C1), Favourite("centre-lover", D4)]
    started = [0]

    def pairing() -> Pairing:
        k, started[0] = started[0], started[0] + 1
        member = members[k % 2]
        if k % 4 < 2:
            return Pairing(agent, member, frozenset({BLACK}))
        return Pairing(member, agent, frozenset({WHITE}))

    runner = MatchRunner(RULES_5, pairing, concurrency=4, max_moves=30)
    with GameStore(path) as games:
        for game in runner.play(16):
            assert isinstance(game, Game)
            games.add_game(game, source="train")
    runner.close()
    with GameStore(path) as opened:
        yield opened


SMALL_TRAIN = replace(TrainConfig(), batch_size=16, min_replay=16, symmetry_augmentation=False)
#: The crowd run a member model learns beside: its network and training settings.
TINY_CONFIG = RunConfig(board=BoardConfig(size=5), net=TINY_NET, train=SMALL_TRAIN)


def prior_on(model: NetworkOpponentModel, point: int) -> float:
    position = Position(RULES_5)
    logits = model.policy_logits([position])
    return float(masked_softmax(logits, position.legal_mask()[None])[0, point])


def test_a_members_window_holds_exactly_that_members_moves(store: GameStore) -> None:
    games = list(store.iter_games())
    window = build_member_window(games, 5, 2, 10_000, holdout_every=0, member="corner-lover")
    expected = sum(
        move.colour == -game.agent_colour and move.point != RESIGN
        for _, game in games
        if game.player(-game.agent_colour) == "corner-lover"
        for move in game.moves
    )
    assert len(window) == expected > 0
    assert window.games_added == 8


def test_a_learned_model_puts_more_prior_on_the_members_favourite_point(
    tmp_path: Path, store: GameStore
) -> None:
    torch.manual_seed(0)
    untrained = NetworkOpponentModel(TorchEvaluator(PolicyValueNet(TINY_NET), threads=1))
    plan = FitPlan(steps=150, holdout_every=0)
    corner = train_opponent_model(store, "corner-lover", TINY_CONFIG, tmp_path, plan)
    centre = train_opponent_model(store, "centre-lover", TINY_CONFIG, tmp_path, plan)
    assert corner.parent != centre.parent and corner.name == "ckpt-00000150.pt"
    corner_model = load_opponent_model(corner)
    centre_model = load_opponent_model(centre)
    assert isinstance(corner_model, NetworkOpponentModel)
    assert isinstance(centre_model, NetworkOpponentModel)
    assert prior_on(corner_model, C1) > max(prior_on(untrained, C1), 0.5)
    # Each model learned its own member only.
    assert prior_on(centre_model, D4) > 0.5 > prior_on(centre_model, C1)
    # A second call finds the checkpoint instead of training again.
    again = train_opponent_model(store, "corner-lover", TINY_CONFIG, tmp_path, FitPlan(steps=999))
    assert again == corner


def test_a_member_without_games_cannot_be_modelled(tmp_path: Path, store: GameStore) -> None:
    with pytest.raises(MemberModelError, match="no moves of nobody"):
        train_opponent_model(store, "nobody", TINY_CONFIG, tmp_path, FitPlan(steps=5))


def test_the_opponent_modelling_agent_searches_with_the_learned_model(
    tmp_path: Path, store: GameStore
) -> None:
    model_path = train_opponent_model(
        store, "corner-lover", TINY_CONFIG, tmp_path, FitPlan(steps=20, holdout_every=0)
    )
    agent_path = save_checkpoint(tmp_path / "agent.pt", PolicyValueNet(TINY_NET), step=7)
    agent = opponent_modelling_agent(
        agent_path, {"corner-lover": model_path}, SearchConfig(simulations=8)
    )
    try:
        assert agent.name == f"{OPPONENT_MODEL_LABEL}-agent@7" and agent.search.opponent_model
        searcher = agent.player.searcher
        position = Position(RULES_5)
        agent.player.select_moves([MoveRequest("g", position, opponent="corner-lover")])
        tree = searcher.kept_tree("g")
        assert tree is not None and searcher.positions_modelled > 0
        model = load_opponent_model(model_path)
        for node in expanded_nodes(tree):
            child = tree.positions[node]
            if child.to_play != position.to_play:
                logits = model.policy_logits([child])
                expected = masked_softmax(logits, child.legal_mask()[None])[0]
                assert np.allclose(tree.children_prior[node], expected, atol=1e-5)
    finally:
        agent.close()


# -- the study ---------------------------------------------------------------------------


def test_the_study_models_the_heuristic_members_by_their_stored_names(tmp_path: Path) -> None:
    crowd_file = tmp_path / "crowd.toml"
    crowd_file.write_text(CROWD)
    assert modelled_members(str(crowd_file)) == ["heuristic:greedy", "heuristic:local"]


def _crowd_run(root: Path, games: int) -> RunDir:
    crowd_file = root / "crowd.toml"
    crowd_file.write_text(CROWD)
    members = [make_player(s) for s in ("random:1", "heuristic:greedy:2", "heuristic:local:3")]
    overrides = {**TINY_RUN, "train.mode": "crowd", "train.crowd": str(crowd_file)}
    return stored_run(root / "crowd", overrides, members, games, step=6)


def test_the_study_adds_an_opponent_modelling_agent(tmp_path: Path) -> None:
    crowd = _crowd_run(tmp_path, 12)
    out = tmp_path / "study"
    settings = StudySettings(
        crowd.path,
        out_dir=out,
        games=1,
        imitation_steps=5,
        positions=10,
        holdout_every=4,
        threads=1,
        concurrency=8,
        box_games=2,
        head_to_head=False,
        opponent_modelling=True,
        opponent_model_steps=5,
    )
    results = study_main(settings, Console(record=True, width=120))
    assert set(results.agents) == {"crowd", "imitation", OPPONENT_MODEL_LABEL}
    models = results.meta.settings["opponent_models"]
    assert set(models) == {"heuristic:greedy", "heuristic:local"}  # heuristics only
    assert all(Path(path).is_file() for path in models.values())
    members = {"random", "heuristic:greedy", "heuristic:local"}
    assert set(results.exploitation[OPPONENT_MODEL_LABEL]) == members | {"all"}
    assert any(claim.topic == "opponent modelling" for claim in results.claims)
    data = json.loads((out / "results.json").read_text())
    assert OPPONENT_MODEL_LABEL in data["agents"]
    assert OPPONENT_MODEL_LABEL in (out / "index.html").read_text()
