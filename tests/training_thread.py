"""A training run on a background thread, for the tests that act on a run while it trains
(a person's web game, a killed engine, a killed worker) and must not leave it running."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from crowdzero.train.training_run import TrainingRun


@contextmanager
def training_in_background(run: TrainingRun, stop_within: float) -> Iterator[threading.Thread]:
    """Run `run` on a daemon thread for the body of the `with`; then ask it to stop and
    fail unless it has stopped within `stop_within` seconds, so a run that hangs on its way
    out is a failure here, not a stray thread in the next test."""
    trainer = threading.Thread(target=run.run, daemon=True)
    trainer.start()
    try:
        yield trainer
    finally:
        run.request_stop("test over")
        trainer.join(stop_within)
    assert not trainer.is_alive(), f"the run did not stop within {stop_within} s"


def wait_while_training(
    done: Callable[[], bool], trainer: threading.Thread, deadline: float, what: str
) -> None:
    """Poll `done` until it holds; fail if the training thread stops or `deadline`
    (a `time.monotonic()` value) passes first, saying `what` never happened."""
    while not done():
        assert trainer.is_alive(), "training stopped"
        assert time.monotonic() < deadline, what
        time.sleep(0.2)
