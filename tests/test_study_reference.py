"""KataGo as the study's judge (crowdzero.analysis.study.reference): blunders among the
moves no crowd member would play, and the adjudication of games stopped at the move cap.

The logic is checked against a stand-in reference whose verdicts the test sets; the
last tests ask the real KataGo about plain positions (skipped where it is not installed).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from crowdzero.analysis.study import stages
from crowdzero.analysis.study.collect import AgentMove
from crowdzero.analysis.study.measure import BoxMoves
from crowdzero.analysis.study.metrics import wilson
from crowdzero.analysis.study.reference import (
    BlunderRule,
    adjudicate_games,
    is_capped,
    judge_move,
    open_reference,
    reference_check,
    reference_claims,
)
from crowdzero.analysis.study.report import write_report
from crowdzero.analysis.study.results import ReferenceCheck
from crowdzero.go.coords import BLACK, WHITE, gtp_to_point
from crowdzero.go.position import Position, Rules
from crowdzero.play.record import Game, Move
from crowdzero.players.engines import engine_available
from crowdzero.players.katago_reference import (
    Adjudication,
    KataGoEvaluation,
    KataGoReference,
    KataGoReferenceError,
)

RULES = Rules(size=9, komi=7.5)
N2 = 81


def p(move: str) -> int:
    return gtp_to_point(move, 9)


class StandIn:
    """A reference whose every answer the test sets: Black's lead and win probability by
    the last move played (None: the empty board), and a favourite move."""

    def __init__(self, black: dict[str | None, tuple[float, float]], favourite: str) -> None:
        self.black = black
        self.favourite = p(favourite)
        self.asked: list[tuple[int, ...]] = []

    def evaluate(self, position: Position) -> KataGoEvaluation:
        last = position.moves[-1][1] if position.moves else None
        key = None if last is None else next(k for k in self.black if k and p(k) == last)
        lead, winrate = self.black[key]
        self.asked.append(tuple(point for _, point in position.moves))
        if key == "J9":
            raise KataGoReferenceError("KataGo refused the position")
        policy = np.zeros(N2 + 1)
        policy[self.favourite] = 1.0
        sign = 1 if position.to_play == BLACK else -1
        return KataGoEvaluation(
            to_play=position.to_play,
            policy=policy,
            winrate=winrate if sign == 1 else 1 - winrate,
            score_lead=sign * lead,
            ownership=np.zeros(N2),
        )

    def adjudicate(self, position: Position) -> Adjudication:
        self.asked.append(tuple(point for _, point in position.moves))
        return Adjudication(black_lead=6.0, black_winrate=0.9, ownership_margin=5.0)


#: Black's lead and win probability after each first move, KataGo's favourite being E5.
OPENING = {
    None: (-1.0, 0.45),
    "E5": (1.0, 0.55),  # the favourite
    "D5": (0.5, 0.52),  # half a point worse: fine
    "C3": (-1.5, 0.36),  # 2.5 points, but 0.19 of the win probability: a blunder
    "A1": (-4.0, 0.50),  # 5 points: a blunder, though the win probability barely moves
    "J9": (0.0, 0.5),  # KataGo refuses it (as it would a move under another ko rule)
}


def test_a_move_is_judged_against_katagos_favourite_after_both_moves() -> None:
    reference, rule = StandIn(OPENING, "E5"), BlunderRule()
    empty = Position(RULES)
    best = judge_move(reference, empty, p("E5"), rule)
    assert (best.points_lost, best.winrate_lost, best.blunder, best.prior) == (0, 0, False, 1.0)
    close = judge_move(reference, empty, p("D5"), rule)
    assert close.points_lost == pytest.approx(0.5) and not close.blunder
    assert judge_move(reference, empty, p("C3"), rule).blunder  # by the win probability
    assert judge_move(reference, empty, p("A1"), rule).blunder  # by the points
    assert not judge_move(reference, empty, p("A1"), BlunderRule(points=6.0)).blunder
    white = Position(RULES)
    white.play(p("E5"))  # White to move: the same numbers, seen from White's side
    lenient = StandIn({None: (0, 0.5), "E5": (0, 0.5), "D5": (3.5, 0.6), "C3": (0.0, 0.5)}, "C3")
    assert judge_move(lenient, white, p("D5"), rule).points_lost == pytest.approx(3.5)


def test_a_pass_that_ends_the_game_is_judged_by_the_count() -> None:
    position = Position(Rules(size=9, komi=7.5))
    position.play(p("E5"))
    position.play(81)  # White passes; a Black pass ends the game: B+ (81 - 7.5)
    reference = StandIn({"pass": (70.0, 0.99), "D4": (60.0, 0.99)}, "D4")
    verdict = judge_move(reference, position, 81, BlunderRule())
    assert not verdict.blunder and verdict.points_lost == pytest.approx(60.0 - 73.5)
    with pytest.raises(ValueError, match="blunder needs"):
        BlunderRule(points=0)


def _moves(*points: str) -> tuple[AgentMove, ...]:
    return tuple(
        AgentMove(
            game=k % 2,
            opponent="greedy",
            ply=0,
            point=p(m),
            position=Position(RULES),
            root_value=None,
            score=1.0,
        )
        for k, m in enumerate(points)
    )


def test_the_check_counts_sound_novel_moves_and_blunders_against_usual_ones() -> None:
    moves = _moves("A1", "D5", "E5", "E5", "J9")
    box = BoxMoves(
        games=2,
        moves=moves,
        novel=np.array([True, True, False, False, True]),
        novel_all=np.array([True, True, False, False, True]),
        members=("greedy",),
        threshold=0.01,
    )
    check, notes = reference_check(box, StandIn(OPENING, "E5"), adjudicated=(3, 1))
    assert check.novel_blunders.n == 2 and check.novel_blunders.value == 0.5  # A1; J9 failed
    assert check.usual_blunders.n == 2 and check.usual_blunders.value == 0.0
    assert check.sound_share.value == pytest.approx(1 / 4)  # D5, of the 4 moves judged
    assert check.novel_points_lost.value == pytest.approx((5 + 0.5) / 2)
    assert (check.adjudicated, check.flipped, check.blunder_points) == (3, 1, 3.0)
    assert len(notes) == 1 and "could not judge 1 moves" in notes[0]


def _game(moves: list[str], *, capped: bool, black: str = "crowd-agent@1") -> Game:
    record = tuple(Move(BLACK if k % 2 == 0 else WHITE, p(m)) for k, m in enumerate(moves))
    return Game(
        RULES,
        black,
        "greedy",
        record,
        "W+7.5",
        WHITE,
        "2026-12-02",
        metadata={"capped": str(capped)},
    )


def test_capped_games_take_katagos_result_and_are_asked_about_once() -> None:
    capped, finished = _game(["E5", "C3"], capped=True), _game(["E5", "pass", "pass"], capped=False)
    resigned = replace(_game(["E5"], capped=True), result="B+R", winner=BLACK)
    assert is_capped(capped) and not is_capped(finished) and not is_capped(resigned)
    reference = StandIn(OPENING, "E5")
    games = {
        "crowd": {"greedy": (capped, finished, resigned)},
        "self": {"crowd-agent@1": (capped,)},  # head to head: the same stored game
    }
    out = adjudicate_games(games, reference)
    assert len(reference.asked) == 1 and out.counts == {"crowd": (1, 1), "self": (1, 1)}
    judged = out.games["crowd"]["greedy"][0]
    assert (judged.result, judged.winner) == ("B+6", BLACK)
    assert (
        judged.metadata["counted_result"] == "W+7.5" and judged.metadata["adjudicated"] == "katago"
    )
    assert out.games["crowd"]["greedy"][1:] == (finished, resigned)
    assert out.notes == ()


def test_without_katago_the_study_goes_on_with_a_note_saying_what_it_leaves_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CROWDZERO_KATAGO_DIR", str(tmp_path / "none"))
    reference, notes = open_reference(True, 9)
    assert reference is None and "no KataGo reference" in notes[0]
    assert "not checked for blunders" in notes[0] and "install_katago" in notes[0]
    reference, notes = open_reference(False, 9)
    assert reference is None and "switched off" in notes[0]


def test_a_study_on_another_board_size_leaves_katago_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "AppRun").write_text("#!/bin/sh\nexit 1\n")
    (tmp_path / "app" / "AppRun").chmod(0o755)
    (tmp_path / "network.bin.gz").write_bytes(b"")
    (tmp_path / "gtp.cfg").write_text(
        "maxBoardXSizeForNNBuffer = 9\nmaxBoardYSizeForNNBuffer = 9\nrequireMaxBoardSize = true\n"
    )
    monkeypatch.setenv("CROWDZERO_KATAGO_DIR", str(tmp_path))
    reference, notes = open_reference(True, 7)
    assert reference is None and "9x9 only, not 7x7" in notes[0]


def _check(sound: int, novel_blunders: int) -> ReferenceCheck:
    return ReferenceCheck(
        sound_share=wilson(sound, 400),
        novel_blunders=wilson(novel_blunders, 50),
        usual_blunders=wilson(2, 50),
        novel_points_lost=wilson(1, 2),
        usual_points_lost=wilson(1, 2),
        blunder_points=3.0,
        blunder_winrate=0.15,
        adjudicated=4,
        flipped=1,
    )


def test_katagos_verdicts_become_claims_and_a_table_in_the_report(tmp_path: Path) -> None:
    from test_study_report import _results  # the report tests' measured study

    results = replace(_results(), reference={"crowd": _check(60, 40), "self": _check(10, 5)})
    claims = {c.text: c.verdict for c in reference_claims(results)}
    sound = (
        "the crowd agent plays more moves no crowd member would play that KataGo does not "
        "call blunders than the self agent"
    )
    assert claims[sound] == "supported"
    assert (
        claims[
            "KataGo calls the crowd agent's out-of-the-box moves blunders more often than its "
            "other moves"
        ]
        == "supported"
    )
    judged = stages.compare(results)
    assert sound in {c.text for c in judged.claims}
    text = write_report(judged, tmp_path).read_text()
    assert "KataGo&#x27;s verdict" in text or "KataGo's verdict" in text
    assert "4 (1)" in text  # capped games adjudicated (winner changed)
    assert reference_claims(replace(results, reference={})) == []


# ---------------------------------------------------------------- the real network

needs_katago = pytest.mark.skipif(
    not engine_available("katago"),
    reason="KataGo is not installed here; run scripts/install_katago.sh",
)


@pytest.fixture(scope="module")
def katago() -> Iterator[KataGoReference]:
    with KataGoReference(timeout=600.0) as reference:
        yield reference


@needs_katago
@pytest.mark.timeout(1800)
def test_katago_calls_the_corner_opening_a_blunder_and_the_centre_sound(
    katago: KataGoReference,
) -> None:
    empty, rule = Position(RULES), BlunderRule()
    assert not judge_move(katago, empty, p("E5"), rule).blunder
    assert judge_move(katago, empty, p("D5"), rule).points_lost < 1.5
    corner = judge_move(katago, empty, p("A1"), rule)
    assert corner.blunder and corner.points_lost > 6 and corner.prior < 0.01
    assert judge_move(katago, empty, 81, rule).blunder  # passing on the empty board
