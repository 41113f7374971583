"""One game's search tree as a struct of named arrays, and the compiled descent and backup.

Like minigo's nodes, every node keeps its children's statistics in arrays over all
N*N+1 actions, so a selection rule is one vectorised expression; like mctx's `Tree`, the
nodes of a game live in a few arrays indexed by node number, one array per quantity and
named for it, instead of one Python object per node. That keeps the tree cheap to walk
from numba (one call descends from the root to a leaf) and cheap to prune when the game
moves on (one fancy-index per array).

Arrays of a `SearchTree` (M = capacity in nodes, A = N*N + 1 actions, pass last; s a
node, a an action; the notation of `crowdzero.search.puct`):
    children_visits      float64 [M, A]  N(s, a)
    children_value_sums  float64 [M, A]  W(s, a)
    children_prior       float64 [M, A]  P(s, a), 0 on illegal actions
    children_index       int32   [M, A]  node reached by a from s, -1 while unexplored
    children_legal       bool    [M, A]  Position.legal_mask of s
    node_visits          float64 [M]     N(s)
    node_value_sums      float64 [M]     W(s)
    raw_values           float64 [M]     v(s): the network's value, or the exact one
    parents              int32   [M]     -1 for the root (and for unused slots)
    action_from_parent   int32   [M]     the action that leads from the parent to s
    node_states          int32   [M]     PENDING, EXPANDED or TERMINAL

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

import dataclasses
import typing
from dataclasses import dataclass
from functools import cached_property

import numpy as np
from numba import njit

from crowdzero.go.position import Position
from crowdzero.search.config import SearchConfig
from crowdzero.search.gumbel import gumbel_interior_select
from crowdzero.search.puct import puct_select

PENDING = 0  # created, waiting for its network evaluation
EXPANDED = 1  # evaluated: prior, legal moves and value known
TERMINAL = 2  # game over; value exact

PUCT = 0
GUMBEL = 1


class SearchTreeError(RuntimeError):
    """The tree was used in a way its invariants forbid (a bug in the caller)."""


@dataclass(frozen=True)
class DescentParams:
    """What the compiled descent takes from a `SearchConfig`, built once per searcher.

    The fields keep the config's names. The numba kernels read them by name from
    `record`, a one-element structured array with the same fields: numba passes it as
    cheaply as any array, where a NamedTuple, which nopython mode also reads, costs about
    2 microseconds more per call in numba's dispatcher (one call per simulation).
    """

    algorithm: int  # PUCT or GUMBEL
    c_puct_init: float
    c_puct_base: float
    fpu_reduction: float
    gumbel_c_visit: float
    gumbel_c_scale: float
    virtual_loss: float  # 0 unless a game sends several leaves per round

    @classmethod
    def from_config(cls, config: SearchConfig) -> DescentParams:
        return cls(
            algorithm=GUMBEL if config.algorithm == "gumbel" else PUCT,
            c_puct_init=config.c_puct_init,
            c_puct_base=config.c_puct_base,
            fpu_reduction=config.fpu_reduction,
            gumbel_c_visit=config.gumbel_c_visit,
            gumbel_c_scale=config.gumbel_c_scale,
            # One leaf per game and round: no descent is pending when another starts.
            virtual_loss=config.virtual_loss if config.leaves_per_game > 1 else 0.0,
        )

    @cached_property
    def record(self) -> np.ndarray:
        """The fields as a structured array of one element (`DESCENT_RECORD`), for
        `_descend`."""
        return np.array([dataclasses.astuple(self)], dtype=DESCENT_RECORD)


#: The dtype of `DescentParams.record`: its fields, in order, as int64 or float64.
DESCENT_RECORD = np.dtype(
    [
        (name, np.int64 if hint is int else np.float64)
        for name, hint in typing.get_type_hints(DescentParams).items()
    ]
)


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
    children_visits: np.ndarray,
    children_value_sums: np.ndarray,
    children_prior: np.ndarray,
    children_index: np.ndarray,
    children_legal: np.ndarray,
    node_visits: np.ndarray,
    node_value_sums: np.ndarray,
    raw_values: np.ndarray,
    node_states: np.ndarray,
    root_prior: np.ndarray,
    first_action: int,
    params: np.ndarray,
) -> tuple[int, int, int]:
    """Walk from the root (node 0) to the first edge whose child is not an expanded node.

    ``first_action`` >= 0 forces the root's choice (Gumbel's sequential halving makes it);
    ``root_prior`` replaces P at the root (PUCT's Dirichlet noise); ``params`` is a
    `DescentParams.record`. Every edge walked gets a visit now and the virtual loss taken
    off its W, so that further descents before the backup spread out; `_backup` adds the
    real value and gives the virtual loss back. Returns (node, action, child): child is
    -1 for an unexplored edge, else a PENDING or TERMINAL node.
    """
    p = params[0]
    virtual_loss = p.virtual_loss
    node = 0
    action = first_action
    while True:
        if action < 0:
            prior = root_prior if node == 0 else children_prior[node]
            if p.algorithm == PUCT:
                action = puct_select(
                    children_visits[node],
                    children_value_sums[node],
                    prior,
                    children_legal[node],
                    node_visits[node],
                    node_value_sums[node],
                    p.c_puct_init,
                    p.c_puct_base,
                    p.fpu_reduction,
                )
            else:
                action = gumbel_interior_select(
                    children_visits[node],
                    children_value_sums[node],
                    prior,
                    children_legal[node],
                    raw_values[node],
                    p.gumbel_c_visit,
                    p.gumbel_c_scale,
                )
        children_visits[node, action] += 1.0
        children_value_sums[node, action] -= virtual_loss
        node_visits[node] += 1.0
        child = children_index[node, action]
        if child < 0 or node_states[child] != EXPANDED:
            return node, action, child
        node = child
        action = -1


@njit(cache=True)
def _backup(
    children_value_sums: np.ndarray,
    node_visits: np.ndarray,
    node_value_sums: np.ndarray,
    parents: np.ndarray,
    action_from_parent: np.ndarray,
    leaf: int,
    value: float,
    virtual_loss: float,
) -> None:
    """Add ``value`` (the leaf's own view) to the leaf and, negated at every step, to each
    edge and node above it; give back the virtual loss the descent took."""
    node_visits[leaf] += 1.0
    node_value_sums[leaf] += value
    node = leaf
    while parents[node] >= 0:
        parent = parents[node]
        value = -value
        children_value_sums[parent, action_from_parent[node]] += value + virtual_loss
        node_value_sums[parent] += value
        node = parent


@njit(cache=True)
def _revert(
    children_visits: np.ndarray,
    children_value_sums: np.ndarray,
    node_visits: np.ndarray,
    parents: np.ndarray,
    action_from_parent: np.ndarray,
    node: int,
    action: int,
    virtual_loss: float,
) -> None:
    """Undo a descent that ended on the edge (node, action) without a simulation."""
    while True:
        children_visits[node, action] -= 1.0
        children_value_sums[node, action] += virtual_loss
        node_visits[node] -= 1.0
        if parents[node] < 0:
            return
        action = action_from_parent[node]
        node = parents[node]


#: Every array of a tree: (name, dtype, value of an unused slot, one entry per action).
#: Allocating, growing and pruning a tree go through this list, so an array added here
#: is sized, grown and pruned with the others.
_LAYOUT: tuple[tuple[str, type, float, bool], ...] = (
    ("children_visits", np.float64, 0.0, True),
    ("children_value_sums", np.float64, 0.0, True),
    ("children_prior", np.float64, 0.0, True),
    ("children_index", np.int32, -1, True),
    ("children_legal", np.bool_, False, True),
    ("node_visits", np.float64, 0.0, False),
    ("node_value_sums", np.float64, 0.0, False),
    ("raw_values", np.float64, 0.0, False),
    ("parents", np.int32, -1, False),
    ("action_from_parent", np.int32, -1, False),
    ("node_states", np.int32, -1, False),
)


def _unused(nodes: int, actions: int) -> dict[str, np.ndarray]:
    """Fresh slots for ``nodes`` nodes, by array name (see `_LAYOUT`)."""
    return {
        name: np.full((nodes, actions) if per_action else nodes, fill, dtype=dtype)
        for name, dtype, fill, per_action in _LAYOUT
    }


class SearchTree:
    """The search tree of one game, rooted at ``positions[0]``; arrays as in the module
    docstring, node 0 the root."""

    children_visits: np.ndarray
    children_value_sums: np.ndarray
    children_prior: np.ndarray
    children_index: np.ndarray
    children_legal: np.ndarray
    node_visits: np.ndarray
    node_value_sums: np.ndarray
    raw_values: np.ndarray
    parents: np.ndarray
    action_from_parent: np.ndarray
    node_states: np.ndarray

    def __init__(self, root: Position, capacity: int = 128) -> None:
        self.num_actions = root.size * root.size + 1
        for name, array in _unused(max(capacity, 2), self.num_actions).items():
            setattr(self, name, array)
        self.positions: list[Position] = [root]
        self.node_states[0] = TERMINAL if root.is_over else PENDING
        if root.is_over:
            self.raw_values[0] = terminal_value(root)

    # ------------------------------------------------------------------ shape

    def __len__(self) -> int:
        return len(self.positions)

    @property
    def root(self) -> Position:
        return self.positions[0]

    def state(self, node: int) -> int:
        return int(self.node_states[node])

    def _grow(self) -> None:
        """Double the capacity (amortised O(1) per node)."""
        extra = _unused(self.node_states.shape[0], self.num_actions)
        for name, array in extra.items():
            setattr(self, name, np.concatenate([getattr(self, name), array]))

    # ------------------------------------------------------------------ nodes

    def add_child(self, parent: int, action: int) -> int:
        """Create the node reached by ``action`` from ``parent`` (PENDING, or TERMINAL with
        its exact value when the move ends the game). Raises IllegalMove for a move the
        rules forbid, which the legal mask prevents."""
        position = self.positions[parent].copy()
        position.play(action)
        index = len(self.positions)
        if index == self.node_states.shape[0]:
            self._grow()
        self.positions.append(position)
        self.children_index[parent, action] = index
        self.parents[index] = parent
        self.action_from_parent[index] = action
        if position.is_over:
            self.node_states[index] = TERMINAL
            self.raw_values[index] = terminal_value(position)
        else:
            self.node_states[index] = PENDING
        return index

    def expand(self, node: int, prior: np.ndarray, legal: np.ndarray, value: float) -> None:
        """Store a PENDING node's evaluation: prior float [A] (0 on illegal), legal bool
        [A], value (the node's own view)."""
        if self.node_states[node] != PENDING:
            raise SearchTreeError(f"node {node} is not waiting for an evaluation")
        self.children_prior[node] = prior
        self.children_legal[node] = legal
        self.raw_values[node] = value
        self.node_states[node] = EXPANDED

    def visit_count(self, node: int) -> int:
        """N(node): its own evaluation plus every simulation through it."""
        return int(self.node_visits[node])

    def value(self, node: int) -> float:
        """v(node): the network value, or the exact value of a finished game."""
        return float(self.raw_values[node])

    def descend(
        self, root_prior: np.ndarray, first_action: int, params: DescentParams
    ) -> tuple[int, int, int]:
        """See `_descend`: (node, action, child) of the edge where the descent stopped."""
        return _descend(
            self.children_visits,
            self.children_value_sums,
            self.children_prior,
            self.children_index,
            self.children_legal,
            self.node_visits,
            self.node_value_sums,
            self.raw_values,
            self.node_states,
            root_prior,
            first_action,
            params.record,
        )

    def backup(self, leaf: int, value: float, virtual_loss: float = 0.0) -> None:
        """Propagate a leaf value (leaf's own view) to the root, negating at each step."""
        _backup(
            self.children_value_sums,
            self.node_visits,
            self.node_value_sums,
            self.parents,
            self.action_from_parent,
            leaf,
            value,
            virtual_loss,
        )

    def revert(self, node: int, action: int, virtual_loss: float = 0.0) -> None:
        """Take back the visits a descent ending on (node, action) added."""
        _revert(
            self.children_visits,
            self.children_value_sums,
            self.node_visits,
            self.parents,
            self.action_from_parent,
            node,
            action,
            virtual_loss,
        )

    # ------------------------------------------------------------------ root views

    @property
    def root_visits(self) -> np.ndarray:
        """N(root, a) float64 [A] (a view)."""
        return self.children_visits[0]

    @property
    def root_value_sums(self) -> np.ndarray:
        """W(root, a) float64 [A] (a view)."""
        return self.children_value_sums[0]

    @property
    def root_prior(self) -> np.ndarray:
        """P(root, a) float64 [A] (a view)."""
        return self.children_prior[0]

    @property
    def root_legal(self) -> np.ndarray:
        return self.children_legal[0]

    @property
    def root_mean_value(self) -> float:
        """W(root) / N(root): the search's value of the root for the side to move."""
        n = self.node_visits[0]
        return float(self.node_value_sums[0] / n) if n > 0 else float(self.raw_values[0])

    # ------------------------------------------------------------------ reuse

    def walk(self, moves: list[tuple[int, int]]) -> int | None:
        """The expanded node reached from the root by ``moves`` (colour, point), or None."""
        node = 0
        for _, point in moves:
            if not 0 <= point < self.num_actions:
                return None
            child = int(self.children_index[node, point])
            if child < 0 or self.node_states[child] != EXPANDED:
                return None
            node = child
        return node

    def subtree(self, node: int) -> SearchTree:
        """A new tree holding ``node`` and its descendants, ``node`` as root; statistics
        are kept, everything else is dropped (nodes renumbered breadth-first)."""
        order = [node]
        i = 0
        while i < len(order):
            kids = self.children_index[order[i]]
            order.extend(int(c) for c in kids[kids >= 0])
            i += 1
        keep = np.asarray(order, dtype=np.int64)
        remap = np.full(len(self.positions) + 1, -1, dtype=np.int32)  # remap[-1] stays -1
        remap[keep] = np.arange(keep.size, dtype=np.int32)
        new = SearchTree.__new__(SearchTree)
        new.num_actions = self.num_actions
        pad = _unused(max(2 * keep.size, 128) - keep.size, self.num_actions)
        for name, array in pad.items():
            setattr(new, name, np.concatenate([getattr(self, name)[keep], array]))
        kept = slice(0, keep.size)
        new.children_index[kept] = remap[new.children_index[kept]]
        new.parents[kept] = remap[new.parents[kept]]
        new.parents[0] = -1
        new.action_from_parent[0] = -1
        new.positions = [self.positions[i] for i in order]
        return new
