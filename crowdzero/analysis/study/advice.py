"""Does the agent take advice? The third part of the claim, measured per source.

The claim: an agent trained against the crowd does not imitate its members, does not do
what they want, and does not take their advice; it exploits them. With advice on
(`NetConfig.advice_planes`), the agent hears suggestions from advisers of known intent
(`crowdzero.players.advisers`): helpful (a strong engine), the opponent (choosing what it
rates worst for the agent), random, and people. The prediction to test: the agent comes to
follow advice exactly as far as it helps it win, and moves away from the opponent's.

Three numbers per source, each with a 95% interval clustered by game (a game's positions
are not independent, so the bootstrap resamples whole games) and the positions and games
behind it:

* **follow**: how often the agent plays the advised move when it hears the advice;
* **blank**: how often it plays that same move on the same positions with the advice
  planes blanked (what it would have played anyway);
* **effect** = follow - blank, position by position: the causal effect of the advice.

Each is measured for the raw network (its greedy move: the policy's argmax over legal
moves) and with search (a noise-free `AgentPlayer` search of `simulations`), for every
checkpoint given, on one fixed set of advised positions taken from the run's stored games
(the advice each was given there). A checkpoint without advice planes has an effect of
exactly 0 by construction: it is the blank-advice twin's control.

And from the games as played: the agent's score in games, split by whether it followed
the advice at each advised move (follow vs not), per source; the follow rate in play too.
That split is observational (following may be commoner in easy positions), which is why
the causal effect above is measured separately.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from crowdzero.analysis.study.metrics import Estimate, bootstrap_mean, no_data
from crowdzero.go.advice import ADVICE_SOURCES, Advice
from crowdzero.go.coords import RESIGN
from crowdzero.go.features import batch_features
from crowdzero.go.position import Position
from crowdzero.net.checkpoint import load_checkpoint
from crowdzero.net.evaluator import TorchEvaluator
from crowdzero.play.match_runner import AGENT_NAME
from crowdzero.play.player import MoveRequest
from crowdzero.play.record import Game
from crowdzero.players.agent import AgentPlayer
from crowdzero.search.config import SearchConfig
from crowdzero.search.searcher import masked_softmax

#: Positions per network call when the raw network is measured.
BATCH = 64


@dataclass(frozen=True)
class AdvisedMove:
    """One move the agent was advised on, as it was played.

    `game` numbers the game (the cluster of the bootstrap); `score` is what the game was
    worth to the agent (1 win, 0.5 draw, 0 loss)."""

    game: int
    ply: int
    position: Position
    advice: Advice
    played: int
    score: float

    @property
    def followed(self) -> bool:
        return self.played == self.advice.point


def advised_moves(games: Iterable[tuple[int, Game]], agent: str = AGENT_NAME) -> list[AdvisedMove]:
    """Every advised move of `agent` in `games` (id, record), oldest first. Voided games
    and resignations are left out (a resignation is no answer to advice)."""
    out: list[AdvisedMove] = []
    for game_id, game in games:
        if game.result.strip().upper() == "VOID":
            continue
        if not any(move.advice is not None for move in game.moves):
            continue
        for ply, (position, move) in enumerate(zip(game.positions(), game.moves, strict=True)):
            if move.advice is None or move.player != agent or move.point == RESIGN:
                continue
            out.append(
                AdvisedMove(
                    game_id, ply, position, move.advice, move.point, game.score_for(move.colour)
                )
            )
    return out


def sample_moves(moves: Sequence[AdvisedMove], per_source: int, seed: int = 0) -> list[AdvisedMove]:
    """At most `per_source` moves of each source, drawn without replacement (the newest
    games' moves are as likely as the oldest), in a fixed order for a given seed."""
    rng = np.random.default_rng(seed)
    out: list[AdvisedMove] = []
    for source in ADVICE_SOURCES:
        mine = [m for m in moves if m.advice.source == source]
        if len(mine) > per_source:
            keep = sorted(rng.choice(len(mine), size=per_source, replace=False).tolist())
            mine = [mine[i] for i in keep]
        out.extend(mine)
    return out


@dataclass(frozen=True)
class FollowRates:
    """follow / blank / effect for one source, one checkpoint, one way of choosing."""

    source: str
    follow: Estimate
    blank: Estimate
    effect: Estimate


@dataclass(frozen=True)
class CheckpointAdvice:
    """Every source's rates for one checkpoint: raw network and with search."""

    label: str
    step: int
    reads_advice: bool
    raw: tuple[FollowRates, ...]
    search: tuple[FollowRates, ...]


@dataclass(frozen=True)
class PlayedAdvice:
    """From the games as played, per source: the follow rate, and the agent's score at
    advised moves it followed and at those it did not."""

    source: str
    follow: Estimate
    score_followed: Estimate
    score_not_followed: Estimate


@dataclass(frozen=True)
class AdviceResults:
    """The advice measurement of one run (and, for comparison, of its blank twin)."""

    run: str
    checkpoints: tuple[CheckpointAdvice, ...]
    played: tuple[PlayedAdvice, ...]
    positions: int
    games: int
    simulations: int
    twin: AdviceResults | None = None
    notes: tuple[str, ...] = field(default=())


def advice_results_from_json(data: Mapping[str, Any]) -> AdviceResults:
    """AdviceResults back from advice.json (`report.write_advice`), so its tables and
    figure can be redrawn from a results folder without the runs or hours of search."""

    def number(value: float | None) -> float:
        return math.nan if value is None else float(value)  # plain_json writes nan as null

    def estimate(item: Mapping[str, Any]) -> Estimate:
        return Estimate(
            number(item["value"]),
            number(item["low"]),
            number(item["high"]),
            int(item["n"]),
            int(item["games"]),
        )

    def rates(item: Mapping[str, Any]) -> FollowRates:
        return FollowRates(
            item["source"],
            estimate(item["follow"]),
            estimate(item["blank"]),
            estimate(item["effect"]),
        )

    twin = data.get("twin")
    return AdviceResults(
        run=data["run"],
        checkpoints=tuple(
            CheckpointAdvice(
                c["label"],
                int(c["step"]),
                bool(c["reads_advice"]),
                tuple(rates(r) for r in c["raw"]),
                tuple(rates(r) for r in c["search"]),
            )
            for c in data["checkpoints"]
        ),
        played=tuple(
            PlayedAdvice(
                p["source"],
                estimate(p["follow"]),
                estimate(p["score_followed"]),
                estimate(p["score_not_followed"]),
            )
            for p in data["played"]
        ),
        positions=int(data["positions"]),
        games=int(data["games"]),
        simulations=int(data["simulations"]),
        twin=None if twin is None else advice_results_from_json(twin),
        notes=tuple(data.get("notes", ())),
    )


def _by_game(moves: Sequence[AdvisedMove], values: np.ndarray) -> list[np.ndarray]:
    groups: dict[int, list[float]] = {}
    for move, value in zip(moves, values, strict=True):
        groups.setdefault(move.game, []).append(float(value))
    return [np.asarray(v) for v in groups.values()]


def _rates(
    source: str,
    moves: Sequence[AdvisedMove],
    told: np.ndarray,
    blank: np.ndarray,
    seed: int,
) -> FollowRates:
    """Clustered estimates from the chosen points with and without the advice."""
    if not moves:
        return FollowRates(source, no_data(), no_data(), no_data(-1.0, 1.0))
    advised = np.array([m.advice.point for m in moves])
    follow = (told == advised).astype(np.float64)
    anyway = (blank == advised).astype(np.float64)
    return FollowRates(
        source,
        bootstrap_mean(_by_game(moves, follow), seed=seed),
        bootstrap_mean(_by_game(moves, anyway), seed=seed),
        bootstrap_mean(_by_game(moves, follow - anyway), seed=seed),
    )


def raw_choices(
    evaluator: TorchEvaluator, moves: Sequence[AdvisedMove], advice: bool
) -> np.ndarray:
    """int64 [len(moves)]: the raw network's greedy move (argmax over legal moves) at each
    position, hearing its advice or with the advice planes blank."""
    spec = evaluator.feature_spec
    out = np.zeros(len(moves), dtype=np.int64)
    for start in range(0, len(moves), BATCH):
        chunk = moves[start : start + BATCH]
        positions = [m.position for m in chunk]
        heard = [m.advice if advice else None for m in chunk]
        logits, _ = evaluator.evaluate(batch_features(positions, spec, heard))
        legal = np.stack([p.legal_mask() for p in positions])
        out[start : start + len(chunk)] = masked_softmax(logits, legal).argmax(axis=1)
    return out


def search_choices(
    evaluator: TorchEvaluator,
    moves: Sequence[AdvisedMove],
    advice: bool,
    simulations: int,
    seed: int = 0,
) -> np.ndarray:
    """int64 [len(moves)]: the move a noise-free search of `simulations` chooses at each
    position, hearing its advice or not. Each position is its own game (no tree reuse)."""
    agent = AgentPlayer(
        evaluator,
        SearchConfig(simulations=simulations, reuse_tree=False),
        add_noise=False,
        rng=np.random.default_rng(seed),
    )
    out = np.zeros(len(moves), dtype=np.int64)
    try:
        for start in range(0, len(moves), BATCH):
            chunk = moves[start : start + BATCH]
            requests = [
                MoveRequest(f"a{start + i}", m.position, advice=m.advice if advice else None)
                for i, m in enumerate(chunk)
            ]
            for i, choice in enumerate(agent.select_moves(requests)):
                out[start + i] = choice.point
    finally:
        agent.close()
    return out


def measure_checkpoint(
    path: Path,
    moves: Sequence[AdvisedMove],
    *,
    simulations: int,
    board_size: int | None = None,
    threads: int | None = 2,
    seed: int = 0,
) -> CheckpointAdvice:
    """Follow, blank and effect per source for one checkpoint, raw and with search
    (`simulations` 0: raw only)."""
    checkpoint = load_checkpoint(path, board_size=board_size)
    evaluator = TorchEvaluator(checkpoint.build_model(), threads=threads)
    raw_told = raw_choices(evaluator, moves, advice=True)
    raw_blank = raw_choices(evaluator, moves, advice=False)
    if simulations > 0:
        search_told = search_choices(evaluator, moves, True, simulations, seed)
        search_blank = search_choices(evaluator, moves, False, simulations, seed)
    raw, search = [], []
    for source in ADVICE_SOURCES:
        index = [i for i, m in enumerate(moves) if m.advice.source == source]
        mine = [moves[i] for i in index]
        raw.append(_rates(source, mine, raw_told[index], raw_blank[index], seed))
        if simulations > 0:
            search.append(_rates(source, mine, search_told[index], search_blank[index], seed))
    return CheckpointAdvice(
        path.name,
        checkpoint.step,
        checkpoint.config.advice_planes,
        tuple(raw),
        tuple(search),
    )


def played_advice(moves: Sequence[AdvisedMove], seed: int = 0) -> tuple[PlayedAdvice, ...]:
    """Per source, from the games as played: follow rate, and the agent's game score at
    the advised moves it followed and at those it did not (clustered by game)."""
    out = []
    for source in ADVICE_SOURCES:
        mine = [m for m in moves if m.advice.source == source]
        followed = np.array([m.followed for m in mine], dtype=np.float64)
        scores = np.array([m.score for m in mine], dtype=np.float64)
        yes = [m for m in mine if m.followed]
        no = [m for m in mine if not m.followed]
        out.append(
            PlayedAdvice(
                source,
                bootstrap_mean(_by_game(mine, followed), seed=seed) if mine else no_data(),
                bootstrap_mean(_by_game(yes, scores[followed == 1]), seed=seed)
                if yes
                else no_data(),
                bootstrap_mean(_by_game(no, scores[followed == 0]), seed=seed) if no else no_data(),
            )
        )
    return tuple(out)


def measure_advice(
    run: str,
    games: Iterable[tuple[int, Game]],
    checkpoints: Sequence[Path],
    *,
    simulations: int = 32,
    per_source: int = 300,
    board_size: int | None = None,
    threads: int | None = 2,
    seed: int = 0,
) -> AdviceResults:
    """The whole measurement for one run: its stored games and its checkpoints (oldest
    first). The same sampled positions serve every checkpoint."""
    everything = advised_moves(games)
    moves = sample_moves(everything, per_source, seed)
    notes = []
    if not everything:
        notes.append(f"{run}: no advised agent moves in its games (was advice configured?)")
    measured = tuple(
        measure_checkpoint(
            path,
            moves,
            simulations=simulations,
            board_size=board_size,
            threads=threads,
            seed=seed,
        )
        for path in checkpoints
    )
    return AdviceResults(
        run=run,
        checkpoints=measured,
        played=played_advice(everything, seed),
        positions=len(moves),
        games=len({m.game for m in moves}),
        simulations=simulations,
        notes=tuple(notes),
    )


def _cell(estimate: Estimate) -> str:
    if estimate.empty or math.isnan(estimate.value):
        return "n/a"
    return (
        f"{estimate.value:+.3f} [{estimate.low:+.3f}, {estimate.high:+.3f}] "
        f"({estimate.n} pos, {estimate.games} games)"
    )


def advice_table(results: AdviceResults) -> list[str]:
    """Markdown lines: one row per checkpoint, source and way of choosing; then the
    follow vs not split from the games; then the twin's, if any."""
    lines = [
        f"### Advice: {results.run}",
        "",
        f"{results.positions} advised positions from {results.games} games; search "
        f"{results.simulations} simulations. 95% intervals, bootstrap over games.",
        "",
        "| checkpoint | step | reads advice | source | chooser | follow | blank | effect |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for checkpoint in results.checkpoints:
        for chooser, rows in (("raw net", checkpoint.raw), ("search", checkpoint.search)):
            for rates in rows:
                if rates.follow.empty:
                    continue
                lines.append(
                    f"| {checkpoint.label} | {checkpoint.step} | "
                    f"{'yes' if checkpoint.reads_advice else 'no'} | {rates.source} | "
                    f"{chooser} | {_cell(rates.follow)} | {_cell(rates.blank)} | "
                    f"{_cell(rates.effect)} |"
                )
    lines += [
        "",
        "| source | followed in play | score when followed | score when not |",
        "| --- | --- | --- | --- |",
    ]
    for played in results.played:
        if played.follow.empty:
            continue
        lines.append(
            f"| {played.source} | {_cell(played.follow)} | {_cell(played.score_followed)} | "
            f"{_cell(played.score_not_followed)} |"
        )
    lines += [f"- {note}" for note in results.notes]
    if results.twin is not None:
        lines += ["", *advice_table(results.twin)]
    return lines


def spread_checkpoints(paths: Sequence[Path], count: int) -> list[Path]:
    """At most `count` of `paths` (any order), evenly spread over training and always
    with the newest, oldest first: "over training checkpoints" at a bounded cost."""
    ordered = sorted(paths, key=lambda p: p.name)
    if count < 1 or not ordered:
        return []
    if len(ordered) <= count:
        return ordered
    picks = np.linspace(0, len(ordered) - 1, count).round().astype(int)
    return [ordered[i] for i in sorted(set(picks.tolist()))]


def study_advice(
    run: Path,
    *,
    twin: Path | None = None,
    checkpoints: int = 4,
    simulations: int = 32,
    per_source: int = 300,
    threads: int | None = 2,
    seed: int = 0,
) -> AdviceResults:
    """`crowdzero study --advice`: measure a run's stored training games and its
    checkpoints (and its blank twin's, for comparison). `report.write_advice` writes it."""
    from crowdzero.train.run_dir import RunDir

    def one(path: Path) -> AdviceResults:
        run_dir = RunDir.open(path)
        with run_dir.open_store() as store:
            games = list(store.iter_games(source="train"))
        return measure_advice(
            run_dir.name,
            games,
            spread_checkpoints(run_dir.checkpoint_paths(), checkpoints),
            simulations=simulations,
            per_source=per_source,
            board_size=run_dir.config.board.size,
            threads=threads,
            seed=seed,
        )

    results = one(run)
    if twin is None:
        return results
    return replace(results, twin=one(twin))
