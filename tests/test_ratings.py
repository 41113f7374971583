"""Bradley-Terry ratings, the calibration table and the agent's win rates."""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np
import pytest
from rich.console import Console

from crowdzero.analysis.calibration import (
    CalibrationError,
    CalibrationMissing,
    load_calibration,
    packaged_calibration_path,
    read_results_csv,
    write_results_csv,
)
from crowdzero.analysis.ratings import (
    DEFAULT_ANCHOR,
    PlayerRating,
    RatingError,
    fit_ratings,
    rate_games,
    rate_store,
    rating_results,
    ratings_main,
    seat_name,
)
from crowdzero.analysis.win_rates import (
    checkpoint_step,
    plot_win_rates,
    render_win_rate_matrix,
    win_rate_matrix,
    win_rate_matrix_from_games,
    win_rate_over_time_from_games,
)
from crowdzero.go.coords import BLACK, WHITE
from crowdzero.go.position import Rules
from crowdzero.play.record import Game
from crowdzero.store.game_store import GameStore, PairResult
from crowdzero.train.config import RunConfig
from crowdzero.train.run_dir import RunDir

TRUE = {"gnugo:10": 1800.0, "a": 1550.0, "b": 1700.0, "c": 1950.0, "d": 1400.0, "e": 1800.0}
ADVANTAGE = -40.0  # black's first-move advantage in Elo


def sample_results(
    rng: np.random.Generator, true: dict[str, float], games: int, advantage: float = ADVANTAGE
) -> list[PairResult]:
    """`games` games for every ordered pair, drawn from the Bradley-Terry model."""
    rows = []
    for black, rb in true.items():
        for white, rw in true.items():
            if black == white:
                continue
            p = 1.0 / (1.0 + 10.0 ** (-(rb - rw + advantage) / 400.0))
            black_wins = int(rng.binomial(games, p))
            rows.append(PairResult(black, white, black_wins, games - black_wins, 0))
    return rows


def width(row: PlayerRating) -> float:
    """Width of a rated player's 95% interval, in Elo."""
    assert row.low is not None and row.high is not None
    return row.high - row.low


def game(
    black: str,
    white: str,
    winner: int,
    *,
    agent_colour: int = 0,
    checkpoint: str | None = None,
    size: int = 9,
    result: str | None = None,
) -> Game:
    if result is None:
        result = {BLACK: "B+R", WHITE: "W+R", 0: "0"}[winner]
    return Game(
        rules=Rules(size=size),
        black=black,
        white=white,
        moves=(),
        result=result,
        winner=winner,
        date="2025-01-01",
        agent_colour=agent_colour,
        checkpoint=checkpoint,
    )


# -- the fit -----------------------------------------------------------------------------


def test_synthetic_ratings_are_recovered_within_their_95_percent_intervals() -> None:
    rng = np.random.default_rng(7)
    covered = total = advantage_covered = 0
    replications = 200
    for _ in range(replications):
        table = fit_ratings(sample_results(rng, TRUE, games=10))
        for row in table.rows:
            if row.name == DEFAULT_ANCHOR:
                continue
            assert row.low is not None and row.high is not None
            total += 1
            covered += row.low <= TRUE[row.name] <= row.high
        advantage_covered += table.first_move_low <= ADVANTAGE <= table.first_move_high
    assert total == replications * (len(TRUE) - 1)
    assert 0.93 <= covered / total <= 0.97
    assert 0.92 <= advantage_covered / replications <= 0.98


def test_many_games_pin_the_ratings_down() -> None:
    table = fit_ratings(sample_results(np.random.default_rng(1), TRUE, games=400))
    for name, rating in TRUE.items():
        assert table.rating(name) == pytest.approx(rating, abs=25)
    assert table.first_move_advantage == pytest.approx(ADVANTAGE, abs=15)


def test_anchor_is_fixed_with_a_zero_width_interval() -> None:
    table = fit_ratings(sample_results(np.random.default_rng(2), TRUE, games=10))
    anchor = table[DEFAULT_ANCHOR]
    assert table.anchor == DEFAULT_ANCHOR
    assert anchor.rating == anchor.low == anchor.high == 1800.0
    assert table.note == ""


