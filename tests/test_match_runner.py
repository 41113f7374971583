"""The match runner: many games at once, slow members never stall, failures void one game."""

from __future__ import annotations

import concurrent.futures as cf
import threading
import time

import numpy as np
import pytest

from crowdzero.go.coords import BLACK, WHITE, pass_point
from crowdzero.go.position import Position, Rules
from crowdzero.play.match_runner import BOTH, DroppedGame, MatchRunner, Pairing
from crowdzero.play.player import MoveChoice, MoveRequest, Player, PlayerError
from crowdzero.players.random import RandomNoEyePlayer

RULES = Rules(size=5, komi=0.5)


class FixedPointPlayer(Player):
    """Plays one odd point whenever it is legal, else passes; never searches."""

    def __init__(self, point: int, name: str = "odd") -> None:
        self.point = point
        self.name = name

    def select_move(self, request: MoveRequest) -> MoveChoice:
        position = request.position
        if position.is_legal(self.point):
            return MoveChoice(self.point)
        return MoveChoice(position.pass_point)


class PolicyPlayer(RandomNoEyePlayer):
    """A random mover that also hands back a (fake) search target, like a frozen net."""

    def select_move(self, request: MoveRequest) -> MoveChoice:
        choice = super().select_move(request)
        policy = np.zeros(pass_point(request.position.size) + 1, dtype=np.float32)
        policy[choice.point] = 1.0
        return MoveChoice(choice.point, policy, 0.0)


class CountingBatchPlayer(PolicyPlayer):
    """Records the size of every batch it is asked to answer."""

    def __init__(self, seed: int = 0) -> None:
        super().__init__(seed=seed)
        self.name = "agent"
        self.batches: list[int] = []

    def select_moves(self, requests):  # type: ignore[no-untyped-def]
        self.batches.append(len(requests))
        return [self.select_move(r) for r in requests]


class SlowPlayer(RandomNoEyePlayer):
    blocking = True

    def __init__(self, delay: float) -> None:
        super().__init__(seed=1)
        self.name = "slow"
        self.delay = delay
        self.calls = 0
        self._lock = threading.Lock()

    def select_move(self, request: MoveRequest) -> MoveChoice:
        with self._lock:
            self.calls += 1
        time.sleep(self.delay)
        return super().select_move(request)


class DyingPlayer(RandomNoEyePlayer):
    """Fails on its third move, like an engine that crashes mid-game."""

    blocking = True

    def __init__(self) -> None:
        super().__init__(seed=2)
        self.name = "dying"
        self.moves: dict[str, int] = {}

    def select_move(self, request: MoveRequest) -> MoveChoice:
        n = self.moves.get(request.game_id, 0) + 1
        self.moves[request.game_id] = n
        if n == 3:
            raise PlayerError("engine died")
        return super().select_move(request)


class IllegalPlayer(Player):
    name = "cheat"

    def select_move(self, request: MoveRequest) -> MoveChoice:
        return MoveChoice(0)  # A1, again and again: occupied from its second move on


def test_non_blocking_players_are_batched_across_games() -> None:
    agent = CountingBatchPlayer()
    crowd = RandomNoEyePlayer(seed=3)
    runner = MatchRunner(
        RULES, lambda: Pairing(agent, crowd, frozenset({BLACK})), concurrency=8, max_moves=40
    )
    out = list(runner.play(8))
    assert len(out) == 8
    assert max(agent.batches) == 8  # every game's agent move in one call


def test_crowd_moves_never_carry_search_targets() -> None:
    """Only the learner's seats keep policies, even if the member also searches."""
    agent = PolicyPlayer(seed=4)
    agent.name = "agent"
    member = PolicyPlayer(seed=5)
    member.name = "frozen-net"
    flip = iter(range(1000))

    def pairing() -> Pairing:
        if next(flip) % 2:
            return Pairing(member, agent, frozenset({WHITE}))
        return Pairing(agent, member, frozenset({BLACK}))

    runner = MatchRunner(RULES, pairing, concurrency=4, max_moves=30)
    games = [g for g in runner.play(8) if not isinstance(g, DroppedGame)]
    assert len(games) == 8
    for game in games:
        for move in game.moves:
            assert (move.policy is not None) == (move.colour == game.agent_colour)
            assert (move.policy is not None) == (move.player == "agent")


class StampingPlayer(PolicyPlayer):
    """Stamps every answer with a weights step, as the learning agent does."""

    def __init__(self, seed: int, step: int, name: str) -> None:
        super().__init__(seed=seed)
        self.step = step
        self.name = name

    def select_move(self, request: MoveRequest) -> MoveChoice:
        choice = super().select_move(request)
        return MoveChoice(choice.point, choice.policy, choice.root_value, weights_step=self.step)


