"""The twin report recomputes claims 1-4 from a study store alone."""

from __future__ import annotations

from pathlib import Path

from test_flaws import game_of

from crowdzero.analysis.inference import Verdict
from crowdzero.analysis.study.twin_report import (
    TRAINING_AGENT,
    build_report,
    exploit_in_training,
    main,
    newest_agents,
    read_games,
)
from crowdzero.play.record import Game
from crowdzero.store.game_store import GameStore

FLAWED = "flawed:pass-back:gnugo:3"
TWIN = "gnugo:3"
CROWD, SELF = "crowd-agent@900", "self-agent@800"

# White passes after one stone each and wins by komi (the pass-back exploit) ...
EXPLOITED = game_of(7, "D4 C3 E5 pass pass", komi=7.5, finish=False)
# ... and a game played out, won by Black (reverse komi).
PLAYED = game_of(7, "D4 C3 E5 C4 D5 C5 E4 B4 D3 C2 E3 B3 pass pass", komi=-0.5, finish=False)


def seat(game: Game, black: str, white: str) -> Game:
    return Game(**{**game.__dict__, "black": black, "white": white})


def study_games() -> list[Game]:
    games = []
    for k in range(30):
        # The crowd agent exploits the flawed member as White and beats it as Black.
        games.append(seat(EXPLOITED, FLAWED, CROWD) if k % 2 else seat(PLAYED, CROWD, FLAWED))
        # Against the twin (and self-play everywhere) it wins only as Black.
        games.append(seat(PLAYED, TWIN, CROWD) if k % 2 else seat(PLAYED, CROWD, TWIN))
        games.append(seat(PLAYED, FLAWED, SELF) if k % 2 else seat(PLAYED, SELF, FLAWED))
        games.append(seat(PLAYED, TWIN, SELF) if k % 2 else seat(PLAYED, SELF, TWIN))
    games.append(seat(PLAYED, "self-agent@100", TWIN))  # an older checkpoint: ignored
    return games


def test_newest_agents_reads_the_study_names() -> None:
    assert newest_agents(study_games()) == {"crowd": CROWD, "self": SELF}


def test_claims_from_a_study_where_the_crowd_agent_exploits_pass_back() -> None:
    report = build_report(study_games(), ["random", FLAWED], [TWIN])
    (row,) = report.exploitation
    assert row["did"] == 0.5 and row["agent_trigger_rate"] == 0.5
    assert report.early_passes["crowd"] == (15, 30) and report.early_passes["self"] == (0, 30)
    verdicts = {d.claim.name: d.verdict for d in report.decisions}
    assert verdicts["claim 1"] is Verdict.SUPPORTED
    assert verdicts["claim 2"] is Verdict.TOO_FEW_GAMES  # no imitation agent here
    assert verdicts["claim 3"] is Verdict.SUPPORTED
    assert verdicts["claim 4"] is Verdict.SUPPORTED


def test_the_command_reads_only_the_store(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "games.sqlite"
    with GameStore(path) as store:
        store.add_games(study_games(), source="study")
    crowd = tmp_path / "crowd.toml"
    crowd.write_text(
        '[study]\nheld_out = ["gnugo:3"]\n'
        '[[member]]\nname = "random"\nspec = "random"\nweight = 1.0\n'
        f'[[member]]\nname = "{FLAWED}"\nspec = "{FLAWED}"\nweight = 1.0\n'
    )
    assert main([str(path), "--crowd", str(crowd), "--json", str(tmp_path / "t.json")]) == 0
    out = capsys.readouterr().out
    assert "claim 1: supported" in out and (tmp_path / "t.json").exists()


def test_member_games_are_read_from_the_recording_format() -> None:
    recorded = Path(__file__).parent / "data" / "twin_games_7x7.jsonl.gz"
    games = read_games(recorded)
    report = build_report(games, ["gnugo:3", "heuristic:plain"], [])
    assert report.members_early_passes is None
    shown = build_report(study_games(), [FLAWED], [TWIN], member_games=games)
    assert shown.members_early_passes == {FLAWED: (0, 0)}


def test_the_exploit_over_training_is_counted_stretch_by_stretch() -> None:
    agent = TRAINING_AGENT
    # First half: the agent exploits the flawed member twice (as White) and passes early
    # once against the twin, which plays on (a pass that is no exploit); second half:
    # it plays every game out.
    gave_up = game_of(7, "D4 pass E5 C3 pass", komi=7.5, finish=False)
    first = [seat(EXPLOITED, FLAWED, agent), seat(EXPLOITED, FLAWED, agent)]
    first += [seat(gave_up, agent, TWIN), seat(PLAYED, agent, FLAWED)]
    second = [seat(PLAYED, agent, FLAWED), seat(PLAYED, TWIN, agent)] * 2
    both = seat(PLAYED, agent, agent)  # a self-play game: no member, not counted
    rows = exploit_in_training([*first, both, *second], [FLAWED], stretches=2)
    assert rows == [
        {"first_game": 0, "games": 4, "early_pass": 3, "against_flawed": 3,
         "against_flawed_early_pass": 2, "exploit_won": 2},
        {"first_game": 4, "games": 4, "early_pass": 0, "against_flawed": 2,
         "against_flawed_early_pass": 0, "exploit_won": 0},
    ]  # fmt: skip
    report = build_report(study_games(), [FLAWED], [TWIN], training_games=[*first, *second])
    assert report.training_exploit is not None and len(report.training_exploit) == 4