def test_an_explicit_anchor_and_rating_shift_everyone_by_the_same_amount() -> None:
    results = sample_results(np.random.default_rng(3), TRUE, games=20)
    default = fit_ratings(results)
    moved = fit_ratings(results, anchor="a", anchor_rating=1000.0)
    assert moved.rating("a") == 1000.0
    shift = 1000.0 - (default.rating("a") or 0.0)
    for name in TRUE:
        assert moved.rating(name) == pytest.approx((default.rating(name) or 0.0) + shift, abs=1e-6)


def test_an_anchor_that_never_played_is_an_error() -> None:
    with pytest.raises(RatingError, match="nobody"):
        fit_ratings([PairResult("a", "b", 1, 1, 0)], anchor="nobody")


def test_no_games_is_an_error() -> None:
    with pytest.raises(RatingError, match="no decided games"):
        fit_ratings([PairResult("a", "b", 0, 0, 0)])


def test_mirror_image_records_give_mirror_image_ratings() -> None:
    # a and b each beat the anchor 7 of 10 games with each colour; c and d each lose 7.
    rows = []
    for strong, weak in (("a", "c"), ("b", "d")):
        for colour_first in (True, False):
            rows.append(
                PairResult(strong, "gnugo:10", 7, 3, 0)
                if colour_first
                else PairResult("gnugo:10", strong, 3, 7, 0)
            )
            rows.append(
                PairResult(weak, "gnugo:10", 3, 7, 0)
                if colour_first
                else PairResult("gnugo:10", weak, 7, 3, 0)
            )
    table = fit_ratings(rows)
    a, b, c, d = (table.rating(n) or 0.0 for n in "abcd")
    assert a == pytest.approx(b, abs=1e-6)
    assert c == pytest.approx(d, abs=1e-6)
    assert a - 1800.0 == pytest.approx(1800.0 - c, abs=1e-6)
    assert table.first_move_advantage == pytest.approx(0.0, abs=1e-6)
    assert width(table["a"]) == pytest.approx(width(table["c"]), abs=1e-6)


def test_only_draws_against_the_anchor_rate_a_player_equal_to_it() -> None:
    table = fit_ratings(
        [PairResult("x", "gnugo:10", 0, 0, 5), PairResult("gnugo:10", "x", 0, 0, 5)]
    )
    assert table.rating("x") == pytest.approx(1800.0, abs=1e-6)
    assert table["x"].draws == 10 and table["x"].games == 10


def test_players_with_no_path_to_the_anchor_are_listed_unrated() -> None:
    rows = [
        PairResult("a", "gnugo:10", 5, 5, 0),
        PairResult("island-1", "island-2", 3, 2, 0),
        PairResult("island-2", "island-1", 1, 4, 0),
    ]
    table = fit_ratings(rows)
    assert {row.name for row in table.rows} == {"a", "gnugo:10"}
    assert [row.name for row in table.unrated] == ["island-1", "island-2"]
    island = table["island-1"]
    assert island.rating is None and island.low is None
    assert (island.games, island.wins, island.losses) == (10, 7, 3)


def test_a_perfect_record_gets_a_finite_rating_above_everyone_it_beat() -> None:
    rows = sample_results(np.random.default_rng(4), TRUE, games=10)
    rows += [PairResult("champion", name, 10, 0, 0) for name in TRUE]
    rows += [PairResult(name, "champion", 0, 10, 0) for name in TRUE]
    table = fit_ratings(rows)
    champion = table["champion"]
    assert champion.rating is not None and math.isfinite(champion.rating)
    assert table.rows[0].name == "champion"
    assert champion.rating > max(TRUE.values()) + 200
    assert champion.high is not None and math.isfinite(champion.high)


