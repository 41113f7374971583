"""Plain Monte Carlo tree search with random play-outs: the pre-deep-learning crowd member.

UCT (Kocsis & Szepesvari 2006) as in the early Go programs: every simulation walks the
tree choosing the child with the best upper confidence bound

    Q(s, a) + c * sqrt(ln N(s) / N(s, a)),   Q = W / N  (win rate of the mover, 0..1),

expands one new child, scores it with one random non-eye-filling play-out (the numba
kernel in `crowdzero.go.playout`) and backs the win (1), loss (0) or jigo (0.5) up the
path. There is no prior and no value network, so the budget (`playouts`) grades its
strength from "weak" (100 on 9x9: about one play-out per move) to "decent amateur-ish"
(1600+), which is why several budgets sit in the crowd.

Details that matter:

* Unvisited children are tried first, in a random order, so a small budget still looks
  at every move once instead of following the first one forever.
* Own single-point eyes are never candidates (the play-outs never fill them either), so
  the search does not waste visits on suicide-like moves; pass always is one.
* A child whose position is over (the second pass) is scored exactly by the rules. If
  it is a win the player takes it (UCT alone would spread visits over the many moves that
  also win and play on); if it is a loss its exact 0 keeps the search away from it.
* No tree is kept between moves: each move is a fresh, seeded search, so the same seed
  and position give the same answer whatever happened before.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from crowdzero.go.playout import random_playout
from crowdzero.go.position import Position
from crowdzero.play.player import MoveChoice, MoveRequest, Player, PlayerError
from crowdzero.players.random import own_eye_mask

DEFAULT_EXPLORATION = 0.7
BUDGETS = (100, 400, 1600)


def _win(score: float, colour: int) -> float:
    """1 if `colour` wins with this final score (black - white - komi), 0 if it loses."""
    signed = colour * score
    return 1.0 if signed > 0 else 0.0 if signed < 0 else 0.5


class _Node:
    """A position in the tree; children's statistics are arrays indexed like `moves`.

    `N[i]` visits and `W[i]` wins (for the side to move here) of playing `moves[i]`.
    """

    __slots__ = ("N", "W", "children", "moves", "position", "terminal_win", "tried")

    def __init__(self, position: Position, rng: np.random.Generator) -> None:
        self.position = position
        n2 = position.size * position.size
        legal = position.legal_mask()
        candidates = legal.copy()
        if not position.is_over:
            candidates[:n2] &= ~own_eye_mask(position)
        moves = np.flatnonzero(candidates)
        rng.shuffle(moves)
        self.moves: np.ndarray = moves
        self.N = np.zeros(moves.size)
        self.W = np.zeros(moves.size)
        self.children: dict[int, _Node] = {}
        self.tried = 0  # children 0..tried-1 have been expanded
        self.terminal_win = -1  # index of a child that ends the game with a win, if any

    def select(self, exploration: float) -> int:
        """Index of the child to descend into: an untried one first, else max UCB."""
        if self.tried < self.moves.size:
            return self.tried
        total = self.N.sum()
        ucb = self.W / self.N + exploration * np.sqrt(math.log(total) / self.N)
        return int(np.argmax(ucb))


@dataclass(frozen=True)
class SearchResult:
    """Root statistics of one search: K candidate moves and their visits and wins.

    `value` is the root win rate of the side to move scaled to [-1, 1].
    """

    moves: np.ndarray  # int [K] points, pass = N*N
    visits: np.ndarray  # float [K]
    wins: np.ndarray  # float [K], for the side to move at the root
    value: float
    winning_end: int = -1  # index of a move that ends the game with a win (-1: none)

    @property
    def best_move(self) -> int:
        """A move that ends the game with a win if there is one (the rules, not the
        play-outs, say so); else the most visited, ties to the better win rate."""
        if self.winning_end >= 0:
            return int(self.moves[self.winning_end])
        rate = self.wins / np.maximum(self.visits, 1.0)
        order = np.lexsort((-rate, -self.visits))
        return int(self.moves[order[0]])


class MctsPlayer(Player):
    """UCT with `playouts` random play-outs a move (see the module doc).

    `select_move` plays the most visited move (ties: the better win rate) and reports the
    visit distribution as its policy and the root win rate (scaled to [-1, 1], side to
    move) as its value; `move_distribution` is that visit distribution.
    """

    # A search takes tens to hundreds of milliseconds: the runner calls it from a worker
    # thread so the agent's batched games go on meanwhile (the play-outs release the GIL).
    blocking = True

    def __init__(
        self,
        playouts: int = 400,
        seed: int | None = None,
        exploration: float = DEFAULT_EXPLORATION,
        name: str | None = None,
    ) -> None:
        if playouts < 1:
            raise ValueError(f"playouts must be at least 1, not {playouts}")
        if exploration < 0:
            raise ValueError(f"exploration must be >= 0, not {exploration}")
        self.playouts = playouts
        self.exploration = exploration
        self.name = name or f"mcts:{playouts}"
        self.rng = np.random.default_rng(seed)

    def search(self, position: Position) -> SearchResult:
        """Run `playouts` simulations from `position` (which is not changed)."""
        if position.is_over:
            raise PlayerError("the game is over: there is no move to choose")
        rng = self.rng
        root = _Node(position.copy(), rng)
        path: list[tuple[_Node, int]] = []
        for _ in range(self.playouts):
            node = root
            path.clear()
            while True:
                i = node.select(self.exploration)
                path.append((node, i))
                if i == node.tried:
                    node.tried += 1
                    after = node.position.copy()
                    after.play(int(node.moves[i]))
                    if after.is_over:
                        score = after.area_score()
                        if _win(score, node.position.to_play) == 1.0:
                            node.terminal_win = i
                    else:
                        node.children[i] = _Node(after, rng)
                        score = random_playout(after, rng)
                    break
                child = node.children.get(i)
                if child is None:  # a terminal child: its score never changes
                    after = node.position.copy()
                    after.play(int(node.moves[i]))
                    score = after.area_score()
                    break
                node = child
            for visited, j in path:
                visited.N[j] += 1.0
                visited.W[j] += _win(score, visited.position.to_play)
        value = 2.0 * root.W.sum() / root.N.sum() - 1.0
        return SearchResult(root.moves, root.N, root.W, float(value), root.terminal_win)

    def _policy(self, position: Position, result: SearchResult) -> np.ndarray:
        policy = np.zeros(position.size * position.size + 1, dtype=np.float32)
        policy[result.moves] = result.visits / result.visits.sum()
        return policy

    def move_distribution(self, position: Position) -> np.ndarray:
        """float32 [N*N+1]: the visit distribution of a fresh search (zeros when over)."""
        if position.is_over:
            return np.zeros(position.size * position.size + 1, dtype=np.float32)
        return self._policy(position, self.search(position))

    def select_move(self, request: MoveRequest) -> MoveChoice:
        position = request.position
        result = self.search(position)
        return MoveChoice(result.best_move, self._policy(position, result), result.value)


def mcts_from_spec(argument: str | None) -> MctsPlayer:
    """The player for a registry spec ``mcts[:PLAYOUTS[:SEED]]`` (default 400 play-outs)."""
    playouts_text, _, seed_text = (argument or "").partition(":")
    try:
        playouts = int(playouts_text) if playouts_text else 400
        seed = int(seed_text) if seed_text else None
    except ValueError:
        raise ValueError(f"mcts:{argument} should be mcts:PLAYOUTS or mcts:PLAYOUTS:SEED") from None
    return MctsPlayer(playouts=playouts, seed=seed)
