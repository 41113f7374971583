"""Games as SGF files, through sgfmill.

SGF is how games leave the system (export, the web history, GTP ``loadsgf``) and how
outside games come in, so reading is strict: every move is replayed through the rules
engine and anything that is not a plain game from an empty board (setup stones,
unsupported sizes, moves off the board, illegal moves) raises `SgfError` saying what
and where. Writing keeps everything a `Game` record holds, so `sgf_to_game(game_to_sgf(g))
== g`: the standard properties carry what other programs understand (SZ, KM, RU, PB, PW,
RE, DT) and private ``CZ*`` properties carry the rest (exact ko rule, the agent's search
policy and root value per move, who made each move, resignation as a move).

Private properties (values are SGF Text):

=====  ======  ===============================================================
where  name    meaning
=====  ======  ===============================================================
root   CZKO    ko rule: "simple", "positional" or "situational"
root   CZAC    ``Game.agent_colour`` as an integer
root   CZCK    ``Game.checkpoint``
root   CZDT    ``Game.date`` when it is more than the plain ``YYYY-MM-DD`` in DT
root   CZMD    ``Game.metadata`` as a JSON object of strings
move   CZP     search policy: ``N*N+1`` comma-separated floats (pass last)
move   CZV     search root value (side to move's view)
move   CZN     name of the player who made the move
node   CZRS    "B" or "W" resigned here (SGF has no resignation move; RE says ``+R``)
=====  ======  ===============================================================
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

from sgfmill import sgf as sgfmill_sgf

from crowdzero.go.coords import BLACK, MAX_SIZE, MIN_SIZE, RESIGN, WHITE, from_row_col
from crowdzero.go.errors import IllegalMove, SgfError
from crowdzero.go.position import KoRule, Position, Rules
from crowdzero.play.record import Game, Move, result_winner

_APPLICATION = "crowdzero"
MAX_SGF_BYTES = 16 * 1024 * 1024  # far above any game; guards against /dev/zero and friends
_RULES_NAME = "Chinese"  # area scoring, no suicide: what Position scores by
_KO_WORDS = {
    KoRule.SIMPLE: "simple ko",
    KoRule.POSITIONAL: "positional superko",
    KoRule.SITUATIONAL: "situational superko",
}
# Ko rules of well-known rule sets, for files that name a rule set but not a ko rule.
_KO_BY_RULESET = {
    "chinese": KoRule.POSITIONAL,
    "tromp-taylor": KoRule.POSITIONAL,
    "tromp taylor": KoRule.POSITIONAL,
    "tt": KoRule.POSITIONAL,
    "aga": KoRule.SITUATIONAL,
    "nz": KoRule.SITUATIONAL,
    "new zealand": KoRule.SITUATIONAL,
    "japanese": KoRule.SIMPLE,
    "korean": KoRule.SIMPLE,
}
_PLAIN_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_COLOUR_LETTER = {BLACK: "b", WHITE: "w"}
_LETTER_COLOUR = {"b": BLACK, "w": WHITE}


def rules_text(rules: Rules) -> str:
    """The RU value for `rules`, e.g. "Chinese, positional superko"."""
    return f"{_RULES_NAME}, {_KO_WORDS[rules.ko]}"


def ko_rule_from_text(text: str) -> KoRule:
    """The ko rule an RU value names; positional superko when it names none we know.

    Accepts what `rules_text` writes and the usual rule-set names (Chinese,
    Tromp-Taylor, AGA, NZ, Japanese, Korean).
    """
    lowered = text.strip().lower()
    for rule in (KoRule.SITUATIONAL, KoRule.POSITIONAL, KoRule.SIMPLE):
        if rule.value in lowered:
            return rule
    head = re.split(r"[,;:(]", lowered, maxsplit=1)[0].strip()
    return _KO_BY_RULESET.get(head, KoRule.POSITIONAL)


# --------------------------------------------------------------------------- writing


def game_to_sgf(game: Game) -> bytes:
    """The game as UTF-8 SGF (FF[4]); `sgf_to_game` reads it back to an equal `Game`."""
    size = game.rules.size
    sgf_game = sgfmill_sgf.Sgf_game(size=size, encoding="UTF-8")
    root = sgf_game.get_root()
    root.set("AP", (_APPLICATION, "1"))
    root.set("KM", float(game.rules.komi))
    root.set("RU", rules_text(game.rules))
    root.set("CZKO", game.rules.ko.value)
    root.set("PB", game.black)
    root.set("PW", game.white)
    root.set("RE", game.result)
    if game.date:
        plain = game.date[:10]
        if _PLAIN_DATE.fullmatch(plain):
            root.set("DT", plain)
        if game.date != plain or not _PLAIN_DATE.fullmatch(plain):
            root.set("CZDT", game.date)
    if game.agent_colour:
        root.set("CZAC", str(game.agent_colour))
    if game.checkpoint is not None:
        root.set("CZCK", game.checkpoint)
    if game.metadata:
        root.set("CZMD", json.dumps(game.metadata, sort_keys=True))
    for move in game.moves:
        node = sgf_game.extend_main_sequence()
        if move.point == RESIGN:
            node.set("CZRS", "B" if move.colour == BLACK else "W")
        elif move.point == size * size:
            # FF[4]'s pass is an empty value; sgfmill would write the FF[3] "tt".
            node.set_raw(_COLOUR_LETTER[move.colour].upper(), b"")
        else:
            node.set_move(_COLOUR_LETTER[move.colour], divmod(move.point, size))
        if move.policy is not None:
            node.set("CZP", ",".join(_format_float(p) for p in move.policy))
        if move.root_value is not None:
            node.set("CZV", _format_float(move.root_value))
        if move.player is not None:
            node.set("CZN", move.player)
    return sgf_game.serialise()


def save_sgf(game: Game, path: str | Path) -> None:
    """Write the game to `path` as SGF."""
    Path(path).write_bytes(game_to_sgf(game))


def _format_float(value: float) -> str:
    """Shortest text that reads back to exactly the same float."""
    text = repr(float(value))
    return text[:-2] if text.endswith(".0") else text


# --------------------------------------------------------------------------- reading


def load_sgf(path: str | Path) -> Game:
    """Read a game from an SGF file; SgfError if it is not a game we can replay."""
    try:
        with open(path, "rb") as file:
            data = file.read(MAX_SGF_BYTES + 1)
    except OSError as exc:
        raise SgfError(f"cannot read {path}: {exc.strerror or exc}") from exc
    if len(data) > MAX_SGF_BYTES:
        raise SgfError(f"{path} is larger than {MAX_SGF_BYTES} bytes; not a game record")
    return sgf_to_game(data)


def sgf_to_game(data: bytes) -> Game:
    """Read the first game of SGF `data`, replaying every move through the rules.

    Raises SgfError (and nothing else) for data that is not SGF, has no SZ, uses a
    size outside 5..19, places setup stones, or contains a move that is off the board,
    out of turn or illegal under the file's rules.
    """
    if not isinstance(data, bytes | bytearray | memoryview):
        raise SgfError(f"SGF data must be bytes, not {type(data).__name__}")
    try:
        sgf_game = sgfmill_sgf.Sgf_game.from_bytes(bytes(data))
    except ValueError as exc:  # sgfmill's only failure (UnicodeError included)
        raise SgfError(f"not a readable SGF game: {exc}") from exc
    try:
        return _read_game(sgf_game)
    except SgfError:
        raise
    except (ValueError, LookupError, TypeError) as exc:
        # sgfmill decodes property values lazily; a value it cannot interpret (an
        # unknown charset, a malformed number) surfaces here.
        raise SgfError(f"malformed SGF property: {exc or type(exc).__name__}") from exc


def _read_game(sgf_game: sgfmill_sgf.Sgf_game) -> Game:
    root = sgf_game.get_root()
    rules = _read_rules(root)
    size = rules.size
    moves: list[Move] = []
    position = Position(rules)
    resigned = False
    for number, node in enumerate(sgf_game.get_main_sequence()):
        if node.has_setup_stones():
            where = "the root" if number == 0 else f"node {number}"
            raise SgfError(f"setup stones (AB/AW/AE) at {where} are not supported")
        has_b, has_w = node.has_property("B"), node.has_property("W")
        resign_letter = _optional_text(node, "CZRS")
        if not (has_b or has_w or resign_letter is not None):
            continue
        move_number = len(moves) + 1
        if resigned:
            raise SgfError(f"move {move_number} comes after a resignation")
        if has_b and has_w:
            raise SgfError(f"move {move_number} has both B and W")
        if resign_letter is not None:
            if has_b or has_w:
                raise SgfError(f"move {move_number} both moves and resigns")
            colour = _LETTER_COLOUR.get(resign_letter.strip().lower())
            if colour is None:
                raise SgfError(f"move {move_number}: CZRS[{resign_letter}] is not B or W")
            point = RESIGN
        else:
            letter, row_col = _read_move(node, move_number, size)
            colour = _LETTER_COLOUR[letter]
            point = size * size if row_col is None else from_row_col(*row_col, size)
        _replay(position, colour, point, move_number, size)
        resigned = point == RESIGN
        moves.append(
            Move(
                colour=colour,
                point=point,
                policy=_read_policy(node, move_number, size),
                root_value=_read_float(node, "CZV", move_number),
                player=_optional_text(node, "CZN"),
            )
        )
    result = _optional_text(root, "RE") or ""
    return Game(
        rules=rules,
        black=_optional_text(root, "PB") or "",
        white=_optional_text(root, "PW") or "",
        moves=tuple(moves),
        result=result,
        winner=result_winner(result),
        date=_optional_text(root, "CZDT") or _optional_text(root, "DT") or "",
        agent_colour=_read_int(root, "CZAC"),
        checkpoint=_optional_text(root, "CZCK"),
        metadata=_read_metadata(root),
    )


def _read_rules(root: sgfmill_sgf.Tree_node) -> Rules:
    if not root.has_property("SZ"):
        raise SgfError("the SGF has no board size (SZ)")
    size = root.get("SZ")
    if not MIN_SIZE <= size <= MAX_SIZE:
        raise SgfError(f"board size {size} is not supported (only {MIN_SIZE}..{MAX_SIZE})")
    komi = 0.0  # the SGF default when KM is absent
    if root.has_property("KM"):
        komi = float(root.get("KM"))
        if not math.isfinite(komi):
            raise SgfError(f"komi {komi} is not a finite number")
    ko_text = _optional_text(root, "CZKO")
    if ko_text is not None:
        try:
            ko = KoRule(ko_text.strip().lower())
        except ValueError:
            raise SgfError(f"CZKO[{ko_text}] is not a ko rule we know") from None
    else:
        ko = ko_rule_from_text(_optional_text(root, "RU") or "")
    try:
        return Rules(size=size, komi=komi, ko=ko)
    except ValueError as exc:
        raise SgfError(f"unsupported rules: {exc}") from exc


def _read_move(
    node: sgfmill_sgf.Tree_node, move_number: int, size: int
) -> tuple[str, tuple[int, int] | None]:
    try:
        letter, row_col = node.get_move()
    except ValueError:
        colour, raw = node.get_raw_move()
        text = raw.decode("latin-1", "replace")
        raise SgfError(
            f"move {move_number}: {str(colour).upper()}[{text}] is not a point "
            f"on a {size}x{size} board"
        ) from None
    return letter, row_col


def _replay(position: Position, colour: int, point: int, move_number: int, size: int) -> None:
    """Play one move on `position`, turning every rules failure into an SgfError."""
    if position.is_over:
        raise SgfError(f"move {move_number} comes after the game ended")
    if colour != position.to_play:
        side = "Black" if position.to_play == BLACK else "White"
        raise SgfError(
            f"move {move_number} is out of turn ({side} is to play; consecutive moves "
            "by one colour are not supported)"
        )
    try:
        if point == RESIGN:
            position.resign()
        else:
            position.play(point)
    except IllegalMove as exc:
        raise SgfError(f"move {move_number} is illegal: {exc}") from exc


def _optional_text(node: sgfmill_sgf.Tree_node, identifier: str) -> str | None:
    if not node.has_property(identifier):
        return None
    value = node.get(identifier)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def _read_float(node: sgfmill_sgf.Tree_node, identifier: str, move_number: int) -> float | None:
    text = _optional_text(node, identifier)
    if text is None:
        return None
    try:
        return float(text)
    except ValueError:
        raise SgfError(f"move {move_number}: {identifier}[{text}] is not a number") from None


def _read_policy(
    node: sgfmill_sgf.Tree_node, move_number: int, size: int
) -> tuple[float, ...] | None:
    text = _optional_text(node, "CZP")
    if text is None:
        return None
    try:
        policy = tuple(float(part) for part in text.split(","))
    except ValueError:
        raise SgfError(f"move {move_number}: CZP is not a list of numbers") from None
    if len(policy) != size * size + 1:
        raise SgfError(
            f"move {move_number}: CZP has {len(policy)} entries, expected {size * size + 1}"
        )
    return policy


def _read_int(node: sgfmill_sgf.Tree_node, identifier: str) -> int:
    text = _optional_text(node, identifier)
    if text is None:
        return 0
    try:
        return int(text)
    except ValueError:
        raise SgfError(f"{identifier}[{text}] is not an integer") from None


def _read_metadata(root: sgfmill_sgf.Tree_node) -> dict[str, str]:
    text = _optional_text(root, "CZMD")
    if text is None:
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        raise SgfError("CZMD is not JSON") from None
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise SgfError("CZMD is not a JSON object of strings")
    return value
