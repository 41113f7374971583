"""From collected games and positions to the study's result records.

`collect` gathers (plays games, reads stores, asks networks and members); the functions
here put those answers through `metrics` and return the records of `results`. `claims`
then turns the intervals into the sentences the report states as supported or not.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from crowdzero.analysis.study import metrics as m
from crowdzero.analysis.study.collect import (
    UNIFORM_KINDS,
    AgentMove,
    MemberModels,
    MemberPosition,
    StudyAgent,
    agent_moves,
    raw_outputs,
    search_choices,
    spec_kind,
)
from crowdzero.analysis.study.results import Claim, OutOfBox, StudyResults, ValueCheck
from crowdzero.analysis.study.twins import value_consistency
from crowdzero.go.position import Position
from crowdzero.play.record import Game
from crowdzero.players.flawed import flaw_of
from crowdzero.players.flaws import FLAW_DETECTORS, detect

#: Key of the pooled figure next to the per-member ones.
ALL = "all"


def member_distributions(
    positions: Sequence[MemberPosition], models: MemberModels
) -> list[np.ndarray | None]:
    """Each sampled member's own move distribution in its position (None: it has none)."""
    return [models.distribution(p.member, p.position) for p in positions]


def imitation_scores(
    agent: StudyAgent,
    positions: Sequence[MemberPosition],
    distributions: Sequence[np.ndarray | None],
    *,
    with_search: bool = False,
    seed: int = 0,
) -> tuple[dict[str, m.Estimate], dict[str, m.Estimate], dict[str, m.Estimate]]:
    """(top-1 of the raw policy, top-1 of the search, log-likelihood) per member + "all".

    The raw choice is the argmax of the network's policy over legal moves. The
    log-likelihood is log P_member(agent's raw choice), only where the member has a
    distribution. The search figures are empty unless `with_search`.
    """
    policies, _ = raw_outputs(agent.evaluator, [p.position for p in positions])
    raw = [int(np.argmax(row)) for row in policies]
    searched = search_choices(agent, [p.position for p in positions]) if with_search else []
    groups: dict[str, list[int]] = {ALL: list(range(len(positions)))}
    for i, p in enumerate(positions):
        groups.setdefault(p.member, []).append(i)

    top1: dict[str, m.Estimate] = {}
    search_top1: dict[str, m.Estimate] = {}
    loglik: dict[str, m.Estimate] = {}
    for name, index in groups.items():
        games = len({positions[i].game_id for i in index})
        member_moves = [positions[i].move for i in index]
        top1[name] = m.top1_agreement([raw[i] for i in index], member_moves, games)
        if with_search:
            search_top1[name] = m.top1_agreement([searched[i] for i in index], member_moves, games)
        by_game: dict[int, list[float]] = {}
        for i in index:
            distribution = distributions[i]
            if distribution is not None:
                value = m.choice_log_likelihood(distribution, raw[i])
                by_game.setdefault(positions[i].game_id, []).append(value)
        if by_game:
            loglik[name] = m.bootstrap_mean(list(by_game.values()), seed=seed)
    return top1, search_top1, loglik


def win_rates(games_by_opponent: Mapping[str, Sequence[Game]], name: str) -> dict[str, m.Estimate]:
    """`name`'s score against each opponent, plus "all" pooled over them."""
    out = {opponent: m.win_rate(games, name) for opponent, games in games_by_opponent.items()}
    pooled = [g for games in games_by_opponent.values() for g in games]
    out[ALL] = m.win_rate(pooled, name)
    return out


def flaw_rates(games_by_opponent: Mapping[str, Sequence[Game]], name: str) -> dict[str, m.Estimate]:
    """For each opponent with a planted flaw (a heuristic member's, or a flawed twin's,
    ``flawed:FLAW:SPEC``): share of games where it was triggered."""
    out: dict[str, m.Estimate] = {}
    for opponent, games in games_by_opponent.items():
        flaw = flaw_of(opponent)
        if flaw is not None:
            reports = [flaw.detect(g, -m.agent_colour_in(g, name)) for g in games]
        elif opponent in FLAW_DETECTORS:
            reports = [detect(opponent, g, -m.agent_colour_in(g, name)) for g in games]
        else:
            continue
        out[opponent] = m.flaw_rate(reports)
    return out


