"""Everything the study has to *do*: load the agents, play the evaluation games, read
positions out of the stores and ask networks and crowd members about them.

The numbers are computed from what this module returns by the pure functions of
`metrics`. Two rules keep the comparison fair:

* every agent plays without exploration noise and with its run's own search settings
  (the imitation agent uses the crowd run's, as it has the crowd run's network and
  steps). So that two noise-free agents do not replay one game over and over, each
  evaluation search sees the board in a random one of its 8 symmetries per network call
  (`TorchEvaluator(symmetry="random")`), which varies the games without exploring;
* the agent's seat in a study game is marked as the learner seat of the `MatchRunner`
  pairing, so the record keeps the agent's search policy and root value (the value
  measurements need them). The games are stored with ``source="study"`` in the study's
  own store, never in a training run's.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from crowdzero.analysis.study.imitation_agent import (
    HOLDOUT_EVERY,
    is_evaluation_game,
    member_colour,
)
from crowdzero.go.coords import BLACK, RESIGN, WHITE
from crowdzero.go.features import batch_features
from crowdzero.go.position import Position, Rules
from crowdzero.net.checkpoint import load_checkpoint
from crowdzero.net.evaluator import TorchEvaluator
from crowdzero.play.match_runner import DroppedGame, MatchRunner, Pairing
from crowdzero.play.player import MoveRequest, Player
from crowdzero.play.record import Game, Move
from crowdzero.players.agent import AgentPlayer
from crowdzero.players.registry import make_player
from crowdzero.search.config import SearchConfig
from crowdzero.search.opponent_model import OpponentModel
from crowdzero.search.searcher import masked_softmax
from crowdzero.store.game_store import GameStore

log = logging.getLogger(__name__)

STUDY_SOURCE = "study"
#: Player kinds whose `move_distribution` is exact and cheap enough to query per position.
DISTRIBUTION_KINDS = frozenset({"random", "random-noeye", "heuristic", "mcts"})
#: Kinds left out of the out-of-the-box test: they give every legal move equal weight.
UNIFORM_KINDS = frozenset({"random", "random-noeye"})
_BATCH = 256


def spec_kind(name: str) -> str:
    return name.split(":", 1)[0]


# -- agents ----------------------------------------------------------------------------


@dataclass
class StudyAgent:
    """One agent under study: a noise-free player and a plain evaluator for raw outputs."""

    label: str
    name: str
    checkpoint: Path
    step: int
    search: SearchConfig
    player: AgentPlayer
    evaluator: TorchEvaluator
    #: The seed its random state started from (`search_choices` starts it again).
    seed: int = 0

    def close(self) -> None:
        self.player.close()


def study_agent_name(label: str, step: int) -> str:
    """The name an agent's games carry in a study's store: ``LABEL-agent@STEP``."""
    return f"{label}-agent@{step}"


def load_study_agent(
    label: str,
    checkpoint: Path,
    search: SearchConfig,
    *,
    threads: int | None = 1,
    seed: int = 0,
    opponent_models: Mapping[str, OpponentModel] | None = None,
) -> StudyAgent:
    """The agent in `checkpoint`, named ``LABEL-agent@STEP`` in the study's games.

    `opponent_models` (by opponent name) make its search opponent-modelling; `search`
    must then have ``opponent_model`` on."""
    loaded = load_checkpoint(checkpoint)
    model = loaded.build_model()
    name = study_agent_name(label, loaded.step)
    playing = TorchEvaluator(model, threads=threads, symmetry="random", seed=seed)
    player = AgentPlayer(
        playing,
        search,
        name=name,
        add_noise=False,
        rng=np.random.default_rng(seed),
        opponent_models=opponent_models,
    )
    raw = TorchEvaluator(model, threads=threads, symmetry="none")
    return StudyAgent(label, name, checkpoint, loaded.step, search, player, raw, seed)


def raw_outputs(
    evaluator: TorchEvaluator, positions: Sequence[Position]
) -> tuple[np.ndarray, np.ndarray]:
    """The network's own policy (softmax over legal moves, float64 [B, N*N+1]) and value
    (float64 [B], side to move's view) for each position, no search."""
    if not positions:
        n = evaluator.board_size
        return np.zeros((0, n * n + 1)), np.zeros(0)
    policies, values = [], []
    for start in range(0, len(positions), _BATCH):
        chunk = positions[start : start + _BATCH]
        logits, value = evaluator.evaluate(batch_features(chunk, evaluator.feature_spec))
        legal = np.stack([p.legal_mask() for p in chunk])
        policies.append(masked_softmax(logits, legal))
        values.append(value.astype(np.float64))
    return np.concatenate(policies), np.concatenate(values)


def search_choices(
    agent: StudyAgent, positions: Sequence[Position], *, batch: int = 32
) -> list[int]:
    """The move the agent's (noise-free) search picks in each position, searched afresh,
    `batch` positions per batched search (one network call per simulation round).

    The agent's random state starts again from its seed first: otherwise the choices
    would depend on how many games it had played before (the study measures after
    playing, a recomputation from the shipped games plays none)."""
    agent.player.reseed(agent.seed)
    out: list[int] = []
    for start in range(0, len(positions), batch):
        chunk = positions[start : start + batch]
        requests = [MoveRequest(f"probe-{start + i}", p) for i, p in enumerate(chunk)]
        out += [choice.point for choice in agent.player.select_moves(requests)]
        for request in requests:
            agent.player.end_game(request.game_id)
    return out


# -- crowd members as move distributions -----------------------------------------------


class MemberModels:
    """Crowd members that can say how likely each move is (`Player.move_distribution`).

    Built from specs with `make_player`, one private instance per member (the crowd's
    playing instances are left alone). Members without a distribution (GnuGo, Pachi,
    frozen networks) are simply absent. Lookup is by the name the member's games carry.
    """

    def __init__(self, specs: Iterable[str]) -> None:
        self._players: dict[str, Player] = {}
        for spec in specs:
            if spec_kind(spec) not in DISTRIBUTION_KINDS:
                continue
            player = make_player(spec)
            self._players.setdefault(player.name, player)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._players)

    def has(self, name: str) -> bool:
        return name in self._players

    def distribution(self, name: str, position: Position) -> np.ndarray | None:
        player = self._players.get(name)
        if player is None:
            return None
        distribution = player.move_distribution(position)
        return None if distribution is None else np.asarray(distribution, dtype=np.float64)

    def close(self) -> None:
        for player in self._players.values():
            player.close()


