"""Any crowdzero Player as a GTP v2 engine (for GoGui, Sabaki, twogtp, KGS bridges).

``python -m crowdzero.players.gtp_engine --player random`` (and ``crowdzero gtp --player
SPEC``) serves on stdin/stdout. The engine keeps the game as a list of moves and
rebuilds its `Position` from it whenever the list changes in a way a position cannot
follow (undo, new komi), so the rules engine alone decides what is legal.

Supported commands: the GTP v2 core set (protocol_version, name, version,
known_command, list_commands, quit, boardsize, clear_board, komi, play, genmove), the
common extensions undo, showboard, final_score, loadsgf, time_settings, time_left
(accepted and ignored), GnuGo's is_legal and list_stones, plus:

``list_stones black|white``
    the vertices of that colour's stones, space separated (as GnuGo answers it).
``is_legal black|white VERTEX``
    ``1`` or ``0``; for the colour not to move, as if it were its turn after a pass.
``cz-advice VERTEX [helpful|opponent|random|human]``
    advice for the next ``genmove`` (source ``human`` unless named): a network with
    advice planes hears it at the root of its search, other players ignore it. The
    vertex is checked like a move (on the board, empty); ``cz-advice`` alone clears it.
    Used by one ``genmove`` and forgotten; a new game forgets it too.

GTP lets a colour move twice in a row (handicap placement, GoGui editing); our rules
record strict alternation, so an out-of-turn ``play``/``genmove`` first records a pass
for the other side. That is refused when the pass would end the game.

Robustness: input is cleaned as the spec says (control characters dropped, tabs to
spaces, ``#`` comments removed, blank lines ignored), every command gets exactly one
``=``/``?`` reply whatever it contains, over-long lines are refused, and any exception a
command raises is logged to stderr and answered with ``?``; the engine never dies on
input.
"""

from __future__ import annotations

import argparse
import io
import math
import os
import stat
import sys
import traceback
from collections.abc import Callable
from typing import IO

import numpy as np

import crowdzero
from crowdzero.go.advice import ADVICE_SOURCES, Advice
from crowdzero.go.coords import (
    BLACK,
    MAX_SIZE,
    MIN_SIZE,
    RESIGN,
    WHITE,
    gtp_to_point,
    point_to_gtp,
)
from crowdzero.go.errors import CoordinateError, IllegalMove, SgfError
from crowdzero.go.position import KoRule, Position, Rules
from crowdzero.play.player import MoveRequest, Player, PlayerError
from crowdzero.play.record import Game
from crowdzero.play.sgf import MAX_SGF_BYTES, sgf_to_game

MAX_LINE_BYTES = 4096
PlayerFactory = Callable[[Rules], Player]


class GtpRefusal(Exception):
    """A command that cannot be carried out; its message becomes the ``?`` reply."""


class GtpStartError(ValueError):
    """The engine cannot start as asked (unknown player, bad size or komi); one line."""


def clean_line(raw: str) -> str:
    """A command line preprocessed as GTP v2 section 3.1 says."""
    kept = []
    for char in raw:
        if char == "\t":
            kept.append(" ")
        elif ord(char) < 32 or ord(char) == 127:
            continue
        else:
            kept.append(char)
    text = "".join(kept)
    return text.split("#", 1)[0].strip()


def _format_reply(success: bool, command_id: str, body: str) -> str:
    """``=id body`` / ``?id body`` and the blank line; blank lines inside are dropped
    (a blank line would end the reply early)."""
    lines = body.replace("\r", "").split("\n")
    body = "\n".join([lines[0], *(line for line in lines[1:] if line.strip())])
    return f"{'=' if success else '?'}{command_id} {body}\n\n"


def _parse_colour(word: str) -> int:
    lowered = word.lower()
    if lowered in ("b", "black"):
        return BLACK
    if lowered in ("w", "white"):
        return WHITE
    raise GtpRefusal(f"invalid color {word!r} (expected black or white)")


def _expect(args: list[str], count: int, usage: str) -> None:
    if len(args) != count:
        raise GtpRefusal(f"syntax error: usage is {usage}")


def _parse_int(word: str, what: str) -> int:
    if not (word.isascii() and word.lstrip("+-").isdigit() and len(word) <= 12):
        raise GtpRefusal(f"{what} {word!r} is not an integer")
    return int(word)


