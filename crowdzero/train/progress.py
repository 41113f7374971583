"""What a person watching a training run sees: one live panel, refreshed twice a second."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.console import Group
from rich.panel import Panel
from rich.table import Table

if TYPE_CHECKING:
    from crowdzero.train.training_run import TrainingRun


def _rate(count: float, seconds: float) -> str:
    return f"{count / seconds:,.1f}" if seconds > 0 else "-"


def progress_panel(run: TrainingRun) -> Panel:
    """Games, speed, loss and the agent's recent win rate against each opponent."""
    s = run.stats
    elapsed = s.elapsed
    head = Table.grid(padding=(0, 2))
    for _ in range(4):
        head.add_column(justify="right", style="bold")
        head.add_column()
    loss = s.last_loss
    sims = run.games.simulations_done
    head.add_row(
        "elapsed",
        f"{elapsed / 60:.1f} min",
        "games",
        f"{s.games:,} (+{s.dropped} dropped"
        + (f", {s.unplayable} unplayable skipped)" if s.unplayable else ")"),
        "moves/s",
        _rate(run.games.moves_played, elapsed),
        "sims/s",
        _rate(sims, elapsed),
    )
    head.add_row(
        "step",
        f"{s.steps:,}",
        "replay",
        f"{len(run.replay):,} pos",
        "loss",
        f"{loss.total:.3f}" if loss else "-",
        "p/v",
        f"{loss.policy:.2f} / {loss.value:.3f}" if loss else "-",
    )
    cores, machine = run.cores_used
    positions = max(run.replay.positions_added, 1)
    head.add_row(
        "window",
        f"{run.replay.window:,} rows",
        "samples/pos",
        f"{s.steps * run.config.train.batch_size / positions:.2f}",
        "sample age",
        f"{loss.mean_age:,.0f} rows" if loss else "-",
        "target H",
        f"{loss.target_entropy:.2f} nats" if loss else "-",
    )
    rate = s.false_resign_rate
    head.add_row(
        "agent batch",
        f"{run.games.agent_batch_fill:.0%} of games",
        "cores",
        f"{cores:.1f} run" + (f", {machine:.1f} machine" if machine is not None else ""),
        "weights lag",
        f"{run.learner.step - run.weights_step} steps",
        "false resign",
        f"{rate:.0%} of {s.resign_checks}" if rate is not None else "-",
    )
    rates = Table(title="agent's recent score vs each opponent (last 50 games)", expand=False)
    rates.add_column("opponent")
    rates.add_column("score", justify="right")
    rates.add_column("games", justify="right")
    for name, (rate, n) in s.win_rates().items():
        rates.add_row(name, f"{rate:.0%}", str(n))
    if run.games.status:
        head.add_row("workers", run.games.status)
    title = f"crowdzero train · {run.run_dir.name} · {run.config.train.mode} mode"
    body = Group(head, rates) if s.recent else head
    return Panel(body, title=title, border_style="cyan")
