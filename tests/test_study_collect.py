"""`play_fixtures`: the study's games, dealt round-robin over its fixtures, colours
alternating within each fixture, and only what is missing played on a second call."""

from __future__ import annotations

from pathlib import Path

from crowdzero.analysis.study.collect import Fixture, fixture_games, play_fixtures
from crowdzero.go.position import Rules
from crowdzero.play.record import Game
from crowdzero.players.registry import make_player
from crowdzero.store.game_store import GameStore


def test_fixtures_are_dealt_round_robin_and_resumed(tmp_path: Path) -> None:
    agent = make_player("heuristic:local:1")  # stands in for a study agent
    x, y, z = (
        make_player("random:2"),
        make_player("heuristic:greedy:3"),
        make_player("random-noeye:4"),
    )
    rules = Rules(size=5, komi=0.5)
    order: list[Game] = []
    with GameStore(tmp_path / "games.sqlite") as store:
        # One game of z is already there: only its second is missing.
        play_fixtures([Fixture(agent, z, 1)], store, rules, concurrency=1)
        fixtures = [Fixture(agent, x, 3), Fixture(agent, y, 1), Fixture(agent, z, 2)]
        log = play_fixtures(fixtures, store, rules, concurrency=1, on_game=order.append)
        assert (log.played, log.reused) == (5, 1)
        # One game in flight at a time, so games end in the order they were dealt: the
        # next game of each fixture in turn (z's second game is its k=1: agent white).
        opponents = [g.black if g.white == agent.name else g.white for g in order]
        assert opponents == [x.name, y.name, z.name, x.name, x.name]
        assert [g.black == agent.name for g in order] == [True, True, False, False, True]
        assert [len(fixture_games(store, agent.name, o.name)) for o in (x, y, z)] == [3, 1, 2]
        again = play_fixtures(fixtures, store, rules, concurrency=4)
        assert (again.played, again.reused) == (0, 6)
