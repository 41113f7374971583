"""Shared fixtures: the real GnuGo binary for the tests that talk to it."""

from __future__ import annotations

import pytest

from crowdzero.players.gtp_player import find_gnugo


@pytest.fixture(scope="session")
def gnugo_path() -> str:
    """Path of gnugo (on PATH or Debian's /usr/games/gnugo); skips only if absent."""
    path = find_gnugo()
    if path is None:
        pytest.skip("gnugo is not installed (not on PATH and not at /usr/games/gnugo)")
    return path
