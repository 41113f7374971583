"""The study's report: OUT/index.html, the PNG figures, OUT/results.json, a terminal summary.

The HTML is self-contained: styles inline, figures embedded as base64 PNGs (the same
images are also written next to it as files), no scripts, no CDN. Every table cell is an
`Estimate` printed as value [low, high] with its count, and the claims section states
each claim's verdict as computed from the intervals (`metrics.compare`).
"""

from __future__ import annotations

import base64
import html
import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; never a window

import matplotlib.pyplot as plt
import numpy as np
from rich.console import Console
from rich.table import Table

from crowdzero.analysis.inference import Estimate as ClusteredEstimate
from crowdzero.analysis.study.advice import AdviceResults, advice_table
from crowdzero.analysis.study.metrics import Estimate, wilson
from crowdzero.analysis.study.results import StudyResults, plain_json, results_json
from crowdzero.go.advice import ADVICE_SOURCES

#: Where a study's curves over training are drawn, inside its folder (docs/study.md).
CURVES_FOLDER = "curves"
FIGURES = (
    "headline.png",
    "imitation.png",
    "win_rates.png",
    "flaws.png",
    "calibration.png",
    "out_of_box.png",
)
#: One colour per agent label, the same in every figure of the study and its curves.
AGENT_COLOURS = {
    "crowd": "#1f77b4",
    "self": "#ff7f0e",
    "imitation": "#2ca02c",
    "opponent-model": "#d62728",
}
_VERDICT_STYLE = {
    "supported": "background:#d4edda",
    "contradicted": "background:#f8d7da",
    "not supported": "background:#fff3cd",
    "no data": "background:#e2e3e5",
}


