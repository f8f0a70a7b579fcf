"""Training releases the GIL (other Python threads run meanwhile) and Ctrl-C stops it cleanly:
`KeyboardInterrupt`, with the posterior trained so far on the exception, and the model and the
interpreter ready for the next run."""

import os
import signal
import threading
import time

import numpy as np
import pytest

import lwflow
from conftest import TINY


class Ticker:
    """A thread counting as fast as the GIL lets it."""

    def __init__(self):
        self.ticks = 0
        self.stop = False
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        while not self.stop:
            self.ticks += 1

    def ticks_during(self, action):
        self.thread.start()
        time.sleep(0.05)
        before, start = self.ticks, time.perf_counter()
        result = action()
        ticks, seconds = self.ticks - before, time.perf_counter() - start
        self.stop = True
        self.thread.join()
        return result, ticks / seconds


def ticks_per_second_alone():
    t = Ticker()
    _, rate = t.ticks_during(lambda: time.sleep(0.3))
    return rate


@pytest.mark.parametrize("which", ["task", "python model"])
def test_other_threads_run_while_training(which, square_model):
    model = "square2d" if which == "task" else square_model
    alone = ticks_per_second_alone()
    settings = dict(TINY, steps=150)
    post, rate = Ticker().ticks_during(lambda: lwflow.train(model, progress=False, **settings))
    assert post.info["summary"]["steps_run"] == 150
    # Holding the GIL throughout would leave the ticker ~0; released, it gets a share of the CPU
    # (the training threads compete for the 2 cores, a NumPy likelihood for the GIL too).
    assert rate > 0.02 * alone, f"{rate:.0f} ticks/s while training, {alone:.0f} alone"


def test_sampling_releases_the_gil():
    post = lwflow.train("square2d", progress=False, **TINY)
    alone = ticks_per_second_alone()
    samples, rate = Ticker().ticks_during(lambda: post.sample([1.0, 2.0], 400_000))
    assert samples.shape == (400_000, 2)
    assert rate > 0.02 * alone, f"{rate:.0f} ticks/s while sampling, {alone:.0f} alone"


@pytest.mark.parametrize("which", ["task", "python model"])
def test_sigint_stops_training_with_keyboard_interrupt_and_keeps_the_posterior(which, square_model):
    model = "square2d" if which == "task" else square_model
    settings = dict(TINY, steps=1_000_000, time_limit=120.0)
    # Ctrl-C as a notebook or terminal has it: a process started in the background by a
    # non-interactive shell (e.g. `bash .ci/run &`) inherits SIGINT ignored, and Python then never
    # raises KeyboardInterrupt.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    timer = threading.Timer(1.5, lambda: os.kill(os.getpid(), signal.SIGINT))
    timer.start()
    start = time.perf_counter()
    try:
        with pytest.raises(KeyboardInterrupt) as info:
            lwflow.train(model, progress=False, **settings)
    finally:
        timer.cancel()
        signal.signal(signal.SIGINT, previous)
    assert time.perf_counter() - start < 60, "the interrupt must stop training promptly"
    post = info.value.posterior
    steps_run = post.info["summary"]["steps_run"]
    assert 1 <= steps_run < 1_000_000
    samples = post.sample([1.0, 2.0], 1000)
    assert np.isfinite(samples).all()
    # The model and the interpreter carry on.
    again = lwflow.train(model, progress=False, **TINY)
    assert again.info["summary"]["steps_run"] == TINY["steps"]