def test_the_weights_step_reaches_the_record_only_on_the_learners_moves() -> None:
    agent = StampingPlayer(seed=6, step=42, name="agent")
    member = StampingPlayer(seed=7, step=99, name="frozen-net")  # stamps too, but is crowd
    runner = MatchRunner(
        RULES, lambda: Pairing(agent, member, frozenset({BLACK})), concurrency=2, max_moves=20
    )
    games = [g for g in runner.play(4) if not isinstance(g, DroppedGame)]
    assert games
    for game in games:
        steps = {move.player: set() for move in game.moves}
        for move in game.moves:
            steps[move.player].add(move.weights_step)
        assert steps == {"agent": {42}, "frozen-net": {None}}


def test_self_play_marks_both_seats_as_learner() -> None:
    agent = PolicyPlayer(seed=6)
    runner = MatchRunner(
        RULES, lambda: Pairing(agent, agent, frozenset({BLACK, WHITE})), concurrency=2, max_moves=20
    )
    games = list(runner.play(2))
    assert all(g.agent_colour == BOTH for g in games)
    assert all(m.policy is not None for g in games for m in g.moves)


def test_slow_member_does_not_stall_other_games() -> None:
    """While the slow member thinks, the fast games keep moving."""
    slow = SlowPlayer(delay=0.2)
    fast = RandomNoEyePlayer(seed=7)
    agent = CountingBatchPlayer()
    pairings = iter(
        [Pairing(agent, slow, frozenset({BLACK}))]
        + [Pairing(agent, fast, frozenset({BLACK})) for _ in range(3)]
    )
    runner = MatchRunner(RULES, lambda: next(pairings), concurrency=4, max_moves=12)
    out = list(runner.play(4))
    # The three fast games (12 moves each, ~6 agent moves) finish while the slow game
    # has made only a few moves; the agent batches never wait for the slow seat.
    assert len(out) == 4
    assert [g.white for g in out][-1] == "slow"  # the slow game ends last...
    assert max(agent.batches) == 4  # ...though it started in the same batches
    assert slow.calls == sum(1 for m in out[-1].moves if m.player == "slow")


def test_a_failing_member_voids_only_its_own_game() -> None:
    dying = DyingPlayer()
    healthy = RandomNoEyePlayer(seed=8)
    agent = CountingBatchPlayer()
    pairings = iter(
        [Pairing(agent, dying, frozenset({BLACK}))]
        + [Pairing(agent, healthy, frozenset({BLACK})) for _ in range(3)]
    )
    runner = MatchRunner(RULES, lambda: next(pairings), concurrency=4, max_moves=20)
    out = list(runner.play(4))
    dropped = [g for g in out if isinstance(g, DroppedGame)]
    finished = [g for g in out if not isinstance(g, DroppedGame)]
    assert len(dropped) == 1 and "engine died" in dropped[0].reason
    assert len(finished) == 3


def test_an_illegal_member_move_voids_the_game_with_the_reason() -> None:
    agent = CountingBatchPlayer()
    runner = MatchRunner(
        RULES, lambda: Pairing(agent, IllegalPlayer(), frozenset({BLACK})), concurrency=1
    )
    (out,) = list(runner.play(1))
    assert isinstance(out, DroppedGame)
    assert "illegal" in out.reason and "occupied" in out.reason


def test_finished_games_replay_to_their_recorded_result() -> None:
    a, b = RandomNoEyePlayer(seed=9), RandomNoEyePlayer(seed=10)
    runner = MatchRunner(RULES, lambda: Pairing(a, b), concurrency=3)
    for game in runner.play(6):
        assert not isinstance(game, DroppedGame)
        final = game.replay()
        assert final.result_string() == game.result
        assert final.winner() == game.winner


def test_move_cap_scores_the_game_as_it_stands() -> None:
    a, b = RandomNoEyePlayer(seed=11), RandomNoEyePlayer(seed=12)
    runner = MatchRunner(RULES, lambda: Pairing(a, b), concurrency=1, max_moves=7)
    (game,) = list(runner.play(1))
    assert not isinstance(game, DroppedGame)
    assert len(game.moves) == 7
    position = Position(RULES)
    for m in game.moves:
        position.play(m.point)
    assert game.result == position.result_string()
    assert game.metadata["capped"] == "True"