def write_report(results: StudyResults, out_dir: Path) -> Path:
    """Write results.json, the figures and index.html into `out_dir`; returns the HTML path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "results.json").write_text(results_json(results), encoding="utf-8")
    figures = {
        "headline.png": _headline_figure(results),
        "imitation.png": _imitation_figure(results),
        "win_rates.png": _win_rate_figure(results),
        "flaws.png": _flaw_figure(results),
        "calibration.png": _calibration_figure(results),
        "out_of_box.png": _out_of_box_figure(results),
    }
    for name, figure in figures.items():
        figure.savefig(out_dir / name, dpi=100, bbox_inches="tight")
        plt.close(figure)
    path = out_dir / "index.html"
    path.write_text(render_html(results, out_dir), encoding="utf-8")
    return path


# -- figures ---------------------------------------------------------------------------


def _grouped_bars(
    ax: plt.Axes, table: Mapping[str, Mapping[str, Estimate]], keys: Sequence[str]
) -> None:
    labels = list(table)
    width = 0.8 / max(1, len(labels))
    x = np.arange(len(keys))
    for k, label in enumerate(labels):
        estimates = [table[label].get(key) for key in keys]
        values = [e.value if e is not None and not e.empty else 0.0 for e in estimates]
        low = [
            v - e.low if e is not None and not e.empty else 0.0
            for v, e in zip(values, estimates, strict=True)
        ]
        high = [
            e.high - v if e is not None and not e.empty else 0.0
            for v, e in zip(values, estimates, strict=True)
        ]
        ax.bar(
            x + (k - (len(labels) - 1) / 2) * width,
            values,
            width,
            yerr=[low, high],
            capsize=2,
            label=label,
            color=AGENT_COLOURS.get(label),
        )
    ax.set_xticks(x, keys, rotation=40, ha="right")
    ax.set_ylim(0, 1.05)
    ax.legend()


def _keys(table: Mapping[str, Mapping[str, Estimate]]) -> list[str]:
    keys: list[str] = []
    for row in table.values():
        keys += [k for k in row if k not in keys]
    return keys


def _twin_names(results: StudyResults) -> list[tuple[str, str]]:
    """The (flawed member, twin) pairs the primary claims compared, in their order."""
    pairs: list[tuple[str, str]] = []
    if results.primary is not None:
        for row in results.primary.twins.exploitation:
            pair = (str(row["flawed"]), str(row["twin"]))
            if pair not in pairs:
                pairs.append(pair)
    return pairs


def _headline_figure(results: StudyResults) -> plt.Figure:
    """The study's question in one picture, next to the primary claims: does each agent
    score more against a flawed member than against its flaw-free twin (claims 1-2), and
    who makes the pass-back exploit that no member makes (claim 3)?"""
    fig, (left, right) = plt.subplots(
        1, 2, figsize=(14, 4.8), gridspec_kw={"width_ratios": [2.2, 1]}
    )
    pairs = _twin_names(results)
    if not pairs:
        left.text(0.5, 0.5, "no flawed member with a held-out twin was played", ha="center")
        left.set_axis_off()
    labels = [label for label in results.exploitation if label != "opponent-model"]
    step = 0.8 / max(1, len(labels))
    for row, (flawed, twin) in enumerate(pairs):
        for k, label in enumerate(labels):
            y = row + (k - (len(labels) - 1) / 2) * step
            against = results.exploitation.get(label, {}).get(flawed)
            held = results.transfer.get(label, {}).get(twin)
            # The twin first, so that where both scores are equal the flawed member's
            # filled marker shows: no gap, nothing exploited.
            points = [
                (e, fill) for e, fill in ((held, False), (against, True)) if e and not e.empty
            ]
            if len(points) == 2:
                xs = [e.value for e, _ in points]
                left.plot(xs, [y, y], color=AGENT_COLOURS.get(label), lw=1)
            for estimate, filled in points:
                left.errorbar(
                    estimate.value,
                    y,
                    xerr=[[estimate.value - estimate.low], [estimate.high - estimate.value]],
                    fmt="o",
                    color=AGENT_COLOURS.get(label),
                    markerfacecolor=AGENT_COLOURS.get(label) if filled else "white",
                    capsize=2,
                    label=label if row == 0 and filled else None,
                )
    if pairs:
        left.set_yticks(
            range(len(pairs)), [f"{flawed}\nvs twin {twin}" for flawed, twin in pairs], fontsize=8
        )
        left.invert_yaxis()
        left.set_xlim(-0.02, 1.02)
        left.set_xlabel("score (filled: against the flawed member; hollow: against its twin)")
        left.legend(loc="lower left", fontsize=8)
        left.set_title("Claims 1-2: exploitation is the gap between filled and hollow")
    _early_pass_panel(right, results)
    fig.tight_layout()
    return fig


def _early_pass_panel(ax: plt.Axes, results: StudyResults) -> None:
    """Claim 3: share of games against the pass-back member where the player passed early,
    for each agent and for the members in their own games."""
    twins = None if results.primary is None else results.primary.twins
    bars: list[tuple[str, int, int, str | None]] = []
    if twins is not None:
        for label, (shown, total) in twins.early_passes.items():
            bars.append((label, shown, total, AGENT_COLOURS.get(label)))
        if twins.members_early_passes:
            shown = sum(s for s, _ in twins.members_early_passes.values())
            total = sum(n for _, n in twins.members_early_passes.values())
            bars.append(("members\n(their games)", shown, total, "grey"))
    bars = [bar for bar in bars if bar[2] > 0]
    if not bars:
        ax.text(0.5, 0.5, "no games against a pass-back member", ha="center")
        ax.set_axis_off()
        return
    estimates = [wilson(shown, total) for _, shown, total, _ in bars]
    ax.bar(
        [name for name, *_ in bars],
        [e.value for e in estimates],
        yerr=[[e.value - e.low for e in estimates], [e.high - e.value for e in estimates]],
        capsize=3,
        color=[colour for *_, colour in bars],
    )
    for x, ((_, shown, total, _), estimate) in enumerate(zip(bars, estimates, strict=True)):
        ax.text(x, estimate.high + 0.02, f"{shown}/{total}", ha="center", fontsize=8)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("share of games with an early pass")
    ax.set_title("Claim 3: the pass-back exploit")


def _imitation_figure(results: StudyResults) -> plt.Figure:
    fig, ax = plt.subplots(figsize=(10, 4))
    keys = _keys(results.imitation_top1)
    _grouped_bars(ax, results.imitation_top1, keys)
    ax.set_ylabel("top-1 agreement with the member's move")
    ax.set_title("Imitation: how often the raw network picks the member's actual move")
    return fig


def _win_rate_figure(results: StudyResults) -> plt.Figure:
    rows = list(results.exploitation)
    columns = [*results.members, "all", *results.held_out]
    for label in rows:
        columns += [k for k in results.transfer.get(label, {}) if k not in columns]
    matrix = np.full((len(rows), len(columns)), np.nan)
    for i, label in enumerate(rows):
        merged = {**results.exploitation.get(label, {}), **results.transfer.get(label, {})}
        for j, column in enumerate(columns):
            estimate = merged.get(column)
            if estimate is not None and not estimate.empty:
                matrix[i, j] = estimate.value
    fig, ax = plt.subplots(figsize=(max(6, 0.7 * len(columns) + 2), 1.0 * len(rows) + 2))
    image = ax.imshow(matrix, cmap="RdYlGn", vmin=0, vmax=1, aspect="auto")
    for i in range(len(rows)):
        for j in range(len(columns)):
            if not math.isnan(matrix[i, j]):
                ax.text(j, i, f"{matrix[i, j]:.2f}", ha="center", va="center", fontsize=8)
    ax.set_xticks(range(len(columns)), columns, rotation=45, ha="right")
    ax.set_yticks(range(len(rows)), rows)
    ax.set_title("Score of each agent (rows) against each opponent (columns)")
    fig.colorbar(image, ax=ax, fraction=0.03)
    return fig


def _flaw_figure(results: StudyResults) -> plt.Figure:
    fig, ax = plt.subplots(figsize=(8, 4))
    keys = _keys(results.flaws)
    if keys:
        _grouped_bars(ax, results.flaws, keys)
    else:
        ax.text(0.5, 0.5, "no member with a planted flaw was played", ha="center")
    ax.set_ylabel("share of games where the flaw was triggered and punished")
    ax.set_title("Planted flaws")
    return fig


def _calibration_figure(results: StudyResults) -> plt.Figure:
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.5), sharey=True)
    for ax, attribute, title in (
        (axes[0], "curve", "value head, agent to move"),
        (axes[1], "reply_curve", "value head after its move (opponent to move)"),
        (axes[2], "search_curve", "search root value"),
    ):
        ax.plot([0, 1], [0, 1], color="grey", linestyle=":", label="perfect")
        for label, check in results.values.items():
            bins = [b for b in getattr(check, attribute) if b.count > 0]
            if bins:
                ax.plot(
                    [b.mean_predicted for b in bins],
                    [b.observed for b in bins],
                    marker="o",
                    label=label,
                    color=AGENT_COLOURS.get(label),
                )
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_xlabel("predicted win probability")
        ax.set_title(title)
        ax.legend()
    axes[0].set_ylabel("observed win frequency")
    return fig


def _out_of_box_figure(results: StudyResults) -> plt.Figure:
    fig, ax = plt.subplots(figsize=(6, 3.5))
    labels = list(results.out_of_box)
    estimates = [results.out_of_box[label].share for label in labels]
    values = [0.0 if e.empty else e.value for e in estimates]
    ax.bar(
        labels,
        values,
        yerr=[
            [0.0 if e.empty else v - e.low for v, e in zip(values, estimates, strict=True)],
            [0.0 if e.empty else e.high - v for v, e in zip(values, estimates, strict=True)],
        ],
        capsize=3,
        color=[AGENT_COLOURS.get(label) for label in labels],
    )
    ax.set_ylabel("share of the agent's moves")
    ax.set_title("Moves no crowd member would play")
    return fig


# -- HTML ------------------------------------------------------------------------------


def _cell(estimate: Estimate | None, percent: bool = True) -> str:
    if estimate is None or estimate.empty:
        return "<td class=na>n/a</td>"
    if percent:
        text = f"{100 * estimate.value:.1f}% [{100 * estimate.low:.1f}, {100 * estimate.high:.1f}]"
    else:
        text = f"{estimate.value:.3f} [{estimate.low:.3f}, {estimate.high:.3f}]"
    return f"<td>{html.escape(text)}<br><small>n={estimate.n}, games={estimate.games}</small></td>"


def _table(
    title: str,
    table: Mapping[str, Mapping[str, Estimate]],
    keys: Sequence[str],
    *,
    percent: bool = True,
    key_header: str = "opponent",
) -> str:
    labels = list(table)
    head = "".join(f"<th>{html.escape(label)}</th>" for label in labels)
    rows = []
    for key in keys:
        cells = "".join(_cell(table[label].get(key), percent) for label in labels)
        rows.append(f"<tr><th>{html.escape(key)}</th>{cells}</tr>")
    return (
        f"<h3>{html.escape(title)}</h3><table><tr><th>{html.escape(key_header)}</th>{head}</tr>"
        + "".join(rows)
        + "</table>"
    )


def _image(out_dir: Path, name: str, alt: str) -> str:
    path = out_dir / name
    if not path.exists():
        return ""
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f'<p><img alt="{html.escape(alt)}" src="data:image/png;base64,{data}"></p>'


def render_html(results: StudyResults, out_dir: Path) -> str:
    """The report page (figures are read from `out_dir` and embedded)."""
    meta = results.meta
    parts = [
        "<!doctype html><html><head><meta charset=utf-8><title>crowdzero study</title>",
        "<style>body{font-family:sans-serif;max-width:1100px;margin:auto;padding:1em}"
        "table{border-collapse:collapse;margin:0.5em 0}td,th{border:1px solid #ccc;"
        "padding:3px 6px;font-size:13px;vertical-align:top}td.na{color:#999}"
        "small{color:#666}img{max-width:100%}</style></head><body>",
        "<h1>crowdzero study: imitating the crowd, or exploiting it?</h1>",
        f"<p>{meta.board_size}x{meta.board_size}; created {html.escape(meta.created)}; "
        f"commit {html.escape(meta.git_commit or 'unknown')}; "
        f"{meta.games_played} games played, {meta.games_reused} reused, "
        f"{meta.games_dropped} dropped. Intervals are 95% (Wilson for proportions, "
        "bootstrap over games for means).</p>",
    ]
    parts += _primary_section(results, out_dir)
    parts += _curves_section(out_dir / CURVES_FOLDER)
    parts.append(
        "<h2>Agents</h2><table><tr><th>label</th><th>name</th><th>network</th>"
        "<th>search</th><th>step</th><th>checkpoint</th></tr>"
    )
    for info in results.agents.values():
        parts.append(
            f"<tr><td>{html.escape(info.label)}</td><td>{html.escape(info.name)}</td>"
            f"<td>{html.escape(info.net)}</td><td>{html.escape(info.algorithm)} x "
            f"{info.simulations}</td><td>{info.step}</td><td>{html.escape(info.checkpoint)}</td></tr>"
        )
    parts.append("</table>")
    training = results.imitation_training
    if training is not None:
        crowd_seconds = (
            "unknown" if training.crowd_seconds is None else f"{training.crowd_seconds:.0f} s"
        )
        parts.append(
            f"<p>Imitation agent: {training.steps} gradient steps (target {training.target_steps}; "
            f"crowd agent {training.crowd_steps}) in {training.seconds:.0f} s (crowd run "
            f"{crowd_seconds}), batch {training.batch_size}, on {training.positions} member "
            f"positions from {training.games} crowd games"
            + (" (reused from an earlier study)" if training.reused else "")
            + ".</p>"
        )

    parts.append(
        "<h2>Claims</h2><table><tr><th>topic</th><th>claim</th><th>verdict</th>"
        "<th>evidence (crowd vs other)</th></tr>"
    )
    for claim in results.claims:
        style = _VERDICT_STYLE.get(claim.verdict, "")
        parts.append(
            f"<tr><td>{html.escape(claim.topic)}</td><td>{html.escape(claim.text)}</td>"
            f'<td style="{style}"><b>{html.escape(claim.verdict)}</b></td>'
            f"<td><small>{html.escape(claim.evidence)}</small></td></tr>"
        )
    parts.append(
        "</table><p><small>supported: the 95% intervals are disjoint in the claimed direction; "
        "contradicted: disjoint the other way; not supported: they overlap.</small></p>"
    )

    parts.append(
        "<h2>Imitation</h2><p>On positions of held-out crowd games where a member "
        "was to move: how often each agent's raw-network choice equals the member's "
        "actual move, and the mean log-likelihood of that choice under the member's own "
        "move distribution (members with one).</p>"
    )
    parts.append(_image(out_dir, "imitation.png", "imitation bars"))
    imitation_tables = [("top-1 agreement (raw network)", results.imitation_top1, True)]
    if any(results.imitation_search_top1.values()):
        imitation_tables.append(("top-1 agreement (search)", results.imitation_search_top1, True))
    imitation_tables.append(
        (
            "log-likelihood of the agent's choice under the member (nats)",
            results.imitation_log_likelihood,
            False,
        )
    )
    for title, table, percent in imitation_tables:
        parts.append(_table(title, table, _keys(table), percent=percent, key_header="member"))

    parts += _agreement_section(results)
    parts.append("<h2>Exploitation and transfer</h2>")
    parts.append(_image(out_dir, "win_rates.png", "win-rate matrix"))
    parts.append(
        _table("score against crowd members", results.exploitation, _keys(results.exploitation))
    )
    parts.append(
        _table(
            "score against held-out opponents and the other agents",
            results.transfer,
            _keys(results.transfer),
        )
    )

    parts.append("<h2>Out-of-the-box play</h2>")
    parts.append(_image(out_dir, "out_of_box.png", "out-of-the-box shares"))
    parts.append(
        "<table><tr><th>agent</th><th>share of moves no member would play</th>"
        "<th>same, random movers included</th><th>score in games with such moves</th>"
        "<th>score in games without</th><th>members asked</th></tr>"
    )
    for label, box in results.out_of_box.items():
        parts.append(
            f"<tr><th>{html.escape(label)}</th>{_cell(box.share)}{_cell(box.share_all)}"
            f"{_cell(box.with_novel)}{_cell(box.without_novel)}"
            f"<td><small>{html.escape(', '.join(box.members))} (p &lt; {box.threshold})</small></td></tr>"
        )
    parts.append("</table>")
    parts += _reference_section(results)

    parts.append("<h2>Planted flaws</h2>")
    parts.append(_image(out_dir, "flaws.png", "flaw trigger rates"))
    parts.append(
        _table(
            "share of games where the member's flaw was triggered and punished",
            results.flaws,
            _keys(results.flaws),
            key_header="member",
        )
    )

    parts.append("<h2>Value function vs reality</h2>")
    parts.append(_image(out_dir, "calibration.png", "calibration curves"))
    values = results.values
    value_tables = (
        (
            "Brier score (value head)",
            {k: {"all": v.brier, **v.brier_by_opponent} for k, v in values.items()},
            "opponent",
        ),
        (
            "Brier score by move number (value head)",
            {k: v.brier_by_bucket for k, v in values.items()},
            "plies",
        ),
        (
            "value head: mean(predicted - actual)",
            {k: v.net_overrating_by_opponent for k, v in values.items()},
            "opponent",
        ),
        (
            "Brier score (value head after the agent's move, the opponent to move: the "
            "positions its search evaluates)",
            {k: {"all": v.reply_brier} for k, v in values.items() if v.reply_brier is not None},
            "positions",
        ),
        (
            "value head after the agent's move: mean(predicted - actual)",
            {k: v.reply_overrating_by_opponent for k, v in values.items()},
            "opponent",
        ),
        (
            "search root value: mean(predicted - actual); > 0 = the planner steers into "
            "positions it overrates",
            {k: v.search_overrating_by_opponent for k, v in values.items()},
            "opponent",
        ),
    )
    for title, table, header in value_tables:
        parts.append(_table(title, table, _keys(table), percent=False, key_header=header))

    if results.advice is not None:
        parts.append("<h2>Advice: does the agent take it?</h2>")
        parts.append(markdown_table_html(advice_table(results.advice)))

    if meta.notes:
        parts.append(
            "<h2>Notes</h2><ul>"
            + "".join(f"<li>{html.escape(n)}</li>" for n in meta.notes)
            + "</ul>"
        )
    walls = ", ".join(f"{k} {v:.0f} s" for k, v in meta.wall_seconds.items())
    parts.append(
        f"<h2>Run</h2><p><code>{html.escape(meta.command)}</code></p><p>wall time: {html.escape(walls)}</p>"
    )
    parts.append("<p>All numbers: <a href=results.json>results.json</a>.</p></body></html>")
    return "\n".join(parts)


def _clustered(estimate: ClusteredEstimate | None, percent: bool = True) -> str:
    """A game-clustered estimate as a table cell: value [low, high] (n, games)."""
    if estimate is None or estimate.n == 0:
        return '<td class="na">n/a</td>'
    scale, unit = (100.0, "%") if percent else (1.0, "")

    def number(x: float) -> str:
        return "n/a" if x != x else f"{x * scale:.1f}{unit}" if percent else f"{x:.3f}"

    return (
        f"<td>{number(estimate.value)} <small>[{number(estimate.low)}, "
        f"{number(estimate.high)}] n={estimate.n}, {estimate.games} games</small></td>"
    )


def _primary_section(results: StudyResults, out_dir: Path) -> list[str]:
    """The pre-registered primary claims of docs/study.md, judged together (Holm), and
    the headline figure."""
    primary = results.primary
    if primary is None or not primary.decisions:
        return []
    parts = [
        "<h2>Primary claims</h2><table><tr><th>claim</th><th>estimate</th><th>p</th>"
        "<th>Holm-adjusted p</th><th>games</th><th>verdict</th></tr>"
    ]
    for decision in primary.decisions:
        claim = decision.claim
        style = _VERDICT_STYLE.get(str(decision.verdict), "")
        parts.append(
            f"<tr><td>{html.escape(claim.name)}: {html.escape(claim.text)}</td>"
            f"<td>{claim.value:.3f}</td><td>{claim.p_value:.3g}</td>"
            f"<td>{decision.adjusted_p:.3g}</td><td>{claim.games}</td>"
            f'<td style="{style}"><b>{html.escape(str(decision.verdict))}</b></td></tr>'
        )
    parts.append("</table>")
    if primary.value_consistency:
        parts.append(
            "<p>Claim 5: mean |P(win) before the agent's move - P(win) after it| by the "
            "value head, clustered by game:</p><table><tr><th>agent</th><th>gap</th></tr>"
        )
        for label, estimate in primary.value_consistency.items():
            row = _clustered(estimate, percent=False)
            parts.append(f"<tr><th>{html.escape(label)}</th>{row}</tr>")
        parts.append("</table>")
    if _twin_names(results):
        parts.append(_image(out_dir, "headline.png", "exploitation of the planted flaws"))
    parts.append(
        _table(
            "Brier score per opponent (exploratory, beside claim 5)",
            primary.brier_by_opponent,
            _keys(primary.brier_by_opponent),
            percent=False,
            key_header="opponent",
        )
    )
    parts.append(
        "<p><small>Everything below is exploratory; its verdicts compare 95% intervals "
        "without a multiplicity correction.</small></p>"
    )
    return parts


def _curves_section(folder: Path) -> list[str]:
    """The curves over training (`crowdzero study-curves --out OUT/curves`), when they
    have been drawn: they come after the study, so `crowdzero study-report OUT` adds them."""
    if not (folder / "curves.png").is_file():
        return []
    name = folder.name
    parts = [
        "<h2>Curves over training</h2><p>Every measured checkpoint of each agent against "
        "each opponent (exploratory). First the exploitation curve: each agent's score "
        "against a flawed member minus against its twin, over its training, and (last "
        "panel) the crowd agent's pooled gap minus each control's at the same point of "
        "training, the study's difference in differences; then score, "
        "flaw trigger rate and search top-1 agreement per agent. Every number: "
        f'<a href="{name}/curves.md">{name}/curves.md</a>, '
        f'<a href="{name}/curves.json">{name}/curves.json</a>.</p>',
        _image(folder, "exploitation.png", "exploitation over training"),
        _image(folder, "curves.png", "curves over training"),
    ]
    return parts


def _agreement_section(results: StudyResults) -> list[str]:
    """Top-1 agreement of each agent's real search on member-vs-member positions."""
    table = results.member_agreement
    if not table:
        return []
    keys = list(next(iter(table.values())))
    parts = [
        "<h3>Top-1 agreement of the search, on member-vs-member positions</h3><p>"
        "Positions from games between two crowd members (no agent played them); each "
        "agent searches them with its own noise-free search. Heuristic members (random "
        "movers, heuristics) and engines (GnuGo, Pachi, KataGo, MCTS) apart; intervals "
        "clustered by game.</p><table><tr><th>member</th>"
        + "".join(f"<th>{html.escape(label)}</th>" for label in table)
        + "</tr>"
    ]
    for key in keys:
        cells = "".join(_clustered(row.get(key)) for row in table.values())
        parts.append(f"<tr><th>{html.escape(key)}</th>{cells}</tr>")
    parts.append("</table>")
    return parts


