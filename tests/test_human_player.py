"""A person as a `Player`, and games started in a `MatchRunner` from outside: the web
page's games run through the same loop, batch and record builder as training's."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

import pytest

from crowdzero.go.coords import BLACK, RESIGN, WHITE, gtp_to_point
from crowdzero.go.errors import IllegalMove
from crowdzero.go.position import Rules
from crowdzero.play.human import HumanPlayer, NotYourTurn
from crowdzero.play.match_runner import DroppedGame, GameView, MatchRunner, Pairing
from crowdzero.play.player import MoveChoice, MoveRequest, Player
from crowdzero.players.random import RandomNoEyePlayer

RULES = Rules(size=5, komi=0.5)


def point(text: str) -> int:
    return gtp_to_point(text, RULES.size)


class CountingAgent(Player):
    """Plays the first legal point from a list (else passes) and records its batches."""

    name = "agent"

    def __init__(self, points: Sequence[str] = ("C3", "B2", "D4", "B4")) -> None:
        self.points = [point(p) for p in points]
        self.batches: list[int] = []

    def select_moves(self, requests: Sequence[MoveRequest]) -> list[MoveChoice]:
        self.batches.append(len(requests))
        return [self.select_move(r) for r in requests]

    def select_move(self, request: MoveRequest) -> MoveChoice:
        legal = [p for p in self.points if request.position.is_legal(p)]
        return MoveChoice(legal[0] if legal else request.position.pass_point)


class Watcher:
    """Keeps everything the runner shows about one game."""

    def __init__(self, person: HumanPlayer | None = None) -> None:
        self.person = person
        self.views: list[GameView] = []
        self.asked_when_shown: list[bool] = []
        self.ended: list[GameView | DroppedGame] = []

    def moved(self, view: GameView) -> None:
        self.views.append(view)
        if self.person is not None:
            self.asked_when_shown.append(self.person.to_move)

    def finished(self, view: GameView) -> None:
        self.ended.append(view)

    def dropped(self, dropped: DroppedGame) -> None:
        self.ended.append(dropped)


def people_only_runner(**kwargs: object) -> MatchRunner:
    return MatchRunner(RULES, None, source="web", **kwargs)  # type: ignore[arg-type]


def test_a_persons_move_resolves_the_future_the_runner_waits_on() -> None:
    person, agent = HumanPlayer("human:ann"), CountingAgent()
    runner = people_only_runner()
    runner.start_game(Pairing(person, agent, frozenset({WHITE})))
    runner.step(0)
    assert person.to_move and runner.moves_played == 0  # waiting on the person
    person.play(point("A1"))
    assert not person.to_move
    runner.step(0)  # takes the person's move in, then the agent answers
    assert runner.moves_played == 2 and person.to_move


def test_a_move_the_rules_forbid_is_refused_and_the_turn_stays_open() -> None:
    person, agent = HumanPlayer("human:ann"), CountingAgent(["A2", "B1"])
    runner = people_only_runner()
    runner.start_game(Pairing(person, agent, frozenset({WHITE})))
    for text in ("C3", "D4"):
        person.play(point(text))
        runner.step(0)
    with pytest.raises(IllegalMove, match="C3 is occupied"):
        person.play(point("C3"))
    with pytest.raises(IllegalMove, match="A1 is suicide"):
        person.play(point("A1"))
    assert person.to_move
    person.play(point("E5"))  # a legal move still goes through
    runner.step(0)
    assert runner.moves_played == 6


def test_a_move_out_of_turn_is_refused() -> None:
    person, agent = HumanPlayer("human:bo"), CountingAgent()
    runner = people_only_runner()
    runner.start_game(Pairing(agent, person, frozenset({BLACK})))
    with pytest.raises(NotYourTurn):  # the agent opens
        person.play(point("C3"))
    runner.step(0)
    person.play(point("A1"))
    with pytest.raises(NotYourTurn):  # the first move is not taken in yet
        person.play(point("A2"))


def test_a_person_who_leaves_voids_the_game_and_nothing_is_kept() -> None:
    person, agent = HumanPlayer("human:cy"), CountingAgent()
    watcher = Watcher()
    runner = people_only_runner()
    runner.start_game(Pairing(person, agent, frozenset({WHITE})), watcher=watcher)
    person.play(point("C3"))
    runner.step(0)
    person.leave("the person left (no request for 60 s)")
    finished, dropped = runner.step(0)
    assert finished == [] and runner.live_games == 0
    assert [d.reason for d in dropped] == ["human:cy: the person left (no request for 60 s)"]
    assert watcher.ended == dropped


def test_a_started_games_records_are_built_by_the_runner() -> None:
    """The watcher sees the record so far after each move, and the very record `step`
    returns at the end: one record builder for training and the web."""
    person, agent = HumanPlayer("human:di"), CountingAgent()
    watcher = Watcher(person)
    runner = people_only_runner()
    start = runner.start_game(Pairing(person, agent, frozenset({WHITE})), watcher=watcher)
    assert start.record.moves == () and start.record.result == "?"
    person.play(point("A1"))
    runner.step(0)
    assert [len(v.record.moves) for v in watcher.views] == [1, 2]
    assert all(v.record.result == "?" for v in watcher.views)
    assert watcher.views[-1].record.moves[1].player == "agent"
    person.play(RESIGN)
    finished: list = []
    while not finished:
        finished, _ = runner.step(0)
    [game] = finished
    [end] = watcher.ended
    assert isinstance(end, GameView) and end.record is game
    assert (game.black, game.white, game.result) == ("human:di", "agent", "W+R")
    assert game.metadata == {"source": "web", "capped": "False", "resign_allowed": "False"}


def test_a_watcher_sees_a_persons_turn_only_once_the_person_is_asked() -> None:
    person, agent = HumanPlayer("human:ed"), CountingAgent()
    watcher = Watcher(person)
    runner = people_only_runner()
    runner.start_game(Pairing(agent, person, frozenset({BLACK})), watcher=watcher)
    for text in ("A1", "E5", "A5"):
        runner.step(0)
        person.play(point(text))
    runner.step(0)
    asked_at_their_turn = [
        asked
        for view, asked in zip(watcher.views, watcher.asked_when_shown, strict=True)
        if view.position.to_play == WHITE
    ]
    assert len(asked_at_their_turn) == 4 and all(asked_at_their_turn)


def test_several_peoples_games_share_one_batched_agent_search() -> None:
    agent = CountingAgent()
    people = [HumanPlayer(f"human:p{i}") for i in range(3)]
    runner = people_only_runner()
    for person in people:
        runner.start_game(Pairing(person, agent, frozenset({WHITE})))
    for person, text in zip(people, ("A1", "C3", "E5"), strict=True):
        person.play(point(text))
    runner.step(0)
    assert agent.batches == [3] and runner.learner_largest == 3


def test_started_games_play_beside_the_drawn_ones() -> None:
    agent, member = CountingAgent(), RandomNoEyePlayer(seed=1)
    runner = MatchRunner(
        RULES, lambda: Pairing(agent, member, frozenset({BLACK})), concurrency=2, max_moves=30
    )
    person = HumanPlayer("human:fa")
    runner.start_game(Pairing(person, agent, frozenset({WHITE})), game_id="web-1")
    runner.step(0)
    assert runner.live_games == 3  # the person's game does not take a drawn game's place
    with pytest.raises(ValueError, match="already in use"):
        runner.start_game(Pairing(person, agent, frozenset({WHITE})), game_id="web-1")
    runner.close()


def test_a_runner_with_nothing_to_play_takes_a_started_game_in_at_once() -> None:
    agent = CountingAgent()
    runner = people_only_runner()
    starter = threading.Timer(
        0.2, lambda: runner.start_game(Pairing(agent, HumanPlayer("h"), frozenset({BLACK})))
    )
    starter.start()
    began = time.monotonic()
    runner.step(wait_seconds=60)  # waits for the game, not for the full minute
    assert time.monotonic() - began < 30
    starter.join()
    runner.step(0)
    assert runner.moves_played == 1


def test_a_learner_failure_voids_its_games_when_the_runner_serves_people() -> None:
    class BrokenAgent(CountingAgent):
        def select_moves(self, requests: Sequence[MoveRequest]) -> list[MoveChoice]:
            raise RuntimeError("out of memory")

    agent = BrokenAgent()
    runner = people_only_runner(void_on_learner_error=True)
    for i in range(2):
        runner.start_game(Pairing(agent, HumanPlayer(f"h{i}"), frozenset({BLACK})))
    _, dropped = runner.step(0)
    assert len(dropped) == 2 and all("out of memory" in d.reason for d in dropped)
    assert runner.learner_failures == 1 and runner.live_games == 0