class GtpEngine:
    """One game served over GTP, moves chosen by a `Player`.

    `player` is a Player, or a factory ``rules -> Player`` that is called again when
    the board size changes (for players built for one size, like a network).
    """

    def __init__(
        self,
        player: Player | PlayerFactory,
        rules: Rules = Rules(),  # noqa: B008 - frozen
        *,
        name: str = "crowdzero",
        log: IO[str] | None = None,
    ) -> None:
        self._factory: PlayerFactory | None = None if isinstance(player, Player) else player
        self._player: Player | None = player if isinstance(player, Player) else None
        self._player_size: int | None = rules.size if self._player is not None else None
        self.name = name
        self.rules = rules
        self.position = Position(rules)
        self._points: list[int] = []  # every move of the game, passes and RESIGN included
        self._game_number = 0
        self._advice: Advice | None = None  # for the next genmove (cz-advice)
        self._log = log
        self.quit_requested = False
        self._commands: dict[str, Callable[[list[str]], str]] = {
            "protocol_version": self._protocol_version,
            "name": self._name,
            "version": self._version,
            "known_command": self._known_command,
            "list_commands": self._list_commands,
            "quit": self._quit,
            "boardsize": self._boardsize,
            "clear_board": self._clear_board,
            "komi": self._komi,
            "play": self._play,
            "genmove": self._genmove,
            "undo": self._undo,
            "showboard": self._showboard,
            "final_score": self._final_score,
            "list_stones": self._list_stones,
            "is_legal": self._is_legal,
            "loadsgf": self._loadsgf,
            "time_settings": self._time_settings,
            "time_left": self._time_left,
            "cz-advice": self._advice_command,
        }

    # ------------------------------------------------------------------ protocol

    @property
    def game_id(self) -> str:
        """The id the player sees; a new one after clear_board/boardsize/loadsgf."""
        return f"gtp-{os.getpid()}-{self._game_number}"

    def handle(self, line: str) -> str | None:
        """The full reply to one input line, or None for a line that is not a command
        (blank or only a comment). Never raises for any input."""
        text = clean_line(line)
        if not text:
            return None
        words = text.split()
        command_id = ""
        if words[0].isascii() and words[0].isdigit():
            command_id = words.pop(0)
            if not words:
                return _format_reply(False, command_id, "missing command")
        name, args = words[0].lower(), words[1:]
        handler = self._commands.get(name)
        if handler is None:
            return _format_reply(False, command_id, "unknown command")
        try:
            return _format_reply(True, command_id, handler(args))
        except GtpRefusal as exc:
            return _format_reply(False, command_id, str(exc))
        except Exception as exc:  # the engine must outlive any bug a command hits
            self._say(f"internal error in {text[:200]!r}:\n{traceback.format_exc()}")
            return _format_reply(False, command_id, f"internal error: {exc}")

    def serve(self, stdin: IO[bytes] | IO[str], stdout: IO[bytes] | IO[str]) -> None:
        """Answer commands from `stdin` on `stdout` until ``quit`` or end of input."""
        read_line = _line_reader(stdin)
        write = _writer(stdout)
        while not self.quit_requested:
            raw = read_line()
            if raw is None:
                break
            if isinstance(raw, _TooLong):
                write(_format_reply(False, "", f"line longer than {MAX_LINE_BYTES} bytes"))
                continue
            reply = self.handle(raw)
            if reply is not None:
                write(reply)

    def _say(self, message: str) -> None:
        print(message, file=self._log or sys.stderr, flush=True)

    # ------------------------------------------------------------------ game state

    def player(self) -> Player:
        """The player, (re)built by the factory if the board size changed."""
        if self._factory is not None and self._player_size != self.rules.size:
            if self._player is not None:
                self._player.close()
            self._player = self._factory(self.rules)
            self._player_size = self.rules.size
        assert self._player is not None
        return self._player

    def supports_size(self, size: int) -> bool:
        """Whether the player can play on a `size` board (a factory builds one per size)."""
        return self._factory is not None or (
            self._player is not None and self._player.supports_size(size)
        )

    def close(self) -> None:
        if self._player is not None:
            self._player.close()

    def _new_game(self, rules: Rules, points: list[int]) -> None:
        if self._player is not None:
            self._player.end_game(self.game_id)
        self._game_number += 1
        self._advice = None
        self.rules = rules
        self._rebuild(points)

    def _rebuild(self, points: list[int]) -> None:
        position = Position(self.rules)
        for point in points:
            position.play(point)  # RESIGN resigns
        self.position = position
        self._points = list(points)

    def _apply(self, point: int) -> None:
        self.position.play(point)
        self._points.append(point)

    def _take_turn(self, colour: int) -> None:
        """Make `colour` the side to move, recording a pass for the other side."""
        if self.position.to_play == colour or self.position.is_over:
            return
        if self.position.consecutive_passes >= 1:
            raise GtpRefusal("out of turn: the other side would have to pass, which ends the game")
        self._apply(self.position.size * self.position.size)

    def _vertex(self, word: str) -> int:
        try:
            point = gtp_to_point(word, self.rules.size)
        except CoordinateError as exc:
            raise GtpRefusal(f"invalid coordinate: {exc}") from None
        if point == RESIGN:
            raise GtpRefusal("invalid coordinate: resign is not a vertex")
        return point

    # ------------------------------------------------------------------ commands

    def _protocol_version(self, args: list[str]) -> str:
        return "2"

    def _name(self, args: list[str]) -> str:
        return self.name

    def _version(self, args: list[str]) -> str:
        return crowdzero.__version__

    def _known_command(self, args: list[str]) -> str:
        _expect(args, 1, "known_command COMMAND")
        return "true" if args[0].lower() in self._commands else "false"

    def _list_commands(self, args: list[str]) -> str:
        return "\n".join(self._commands)

    def _quit(self, args: list[str]) -> str:
        self.quit_requested = True
        return ""

    def _boardsize(self, args: list[str]) -> str:
        _expect(args, 1, "boardsize SIZE")
        size = _parse_int(args[0], "board size")
        try:
            rules = Rules(size=size, komi=self.rules.komi, ko=self.rules.ko)
        except ValueError:
            raise GtpRefusal("unacceptable size") from None
        if not self.supports_size(size):
            raise GtpRefusal("unacceptable size")  # the words GTP v2 prescribes
        self._new_game(rules, [])
        return ""

    def _clear_board(self, args: list[str]) -> str:
        _expect(args, 0, "clear_board")
        self._new_game(self.rules, [])
        return ""

    def _komi(self, args: list[str]) -> str:
        _expect(args, 1, "komi KOMI")
        try:
            komi = float(args[0])
        except ValueError:
            raise GtpRefusal(f"komi {args[0]!r} is not a number") from None
        if not math.isfinite(komi):
            raise GtpRefusal(f"komi {args[0]!r} is not a finite number")
        self.rules = Rules(size=self.rules.size, komi=komi, ko=self.rules.ko)
        self._rebuild(self._points)
        return ""

    def _play(self, args: list[str]) -> str:
        _expect(args, 2, "play COLOR VERTEX")
        colour = _parse_colour(args[0])
        point = self._vertex(args[1])
        if self.position.is_over:
            raise GtpRefusal("illegal move: the game is over")
        before = list(self._points)
        self._take_turn(colour)
        try:
            self._apply(point)
        except IllegalMove as exc:
            self._rebuild(before)  # drop the pass _take_turn may have recorded
            raise GtpRefusal(f"illegal move: {exc}") from None
        return ""

    def _genmove(self, args: list[str]) -> str:
        _expect(args, 1, "genmove COLOR")
        colour = _parse_colour(args[0])
        if self.position.is_over:
            return "pass"
        before = list(self._points)
        self._take_turn(colour)
        advice, self._advice = self._advice, None
        if advice is not None and not self.position.is_legal(advice.point):
            self._say(f"advice {point_to_gtp(advice.point, self.rules.size)} is not legal now")
            advice = None
        try:
            choice = self.player().select_move(
                MoveRequest(game_id=self.game_id, position=self.position.copy(), advice=advice)
            )
            self._apply(choice.point)
        except PlayerError as exc:
            self._rebuild(before)
            raise GtpRefusal(f"the player failed: {exc}") from None
        except IllegalMove as exc:
            self._rebuild(before)
            raise GtpRefusal(f"the player chose an illegal move: {exc}") from None
        except Exception:
            self._rebuild(before)
            raise
        return point_to_gtp(choice.point, self.rules.size)

    def _advice_command(self, args: list[str]) -> str:
        if not args:
            self._advice = None
            return ""
        if len(args) > 2:
            raise GtpRefusal(f"usage: cz-advice VERTEX [{'|'.join(ADVICE_SOURCES)}]")
        source = args[1].lower() if len(args) == 2 else "human"
        if source not in ADVICE_SOURCES:
            raise GtpRefusal(
                f"unknown advice source {args[1]!r}; use one of {', '.join(ADVICE_SOURCES)}"
            )
        point = self._vertex(args[0])
        if point < self.rules.size * self.rules.size and self.position.board[point] != 0:
            raise GtpRefusal(f"illegal advice: {args[0].upper()} is occupied")
        self._advice = Advice(point, source, "gtp")
        return ""

    def _undo(self, args: list[str]) -> str:
        _expect(args, 0, "undo")
        if not self._points:
            raise GtpRefusal("cannot undo")
        self._rebuild(self._points[:-1])
        return ""

    def _showboard(self, args: list[str]) -> str:
        return "\n" + str(self.position)

    def _final_score(self, args: list[str]) -> str:
        return self.position.result_string()

    def _list_stones(self, args: list[str]) -> str:
        _expect(args, 1, "list_stones COLOR")
        colour = _parse_colour(args[0])
        points = np.flatnonzero(self.position.board == colour)
        return " ".join(point_to_gtp(int(p), self.rules.size) for p in points)

    def _is_legal(self, args: list[str]) -> str:
        _expect(args, 2, "is_legal COLOR VERTEX")
        colour = _parse_colour(args[0])
        point = self._vertex(args[1])
        position = self.position
        if position.to_play != colour and not position.is_over:
            position = position.copy()
            position.play(position.size * position.size)
        return "1" if position.is_legal(point) else "0"

    def _loadsgf(self, args: list[str]) -> str:
        if len(args) not in (1, 2):
            raise GtpRefusal("syntax error: usage is loadsgf FILE [MOVE_NUMBER]")
        game = _read_sgf_file(args[0])
        if not self.supports_size(game.rules.size):
            size = game.rules.size
            raise GtpRefusal(f"cannot load file: the player cannot play {size}x{size}")
        points = [move.point for move in game.moves if move.point != RESIGN]
        if len(args) == 2:
            number = _parse_int(args[1], "move number")
            if number < 1:
                raise GtpRefusal(f"move number {number} is not positive")
            points = points[: number - 1]  # the position before move `number`
        self._new_game(game.rules, points)
        return ""

    def _time_settings(self, args: list[str]) -> str:
        _expect(args, 3, "time_settings MAIN_TIME BYO_YOMI_TIME BYO_YOMI_STONES")
        for word, what in zip(args, ("main time", "byo-yomi time", "byo-yomi stones"), strict=True):
            if _parse_int(word, what) < 0:
                raise GtpRefusal(f"{what} is negative")
        return ""

    def _time_left(self, args: list[str]) -> str:
        _expect(args, 3, "time_left COLOR TIME STONES")
        _parse_colour(args[0])
        _parse_int(args[1], "time")
        _parse_int(args[2], "stones")
        return ""