def test_runner_rejects_zero_concurrency() -> None:
    with pytest.raises(ValueError):
        MatchRunner(RULES, lambda: Pairing(RandomNoEyePlayer(), RandomNoEyePlayer()), concurrency=0)


class BuggyPlayer(Player):
    """A non-blocking member with a bug (a heuristic that indexes off the board)."""

    name = "buggy"

    def select_move(self, request: MoveRequest) -> MoveChoice:
        raise IndexError("index 25 is out of bounds for axis 0 with size 25")


def test_a_crashing_non_blocking_member_voids_only_its_own_game() -> None:
    """Like a blocking member's bug, a batched member's bug must not end the run."""
    agent = CountingBatchPlayer()
    healthy = RandomNoEyePlayer(seed=13)
    pairings = iter(
        [Pairing(agent, BuggyPlayer(), frozenset({BLACK}))]
        + [Pairing(agent, healthy, frozenset({BLACK})) for _ in range(3)]
    )
    runner = MatchRunner(RULES, lambda: next(pairings), concurrency=4, max_moves=20)
    out = list(runner.play(4))
    dropped = [g for g in out if isinstance(g, DroppedGame)]
    assert len(dropped) == 1 and "IndexError" in dropped[0].reason
    assert dropped[0].pairing.white.name == "buggy"
    assert sum(not isinstance(g, DroppedGame) for g in out) == 3


def test_a_crashing_learner_is_not_hidden() -> None:
    """The learning agent's own bug stops the runner: dropping every game would hide it."""
    agent = BuggyPlayer()
    runner = MatchRunner(RULES, lambda: Pairing(agent, RandomNoEyePlayer(), frozenset({BLACK})))
    with pytest.raises(IndexError):
        list(runner.play(2))


def _alternating_colours(agent: Player, *, agent_moves_last: bool) -> MatchRunner:
    """8 games against a random member, the agent black in every other one."""
    crowd = RandomNoEyePlayer(seed=3)
    seats = iter(range(1000))

    def pairing() -> Pairing:
        if next(seats) % 2 == 0:
            return Pairing(agent, crowd, frozenset({BLACK}))
        return Pairing(crowd, agent, frozenset({WHITE}))

    return MatchRunner(
        RULES, pairing, concurrency=8, max_moves=200, agent_moves_last=agent_moves_last
    )


def test_the_agent_searches_every_waiting_game_in_one_batch_when_colours_alternate() -> None:
    """Agent as black in half the games and white in the other half: the crowd's ready
    moves are applied first, so each agent call covers every live game (the old order,
    grouping before any move was applied, alternated and covered about half)."""
    agent = CountingBatchPlayer()
    runner = _alternating_colours(agent, agent_moves_last=True)
    runner._budget = None
    for _ in range(6):  # the first moves of every game, before any can end
        runner.step()
    assert agent.batches[:6] == [8] * 6
    assert runner.learner_batch_fill == 1.0
    runner.close()


def test_resignation_is_offered_only_to_learner_seats_of_games_that_allow_it() -> None:
    seen: list[tuple[str, bool]] = []

    class Recorder(RandomNoEyePlayer):
        def select_move(self, request: MoveRequest) -> MoveChoice:
            seen.append((self.name, request.allow_resign))
            return super().select_move(request)

    agent, member = Recorder(seed=1), Recorder(seed=2)
    agent.name, member.name = "agent", "member"
    allow = iter([True, False] * 10)
    runner = MatchRunner(
        RULES,
        lambda: Pairing(agent, member, frozenset({BLACK}), allow_resign=next(allow)),
        concurrency=2,
        max_moves=6,
    )
    games = [g for g in runner.play(2) if not isinstance(g, DroppedGame)]
    assert {g.metadata["resign_allowed"] for g in games} == {"True", "False"}
    assert {flag for name, flag in seen if name == "member"} == {False}
    assert {flag for name, flag in seen if name == "agent"} == {True, False}


def test_serving_every_seat_in_one_pass_halves_the_agent_batch() -> None:
    """The old order, kept as an ablation switch: the agent's searches cover about half
    the games when colours alternate."""
    agent = CountingBatchPlayer()
    runner = _alternating_colours(agent, agent_moves_last=False)
    runner._budget = None
    for _ in range(6):
        runner.step()
    assert agent.batches[:6] == [4] * 6
    assert runner.learner_batch_fill == 0.5
    runner.close()


# -- the agent's search waits for engines about to answer ------------------------------


