"""Every knob of the tree search, with its default and what it does.

The config loader builds a `SearchConfig` from the `[search]` table of a run's TOML file.
Each field's ``metadata`` holds its doc and its bounds (`crowdzero.config_fields`): the docs
are what `crowdzero config` prints and every run's config.toml carries, so each one says
what the setting changes, not just its name.

Why Gumbel is the default: the network is the budget on this machine (about a thousand
positions a second), so self-play runs with few simulations per move (64 or fewer).
PUCT with Dirichlet noise needs many visits before the visit distribution is a better
policy than the prior; Gumbel search (Danihelka et al. 2022) guarantees a policy
improvement in expectation even with a handful of simulations, and its target
(softmax of logits plus transformed completed Q-values) is defined for every legal
move, not only the visited ones. PUCT stays available and is what the tests compare.
"""

from __future__ import annotations

import typing
from dataclasses import dataclass, field
from typing import Literal

from crowdzero.config_fields import check_fields

Algorithm = Literal["puct", "gumbel"]
ALGORITHMS: tuple[str, ...] = typing.get_args(Algorithm)


class SearchConfigError(ValueError):
    """A search setting is out of range or unknown."""


@dataclass(frozen=True)
class SearchConfig:
    """Settings of `BatchedSearcher`; frozen so that a run's settings cannot drift."""

    algorithm: Algorithm = field(
        default="gumbel",
        metadata={
            "doc": "Root search: 'gumbel' (Gumbel-top-k + sequential halving, improves the "
            "policy even with few simulations) or 'puct' (AlphaZero: PUCT + Dirichlet "
            "noise, target = visit counts).",
            "choices": ALGORITHMS,
        },
    )
    simulations: int = field(
        default=64,
        metadata={
            "doc": "Network evaluations spent per move (leaves expanded below the root). "
            "Visits kept from a reused subtree come on top.",
            "min": 1,
        },
    )
    c_puct_init: float = field(
        default=1.25,
        metadata={
            "doc": "PUCT exploration constant c_init in AlphaZero's "
            "c(s) = c_init + log((1 + N(s) + c_base) / c_base); larger explores more.",
            "above": 0.0,
        },
    )
    c_puct_base: float = field(
        default=19652.0,
        metadata={
            "doc": "PUCT c_base: exploration grows slowly once a node has about this many "
            "visits; with 64 simulations c(s) is effectively c_init.",
            "above": 0.0,
        },
    )
    dirichlet_alpha: float = field(
        default=0.134,
        metadata={
            "doc": "PUCT only: concentration of the Dirichlet noise mixed into the root "
            "prior. AlphaZero used 0.03 on 19x19; scaled by area, 0.03*361/81 = 0.134 "
            "on 9x9 (use 0.03*361/N^2 for other sizes). Smaller = spikier noise.",
            "above": 0.0,
        },
    )
    dirichlet_fraction: float = field(
        default=0.25,
        metadata={
            "doc": "PUCT only: weight of the Dirichlet noise in the root prior "
            "(P = (1-f) P + f Dir(alpha)). 0 turns noise off.",
            "min": 0.0,
            "max": 1.0,
        },
    )
    temperature_moves: int = field(
        default=8,
        metadata={
            "doc": "For the first this-many moves of a training game the move is sampled: "
            "PUCT in proportion to root visits (temperature 1), after that the most "
            "visited move is played. Gumbel samples through its Gumbel noise on every "
            "move; only its cheap searches (see full_search_fraction), which have no "
            "noise, use this, sampling from their improved policy.",
            "min": 0,
        },
    )
    fpu_reduction: float = field(
        default=0.25,
        metadata={
            "doc": "PUCT only: an unvisited child's Q starts at the parent's value minus "
            "this times sqrt(prior mass of the children already visited) (first-play "
            "urgency, Leela Zero's form): the search deepens moves it has seen to be "
            "good before trying every untested one."
        },
    )
    gumbel_considered: int = field(
        default=16,
        metadata={
            "doc": "Gumbel only: m, the number of root moves drawn by Gumbel-top-k and then "
            "narrowed by sequential halving (capped by the number of legal moves).",
            "min": 1,
        },
    )
    gumbel_c_visit: float = field(
        default=50.0,
        metadata={
            "doc": "Gumbel only: c_visit of the sigma transform "
            "sigma(q) = (c_visit + max_b N(b)) * c_scale * q, q the completed Q-values "
            "rescaled to [0, 1] at each node.",
            "min": 0.0,
        },
    )
    gumbel_c_scale: float = field(
        default=0.1,
        metadata={
            "doc": "Gumbel only: c_scale of the sigma transform; larger trusts search "
            "values more against the network's logits. 0.1 is mctx's value_scale for Q "
            "rescaled per node: the best and worst move then differ by (50 + max N) * 0.1, "
            "about 5-6 logits. The paper's 1.0 belongs to Q normalised by the fixed "
            "value range; with the per-node rescale it made the 16-simulation targets of "
            "the 9x9 runs nearly one-hot (mean entropy 0.43 nats against the prior's 3.78).",
            "above": 0.0,
        },
    )
    reuse_tree: bool = field(
        default=True,
        metadata={
            "doc": "Keep each game's tree between moves and continue from the subtree of "
            "the moves played since, so earlier visits are not thrown away."
        },
    )
    leaves_per_game: int = field(
        default=1,
        metadata={
            "doc": "Leaves each game sends per network call. Above 1 a virtual loss "
            "steers the extra descents to different leaves: bigger batches with fewer "
            "games, at some cost in search quality.",
            "min": 1,
        },
    )
    overlap_evaluation: bool = field(
        default=False,
        metadata={
            "doc": "Split the games of a search into two halves that take turns: while the "
            "network evaluates one half's leaves in a worker thread, the tree work of the "
            "other half runs. Results are identical; batches are half as big. Off by "
            "default: on a 2-core CPU the tree thread competes with torch's threads and "
            "it measured ~5% slower; worth trying when the network has its own cores "
            "or a GPU."
        },
    )
    virtual_loss: float = field(
        default=1.0,
        metadata={
            "doc": "Value (in [-1, 1] units) a pending descent subtracts from the nodes it "
            "passes through until its leaf is evaluated; only used when "
            "leaves_per_game > 1.",
            "min": 0.0,
        },
    )
    full_search_fraction: float = field(
        default=0.25,
        metadata={
            "doc": "Playout cap randomisation (KataGo): the share of the agent's "
            "training moves (those searched with noise) that get a full search of "
            "`simulations` and a policy target. The other moves get a cheap search of "
            "`cheap_simulations` without root noise (sampled in the first "
            "`temperature_moves` moves of a game, greedy after, as KataGo); they store a "
            "root value but no policy target, so the games move on at a fraction of the "
            "cost and the value head sees more games. Evaluation play (no noise) always "
            "searches in full, and so does every move when cheap_simulations is not below "
            "simulations (nothing to save). 1.0 turns it off. KataGo uses 0.25.",
            "above": 0.0,
            "max": 1.0,
        },
    )
    cheap_simulations: int = field(
        default=8,
        metadata={
            "doc": "Simulations of a cheap search (see full_search_fraction); capped at "
            "`simulations`. KataGo spends about a sixth of a full search; on this "
            "machine's 16-64 simulations 8 keeps a cheap move 2-8x cheaper.",
            "min": 1,
        },
    )
    resign_threshold: float = field(
        default=-0.9,
        metadata={
            "doc": "The agent resigns once its root value (its own view, in [-1, 1]) has "
            "been below this for `resign_consecutive` of its consecutive moves in a game, "
            "and only in games whose runner allows it (MoveRequest.allow_resign). -1.0 "
            "never resigns (a value cannot be below -1).",
            "min": -1.0,
            "max": 1.0,
        },
    )
    resign_consecutive: int = field(
        default=3,
        metadata={
            "doc": "How many of the agent's own moves in a row must have a root value "
            "below `resign_threshold` before it resigns (KataGo uses 3 as well).",
            "min": 1,
        },
    )
    opponent_model: bool = field(
        default=False,
        metadata={
            "doc": "Opponent-modelling search ('victim play'): at nodes where the opponent "
            "is to move, take the prior from a model of that opponent instead of the "
            "agent's own policy (values still come from the agent's network). Needs models "
            "handed to the searcher per opponent name (the study's opponent-model agent "
            "does); training runs do not build them, so they refuse this setting."
        },
    )

    @property
    def cheap_budget(self) -> int:
        """Simulations a cheap search spends: `cheap_simulations`, at most `simulations`."""
        return min(self.cheap_simulations, self.simulations)

    def __post_init__(self) -> None:
        check_fields(self, SearchConfigError)
