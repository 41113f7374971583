"""The smallest run that still exercises every part: tests build on these overrides."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from crowdzero.go.coords import BLACK, WHITE
from crowdzero.net.checkpoint import save_checkpoint
from crowdzero.net.evaluator import TorchEvaluator
from crowdzero.net.model import PolicyValueNet
from crowdzero.play.match_runner import MatchRunner, Pairing
from crowdzero.play.player import Player
from crowdzero.play.record import Game
from crowdzero.players.agent import AgentPlayer
from crowdzero.train.config import RunConfig, apply_overrides
from crowdzero.train.run_dir import RunDir

#: 5x5, a 1-block x 8-channel net, 4 simulations: a game takes milliseconds.
TINY_RUN: dict[str, Any] = {
    "board.size": 5,
    "board.komi": 0.5,
    "net.blocks": 1,
    "net.channels": 8,
    "net.history": 2,
    "search.simulations": 4,
    "train.batch_size": 16,
    "train.min_replay": 16,
    "train.max_moves": 30,
    "train.threads": 1,
}

#: A three-member crowd file (random and two heuristic players, one member held out).
TINY_CROWD = """
[study]
held_out = ["heuristic:plain"]

[[member]]
spec = "random"

[[member]]
spec = "heuristic:greedy"

[[member]]
spec = "heuristic:local"
"""


def stored_run(
    path: Path, overrides: dict[str, Any], members: Sequence[Player], games: int, step: int
) -> RunDir:
    """A run directory as training leaves it: config, a checkpoint at `step`, and `games`
    finished games in its store.

    Self-play (`train.mode = "self"`) puts the agent in both seats; otherwise the agent
    meets `members` in turn with colours alternating, as `TrainingRun` pairs them.
    """
    cfg = apply_overrides(RunConfig(), overrides)
    mode = cfg.train.mode
    run = RunDir.create(path, cfg)
    model = PolicyValueNet(cfg.net)
    save_checkpoint(run.checkpoint_path(step), model, step=step, metadata={"run": mode})
    agent = AgentPlayer(TorchEvaluator(model, threads=1), cfg.search, name="agent")
    label = f"{mode}@{step}"
    started = [0]

    def pairing() -> Pairing:
        k, started[0] = started[0], started[0] + 1
        if mode == "self":
            return Pairing(agent, agent, frozenset({BLACK, WHITE}), checkpoint=label)
        member = members[k % len(members)]
        if k % 2 == 0:
            return Pairing(agent, member, frozenset({BLACK}), checkpoint=label)
        return Pairing(member, agent, frozenset({WHITE}), checkpoint=label)

    runner = MatchRunner(cfg.rules, pairing, concurrency=4, max_moves=cfg.max_moves)
    with run.open_store() as store:
        for game in runner.play(games):
            assert isinstance(game, Game)
            store.add_game(game, source="train")
    runner.close()
    return run