def _agent_against(
    agent: Player,
    members: list[Player],
    *,
    rules: Rules = RULES,
    learner_wait: float,
    learner_min_fill: float = 1.0,
) -> MatchRunner:
    """One game per member, the agent black in every game, games that cannot end early."""
    pairings = iter([Pairing(agent, m, frozenset({BLACK})) for m in members])
    runner = MatchRunner(
        rules,
        lambda: next(pairings),
        concurrency=len(members),
        max_moves=200,
        learner_wait=learner_wait,
        learner_min_fill=learner_min_fill,
    )
    runner._budget = None
    return runner


@pytest.mark.gnugo
def test_games_against_gnugo_join_every_agent_search_when_the_search_may_wait(
    gnugo_path: str,
) -> None:
    """Four games against GnuGo 0 and four against a random mover, stepped in a tight loop
    as a Ray worker steps them. The runner used to ask GnuGo right after a search and look
    for its answers right before the next one, so its games missed every other search;
    now every search covers all eight games."""
    from crowdzero.players.registry import make_player

    gnugo = make_player("gnugo:0")
    agent = CountingBatchPlayer()
    crowd = RandomNoEyePlayer(seed=4)
    runner = _agent_against(
        agent,
        [gnugo, crowd] * 4,
        rules=Rules(size=9, komi=7.5),
        learner_wait=60.0,  # ends as soon as GnuGo answered: never reached
        learner_min_fill=1.0,
    )
    try:
        for _ in range(6):  # the first moves of every game, before any can end
            runner.step()
        assert agent.batches[:6] == [8] * 6
        assert runner.learner_batch_fill == 1.0
    finally:
        runner.close()
        gnugo.close()


def test_an_answer_given_after_the_steps_harvest_joins_the_search() -> None:
    """An engine's answer that arrives while the crowd moves (after the step looked for
    answers, before the agent searches) is in that search, even with no wait at all."""

    class GatedEngine(RandomNoEyePlayer):
        """A blocking member that answers only when let go."""

        blocking = True

        def __init__(self) -> None:
            super().__init__(seed=5)
            self.name = "engine"
            self.go = threading.Event()

        def select_move(self, request: MoveRequest) -> MoveChoice:
            assert self.go.wait(timeout=30)
            self.go.clear()
            return super().select_move(request)

    class Prompter(RandomNoEyePlayer):
        """A non-blocking member that lets the engine answer, and waits for it, each time
        it moves: so the answer comes after the step's harvest, before the search."""

        def select_move(self, request: MoveRequest) -> MoveChoice:
            engine.go.set()
            waiting = [g.pending for g in runner._live.values() if g.pending is not None]
            cf.wait(waiting, timeout=30)
            return super().select_move(request)

    agent = CountingBatchPlayer()
    engine = GatedEngine()
    runner = _agent_against(agent, [engine, Prompter(seed=6)], learner_wait=0.0)
    try:
        for _ in range(4):
            runner.step()
        assert agent.batches[:4] == [2] * 4
    finally:
        engine.go.set()
        runner.close()


def test_the_wait_ends_once_enough_of_the_agents_games_are_ready() -> None:
    """Three of four games ready (75%): a 0.75 fill searches them without waiting out a
    member that takes 3 s a move."""
    agent = CountingBatchPlayer()
    members: list[Player] = [SlowPlayer(delay=3.0)] + [RandomNoEyePlayer(seed=s) for s in (1, 2, 3)]
    runner = _agent_against(agent, members, learner_wait=60.0, learner_min_fill=0.75)
    try:
        runner.step()  # the agent's first move in all four games; the slow member is asked
        started = time.monotonic()
        runner.step()
        assert time.monotonic() - started < 2.0
        assert agent.batches == [4, 3]
    finally:
        runner.close()


def test_the_wait_never_outlasts_its_deadline() -> None:
    agent = CountingBatchPlayer()
    members: list[Player] = [SlowPlayer(delay=3.0), RandomNoEyePlayer(seed=1)]
    runner = _agent_against(agent, members, learner_wait=0.2, learner_min_fill=1.0)
    try:
        runner.step()
        started = time.monotonic()
        runner.step()
        assert 0.2 <= time.monotonic() - started < 2.0
        assert agent.batches == [2, 1]
        assert runner.learner_wait_seconds >= 0.2
    finally:
        runner.close()


def test_runner_rejects_a_negative_wait_and_a_fill_outside_zero_to_one() -> None:
    with pytest.raises(ValueError, match="learner_wait"):
        MatchRunner(RULES, None, learner_wait=-1.0)
    with pytest.raises(ValueError, match="learner_min_fill"):
        MatchRunner(RULES, None, learner_min_fill=1.5)