@dataclass(frozen=True)
class BoxMoves:
    """The agent moves the out-of-the-box test examines, and which are out of the box.

    `moves` are every move of the examined games (`AgentMove.game` indexes `games`);
    `novel` (bool [P]) marks those every member in `members` gives less than `threshold`
    (the random movers left out), `novel_all` the same with them.
    """

    games: int
    moves: tuple[AgentMove, ...]
    novel: np.ndarray
    novel_all: np.ndarray
    members: tuple[str, ...]
    threshold: float


def box_moves(
    games: Sequence[Game],
    name: str,
    models: MemberModels,
    *,
    threshold: float = m.DEFAULT_THRESHOLD,
    max_games: int = 40,
    seed: int = 0,
) -> BoxMoves:
    """Every move of up to `max_games` of the agent's games (chosen at random, each seen
    in full so the game-level split sees all its moves), and which no member would play."""
    rng = np.random.default_rng(seed)
    chosen = list(games)
    if len(chosen) > max_games:
        chosen = [chosen[i] for i in sorted(rng.choice(len(chosen), size=max_games, replace=False))]
    moves = agent_moves(chosen, name)
    members = models.names
    focused = [k for k, member in enumerate(members) if spec_kind(member) not in UNIFORM_KINDS]
    probabilities = np.zeros((len(moves), len(members)))
    for i, move in enumerate(moves):
        for k, member in enumerate(members):
            distribution = models.distribution(member, move.position)
            probabilities[i, k] = 0.0 if distribution is None else distribution[move.point]
    return BoxMoves(
        games=len(chosen),
        moves=tuple(moves),
        novel=m.out_of_box(probabilities[:, focused], threshold),
        novel_all=m.out_of_box(probabilities, threshold),
        members=tuple(members[k] for k in focused),
        threshold=threshold,
    )


def out_of_box_summary(box: BoxMoves) -> OutOfBox:
    """The share of out-of-the-box moves, and how the games that had them ended."""
    moves = box.moves
    per_game = np.zeros(box.games, dtype=np.int64)
    scores = np.zeros(box.games)
    for flag, move in zip(box.novel, moves, strict=True):
        per_game[move.game] += int(flag)
        scores[move.game] = move.score
    games_with_moves = sorted({move.game for move in moves})
    split = m.outcome_split(
        [int(per_game[g]) for g in games_with_moves], [float(scores[g]) for g in games_with_moves]
    )
    n_games = len(games_with_moves)
    return OutOfBox(
        share=m.wilson(int(box.novel.sum()), len(moves), games=n_games),
        share_all=m.wilson(int(box.novel_all.sum()), len(moves), games=n_games),
        with_novel=split.with_novel,
        without_novel=split.without_novel,
        members=box.members,
        threshold=box.threshold,
        games=n_games,
    )