# -- positions where a crowd member was to move ----------------------------------------


@dataclass(frozen=True)
class MemberPosition:
    """A position of a crowd game where `member` was to move, and what it played."""

    game_id: int
    ply: int
    member: str
    position: Position
    move: int


def sample_member_positions(
    games: Iterable[tuple[int, Game]],
    count: int,
    *,
    seed: int = 0,
    holdout_every: int = HOLDOUT_EVERY,
    per_game: int = 4,
) -> list[MemberPosition]:
    """Up to `count` member positions from the held-out crowd games, at most `per_game`
    from any one game (positions of one game are alike), chosen at random."""
    rng = np.random.default_rng(seed)
    candidates: list[tuple[int, Game, list[int]]] = []
    for game_id, game in games:
        colour = member_colour(game)
        if colour == 0 or not is_evaluation_game(game_id, holdout_every):
            continue
        plies = [i for i, m in enumerate(game.moves) if m.colour == colour and m.point != RESIGN]
        if plies:
            rng.shuffle(plies)
            # Keep the moves without the agent's search targets: thousands of held-out
            # games would otherwise hold every 82-entry policy as Python floats.
            bare = tuple(Move(mv.colour, mv.point, player=mv.player) for mv in game.moves)
            candidates.append((game_id, replace(game, moves=bare), sorted(plies[:per_game])))
    picks = [(k, ply) for k, (_, _, plies) in enumerate(candidates) for ply in plies]
    if len(picks) > count:
        chosen = rng.choice(len(picks), size=count, replace=False)
        picks = [picks[i] for i in sorted(chosen)]
    out: list[MemberPosition] = []
    for k, group in itertools.groupby(picks, key=lambda pick: pick[0]):
        game_id, game, _ = candidates[k]
        positions = game.positions()
        for _, ply in group:
            move = game.moves[ply]
            name = move.player or game.player(move.colour)
            out.append(MemberPosition(game_id, ply, name, positions[ply], move.point))
    return out


