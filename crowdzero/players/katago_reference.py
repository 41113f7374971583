"""KataGo's network as a strong reference: its policy, value, score lead and ownership
for any position of a game, and its adjudication of an unfinished one.

The study needs a judge stronger than every agent and crowd member: is a move nobody in
the crowd would play a discovery or a blunder, and who was winning a game stopped at
the move cap? KataGo's raw network (one evaluation, no search: the GTP extension
``kata-raw-nn``) is that judge here. At one visit a move the same network beat GnuGo
level 10 in every trial game on 9x9, and one evaluation costs about 0.13 s on this CPU,
so thousands of positions are affordable where a search of each would not be.

`KataGoReference` keeps one KataGo process (the install of `scripts/install_katago.sh`,
its 9x9 config) and brings its board to each asked position over GTP, sending only the
new moves when the position extends the last one (`SyncedEngine`), as the engine pool
does. A process that dies, hangs or stops speaking GTP is killed and replaced, and the
evaluation is asked again (`retries` times); a move KataGo refuses (another ko rule than
its positional superko) is a `KataGoReferenceError` for that one position.

Views: `KataGoEvaluation.winrate` and `score_lead` are the side to move's, as crowdzero's
value head is; `ownership` is Black's (+1 Black, -1 White), as `go.ownership` is. KataGo
prints everything from White's view, rows from the top; `parse_raw_nn` turns that round.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from types import TracebackType

import numpy as np

from crowdzero.go.coords import BLACK, WHITE
from crowdzero.go.gtp_client import GtpClient, GtpClientError, GtpError
from crowdzero.go.position import Position
from crowdzero.players.engines import (
    EngineConfig,
    katago_config,
    katago_move_timeout,
)
from crowdzero.players.gtp_player import SyncedEngine

#: KataGo's eight board symmetries; `KataGoReference(symmetries=k)` averages the first k.
SYMMETRIES = 8

_GAME = "katago-reference"


class KataGoReferenceError(RuntimeError):
    """KataGo could not evaluate a position (refused its moves, kept failing, or the
    position is one it cannot be told: another board size, set-up stones)."""


@dataclass(frozen=True)
class RawNetOutput:
    """One ``kata-raw-nn`` reply as KataGo states it: White's view, board rows as
    crowdzero numbers points (row 0 at the bottom). `policy` is float64 [N*N+1], pass
    last, NaN where KataGo found the move illegal; `white_ownership` float64 [N*N]."""

    white_win: float
    white_loss: float
    no_result: float
    white_lead: float
    policy: np.ndarray
    white_ownership: np.ndarray


@dataclass(frozen=True)
class KataGoEvaluation:
    """KataGo's network on one position.

    `policy`: float64 [N*N+1], pass last, over the moves legal in crowdzero's rules, sum 1.
    `winrate`: the side to move's chance of winning (a no-result counts half).
    `score_lead`: points the side to move is ahead by, komi included.
    `ownership`: float64 [N*N], Black's view: +1 Black's area, -1 White's.
    """

    to_play: int
    policy: np.ndarray
    winrate: float
    score_lead: float
    ownership: np.ndarray

    @property
    def value(self) -> float:
        """The side to move's value in [-1, 1], the scale of crowdzero's value head."""
        return 2.0 * self.winrate - 1.0

    @property
    def black_lead(self) -> float:
        """Points Black is ahead by."""
        return self.score_lead if self.to_play == BLACK else -self.score_lead

    @property
    def black_winrate(self) -> float:
        return self.winrate if self.to_play == BLACK else 1.0 - self.winrate


@dataclass(frozen=True)
class Adjudication:
    """Who KataGo says wins a position if it were played out well from here.

    `black_lead` (KataGo's score lead, komi included) decides; `ownership_margin` is the
    area count of its ownership map (sum of Black's-view ownership minus komi), a second
    opinion that agrees with it in settled positions and is kept to show where not.
    """

    black_lead: float
    black_winrate: float
    ownership_margin: float

    @property
    def winner(self) -> int:
        """BLACK, WHITE, or 0 when KataGo sees the game exactly even."""
        return BLACK if self.black_lead > 0 else WHITE if self.black_lead < 0 else 0

    def result_string(self) -> str:
        """An SGF-style result, the lead rounded to half a point: "B+3.5", "W+12", "0"."""
        points = round(abs(self.black_lead) * 2) / 2
        if self.winner == 0 or points == 0:
            return "0"
        return f"{'B' if self.winner == BLACK else 'W'}+{points:g}"


def _after(tokens: list[str], key: str, count: int) -> list[float]:
    try:
        start = tokens.index(key) + 1
    except ValueError:
        raise KataGoReferenceError(f"kata-raw-nn reply lacks {key!r}") from None
    values = tokens[start : start + count]
    if len(values) != count:
        raise KataGoReferenceError(f"kata-raw-nn reply has {len(values)} values for {key!r}")
    try:
        return [float(value) for value in values]  # float("NAN") is NaN: an illegal move
    except ValueError:
        raise KataGoReferenceError(f"kata-raw-nn reply has a non-number after {key!r}") from None


def _from_top_rows(values: list[float], size: int) -> np.ndarray:
    """KataGo prints row 9 first; crowdzero's point 0 is A1, row 1."""
    return np.asarray(values, dtype=np.float64).reshape(size, size)[::-1].reshape(-1)


def parse_raw_nn(text: str, size: int) -> RawNetOutput:
    """The reply body of ``kata-raw-nn SYMMETRY`` on a `size` board (KataGoReferenceError
    when it is not one)."""
    tokens = text.split()
    n2 = size * size
    white_win, white_loss, no_result, white_lead = (
        _after(tokens, key, 1)[0] for key in ("whiteWin", "whiteLoss", "noResult", "whiteLead")
    )
    policy = np.append(
        _from_top_rows(_after(tokens, "policy", n2), size), _after(tokens, "policyPass", 1)
    )
    ownership = _from_top_rows(_after(tokens, "whiteOwnership", n2), size)
    scalars = (white_win, white_loss, no_result, white_lead)
    if not all(math.isfinite(x) for x in scalars) or not np.isfinite(ownership).all():
        raise KataGoReferenceError("kata-raw-nn reply has a non-finite value or ownership")
    return RawNetOutput(white_win, white_loss, no_result, white_lead, policy, ownership)


def evaluation_from_raw(outputs: list[RawNetOutput], position: Position) -> KataGoEvaluation:
    """The side to move's view of `position` from one or more raw outputs (averaged, as
    over board symmetries), the policy restricted to crowdzero's legal moves."""
    if not outputs:
        raise ValueError("no raw network outputs to average")
    white_win = float(np.mean([o.white_win + o.no_result / 2 for o in outputs]))
    white_lead = float(np.mean([o.white_lead for o in outputs]))
    policy = np.nan_to_num(np.mean([o.policy for o in outputs], axis=0), nan=0.0)
    legal = position.legal_mask()
    policy = np.where(legal, np.clip(policy, 0.0, None), 0.0)
    total = policy.sum()
    if total > 0:
        policy /= total
    elif legal.any():  # KataGo found no legal move ours allows: say nothing, uniformly
        policy = legal / legal.sum()
    ownership = -np.mean([o.white_ownership for o in outputs], axis=0)
    white = position.to_play == WHITE
    return KataGoEvaluation(
        to_play=position.to_play,
        policy=policy,
        winrate=white_win if white else 1.0 - white_win,
        score_lead=white_lead if white else -white_lead,
        ownership=ownership,
    )


def _check_reachable(position: Position) -> None:
    """KataGo is told a position by its moves, so a position with set-up stones (or a
    history that is not its own moves from the empty board) cannot be sent."""
    replayed = Position(position.rules)
    for _, point in position.moves:
        replayed.play(point)
    if not np.array_equal(replayed.board, position.board) or replayed.to_play != position.to_play:
        raise KataGoReferenceError(
            "KataGo is told a position by its moves from the empty board; this one has "
            "set-up stones"
        )


class KataGoReference:
    """One KataGo process answering ``kata-raw-nn`` for any position (see the module
    docstring). Thread-safe (one evaluation at a time); close it, or use it as a context.

    `symmetries`: how many of KataGo's 8 board symmetries each evaluation averages (1:
    one network call, the cheapest; 8: eight calls, a steadier answer). `timeout`: seconds
    an evaluation may take before the process counts as hung (None: 30 s plus the pool's
    per-visit allowance per symmetry). `retries`: how many fresh processes a failed
    evaluation is tried on. `config` replaces the installed KataGo (tests use a stand-in).
    Raises EngineUnavailable when KataGo is not installed.
    """

    def __init__(
        self,
        *,
        symmetries: int = 1,
        timeout: float | None = None,
        retries: int = 1,
        seed: int = 0,
        config: EngineConfig | None = None,
    ) -> None:
        if not 1 <= symmetries <= SYMMETRIES:
            raise ValueError(f"symmetries must be 1..{SYMMETRIES}, not {symmetries}")
        if retries < 0:
            raise ValueError(f"retries must be >= 0, not {retries}")
        self.config = config if config is not None else katago_config(1)
        self.symmetries = symmetries
        self.timeout = timeout if timeout is not None else katago_move_timeout(symmetries)
        self.retries = retries
        self._seed = seed
        self._engine: SyncedEngine | None = None
        self._started = 0
        self._lock = threading.Lock()
        self._closed = False

    @property
    def restarts(self) -> int:
        """How many times a process was replaced (the first start not counted)."""
        return max(0, self._started - 1)

    @property
    def pid(self) -> int | None:
        """The running process's id (None before the first evaluation)."""
        return None if self._engine is None else self._engine.client.pid

    def plays_size(self, size: int) -> bool:
        return self.config.plays_size(size)

    def evaluate(self, position: Position) -> KataGoEvaluation:
        """KataGo's network on `position` (KataGoReferenceError if it cannot say)."""
        if not self.config.plays_size(position.size):
            raise KataGoReferenceError(self.config.size_refusal(position.size))
        if position.is_over and position.resigned:
            raise KataGoReferenceError("a resigned game has no position to evaluate")
        _check_reachable(position)
        commands = [f"kata-raw-nn {k}" for k in range(self.symmetries)]
        replies = self._ask(position, commands)
        outputs = [parse_raw_nn(reply, position.size) for reply in replies]
        return evaluation_from_raw(outputs, position)

    def adjudicate(self, position: Position) -> Adjudication:
        """Who KataGo says wins `position` (for games stopped before their end)."""
        evaluation = self.evaluate(position)
        return Adjudication(
            black_lead=evaluation.black_lead,
            black_winrate=evaluation.black_winrate,
            ownership_margin=float(evaluation.ownership.sum()) - position.komi,
        )

    def close(self) -> None:
        """Stop the process. Idempotent; a closed reference evaluates nothing more."""
        with self._lock:
            self._closed = True
            engine, self._engine = self._engine, None
        if engine is not None:
            engine.client.close()

    def __enter__(self) -> KataGoReference:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"KataGoReference(symmetries={self.symmetries}, restarts={self.restarts})"

    # ------------------------------------------------------------------ internals

    def _ask(self, position: Position, commands: list[str]) -> list[str]:
        failures: list[str] = []
        with self._lock:
            if self._closed:
                raise KataGoReferenceError("the KataGo reference is closed")
            for _ in range(self.retries + 1):
                try:
                    engine = self._running_engine()
                    engine.sync(_GAME, position)
                    return engine.client.send_many(commands)
                except GtpError as exc:  # refused, but in step: the engine is fine
                    if self._engine is not None:
                        self._engine.forget()
                    raise KataGoReferenceError(f"KataGo refused the position: {exc}") from exc
                except (GtpClientError, OSError) as exc:  # died, hung, garbled: start afresh
                    failures.append(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
                    if self._engine is not None:
                        self._engine.client.close()
                    self._engine = None
        raise KataGoReferenceError(
            f"KataGo failed {len(failures)} times in a row: {'; '.join(failures)}"
        )

    def _running_engine(self) -> SyncedEngine:
        if self._engine is not None and not self._engine.client.alive:
            self._engine.client.close()  # died while idle: replaced like a failed one
            self._engine = None
        if self._engine is None:
            seed = self._seed + self._started
            self._started += 1
            self._engine = SyncedEngine(
                GtpClient(self.config.argv(seed), timeout=self.timeout),
                startup_timeout=self.config.startup_timeout,
            )
        return self._engine
