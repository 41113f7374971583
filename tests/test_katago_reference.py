"""KataGo's network as the study's strong reference (crowdzero.players.katago_reference).

The reply parsing and the restart logic are checked against a stand-in engine (a few
lines of Python speaking GTP, fast); what the real network says about a few positions is
checked against the installed KataGo, one process shared by those tests, and skipped
only where KataGo is not installed. Their deadlines are for a loaded 2-core machine.
"""

from __future__ import annotations

import os
import signal
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from crowdzero.go.coords import BLACK, WHITE, gtp_to_point
from crowdzero.go.position import Position, Rules
from crowdzero.players.engines import EngineConfig, engine_available
from crowdzero.players.katago_reference import (
    Adjudication,
    KataGoReference,
    KataGoReferenceError,
    parse_raw_nn,
)

RULES = Rules(size=9, komi=7.5)
PATIENT = 600.0

needs_katago = pytest.mark.skipif(
    not engine_available("katago"),
    reason="KataGo is not installed here; run scripts/install_katago.sh",
)


def raw_reply(size: int = 9, *, top_left: float = 0.9, white_win: float = 0.7) -> str:
    """A ``kata-raw-nn`` body as KataGo prints it: rows from the top, White's view,
    NAN at A8 (say, occupied); the top-left point (A9) gets `top_left` of the policy."""
    n2 = size * size
    rest = (1.0 - top_left) / (n2 - 1)  # the pass and every other point but A8
    rows = []
    for row in range(size):
        cells = []
        for col in range(size):
            if (row, col) == (0, 0):
                cells.append(f"{top_left:.6f}")
            elif (row, col) == (1, 0):
                cells.append("   NAN")
            else:
                cells.append(f"{rest:.6f}")
        rows.append(" ".join(cells))
    ownership = "\n".join(" ".join(["0.5"] * size) for _ in range(size))
    return "\n".join(
        [
            "symmetry 0",
            f"whiteWin {white_win:.6f}",
            f"whiteLoss {1 - white_win:.6f}",
            "noResult 0.000000",
            "whiteLead 4.5",
            "whiteScoreSelfplay 5.0",
            "policy",
            *rows,
            f"policyPass {rest:.6f}",
            "whiteOwnership",
            ownership,
        ]
    )


def test_a_raw_nn_reply_is_read_from_whites_view_and_top_rows_into_crowdzeros() -> None:
    raw = parse_raw_nn(raw_reply(), 9)
    assert (raw.white_win, raw.white_lead) == (0.7, 4.5)
    assert raw.policy.shape == (82,) and raw.white_ownership.shape == (81,)
    assert raw.policy[gtp_to_point("A9", 9)] == pytest.approx(0.9)  # the top row, printed first
    assert np.isnan(raw.policy[gtp_to_point("A8", 9)])
    assert raw.policy[gtp_to_point("A1", 9)] < 0.01


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("= ?", "whiteWin"),
        (raw_reply().replace("whiteOwnership", "owner"), "whiteOwnership"),
        (raw_reply().replace("whiteLead 4.5", "whiteLead many"), "non-number"),
        ("\n".join(raw_reply().splitlines()[:12]), "values for 'policy'"),
    ],
)
def test_a_reply_that_is_not_a_raw_nn_answer_is_refused_in_words(text: str, words: str) -> None:
    with pytest.raises(KataGoReferenceError, match=words):
        parse_raw_nn(text, 9)


STAND_IN = textwrap.dedent(
    """
    # A GTP engine answering kata-raw-nn with a canned reply; it exits on kata-raw-nn
    # while the file named by argv[2] exists (the test's way to kill it mid-answer).
    import os, sys
    reply, die_file = open(sys.argv[1]).read(), sys.argv[2]
    for line in sys.stdin:
        parts = line.split()
        if not parts:
            continue
        cmd_id, cmd = (parts[0], parts[1]) if parts[0].isdigit() else ("", parts[0])
        if cmd == "kata-raw-nn" and os.path.exists(die_file):
            os._exit(9)
        if cmd == "play" and parts[-1].lower() == "j9":
            sys.stdout.write(f"?{cmd_id} illegal move\\n\\n")
        else:
            answer = reply if cmd == "kata-raw-nn" else ""
            sys.stdout.write(f"={cmd_id} {answer}\\n\\n")
        sys.stdout.flush()
        if cmd == "quit":
            break
    """
)


@pytest.fixture
def stand_in(tmp_path: Path) -> tuple[EngineConfig, Path]:
    script = tmp_path / "stand_in.py"
    script.write_text(STAND_IN)
    reply = tmp_path / "reply.txt"
    reply.write_text(raw_reply())
    die_file = tmp_path / "die"
    config = EngineConfig(
        name="stand-in",
        binary=sys.executable,
        args=(str(script), str(reply), str(die_file)),
        seed_flag=("--seed",),
        board_sizes=frozenset({9}),
    )
    return config, die_file


def test_an_evaluation_is_the_side_to_moves_view_over_crowdzeros_legal_moves(
    stand_in: tuple[EngineConfig, Path],
) -> None:
    config, _ = stand_in
    position = Position(RULES)
    position.play(gtp_to_point("A8", 9))  # the point the reply marks illegal
    with KataGoReference(config=config, timeout=30) as reference:
        white = reference.evaluate(position)
        position.play(gtp_to_point("E5", 9))
        black = reference.evaluate(position)
    assert white.to_play == WHITE and black.to_play == BLACK
    assert white.winrate == pytest.approx(0.7) and black.winrate == pytest.approx(0.3)
    assert (white.score_lead, black.score_lead, black.black_lead) == (4.5, -4.5, -4.5)
    assert white.value == pytest.approx(0.4)
    for evaluation in (white, black):
        assert evaluation.policy.sum() == pytest.approx(1.0)
        assert evaluation.policy[gtp_to_point("A8", 9)] == 0.0
        assert int(np.argmax(evaluation.policy)) == gtp_to_point("A9", 9)
        assert np.allclose(evaluation.ownership, -0.5)  # White owns: -0.5 from Black's view
    assert black.policy[gtp_to_point("E5", 9)] == 0.0  # occupied since the reply was written


