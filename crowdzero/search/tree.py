"""One game's search tree as a struct of arrays, and the compiled descent and backup.

Like minigo's nodes, every node keeps its children's statistics in arrays over all
N*N+1 actions, so a selection rule is one vectorised expression; like mctx's tree, the
nodes of a game live in a few 2-D arrays indexed by node number instead of one Python
object per node. That keeps the tree cheap to walk from numba (one call descends from the
root to a leaf) and cheap to prune when the game moves on (one fancy-index per array).

Shapes (M = capacity in nodes, A = N*N + 1 actions, pass last):
    edge      float64 [3, M, A]  N(s, a), W(s, a), P(s, a)
    children  int32   [M, A]     node reached by a from s, -1 while unexplored
    legal     bool    [M, A]     Position.legal_mask of s
    stats     float64 [M, 3]     N(s), W(s), v(s)
    links     int32   [M, 3]     parent, action from the parent, state (PENDING, ...)

Sign convention (the one place it is written down):
- v(s) and W(s) are from the view of the player to move AT s: +1 = that player wins.
- W(s, a) is from the view of the player choosing a at s, i.e. the player to move at s.
  The child c reached by a has the other player to move, so W(s, a) = -W(c) and every
  step up the tree during backup negates the value. Passes do not change this: in Go
  the turn passes to the other player after a pass too.
- N(s) counts the evaluation of s itself plus every simulation through it, so
  N(s) = 1 + sum_a N(s, a) for an expanded node (terminal nodes count every visit).

Terminal nodes (the game is over: two passes, or a resignation) are never sent to the
network; their value is exact: +1/-1 from the winner, 0 for a jigo under area scoring.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from crowdzero.go.position import Position
from crowdzero.search.gumbel import gumbel_interior_select
from crowdzero.search.puct import puct_select

PENDING = 0  # created, waiting for its network evaluation
EXPANDED = 1  # evaluated: prior, legal moves and value known
TERMINAL = 2  # game over; value exact

PUCT = 0
GUMBEL = 1

_VISITS, _VALUE_SUM, _PRIOR = 0, 1, 2
_N, _W, _V = 0, 1, 2
_PARENT, _ACTION, _STATE = 0, 1, 2


class SearchTreeError(RuntimeError):
    """The tree was used in a way its invariants forbid (a bug in the caller)."""


def terminal_value(position: Position) -> float:
    """Exact value of a finished game for the side to move there: +1 win, -1 loss, 0 jigo."""
    if position.resigned:
        return 1.0 if position.resigned != position.to_play else -1.0
    score = position.area_score()  # black - white - komi
    if score == 0:
        return 0.0
    black_wins = score > 0
    return 1.0 if black_wins == (position.to_play > 0) else -1.0


@njit(cache=True)
def _descend(
    edge: np.ndarray,
    children: np.ndarray,
    legal: np.ndarray,
    stats: np.ndarray,
    links: np.ndarray,
    root_prior: np.ndarray,
    first_action: int,
    algorithm: int,
    c_init: float,
    c_base: float,
    fpu_reduction: float,
    c_visit: float,
    c_scale: float,
    virtual_loss: float,
) -> tuple[int, int, int]:
    """Walk from the root (node 0) to the first edge whose child is not an expanded node.

    ``first_action`` >= 0 forces the root's choice (Gumbel's sequential halving makes it);
    ``root_prior`` replaces P at the root (PUCT's Dirichlet noise). Every edge walked gets a
    visit now and ``virtual_loss`` taken off its W, so that further descents before the
    backup spread out; `_backup` adds the real value and gives the virtual loss back.
    Returns (node, action, child): child is -1 for an unexplored edge, else a PENDING or
    TERMINAL node.
    """
    node = 0
    action = first_action
    while True:
        if action < 0:
            prior = root_prior if node == 0 else edge[_PRIOR, node]
            if algorithm == PUCT:
                action = puct_select(
                    edge[_VISITS, node],
                    edge[_VALUE_SUM, node],
                    prior,
                    legal[node],
                    stats[node, _N],
                    stats[node, _W],
                    c_init,
                    c_base,
                    fpu_reduction,
                )
            else:
                action = gumbel_interior_select(
                    edge[_VISITS, node],
                    edge[_VALUE_SUM, node],
                    prior,
                    legal[node],
                    stats[node, _V],
                    c_visit,
                    c_scale,
                )
        edge[_VISITS, node, action] += 1.0
        edge[_VALUE_SUM, node, action] -= virtual_loss
        stats[node, _N] += 1.0
        child = children[node, action]
        if child < 0 or links[child, _STATE] != EXPANDED:
            return node, action, child
        node = child
        action = -1


@njit(cache=True)
def _backup(
    edge: np.ndarray, stats: np.ndarray, links: np.ndarray, leaf: int, value: float, vl: float
) -> None:
    """Add ``value`` (the leaf's own view) to the leaf and, negated at every step, to each
    edge and node above it; give back the virtual loss the descent took."""
    stats[leaf, _N] += 1.0
    stats[leaf, _W] += value
    node = leaf
    while links[node, _PARENT] >= 0:
        parent = links[node, _PARENT]
        value = -value
        edge[_VALUE_SUM, parent, links[node, _ACTION]] += value + vl
        stats[parent, _W] += value
        node = parent


@njit(cache=True)
def _revert(
    edge: np.ndarray, stats: np.ndarray, links: np.ndarray, node: int, action: int, vl: float
) -> None:
    """Undo a descent that ended on the edge (node, action) without a simulation."""
    while True:
        edge[_VISITS, node, action] -= 1.0
        edge[_VALUE_SUM, node, action] += vl
        stats[node, _N] -= 1.0
        if links[node, _PARENT] < 0:
            return
        action = links[node, _ACTION]
        node = links[node, _PARENT]


class SearchTree:
    """The search tree of one game, rooted at ``positions[0]``."""

    def __init__(self, root: Position, capacity: int = 128) -> None:
        actions = root.size * root.size + 1
        capacity = max(capacity, 2)
        self.num_actions = actions
        self.edge = np.zeros((3, capacity, actions))
        self.children = np.full((capacity, actions), -1, dtype=np.int32)
        self.legal = np.zeros((capacity, actions), dtype=np.bool_)
        self.stats = np.zeros((capacity, 3))
        self.links = np.full((capacity, 3), -1, dtype=np.int32)
        self.positions: list[Position] = [root]
        self.links[0, _STATE] = TERMINAL if root.is_over else PENDING
        if root.is_over:
            self.stats[0, _V] = terminal_value(root)

    # ------------------------------------------------------------------ shape

    def __len__(self) -> int:
        return len(self.positions)

    @property
    def root(self) -> Position:
        return self.positions[0]

    def state(self, node: int) -> int:
        return int(self.links[node, _STATE])

    def _grow(self) -> None:
        """Double the capacity (amortised O(1) per node)."""
        old = self.stats.shape[0]
        extra = old
        self.edge = np.concatenate([self.edge, np.zeros((3, extra, self.num_actions))], axis=1)
        self.children = np.concatenate(
            [self.children, np.full((extra, self.num_actions), -1, dtype=np.int32)]
        )
        self.legal = np.concatenate(
            [self.legal, np.zeros((extra, self.num_actions), dtype=np.bool_)]
        )
        self.stats = np.concatenate([self.stats, np.zeros((extra, 3))])
        self.links = np.concatenate([self.links, np.full((extra, 3), -1, dtype=np.int32)])

    # ------------------------------------------------------------------ nodes

    def add_child(self, parent: int, action: int) -> int:
        """Create the node reached by ``action`` from ``parent`` (PENDING, or TERMINAL with
        its exact value when the move ends the game). Raises IllegalMove for a move the
        rules forbid, which the legal mask prevents."""
        position = self.positions[parent].copy()
        position.play(action)
        index = len(self.positions)
        if index == self.stats.shape[0]:
            self._grow()
        self.positions.append(position)
        self.children[parent, action] = index
        links = self.links[index]
        links[_PARENT] = parent
        links[_ACTION] = action
        if position.is_over:
            links[_STATE] = TERMINAL
            self.stats[index, _V] = terminal_value(position)
        else:
            links[_STATE] = PENDING
        return index

    def expand(self, node: int, prior: np.ndarray, legal: np.ndarray, value: float) -> None:
        """Store a PENDING node's evaluation: prior float [A] (0 on illegal), legal bool
        [A], value (the node's own view)."""
        if self.links[node, _STATE] != PENDING:
            raise SearchTreeError(f"node {node} is not waiting for an evaluation")
        self.edge[_PRIOR, node] = prior
        self.legal[node] = legal
        self.stats[node, _V] = value
        self.links[node, _STATE] = EXPANDED

    def visit_count(self, node: int) -> int:
        """N(node): its own evaluation plus every simulation through it."""
        return int(self.stats[node, _N])

    def value(self, node: int) -> float:
        """v(node): the network value, or the exact value of a finished game."""
        return float(self.stats[node, _V])

    def descend(
        self,
        root_prior: np.ndarray,
        first_action: int,
        algorithm: int,
        c_init: float,
        c_base: float,
        fpu_reduction: float,
        c_visit: float,
        c_scale: float,
        virtual_loss: float,
    ) -> tuple[int, int, int]:
        """See `_descend`: (node, action, child) of the edge where the descent stopped."""
        return _descend(
            self.edge,
            self.children,
            self.legal,
            self.stats,
            self.links,
            root_prior,
            first_action,
            algorithm,
            c_init,
            c_base,
            fpu_reduction,
            c_visit,
            c_scale,
            virtual_loss,
        )

    def backup(self, leaf: int, value: float, virtual_loss: float = 0.0) -> None:
        """Propagate a leaf value (leaf's own view) to the root, negating at each step."""
        _backup(self.edge, self.stats, self.links, leaf, value, virtual_loss)

    def revert(self, node: int, action: int, virtual_loss: float = 0.0) -> None:
        """Take back the visits a descent ending on (node, action) added."""
        _revert(self.edge, self.stats, self.links, node, action, virtual_loss)

    # ------------------------------------------------------------------ root views

    @property
    def root_visits(self) -> np.ndarray:
        """N(root, a) float64 [A] (a view)."""
        return self.edge[_VISITS, 0]

    @property
    def root_value_sums(self) -> np.ndarray:
        """W(root, a) float64 [A] (a view)."""
        return self.edge[_VALUE_SUM, 0]

    @property
    def root_prior(self) -> np.ndarray:
        """P(root, a) float64 [A] (a view)."""
        return self.edge[_PRIOR, 0]

    @property
    def root_legal(self) -> np.ndarray:
        return self.legal[0]

    @property
    def root_mean_value(self) -> float:
        """W(root) / N(root): the search's value of the root for the side to move."""
        n = self.stats[0, _N]
        return float(self.stats[0, _W] / n) if n > 0 else float(self.stats[0, _V])

    # ------------------------------------------------------------------ reuse

    def walk(self, moves: list[tuple[int, int]]) -> int | None:
        """The expanded node reached from the root by ``moves`` (colour, point), or None."""
        node = 0
        for _, point in moves:
            if not 0 <= point < self.num_actions:
                return None
            child = int(self.children[node, point])
            if child < 0 or self.links[child, _STATE] != EXPANDED:
                return None
            node = child
        return node

    def subtree(self, node: int) -> SearchTree:
        """A new tree holding ``node`` and its descendants, ``node`` as root; statistics
        are kept, everything else is dropped (nodes renumbered breadth-first)."""
        order = [node]
        i = 0
        while i < len(order):
            kids = self.children[order[i]]
            order.extend(int(c) for c in kids[kids >= 0])
            i += 1
        keep = np.asarray(order, dtype=np.int64)
        remap = np.full(len(self.positions) + 1, -1, dtype=np.int32)  # remap[-1] stays -1
        remap[keep] = np.arange(keep.size, dtype=np.int32)
        new = SearchTree.__new__(SearchTree)
        new.num_actions = self.num_actions
        capacity = max(2 * keep.size, 128)
        pad = capacity - keep.size
        new.edge = np.concatenate(
            [self.edge[:, keep], np.zeros((3, pad, self.num_actions))], axis=1
        )
        new.children = np.concatenate(
            [remap[self.children[keep]], np.full((pad, self.num_actions), -1, dtype=np.int32)]
        )
        new.legal = np.concatenate(
            [self.legal[keep], np.zeros((pad, self.num_actions), dtype=np.bool_)]
        )
        new.stats = np.concatenate([self.stats[keep], np.zeros((pad, 3))])
        links = self.links[keep].copy()
        links[:, _PARENT] = remap[links[:, _PARENT]]
        links[0, _PARENT] = -1
        links[0, _ACTION] = -1
        new.links = np.concatenate([links, np.full((pad, 3), -1, dtype=np.int32)])
        new.positions = [self.positions[i] for i in order]
        return new