def markdown_table_html(lines: Sequence[str]) -> str:
    """HTML for the advice section's markdown: pipe tables as tables, other lines as
    paragraphs (headings as h3), every cell escaped."""
    out: list[str] = []
    rows: list[list[str]] = []

    def flush() -> None:
        if rows:
            head, *body = rows
            out.append(
                "<table><tr>"
                + "".join(f"<th>{html.escape(c)}</th>" for c in head)
                + "</tr>"
                + "".join(
                    "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>"
                    for row in body
                )
                + "</table>"
            )
            rows.clear()

    for line in lines:
        if line.startswith("|"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if not all(set(c) <= {"-", " "} for c in cells):
                rows.append(cells)
            continue
        flush()
        if line.startswith("### "):
            out.append(f"<h3>{html.escape(line[4:])}</h3>")
        elif line.strip():
            out.append(f"<p>{html.escape(line.lstrip('- '))}</p>")
    flush()
    return "\n".join(out)


def write_advice(results: AdviceResults, out_dir: Path) -> tuple[Path, Path]:
    """OUT/advice.md (the tables), OUT/advice.json (every number) and, when checkpoints
    were measured, OUT/advice.png for `crowdzero study --advice`; returns the first two."""
    out_dir.mkdir(parents=True, exist_ok=True)
    text = out_dir / "advice.md"
    data = out_dir / "advice.json"
    text.write_text("\n".join(advice_table(results)) + "\n", encoding="utf-8")
    data.write_text(plain_json(results) + "\n", encoding="utf-8")
    if results.checkpoints:
        figure = advice_figure(results)
        figure.savefig(out_dir / "advice.png", dpi=100, bbox_inches="tight")
        plt.close(figure)
    return text, data


def advice_figure(results: AdviceResults) -> plt.Figure:
    """Over training, per source: how often the agent plays the advice (top; its deaf
    twin dashed: the base rate) and the causal effect, follow minus blank, with 95%
    intervals (bottom), for the raw network and with search. The effect is the
    question; the follow rates show what it is measured against."""
    choosers = ["raw net"] + (["search"] if results.simulations > 0 else [])
    fig, axes = plt.subplots(
        2, len(choosers), figsize=(5.5 * len(choosers), 7), sharex=True, squeeze=False
    )
    tab10 = matplotlib.colormaps["tab10"]
    colours = {source: tab10(k) for k, source in enumerate(ADVICE_SOURCES)}

    def series(run: AdviceResults, column: int, source: str, kind: str) -> list[tuple]:
        points = []
        for checkpoint in run.checkpoints:
            rows = checkpoint.raw if column == 0 else checkpoint.search
            for rates in rows:
                estimate = getattr(rates, kind)
                if rates.source == source and not estimate.empty:
                    points.append((checkpoint.step, estimate))
        return points

    for column, chooser in enumerate(choosers):
        top, bottom = axes[0][column], axes[1][column]
        for source in ADVICE_SOURCES:
            colour = colours[source]
            follow = series(results, column, source, "follow")
            if not follow:
                continue
            top.plot(
                *zip(*[(x, e.value) for x, e in follow], strict=True),
                "o-",
                color=colour,
                label=source,
            )
            if results.twin is not None:
                deaf = series(results.twin, column, source, "follow")
                if deaf:
                    top.plot(
                        *zip(*[(x, e.value) for x, e in deaf], strict=True),
                        "s--",
                        color=colour,
                        alpha=0.6,
                        label=f"{source}, deaf twin",
                    )
            effect = series(results, column, source, "effect")
            xs = np.array([x for x, _ in effect], dtype=float)
            values = np.array([e.value for _, e in effect])
            errors = np.array(
                [[e.value - e.low for _, e in effect], [e.high - e.value for _, e in effect]]
            )
            bottom.errorbar(
                xs,
                values,
                yerr=np.nan_to_num(errors),
                fmt="o-",
                color=colour,
                capsize=3,
                label=source,
            )
        top.set_title(f"{chooser}: plays the advised move")
        top.set_ylabel("share of advised positions")
        top.set_ylim(0, 1)
        top.legend(fontsize="small")
        bottom.axhline(0, color="grey", linewidth=0.8)
        bottom.set_title(f"{chooser}: effect of hearing it (follow - blank)")
        bottom.set_ylabel("effect, 95% interval")
        bottom.set_xlabel("training step")
    fig.suptitle(
        f"Advice: {results.run} ({results.positions} positions from {results.games} games)"
    )
    fig.tight_layout()
    return fig


# -- terminal --------------------------------------------------------------------------


def _short(estimate: Estimate | None) -> str:
    if estimate is None or estimate.empty:
        return "n/a"
    return f"{estimate.value:.2f} [{estimate.low:.2f}, {estimate.high:.2f}]"


def _reference_section(results: StudyResults) -> list[str]:
    """KataGo's verdict on the out-of-the-box moves, or why there is none."""
    if not results.reference:
        return ["<p><small>KataGo did not judge these moves (see the notes).</small></p>"]
    rule = next(iter(results.reference.values()))
    parts = [
        "<h3>KataGo's verdict</h3>",
        f"<p><small>A blunder loses at least {rule.blunder_points:g} points of KataGo's "
        f"score lead or {rule.blunder_winrate:g} of its win probability (one network "
        "evaluation before and after the move). Other moves: a random sample of the "
        "agent's moves that some member would play.</small></p>",
        "<table><tr><th>agent</th><th>share of moves out of the box and not blunders</th>"
        "<th>blunders among out-of-the-box moves</th><th>blunders among other moves</th>"
        "<th>points lost, out of the box</th><th>points lost, other moves</th>"
        "<th>capped games adjudicated (winner changed)</th></tr>",
    ]
    for label, check in results.reference.items():
        parts.append(
            f"<tr><th>{html.escape(label)}</th>{_cell(check.sound_share)}"
            f"{_cell(check.novel_blunders)}{_cell(check.usual_blunders)}"
            f"{_cell(check.novel_points_lost, percent=False)}"
            f"{_cell(check.usual_points_lost, percent=False)}"
            f"<td>{check.adjudicated} ({check.flipped})</td></tr>"
        )
    parts.append("</table>")
    return parts


def print_summary(results: StudyResults, console: Console) -> None:
    """A few rich tables: pooled imitation and scores per agent, then the claims."""
    table = Table(title="crowdzero study (95% intervals)")
    table.add_column("agent")
    table.add_column("top-1 vs crowd")
    table.add_column("score vs crowd")
    table.add_column("novel moves")
    table.add_column("Brier (value)")
    table.add_column("Brier (after its move)")
    for label in results.agents:
        box = results.out_of_box.get(label)
        values = results.values.get(label)
        table.add_row(
            label,
            _short(results.imitation_top1.get(label, {}).get("all")),
            _short(results.exploitation.get(label, {}).get("all")),
            _short(box.share if box else None),
            _short(values.brier if values else None),
            _short(values.reply_brier if values else None),
        )
    console.print(table)
    verdicts = Table(title="claims")
    verdicts.add_column("verdict")
    verdicts.add_column("claim")
    colour = {"supported": "green", "contradicted": "red", "not supported": "yellow"}
    for claim in results.claims:
        style = colour.get(claim.verdict, "dim")
        verdicts.add_row(f"[{style}]{claim.verdict}[/]", claim.text)
    console.print(verdicts)
    if results.primary is not None and results.primary.decisions:
        primary = Table(title="primary claims (Holm over the five)")
        for column in ("verdict", "adjusted p", "games", "claim"):
            primary.add_column(column)
        for decision in results.primary.decisions:
            verdict = str(decision.verdict)
            primary.add_row(
                f"[{colour.get(verdict, 'dim')}]{verdict}[/]",
                f"{decision.adjusted_p:.3g}",
                str(decision.claim.games),
                f"{decision.claim.name}: {decision.claim.text}",
            )
        console.print(primary)