def test_adjudication_follows_the_score_lead_and_counts_the_ownership() -> None:
    assert Adjudication(3.2, 0.8, 2.0).result_string() == "B+3"
    assert Adjudication(-12.74, 0.01, -10.0).result_string() == "W+12.5"
    assert Adjudication(-12.74, 0.01, -10.0).winner == WHITE
    assert Adjudication(0.1, 0.5, 0.0).result_string() == "0"


def test_the_reference_refuses_what_it_cannot_tell_katago(
    stand_in: tuple[EngineConfig, Path],
) -> None:
    config, _ = stand_in
    with KataGoReference(config=config, timeout=30) as reference:
        with pytest.raises(KataGoReferenceError, match="9x9 only, not 7x7"):
            reference.evaluate(Position(Rules(size=7)))
        setup = Position.from_stones(RULES, black=[gtp_to_point("E5", 9)], to_play=WHITE)
        with pytest.raises(KataGoReferenceError, match="set-up stones"):
            reference.evaluate(setup)
        refused = Position(RULES)
        refused.play(gtp_to_point("J9", 9))  # the stand-in refuses J9, as under another ko rule
        with pytest.raises(KataGoReferenceError, match="refused"):
            reference.evaluate(refused)
        assert reference.evaluate(Position(RULES)).to_play == BLACK  # still in step
        assert reference.restarts == 0


def test_a_reference_whose_engine_dies_restarts_it_and_answers(
    stand_in: tuple[EngineConfig, Path],
) -> None:
    config, die_file = stand_in
    with KataGoReference(config=config, timeout=30, retries=1) as reference:
        first = reference.evaluate(Position(RULES))
        pid = reference.pid
        assert pid is not None
        os.kill(pid, signal.SIGKILL)  # dies while idle
        time.sleep(0.2)
        again = reference.evaluate(Position(RULES))
        assert reference.restarts == 1 and reference.pid != pid
        assert again.winrate == first.winrate
        die_file.touch()  # now every process dies in the middle of its answer
        with pytest.raises(KataGoReferenceError, match="failed 2 times"):
            reference.evaluate(Position(RULES))
        die_file.unlink()
        assert reference.evaluate(Position(RULES)).winrate == first.winrate
        assert reference.restarts == 3
    with pytest.raises(KataGoReferenceError, match="closed"):
        reference.evaluate(Position(RULES))


# ---------------------------------------------------------------- the real network


@pytest.fixture(scope="module")
def katago() -> Iterator[KataGoReference]:
    """One real KataGo process for the tests below (a start costs seconds to minutes)."""
    with KataGoReference(timeout=PATIENT) as reference:
        yield reference


def play(position: Position, *moves: str) -> Position:
    for move in moves:
        position.play(gtp_to_point(move, position.size))
    return position


def big_capture() -> Position:
    """Black to move; White's five stones C5-G5 have one liberty left, G6."""
    black = ["B5", "H5", "C4", "D4", "E4", "F4", "G4", "C6", "D6", "E6", "F6"]
    white = ["C5", "D5", "E5", "F5", "G5"] + ["pass"] * 6
    moves = [m for pair in zip(black, white, strict=True) for m in pair]
    return play(Position(RULES), *moves)


@needs_katago
@pytest.mark.timeout(1800)
def test_on_the_empty_board_katago_favours_the_centre_and_sees_the_game_about_even(
    katago: KataGoReference,
) -> None:
    evaluation = katago.evaluate(Position(RULES))
    row, col = divmod(int(np.argmax(evaluation.policy)), 9)
    assert 3 <= row <= 5 and 3 <= col <= 5, (row, col)
    assert evaluation.policy[81] < 0.01  # pass
    assert abs(evaluation.score_lead) < 4.0
    without_komi = katago.evaluate(Position(Rules(size=9, komi=0.5)))
    assert 4.0 < without_komi.score_lead - evaluation.score_lead < 10.0  # komi reached it


@needs_katago
@pytest.mark.timeout(1800)
def test_the_move_that_captures_a_big_group_rates_highest_and_leaves_a_hopeless_position(
    katago: KataGoReference,
) -> None:
    position = big_capture()
    evaluation = katago.evaluate(position)
    assert int(np.argmax(evaluation.policy)) == gtp_to_point("G6", 9)
    assert evaluation.policy[gtp_to_point("G6", 9)] > 0.3
    after = katago.evaluate(play(position.copy(), "G6"))  # White to move, five stones down
    assert after.to_play == WHITE
    assert after.winrate < 0.05 and after.score_lead < -15
    verdict = katago.adjudicate(play(position.copy(), "G6"))
    assert verdict.winner == BLACK and verdict.result_string().startswith("B+")
    assert verdict.ownership_margin > 10


@needs_katago
@pytest.mark.timeout(1800)
def test_a_killed_katago_is_restarted_and_gives_the_same_answer(katago: KataGoReference) -> None:
    position = big_capture()
    before = katago.evaluate(position)
    pid = katago.pid
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    after = katago.evaluate(position)
    assert katago.pid != pid and katago.restarts >= 1
    assert after.winrate == pytest.approx(before.winrate, abs=1e-4)
    assert np.allclose(after.policy, before.policy, atol=1e-4)