def value_check(agent: StudyAgent, moves: Sequence[AgentMove], *, seed: int = 0) -> ValueCheck:
    """The value head's and the search's win probabilities against the results.

    The value head is read twice: where the agent is to move (the positions it trains on)
    and after each of its moves, where the opponent is to move. The search evaluates the
    second kind at every child of its root, so a value head that is only right where the
    agent moves still misleads the planner; a crowd run trains on the first kind alone.
    """
    _, values = raw_outputs(agent.evaluator, [move.position for move in moves])
    predicted = m.win_probability(values)
    actual = np.array([move.score for move in moves])
    size = moves[0].position.size if moves else 9

    def grouped(mask: np.ndarray, pred: np.ndarray) -> tuple[list[list[float]], list[list[float]]]:
        by_game: dict[int, tuple[list[float], list[float]]] = {}
        for i in np.flatnonzero(mask).tolist():
            p, y = by_game.setdefault(moves[i].game, ([], []))
            p.append(float(pred[i]))
            y.append(float(actual[i]))
        return [p for p, _ in by_game.values()], [y for _, y in by_game.values()]

    everything = np.ones(len(moves), dtype=bool)
    opponents = sorted({move.opponent for move in moves})
    buckets = [m.move_bucket(move.ply, size) for move in moves]
    bucket_names = sorted(set(buckets), key=lambda b: int(b.split("-")[0].rstrip("+")))
    by_opponent = {o: np.array([mv.opponent == o for mv in moves], dtype=bool) for o in opponents}

    root = np.array([np.nan if mv.root_value is None else mv.root_value for mv in moves])
    has_root = ~np.isnan(root)
    root_pred = m.win_probability(np.where(has_root, root, 0.0))

    replies = reply_positions(moves)
    has_reply = np.array([r is not None for r in replies], dtype=bool)
    reply_pred = np.full(len(moves), np.nan)
    consistency = None
    if has_reply.any():
        _, reply_values = raw_outputs(agent.evaluator, [r for r in replies if r is not None])
        # The value is the opponent's (the side to move): the agent's chance is the rest.
        reply_pred[has_reply] = 1.0 - m.win_probability(reply_values)
        index = np.flatnonzero(has_reply).tolist()
        consistency = value_consistency(
            [moves[i].game for i in index], values[index].tolist(), reply_values.tolist()
        )
    return ValueCheck(
        curve=tuple(m.calibration_curve(predicted, actual)),
        brier=m.brier_score(*grouped(everything, predicted), seed=seed),
        brier_by_opponent={
            o: m.brier_score(*grouped(mask, predicted), seed=seed)
            for o, mask in by_opponent.items()
        },
        brier_by_bucket={
            b: m.brier_score(*grouped(np.array([x == b for x in buckets]), predicted), seed=seed)
            for b in bucket_names
        },
        net_overrating_by_opponent={
            o: m.overrating(*grouped(mask, predicted), seed=seed) for o, mask in by_opponent.items()
        },
        search_curve=tuple(m.calibration_curve(root_pred[has_root], actual[has_root])),
        search_brier=m.brier_score(*grouped(has_root, root_pred), seed=seed),
        search_overrating_by_opponent={
            o: m.overrating(*grouped(mask & has_root, root_pred), seed=seed)
            for o, mask in by_opponent.items()
        },
        reply_curve=tuple(m.calibration_curve(reply_pred[has_reply], actual[has_reply])),
        reply_brier=m.brier_score(*grouped(has_reply, reply_pred), seed=seed),
        reply_overrating_by_opponent={
            o: m.overrating(*grouped(mask & has_reply, reply_pred), seed=seed)
            for o, mask in by_opponent.items()
        },
        consistency=consistency,
    )


def reply_positions(moves: Sequence[AgentMove]) -> list[Position | None]:
    """The position after each agent move (the opponent to move); None where the move
    ended the game, since a finished game has no value to predict."""
    out: list[Position | None] = []
    for move in moves:
        after = move.position.copy()
        after.play(move.point)
        out.append(None if after.is_over else after)
    return out


# -- claims ----------------------------------------------------------------------------


def _claim(topic: str, text: str, a: m.Estimate, b: m.Estimate, direction: str) -> Claim:
    verdict = m.compare(a, b, "less" if direction == "less" else "greater")
    return Claim(topic, text, verdict, f"{a} vs {b}")


