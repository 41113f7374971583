"""BatchedSearcher: one tree search per game, all games' leaves in one network call.

The network is the budget on a CPU (a forward pass of 64 positions costs what tens of
thousands of tree steps cost), so the search is organised around it. Each simulation
round every game descends its own tree to a leaf (in numba, `tree._descend`); the leaves
of ALL games go to the evaluator in one batch; the values are backed up; repeat until
every game has spent its simulation budget. With ``leaves_per_game > 1`` each game sends
several leaves per round, kept apart by a virtual loss.

Budgets per game: a search can mark some requests ``cheap`` (playout cap randomisation,
see `SearchConfig.full_search_fraction`). Those spend ``cheap_simulations`` without root
noise and drop out of the rounds once spent, while the full searches go on; every round
still sends the leaves of all games still searching in one batch. As in KataGo, a cheap
search in a training game still samples the game's first ``temperature_moves`` moves
(PUCT by visits, Gumbel from its improved policy) and plays greedily after that:
without it, a noise-free search of an untrained network plays the same opening, often
a pass, in every game.

Subtree reuse: after a search the tree of each game is kept under its ``game_id``. The
next request for that game walks down the moves played since (``position.moves``) and
continues from that subtree, so the visits the search already spent on the line that
was played are not thrown away. `forget` drops a game's tree.

Opponent modelling (``SearchConfig.opponent_model``, off by default): given
``opponent_models`` keyed by player name, a request whose ``opponent`` has a model gets
that model's policy as the prior of every node where the opponent is to move (the side
to move differs from the root's); the agent's network still evaluates every leaf and
supplies the value and the priors of the agent's own nodes. The model is asked once per
round for all such leaves of the games facing it. Without models nothing extra runs.

Advice (`MoveRequest.advice`): a net with advice planes reads the suggestion at the
root only (it is advice for this move, not for the moves below); every other node gets
blank advice planes. A request with advice starts a fresh tree, since a reused root was
evaluated without it. An evaluator without advice planes ignores advice entirely.

Not thread-safe: one searcher serves one batching thread.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from crowdzero.go.advice import Advice
from crowdzero.go.features import batch_features
from crowdzero.go.position import Position
from crowdzero.play.player import MoveRequest
from crowdzero.search.config import SearchConfig
from crowdzero.search.evaluator import Evaluator
from crowdzero.search.gumbel import GumbelRoot, improved_policy, sigma_completed_q
from crowdzero.search.opponent_model import OpponentModel
from crowdzero.search.puct import add_dirichlet_noise, choose_by_visits, visit_policy
from crowdzero.search.tree import EXPANDED, PENDING, TERMINAL, DescentParams, SearchTree

_Evaluation = tuple[np.ndarray, np.ndarray]  # logits [B, A], values [B]


class SearchError(ValueError):
    """A search was asked for something it cannot do (a finished game, mixed board sizes,
    an evaluator answering with the wrong shapes)."""


@dataclass(frozen=True)
class SearchResult:
    """What one game's search concluded.

    point        the move to play (a point, or N*N to pass)
    policy       float32 [N*N+1] training target: visit shares (PUCT) or the improved
                 policy softmax(logits + sigma(completedQ)) (Gumbel); sums to 1 over the
                 legal moves, 0 on illegal ones
    root_value   W(root) / N(root), the side to move's view, in [-1, 1]
    visits       float32 [N*N+1] N(root, a), visits kept from a reused subtree included
    simulations  leaves evaluated (or terminal positions reached) by this search
    cheap        a cheap search (fewer simulations, no root noise): its policy is a poor
                 training target, and the agent stores none
    """

    point: int
    policy: np.ndarray
    root_value: float
    visits: np.ndarray
    simulations: int
    cheap: bool = False


@dataclass
class _GameSearch:
    """One game's share of a batched search (mutable bookkeeping, private)."""

    game_id: str
    tree: SearchTree
    root_prior: np.ndarray  # P(root, a) used for selection: noisy for PUCT self-play
    budget: int  # simulations this search spends
    noise: bool  # root noise (Dirichlet or Gumbel)
    temperature: bool  # a training game: its first temperature_moves moves are sampled
    cheap: bool = False
    gumbel: GumbelRoot | None = None
    done: int = 0  # simulations finished
    pending: int = 0  # leaves waiting for the network this round
    opponent_model: OpponentModel | None = None  # priors at the opponent's nodes, if any
    advice: Advice | None = None  # read by the root's evaluation only