def test_a_player_who_lost_its_only_game_is_rated_below_with_a_wide_interval() -> None:
    rows = sample_results(np.random.default_rng(5), TRUE, games=20)
    rows.append(PairResult("newcomer", "a", 0, 1, 0))
    table = fit_ratings(rows)
    newcomer = table["newcomer"]
    assert newcomer.games == 1 and newcomer.losses == 1
    assert newcomer.rating is not None and newcomer.rating < TRUE["a"]
    assert width(newcomer) > 3 * width(table["b"])


def test_black_winning_every_game_still_gives_a_finite_first_move_advantage() -> None:
    table = fit_ratings(
        [PairResult("a", "gnugo:10", 5, 0, 0), PairResult("gnugo:10", "a", 5, 0, 0)]
    )
    assert table.rating("a") == pytest.approx(1800.0, abs=1e-6)
    assert 0 < table.first_move_advantage < math.inf


def test_without_the_prior_a_perfect_record_is_refused_not_given_a_huge_number() -> None:
    with pytest.raises(RatingError, match="infinite"):
        fit_ratings([PairResult("a", "gnugo:10", 3, 0, 0)], prior_draws=0.0)


def test_games_against_oneself_count_in_no_record_and_only_move_the_advantage() -> None:
    base = [PairResult("a", "gnugo:10", 3, 3, 0), PairResult("gnugo:10", "a", 3, 3, 0)]
    table = fit_ratings([*base, PairResult("a", "a", 40, 10, 0)])
    assert (table["a"].games, table["a"].wins) == (12, 6)
    assert table.rating("a") == pytest.approx(1800.0, abs=1e-6)
    assert table.first_move_advantage > 100
    with pytest.raises(RatingError, match="two different players"):
        fit_ratings([PairResult("a", "a", 4, 1, 0)])


def test_without_gnugo_10_the_strongest_player_is_the_anchor_and_the_table_says_so() -> None:
    true = {"weak": 1200.0, "mid": 1500.0, "strong": 1900.0}
    table = fit_ratings(sample_results(np.random.default_rng(6), true, games=50))
    assert table.anchor == "strong"
    assert table.rows[0].name == "strong" and table.rows[0].rating == 1800.0
    assert "strong" in table.note and DEFAULT_ANCHOR in table.note


def test_rows_of_the_same_pair_are_summed() -> None:
    split = fit_ratings(
        [PairResult("a", "gnugo:10", 3, 1, 0), PairResult("a", "gnugo:10", 2, 4, 0)]
    )
    whole = fit_ratings([PairResult("a", "gnugo:10", 5, 5, 0)])
    assert split.rating("a") == pytest.approx(whole.rating("a") or 0.0)
    assert split["a"].games == 10


# -- games from a store ------------------------------------------------------------------


def test_the_agent_is_rated_once_per_checkpoint() -> None:
    early = game("agent", "random", BLACK, agent_colour=BLACK, checkpoint="run@10")
    late = game("gnugo:3", "agent", BLACK, agent_colour=WHITE, checkpoint="run@20")
    assert seat_name(early, BLACK) == "run@10" and seat_name(early, WHITE) == "random"
    assert seat_name(late, WHITE) == "run@20" and seat_name(late, BLACK) == "gnugo:3"
    results = rating_results([early, late])
    assert PairResult("run@10", "random", 1, 0, 0) in results
    assert PairResult("gnugo:3", "run@20", 1, 0, 0) in results


def test_void_games_and_other_board_sizes_are_left_out() -> None:
    games = [
        game("a", "gnugo:10", BLACK),
        game("a", "gnugo:10", 0, result="Void"),
        game("a", "gnugo:10", WHITE, size=13),
    ]
    assert rating_results(games, board_size=9) == [PairResult("a", "gnugo:10", 1, 0, 0)]


def test_rate_store_combines_stored_games_and_stays_anchored(tmp_path: Path) -> None:
    with GameStore(tmp_path / "games.sqlite") as store:
        store.add_games(
            [game("agent", "gnugo:10", WHITE, agent_colour=BLACK, checkpoint="r@5")] * 3
            + [game("gnugo:10", "agent", WHITE, agent_colour=WHITE, checkpoint="r@5")] * 3
        )
        table = rate_store(store, calibration=False)
    assert table.anchor == DEFAULT_ANCHOR
    assert table["r@5"].games == 6 and table["r@5"].wins == 3
    assert "agent" not in table