def _read_sgf_file(name: str) -> Game:
    """The game in the regular file `name`; anything else (a FIFO, /dev/stdin, a
    directory) is refused without reading, so loadsgf can never block the engine."""
    try:
        # O_NONBLOCK: opening a FIFO with no writer must not wait for one.
        fd = os.open(name, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as exc:
        raise GtpRefusal(f"cannot load file: {name}: {exc.strerror}") from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise GtpRefusal(f"cannot load file: {name} is not a regular file")
        with os.fdopen(fd, "rb", closefd=False) as file:
            data = file.read(MAX_SGF_BYTES + 1)
    except OSError as exc:
        raise GtpRefusal(f"cannot load file: {name}: {exc.strerror}") from None
    finally:
        os.close(fd)
    if len(data) > MAX_SGF_BYTES:
        raise GtpRefusal(f"cannot load file: {name} is larger than {MAX_SGF_BYTES} bytes")
    try:
        return sgf_to_game(data)
    except SgfError as exc:
        raise GtpRefusal(f"cannot load file: {name}: {exc}") from None


# ------------------------------------------------------------------------ streams


class _TooLong:
    pass


def _line_reader(stream: IO[bytes] | IO[str]) -> Callable[[], str | _TooLong | None]:
    """A function returning the next line (decoded), a `_TooLong`, or None at EOF."""
    if isinstance(stream, io.TextIOBase) and hasattr(stream, "buffer"):
        stream = stream.buffer
    limit = MAX_LINE_BYTES

    def next_chunk() -> bytes:
        chunk = stream.readline(limit + 1)
        return chunk.encode("utf-8", "surrogatepass") if isinstance(chunk, str) else chunk

    def read() -> str | _TooLong | None:
        raw = next_chunk()
        if not raw:
            return None
        if len(raw) > limit and not raw.endswith(b"\n"):
            while True:  # skip the rest of the long line
                more = next_chunk()
                if not more or more.endswith(b"\n"):
                    break
            return _TooLong()
        return raw.decode("utf-8", "replace")

    return read


def _writer(stream: IO[bytes] | IO[str]) -> Callable[[str], None]:
    if isinstance(stream, io.TextIOBase) and hasattr(stream, "buffer"):
        stream = stream.buffer
    if isinstance(stream, io.TextIOBase):
        text_stream = stream

        def write_text(reply: str) -> None:
            text_stream.write(reply)
            text_stream.flush()

        return write_text
    binary_stream = stream

    def write_bytes(reply: str) -> None:
        binary_stream.write(reply.encode("utf-8"))  # type: ignore[arg-type]
        binary_stream.flush()

    return write_bytes


# ------------------------------------------------------------------------ entry points


def start_engine(
    player_spec: str,
    size: int | None = None,
    komi: float = 7.5,
    ko: str = KoRule.POSITIONAL.value,
) -> GtpEngine:
    """The engine for `player_spec` (see crowdzero.players.registry), or GtpStartError
    saying in one line what is wrong and what to give instead.

    `size` None starts on 9x9, or on the player's own size if it plays only others.
    """
    from crowdzero.players.engines import EngineUnavailable
    from crowdzero.players.registry import PlayerSpecError, make_player

    try:
        rules = Rules(size=9 if size is None else size, komi=komi, ko=KoRule(ko))
    except ValueError as exc:
        raise GtpStartError(
            f"{exc} (--size takes {MIN_SIZE}..{MAX_SIZE}, --komi a finite number)"
        ) from None
    try:
        player = make_player(player_spec)
    except (PlayerSpecError, EngineUnavailable) as exc:
        raise GtpStartError(str(exc)) from None
    sizes = [n for n in range(MIN_SIZE, MAX_SIZE + 1) if player.supports_size(n)]
    if not player.supports_size(rules.size):
        if size is None and sizes:
            rules = Rules(size=sizes[0], komi=rules.komi, ko=rules.ko)
        else:
            player.close()
            can = ", ".join(f"{n}x{n}" for n in sizes) or "no board size"
            raise GtpStartError(f"{player.name} plays {can} only, not {rules.size}x{rules.size}")
    return GtpEngine(player, rules, name=f"crowdzero ({player.name})")


def gtp_main(
    player_spec: str, size: int | None = None, komi: float = 7.5, ko: str = KoRule.POSITIONAL.value
) -> int:
    """Serve `player_spec` over GTP on stdin/stdout; 2 (and one line on stderr) when it
    cannot start."""
    try:
        engine = start_engine(player_spec, size, komi, ko)
    except GtpStartError as exc:
        print("error:", *str(exc).split(), file=sys.stderr, flush=True)  # one line
        return 2
    try:
        engine.serve(sys.stdin.buffer, sys.stdout.buffer)
    finally:
        engine.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m crowdzero.players.gtp_engine", description="Serve a player over GTP."
    )
    parser.add_argument("--player", default="random", help="player spec, e.g. random")
    parser.add_argument("--size", type=int, default=None, help="initial board size")
    parser.add_argument("--komi", type=float, default=7.5, help="initial komi")
    parser.add_argument(
        "--ko", default=KoRule.POSITIONAL.value, choices=[rule.value for rule in KoRule]
    )
    options = parser.parse_args(argv)
    return gtp_main(options.player, options.size, options.komi, options.ko)


if __name__ == "__main__":
    sys.exit(main())
