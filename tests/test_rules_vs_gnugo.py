"""Our rules engine agrees with GnuGo, move by move, over 200 random games.

One ``gnugo --mode gtp`` process replays every game (``clear_board`` between games).
After each move both engines must hold exactly the same stones (``list_stones``), and
must agree on which points the side to move may play: GnuGo's ``all_legal`` against our
legal moves at every turn, plus an explicit ``is_legal`` on every ko point and suicide
point that arises and on a few sampled points.

Rule-set differences: GnuGo knows only simple ko (and forbids suicide, as we do). Under
superko we forbid some moves GnuGo allows (a move recreating an earlier board that is
not an immediate ko retake), so those points, and only those, are left out of the
comparison; superko never allows a move simple ko forbids (a ko retake always repeats
the previous board), so everything else must match exactly. A third of the games use
``KoRule.SIMPLE`` and are compared on every point with no exception.

Games: random play that mostly never fills its own eyes (so groups live and the games
run long enough for captures, snapbacks and ko fights) and run to the end (two passes);
a quarter of the games fill eyes too (big captures, many suicide points) and, as such
games rarely end, stop at 2*N*N moves (others at a safety cap of 4*N*N). The test
counts captures, ko points, suicide points and snapbacks seen and checks each happened,
so it cannot silently stop exercising them. One batched round trip per move keeps the
run near a minute.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np
import pytest

from crowdzero.go.coords import BLACK, WHITE, gtp_to_point, point_to_gtp
from crowdzero.go.gtp_client import GtpClient
from crowdzero.go.position import KoRule, Position, Rules
from crowdzero.players.random import own_eye_mask

pytestmark = pytest.mark.gnugo

SIZES_AND_GAMES = ((5, 70), (7, 60), (9, 45), (13, 25))  # 200 games
SAMPLED_PER_TURN = 3
MOVE_CAP_PER_POINT = 4  # moves per board point before a game is cut
EYE_FILLING_CAP_PER_POINT = 2  # eye-filling games never end; their captures come early


@dataclass(frozen=True)
class GameSpec:
    seed: int
    size: int
    ko: KoRule
    fills_eyes: bool


def game_specs() -> list[GameSpec]:
    specs = []
    seed = 0
    for size, count in SIZES_AND_GAMES:
        for i in range(count):
            ko = KoRule.SIMPLE if i % 3 == 0 else KoRule.POSITIONAL
            specs.append(GameSpec(seed=seed, size=size, ko=ko, fills_eyes=i % 4 == 1))
            seed += 1
    return specs


def colour_word(colour: int) -> str:
    return "black" if colour == BLACK else "white"


def choose_move(position: Position, rng: np.random.Generator, fills_eyes: bool) -> int:
    n2 = position.size * position.size
    candidates = position.legal_mask()[:n2]
    if not fills_eyes:
        candidates &= ~own_eye_mask(position)
    points = np.flatnonzero(candidates)
    return n2 if len(points) == 0 else int(rng.choice(points))


def vertices_to_points(reply: str, size: int) -> set[int]:
    return {gtp_to_point(word, size) for word in reply.split()}


def play_and_compare(gnugo: GtpClient, spec: GameSpec, seen: Counter[str]) -> None:
    size = spec.size
    n2 = size * size
    rng = np.random.default_rng(spec.seed)
    position = Position(Rules(size=size, komi=7.5, ko=spec.ko))
    gnugo.send_many([f"boardsize {size}", "clear_board"])
    last_single_capture: int | None = None
    cap = (EYE_FILLING_CAP_PER_POINT if spec.fills_eyes else MOVE_CAP_PER_POINT) * n2
    while not position.is_over and len(position.moves) < cap:
        colour = position.to_play
        point = choose_move(position, rng, spec.fills_eyes)
        captured_before = position.captures[colour]
        before_board = position.board
        position.play(point)
        captured = position.captures[colour] - captured_before
        seen["moves"] += 1
        if captured:
            seen["captures"] += 1
            # Snapback: the opponent just took one stone at this very point, and playing
            # here again takes the capturing group back (two stones or more).
            if point == last_single_capture and captured >= 2:
                seen["snapbacks"] += 1
        last_single_capture = _single_capture_point(before_board, position.board, -colour)

        mover = position.to_play
        if position.is_over:  # nothing is legal for us; GnuGo has no notion of the end
            replies = gnugo.send_many(
                [
                    f"play {colour_word(colour)} {point_to_gtp(point, size)}",
                    "list_stones black",
                    "list_stones white",
                ]
            )
            assert_same_stones(position, replies[1], replies[2], spec)
            break
        legal = position.legal_mask()[:n2]
        superko_only: set[int] = set()
        special: set[int] = set()
        for p in np.flatnonzero(~legal & (position.board == 0)).tolist():
            reason = position.illegal_reason(p) or ""
            if "superko" in reason:
                superko_only.add(p)
                seen["superko-only points"] += 1
            elif "ko" in reason:
                special.add(p)
                seen["ko points"] += 1
            elif "suicide" in reason:
                special.add(p)
                seen["suicide points"] += 1
        empty = np.flatnonzero(position.board == 0).tolist()
        sampled = set(rng.choice(empty, size=min(SAMPLED_PER_TURN, len(empty)), replace=False))
        checked = sorted((special | sampled) - superko_only)
        commands = [
            f"play {colour_word(colour)} {point_to_gtp(point, size)}",
            "list_stones black",
            "list_stones white",
            f"all_legal {colour_word(mover)}",
            *(f"is_legal {colour_word(mover)} {point_to_gtp(p, size)}" for p in checked),
        ]
        replies = gnugo.send_many(commands)
        where = f"game {spec} move {len(position.moves)} ({point_to_gtp(point, size)})"
        assert_same_stones(position, replies[1], replies[2], spec)
        ours = set(np.flatnonzero(legal).tolist())
        theirs = vertices_to_points(replies[3], size) - superko_only
        assert theirs == ours, (
            f"legal moves differ after {where}: only GnuGo allows "
            f"{[point_to_gtp(p, size) for p in sorted(theirs - ours)]}, only we allow "
            f"{[point_to_gtp(p, size) for p in sorted(ours - theirs)]}\n{position}"
        )
        for p, answer in zip(checked, replies[4:], strict=True):
            assert (answer == "1") == bool(legal[p]), (
                f"is_legal {point_to_gtp(p, size)} differs after {where}: GnuGo says "
                f"{answer}, we say {position.illegal_reason(p) or 'legal'}"
            )
    seen["games"] += 1
    seen["finished games" if position.is_over else "capped games"] += 1


def assert_same_stones(
    position: Position, black_reply: str, white_reply: str, spec: GameSpec
) -> None:
    size = position.size
    where = f"game {spec} move {len(position.moves)}"
    black = set(np.flatnonzero(position.board == BLACK).tolist())
    white = set(np.flatnonzero(position.board == WHITE).tolist())
    assert vertices_to_points(black_reply, size) == black, f"black stones differ after {where}"
    assert vertices_to_points(white_reply, size) == white, f"white stones differ after {where}"


def _single_capture_point(before: np.ndarray, after: np.ndarray, victim: int) -> int | None:
    """The point where exactly one `victim` stone was removed by the last move, if so."""
    removed = np.flatnonzero((before == victim) & (after == 0))
    return int(removed[0]) if len(removed) == 1 else None


def test_rules_match_gnugo_move_by_move(gnugo_path: str) -> None:
    seen: Counter[str] = Counter()
    with GtpClient([gnugo_path, "--mode", "gtp", "--chinese-rules"], timeout=30) as gnugo:
        for spec in game_specs():
            play_and_compare(gnugo, spec, seen)
    print(dict(seen))
    assert seen["games"] == 200
    for event in ("captures", "ko points", "suicide points", "snapbacks", "finished games"):
        assert seen[event] > 0, f"no {event} arose in 200 games: {dict(seen)}"