# -- the calibration table ---------------------------------------------------------------


def test_results_csv_round_trips(tmp_path: Path) -> None:
    rows = [PairResult("gnugo:3", "random", 9, 1, 0), PairResult("random", "gnugo:3", 0, 9, 1)]
    path = tmp_path / "table.csv"
    write_results_csv(rows, path)
    assert sorted(read_results_csv(path), key=lambda r: r.black) == sorted(
        rows, key=lambda r: r.black
    )
    assert load_calibration(path=path) == read_results_csv(path)


def test_a_malformed_calibration_table_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("black,white,black_wins\na,b,1\n")
    with pytest.raises(CalibrationError, match="white_wins"):
        read_results_csv(path)
    path.write_text("black,white,black_wins,white_wins,draws\na,b,1,-2,0\n")
    with pytest.raises(CalibrationError, match="line 2"):
        read_results_csv(path)


def test_a_board_size_without_a_table_says_how_to_make_one() -> None:
    with pytest.raises(CalibrationMissing, match=r"calibrate_crowd\.py --size 17"):
        load_calibration(17)


def test_the_shipped_9x9_table_links_every_member_to_gnugo_10() -> None:
    if not packaged_calibration_path(9).is_file():
        pytest.skip("crowd_calibration_9x9.csv has not been generated yet")
    results = load_calibration(9)
    table = fit_ratings(results)
    assert table.anchor == DEFAULT_ANCHOR
    assert table.unrated == ()
    names = {name for row in results for name in (row.black, row.white)}
    assert {"random", "gnugo:0", "gnugo:10"} <= names
    # Sanity of the scale: a random mover is far below GnuGo 10, GnuGo 0 below 10.
    assert (table.rating("random") or 0.0) < (table.rating("gnugo:0") or 0.0) < 1800.0


def test_with_the_calibration_an_agent_that_only_met_gnugo_3_is_on_the_gnugo_10_scale() -> None:
    if not packaged_calibration_path(9).is_file():
        pytest.skip("crowd_calibration_9x9.csv has not been generated yet")
    games = [game("agent", "gnugo:3", BLACK, agent_colour=BLACK, checkpoint="r@1")] * 2
    games += [game("gnugo:3", "agent", BLACK, agent_colour=WHITE, checkpoint="r@1")] * 2
    table = rate_games(games)
    assert table.anchor == DEFAULT_ANCHOR
    assert table.rating("r@1") == pytest.approx(table.rating("gnugo:3") or 0.0, abs=60)


# -- win rates ---------------------------------------------------------------------------


def crowd_games() -> list[Game]:
    """The agent (checkpoints run@0, run@100) against random and gnugo:5, plus noise."""
    out = []
    for step, wins_vs_random, wins_vs_gnugo in ((0, 2, 0), (100, 4, 1)):
        label = f"run@{step}"
        for k in range(4):
            won = k < wins_vs_random
            out.append(
                game(
                    "agent", "random", BLACK if won else WHITE, agent_colour=BLACK, checkpoint=label
                )
            )
            won = k < wins_vs_gnugo
            out.append(
                game(
                    "gnugo:5",
                    "agent",
                    WHITE if won else BLACK,
                    agent_colour=WHITE,
                    checkpoint=label,
                )
            )
    out.append(game("agent", "agent", BLACK, agent_colour=2, checkpoint="run@100"))  # self-play
    out.append(game("random", "gnugo:5", WHITE))  # no agent
    out.append(game("agent", "random", 0, agent_colour=BLACK, checkpoint="run@100"))  # jigo
    return out