def masked_softmax(logits: np.ndarray, legal: np.ndarray) -> np.ndarray:
    """Row-wise softmax over the legal actions, float64 [B, A], 0 on illegal ones.

    Every row must have a legal action (pass is legal until the game is over)."""
    z = np.where(legal, logits.astype(np.float64), -np.inf)
    z -= z.max(axis=1, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=1, keepdims=True)
    return z


class BatchedSearcher:
    """Tree search for many games at once, sharing one evaluator.

    ``rng`` drives the root noise (Dirichlet or Gumbel) and temperature sampling; pass a
    seeded generator for reproducible self-play. ``opponent_models`` (player name ->
    model) need ``config.opponent_model``; see the module docstring.
    """

    def __init__(
        self,
        evaluator: Evaluator,
        config: SearchConfig | None = None,
        rng: np.random.Generator | None = None,
        opponent_models: Mapping[str, OpponentModel] | None = None,
    ) -> None:
        self.evaluator = evaluator
        self.config = config if config is not None else SearchConfig()
        self.rng = rng if rng is not None else np.random.default_rng()
        if opponent_models and not self.config.opponent_model:
            raise SearchError(
                f"opponent models were given ({', '.join(sorted(opponent_models))}) but "
                "opponent modelling is off; use SearchConfig(opponent_model=True)"
            )
        self.opponent_models: dict[str, OpponentModel] = dict(opponent_models or {})
        self._trees: dict[str, SearchTree] = {}
        self._descent = DescentParams.from_config(self.config)
        self._worker: ThreadPoolExecutor | None = None
        self.simulations_done = 0  # since construction, over all games (for progress)
        self.positions_evaluated = 0  # leaves and roots sent to the evaluator
        self.positions_modelled = 0  # opponent-node leaves whose prior came from a model

    # ------------------------------------------------------------------ public

    def search(
        self,
        requests: Sequence[MoveRequest],
        add_noise: bool = True,
        cheap: Sequence[bool] | None = None,
    ) -> list[SearchResult]:
        """Search every request's position; one result per request, in order.

        ``add_noise``: self-play exploration. PUCT mixes Dirichlet noise into the root
        prior and samples the first ``temperature_moves`` moves of a game in proportion to
        visits; Gumbel draws its Gumbel noise. Without it the search is deterministic for
        a deterministic evaluator. ``cheap`` (one flag per request, default none): those
        requests get a cheap search, ``config.cheap_budget`` simulations without root
        noise (with ``add_noise`` their first ``temperature_moves`` moves of a game are
        still sampled, see the module docstring); the others spend
        ``config.simulations``. Raises
        SearchError for a finished game, a game asked twice in one call, positions of
        different board sizes, or a ``cheap`` of the wrong length.
        """
        if not requests:
            return []
        ids = [request.game_id for request in requests]
        if len(set(ids)) != len(ids):
            raise SearchError("a game appears twice in one search; ask once per game")
        if cheap is None:
            cheap = [False] * len(requests)
        elif len(cheap) != len(requests):
            raise SearchError(f"{len(cheap)} cheap flags for {len(requests)} requests")
        games = [
            self._prepare(request, add_noise, bool(flag))
            for request, flag in zip(requests, cheap, strict=True)
        ]
        self._evaluate_pending_roots(games)
        for game in games:
            self._start_root(game)
        self._simulate(games)
        results = [self._result(game) for game in games]
        self.simulations_done += sum(game.done for game in games)
        if self.config.reuse_tree:
            for game in games:
                self._trees[game.game_id] = game.tree
        return results

    def forget(self, game_id: str) -> None:
        """Drop the kept tree of a game (it ended, or it will not be searched again)."""
        self._trees.pop(game_id, None)

    def clear(self) -> None:
        """Drop every kept tree (e.g. when the network's weights change)."""
        self._trees.clear()

    def close(self) -> None:
        """Stop the evaluation worker thread, if one was started (kept trees stay)."""
        if self._worker is not None:
            self._worker.shutdown(wait=True)
            self._worker = None

    @property
    def kept_games(self) -> list[str]:
        """The game ids whose trees are kept for reuse."""
        return list(self._trees)

    def kept_tree(self, game_id: str) -> SearchTree | None:
        """The tree kept for a game (rooted at the last searched position), if any."""
        return self._trees.get(game_id)

    # ------------------------------------------------------------------ set-up

    def _prepare(self, request: MoveRequest, add_noise: bool, cheap: bool) -> _GameSearch:
        position = request.position
        if position.is_over:
            raise SearchError(f"game {request.game_id} is over; there is no move to search")
        model = None
        if self.opponent_models and request.opponent is not None:
            model = self.opponent_models.get(request.opponent)
        budget = self.config.cheap_budget if cheap else self.config.simulations
        advice = request.advice if self.evaluator.feature_spec.advice else None
        tree = self._reused_tree(request.game_id, position, modelled=model is not None)
        if advice is not None:
            tree = None  # its root was evaluated without the advice
        if tree is None:
            tree = SearchTree(position.copy(), capacity=2 * budget + 2)
        return _GameSearch(
            request.game_id,
            tree,
            tree.root_prior,
            budget=budget,
            noise=add_noise and not cheap,
            temperature=add_noise,
            cheap=cheap,
            opponent_model=model,
            advice=advice,
        )

    def _reused_tree(
        self, game_id: str, position: Position, modelled: bool = False
    ) -> SearchTree | None:
        """The subtree of the kept tree at ``position``, if the kept tree leads there.

        ``modelled``: the search uses an opponent model, so only a node an even number of
        moves down can become the root (one an odd number down was the opponent's, and
        its prior came from the model, e.g. when one player searches both seats)."""
        old = self._trees.pop(game_id, None)
        if old is None or not self.config.reuse_tree:
            return None
        root = old.root
        start = len(root.moves)
        if (
            root.rules != position.rules
            or len(position.moves) < start
            or position.moves[:start] != root.moves
        ):
            return None
        if modelled and (len(position.moves) - start) % 2 == 1:
            return None
        node = old.walk(position.moves[start:])
        if node is None:
            return None
        found = old.positions[node]
        if (
            found.to_play != position.to_play
            or found.hash != position.hash
            or not np.array_equal(found.board, position.board)
        ):
            return None
        return old if node == 0 else old.subtree(node)

    def _evaluate_pending_roots(self, games: list[_GameSearch]) -> None:
        fresh = [g for g in games if g.tree.state(0) == PENDING]
        if fresh:
            leaves = [(g, 0) for g in fresh]
            logits, values = self._evaluate(self._features(leaves))
            self._apply(leaves, logits, values, simulations=False)

    def _start_root(self, game: _GameSearch) -> None:
        tree = game.tree
        c = self.config
        prior, legal = tree.root_prior, tree.root_legal
        if c.algorithm == "puct":
            if game.noise:
                game.root_prior = add_dirichlet_noise(
                    prior, legal, c.dirichlet_alpha, c.dirichlet_fraction, self.rng
                )
            else:
                game.root_prior = prior.copy()
        else:
            game.root_prior = prior.copy()
            game.gumbel = GumbelRoot.start(
                prior, legal, c.gumbel_considered, game.budget, self.rng if game.noise else None
            )

    # ------------------------------------------------------------------ simulation

    def _simulate(self, games: list[_GameSearch]) -> None:
        """Rounds of: every unfinished game collects leaves; one evaluator call; backup.

        With ``overlap_evaluation`` the games are split into two halves that take turns:
        while the network evaluates one half's leaves in a worker thread (torch releases
        the GIL), this thread backs up and collects the other half. A game's search is the
        same either way; only the batching differs.
        """
        if self.config.overlap_evaluation and len(games) >= 2:
            self._simulate_overlapped([games[0::2], games[1::2]])
            return
        active = list(games)
        while active:
            leaves = self._collect_round(active)
            if leaves:
                logits, values = self._evaluate(self._features(leaves))
                self._apply(leaves, logits, values)
            active = [g for g in active if g.done < g.budget]

    def _simulate_overlapped(self, groups: list[list[_GameSearch]]) -> None:
        if self._worker is None:
            self._worker = ThreadPoolExecutor(1, thread_name_prefix="crowdzero-evaluate")
        inflight: list[tuple[list[tuple[_GameSearch, int]], Future[_Evaluation]] | None]
        inflight = [None] * len(groups)
        active = [list(group) for group in groups]
        try:
            while any(active) or any(f is not None for f in inflight):
                for i, group in enumerate(active):
                    waiting = inflight[i]
                    if waiting is not None:
                        leaves, future = waiting
                        inflight[i] = None
                        self._apply(leaves, *future.result())
                    group[:] = [g for g in group if g.done < g.budget]
                    if group:
                        leaves = self._collect_round(group)
                        if leaves:
                            features = self._features(leaves)
                            inflight[i] = (leaves, self._worker.submit(self._evaluate, features))
        finally:
            for waiting in inflight:  # an error elsewhere: do not leave work running
                if waiting is not None:
                    waiting[1].cancel()

    def _collect_round(self, games: list[_GameSearch]) -> list[tuple[_GameSearch, int]]:
        leaves: list[tuple[_GameSearch, int]] = []
        for game in games:
            self._collect(game, leaves)
        return leaves

    def _collect(self, game: _GameSearch, leaves: list[tuple[_GameSearch, int]]) -> None:
        """Descend ``game``'s tree until it has ``leaves_per_game`` leaves waiting, its
        budget is spent, or a descent runs into a leaf already waiting."""
        c = self.config
        tree = game.tree
        params = self._descent
        vl = params.virtual_loss
        while game.pending < c.leaves_per_game and game.done + game.pending < game.budget:
            first = -1
            if game.gumbel is not None:
                first = game.gumbel.select(
                    tree.root_visits,
                    tree.root_value_sums,
                    tree.root_prior,
                    tree.root_legal,
                    tree.value(0),
                    c.gumbel_c_visit,
                    c.gumbel_c_scale,
                )
            node, action, child = tree.descend(game.root_prior, first, params)
            if child < 0:
                child = tree.add_child(node, action)
                if tree.state(child) == PENDING:
                    leaves.append((game, child))
                    game.pending += 1
                    continue
            if tree.state(child) == TERMINAL:
                tree.backup(child, tree.value(child), vl)
                game.done += 1
                continue
            # A leaf another descent of this round is already waiting for.
            tree.revert(node, action, vl)
            if game.gumbel is not None:
                game.gumbel.cancel(first)
            return

    def _root_sigma_q(self, tree: SearchTree) -> np.ndarray:
        return sigma_completed_q(
            tree.root_visits,
            tree.root_value_sums,
            tree.root_prior,
            tree.root_legal,
            tree.value(0),
            self.config.gumbel_c_visit,
            self.config.gumbel_c_scale,
        )

    def _features(self, leaves: list[tuple[_GameSearch, int]]) -> tuple[np.ndarray, int]:
        positions = [game.tree.positions[node] for game, node in leaves]
        size = positions[0].size
        if any(p.size != size for p in positions):
            raise SearchError("positions of different board sizes cannot share one search")
        spec = self.evaluator.feature_spec
        advice = None
        if spec.advice:
            advice = [game.advice if node == 0 else None for game, node in leaves]
        return batch_features(positions, spec, advice), size * size + 1

    def _evaluate(self, batch: tuple[np.ndarray, int]) -> _Evaluation:
        """(logits, values) for the features, shapes checked (runs in the worker thread
        when evaluation overlaps the tree work)."""
        features, actions = batch
        logits, values = self.evaluator.evaluate(features)
        count = features.shape[0]
        self.positions_evaluated += count
        if logits.shape != (count, actions) or values.shape != (count,):
            raise SearchError(
                f"the evaluator returned logits {list(logits.shape)} and values "
                f"{list(values.shape)} for {count} positions; "
                f"expected [{count}, {actions}] and [{count}]"
            )
        return logits, values

    def _apply(
        self,
        leaves: list[tuple[_GameSearch, int]],
        logits: np.ndarray,
        values: np.ndarray,
        simulations: bool = True,
    ) -> None:
        """Store each leaf's prior (masked softmax of its logits) and back its value up;
        ``simulations=False`` for roots (their evaluation is not a simulation and no
        descent took a virtual loss for them)."""
        vl = self._descent.virtual_loss if simulations else 0.0
        legal = np.stack([game.tree.positions[node].legal_mask() for game, node in leaves])
        prior = masked_softmax(logits, legal)
        if self.opponent_models:
            self._model_opponent_priors(leaves, legal, prior)
        for i, (game, node) in enumerate(leaves):
            value = float(values[i])
            game.tree.expand(node, prior[i], legal[i], value)
            game.tree.backup(node, value, vl)
            if simulations:
                game.done += 1
                game.pending -= 1

    def _model_opponent_priors(
        self, leaves: list[tuple[_GameSearch, int]], legal: np.ndarray, prior: np.ndarray
    ) -> None:
        """Overwrite, in place, the prior rows of the leaves where a modelled opponent is
        to move with its model's policy; one model call per model for all such leaves.
        The root always has the searching player to move, and moves alternate (passes
        too), so "the opponent's node" is "a different side to move than the root"."""
        groups: dict[int, tuple[OpponentModel, list[int]]] = {}
        for i, (game, node) in enumerate(leaves):
            model = game.opponent_model
            if model is not None and game.tree.positions[node].to_play != game.tree.root.to_play:
                groups.setdefault(id(model), (model, []))[1].append(i)
        for model, rows in groups.values():
            positions = [leaves[i][0].tree.positions[leaves[i][1]] for i in rows]
            logits = np.asarray(model.policy_logits(positions), dtype=np.float64)
            if logits.shape != (len(rows), prior.shape[1]):
                raise SearchError(
                    f"an opponent model returned logits {list(logits.shape)} for "
                    f"{len(rows)} positions; expected [{len(rows)}, {prior.shape[1]}]"
                )
            if np.isnan(logits).any():
                raise SearchError("an opponent model returned NaN logits")
            # -inf is a fine log-probability; clipping keeps a row that is -inf on every
            # legal move defined (uniform) instead of NaN.
            prior[rows] = masked_softmax(np.clip(logits, -1e30, 1e30), legal[rows])
            self.positions_modelled += len(rows)

    # ------------------------------------------------------------------ result

    def _result(self, game: _GameSearch) -> SearchResult:
        tree = game.tree
        if tree.state(0) != EXPANDED:
            raise SearchError(f"game {game.game_id}: the root was never evaluated")
        legal = tree.root_legal
        visits = tree.root_visits.copy()
        early = game.temperature and len(tree.root.moves) < self.config.temperature_moves
        if game.gumbel is not None:
            sigma_q = self._root_sigma_q(tree)
            policy = improved_policy(game.gumbel.logits, sigma_q, legal)
            if early and not game.noise:
                # No Gumbel noise drew this move: sample it from the improved policy, as
                # the Gumbel-max trick would have.
                p = policy.astype(np.float64)
                point = int(self.rng.choice(p.size, p=p / p.sum()))
            else:
                point = game.gumbel.winner(sigma_q)
        else:
            policy = visit_policy(visits, legal)
            point = choose_by_visits(visits, tree.root_prior, legal, early, self.rng)
        return SearchResult(
            point=point,
            policy=policy,
            root_value=tree.root_mean_value,
            visits=visits.astype(np.float32),
            simulations=game.done,
            cheap=game.cheap,
        )
