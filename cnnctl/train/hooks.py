"""Hooks the tests install on the training loop, so that the loop itself holds no test code.

A hook is called after every training step with the steps this process has taken; it may
end the process (a worker dying without warning) or return True to stop the run as a
Ctrl-C would: the loop saves last.pt at that step and returns.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

from .world import World

StepHook = Callable[[int], bool]  # steps taken by this process -> stop the run now


def stop_after(steps: int) -> StepHook:
    """Behave as if Ctrl-C came after `steps` steps."""
    return lambda taken: taken >= steps


def fault_from_env(world: World) -> StepHook | None:
    """CNNCTL_TEST_FAULT=RANK:STEP makes that worker die at that step of the first attempt,
    for the test of torchrun's restart (a subprocess, which only the environment reaches);
    never set outside the tests."""
    rank, _, step = os.environ.get("CNNCTL_TEST_FAULT", "").partition(":")
    if not (rank.isdigit() and step.isdigit() and int(rank) == world.rank and world.restarts == 0):
        return None

    def die(taken: int) -> bool:
        if taken == int(step):
            os._exit(1)  # no cleanup, no message: as a killed worker
        return False

    return die


def slow_from_env() -> StepHook | None:
    """CNNCTL_TEST_SLOW=SECONDS makes each step of every worker take that much longer, for the
    tests of a time-based --save-every across workers (a subprocess, which only the environment
    reaches): steps of known length, not the machine's; never set outside the tests."""
    seconds = os.environ.get("CNNCTL_TEST_SLOW", "")
    if not seconds.replace(".", "", 1).isdigit():
        return None

    def sleep(_taken: int) -> bool:
        time.sleep(float(seconds))
        return False

    return sleep