def test_win_rate_matrix_counts_the_agents_results_by_checkpoint_and_opponent() -> None:
    matrix = win_rate_matrix_from_games(crowd_games())
    assert matrix.checkpoints == ("run@0", "run@100")
    assert matrix.opponents == ("random", "gnugo:5")  # best score first
    early = matrix.cell("run@0", "random")
    assert (early.wins, early.losses, early.draws) == (2, 2, 0)
    late = matrix.cell("run@100", "random")
    assert (late.wins, late.losses, late.draws) == (4, 0, 1)
    assert late.score == pytest.approx(4.5 / 5)
    assert matrix.cell("run@100", "gnugo:5").wins == 1
    assert matrix.opponent_total("gnugo:5").games == 8
    assert matrix.games == 17  # self-play and the crowd-only game are not the agent's


def test_win_rate_matrix_rows_sort_by_step_not_text() -> None:
    games = [
        game("agent", "random", BLACK, agent_colour=BLACK, checkpoint=f"run@{step}")
        for step in (1000, 20, 300)
    ]
    assert win_rate_matrix_from_games(games).checkpoints == ("run@20", "run@300", "run@1000")
    assert checkpoint_step("crowd-9x9@250") == 250 and checkpoint_step("agent") is None


def test_rendered_matrix_shows_every_checkpoint_and_opponent() -> None:
    console = Console(file=io.StringIO(), width=200, color_system=None)
    console.print(render_win_rate_matrix(win_rate_matrix_from_games(crowd_games())))
    text = console.file.getvalue()  # type: ignore[attr-defined]
    for label in ("run@0", "run@100", "random", "gnugo:5", "90%"):
        assert label in text


def test_win_rate_over_time_by_step_and_by_games() -> None:
    by_step = win_rate_over_time_from_games(crowd_games(), by="step")
    assert [p.x for p in by_step["random"].points] == [0, 100]
    assert [p.score for p in by_step["random"].points] == [0.5, 0.9]
    by_games = win_rate_over_time_from_games(crowd_games(), by="games", bin_games=3)
    assert [p.record.games for p in by_games["gnugo:5"].points] == [3, 3, 2]
    assert by_games["gnugo:5"].points[-1].x == 16  # the 16th agent game was its last
    with pytest.raises(ValueError, match="by must be"):
        win_rate_over_time_from_games([], by="moon")  # type: ignore[arg-type]


def test_plot_win_rates_writes_a_png(tmp_path: Path) -> None:
    with GameStore(tmp_path / "games.sqlite") as store:
        store.add_games(crowd_games())
        assert win_rate_matrix(store).games == 17
        path = plot_win_rates(store, tmp_path / "win_rates.png", bin_games=2)
        empty = plot_win_rates(GameStore(tmp_path / "empty.sqlite"), tmp_path / "empty.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert empty.stat().st_size > 0


# -- the command -------------------------------------------------------------------------


def test_ratings_main_prints_ratings_and_win_rates_for_a_run(tmp_path: Path) -> None:
    run = RunDir.create(tmp_path / "crowd-9x9", RunConfig())
    with run.open_store() as store:
        store.add_games(crowd_games())
        store.add_games([game("gnugo:5", "gnugo:10", WHITE), game("gnugo:10", "gnugo:5", BLACK)])
    out = io.StringIO()
    code = ratings_main(run.path, Console(file=out, width=200, color_system=None))
    text = out.getvalue()
    assert code == 0
    for label in ("Ratings", "run@100", "gnugo:10", "1800", "win rate"):
        assert label in text


def test_ratings_main_fails_clearly_without_a_run(tmp_path: Path) -> None:
    out, err = io.StringIO(), io.StringIO()
    assert ratings_main(tmp_path / "nothing", Console(file=out), Console(file=err)) == 2
    assert out.getvalue() == ""
    assert "no run" in err.getvalue() and len(err.getvalue().splitlines()) == 1


def test_ratings_main_says_nothing_to_rate_on_stderr(tmp_path: Path) -> None:
    """A run without games: one line on the error console, nothing on stdout, exit 2
    (the message used to go to stdout)."""
    run = RunDir.create(tmp_path / "r", RunConfig())
    out, err = io.StringIO(), io.StringIO()
    assert ratings_main(run.path, Console(file=out), Console(file=err)) == 2
    assert out.getvalue() == ""
    assert "has no games yet; nothing to rate" in err.getvalue()
    assert len(err.getvalue().splitlines()) == 1