def claims(results: StudyResults) -> list[Claim]:
    """The study's claims about its measured `results`, each judged from the intervals
    (`metrics.compare`); the claims `results` may already carry are not read."""
    members, held_out = results.members, results.held_out
    top1, exploitation, transfer = results.imitation_top1, results.exploitation, results.transfer
    out_of_box, flaws, values = results.out_of_box, results.flaws, results.values
    agent_names = {label: agent.name for label, agent in results.agents.items()}
    out: list[Claim] = []
    empty = m.no_data()

    def get(table: Mapping[str, Mapping[str, m.Estimate]], agent: str, key: str) -> m.Estimate:
        return table.get(agent, {}).get(key, empty)

    others = [label for label in ("imitation", "self") if label in agent_names]
    if "crowd" not in agent_names:
        return out
    for key in [ALL, *members]:
        if key not in top1.get("crowd", {}):
            continue
        who = "the crowd (all members pooled)" if key == ALL else key
        if "imitation" in agent_names:
            out.append(
                _claim(
                    "imitation",
                    f"the crowd agent copies {who} less often than the imitation agent (top-1)",
                    get(top1, "crowd", key),
                    get(top1, "imitation", key),
                    "less",
                )
            )
    for key in [ALL, *members]:
        who = "the crowd (all members pooled)" if key == ALL else key
        for other in others:
            out.append(
                _claim(
                    "exploitation",
                    f"the crowd agent scores better against {who} than the {other} agent",
                    get(exploitation, "crowd", key),
                    get(exploitation, other, key),
                    "greater",
                )
            )
    for member in members:
        if member not in flaws.get("crowd", {}):
            continue
        for other in others:
            out.append(
                _claim(
                    "flaws",
                    f"the crowd agent triggers {member}'s planted flaw more often than the "
                    f"{other} agent",
                    get(flaws, "crowd", member),
                    get(flaws, other, member),
                    "greater",
                )
            )
    crowd_box = out_of_box.get("crowd")
    if crowd_box is not None:
        for other in others:
            if other in out_of_box:
                out.append(
                    _claim(
                        "out-of-the-box",
                        f"the crowd agent plays more moves no crowd member would play than the "
                        f"{other} agent",
                        crowd_box.share,
                        out_of_box[other].share,
                        "greater",
                    )
                )
        out.append(
            _claim(
                "out-of-the-box",
                "the crowd agent's games with such moves are won more often than those without",
                crowd_box.with_novel,
                crowd_box.without_novel,
                "greater",
            )
        )
    for opponent in held_out:
        for other in others:
            out.append(
                _claim(
                    "transfer",
                    f"the crowd agent scores better against the held-out {opponent} than the "
                    f"{other} agent",
                    get(transfer, "crowd", opponent),
                    get(transfer, other, opponent),
                    "greater",
                )
            )
    for other in others:
        estimate = get(transfer, "crowd", agent_names[other])
        out.append(
            Claim(
                "transfer",
                f"the crowd agent beats the {other} agent head to head (score above 50%)",
                m.above(estimate, 0.5),
                str(estimate),
            )
        )
    if "opponent-model" in agent_names:
        # Does an explicit model of the member add to what the crowd agent already knows?
        for key in [ALL, *members]:
            who = "the crowd (all members pooled)" if key == ALL else key
            if key not in exploitation.get("opponent-model", {}):
                continue
            out.append(
                _claim(
                    "opponent modelling",
                    f"searching with a model of the opponent scores better against {who} "
                    "than the crowd agent's own search",
                    get(exploitation, "opponent-model", key),
                    get(exploitation, "crowd", key),
                    "greater",
                )
            )
    for label, check in values.items():
        if check.reply_brier is None:
            continue
        out.append(
            _claim(
                "value",
                f"the {label} agent's value head is less accurate where the opponent is to "
                "move (the positions its search evaluates after its own moves) than where "
                "it is to move (Brier score)",
                check.reply_brier,
                check.brier,
                "greater",
            )
        )
    crowd_values = values.get("crowd")
    if crowd_values is not None:
        for opponent, estimate in crowd_values.search_overrating_by_opponent.items():
            out.append(
                Claim(
                    "value",
                    f"the crowd agent's search overrates its positions against {opponent} "
                    "(mean predicted - actual above 0)",
                    m.above(estimate, 0.0),
                    str(estimate),
                )
            )
    return out