# -- the agent's own moves in its study games -----------------------------------------


@dataclass(frozen=True)
class AgentMove:
    """One move the agent made in a study game, with what it expected and what happened."""

    game: int  # index into the agent's game list
    opponent: str
    ply: int
    point: int
    position: Position
    root_value: float | None
    score: float  # the agent's result in that game: 1, 0.5 or 0


def agent_moves(games: Sequence[Game], name: str) -> list[AgentMove]:
    """Every non-resignation move `name` made in `games` (positions replayed)."""
    out: list[AgentMove] = []
    for index, game in enumerate(games):
        colour = game.colour_of(name)
        if colour == 0:
            continue
        opponent = game.player(-colour)
        score = game.score_for(colour)
        for ply, (position, move) in enumerate(zip(game.positions(), game.moves, strict=True)):
            if move.colour != colour or move.point == RESIGN:
                continue
            out.append(
                AgentMove(index, opponent, ply, move.point, position, move.root_value, score)
            )
    return out


# -- playing the evaluation games -----------------------------------------------------


@dataclass(frozen=True)
class Fixture:
    """`games` games between `a` and `b`; `a` is always an agent under study."""

    a: Player
    b: Player
    games: int
    b_is_agent: bool = False


@dataclass
class PlayLog:
    """What `play_fixtures` did: games played, reused and dropped (with reasons)."""

    played: int = 0
    reused: int = 0
    dropped: list[str] = field(default_factory=list)


def play_fixtures(
    fixtures: Sequence[Fixture],
    store: GameStore,
    rules: Rules,
    *,
    concurrency: int = 16,
    max_moves: int | None = None,
    on_game: Callable[[Game], None] | None = None,
) -> PlayLog:
    """Play what is missing of every fixture, all at once, storing each game as it ends.

    Games already in `store` (source "study") between the same two names count toward
    the fixture, so an interrupted study resumes and a finished one is not replayed.
    Colours alternate per fixture (the agent is black in its 1st, 3rd, ... game), each
    study agent's seat is a learner seat (its root values are recorded), and all games
    share one runner, so each agent's searches are batched across its opponents.

    The fixtures' games are dealt round-robin (each fixture's next game in turn), not
    fixture after fixture: an engine member lends only its pool's few engines (two
    GnuGo processes), so 32 games in flight against one GnuGo level would wait on two
    engines while the agent searched two positions a batch; spread over the opponents,
    every pool works at once and the agent's batches fill.
    """
    missing: list[list[Pairing]] = []
    report = PlayLog()
    for fixture in fixtures:
        have = store.count_between(fixture.a.name, fixture.b.name, source=STUDY_SOURCE)
        report.reused += min(have, fixture.games)
        games: list[Pairing] = []
        for k in range(have, fixture.games):
            black, white = (fixture.a, fixture.b) if k % 2 == 0 else (fixture.b, fixture.a)
            learners = {BLACK if black is fixture.a else WHITE}
            if fixture.b_is_agent:
                learners = {BLACK, WHITE}
            games.append(Pairing(black, white, frozenset(learners)))
        missing.append(games)
    schedule = [
        games[k]
        for k in range(max(map(len, missing), default=0))
        for games in missing
        if k < len(games)
    ]
    if not schedule:
        return report
    queue = iter(schedule)
    runner = MatchRunner(
        rules,
        lambda: next(queue),
        concurrency=max(1, min(concurrency, len(schedule))),
        max_moves=max_moves,
        source=STUDY_SOURCE,
    )
    try:
        for outcome in runner.play(len(schedule)):
            if isinstance(outcome, DroppedGame):
                report.dropped.append(outcome.reason)
                continue
            store.add_game(outcome, source=STUDY_SOURCE)
            report.played += 1
            if on_game is not None:
                on_game(outcome)
    finally:
        runner.close()
    return report


def fixture_games(store: GameStore, a: str, b: str) -> list[Game]:
    """Every stored study game between `a` and `b`, oldest first."""
    return [game for _, game in store.games_between(a, b, source=STUDY_SOURCE)]
