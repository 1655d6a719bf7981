"""Command-line tools; shared argument parsing and training of the runs they measure."""

import argparse
import time

from gans.train import checkpoint as checkpoint_lib
from gans.train import loop


def int_at_least(minimum):
  """argparse `type` for an integer >= minimum (ArgumentTypeError otherwise)."""

  def parse(text):
    try:
      value = int(text)
    except ValueError:
      raise argparse.ArgumentTypeError(f'{text!r} is not an integer') from None
    if value < minimum:
      raise argparse.ArgumentTypeError(f'{value} is below {minimum}')
    return value

  return parse


class Stopped(Exception):
  """A run the tool trains stopped before total_steps (SIGTERM / SIGINT: checkpoint saved)."""


def train_to_end(config, workdir, hooks=None):
  """Trains the run in `workdir` (resuming it) to config.total_steps.

  Returns the minutes it took, or None when the run's latest checkpoint is already at
  total_steps (reused, not trained). Raises Stopped when the loop returns early (a signal: it saved a checkpoint), so a
  tool never measures an unfinished run or goes on to the next one; running the same
  command again resumes it.
  """
  ckpts = checkpoint_lib.Checkpoints(workdir)
  done = ckpts.latest_step() == config.total_steps
  ckpts.close()
  if done:
    return None
  start = time.time()
  state = loop.train(config, workdir, hooks=hooks)
  step = int(state.step)
  if step < config.total_steps:
    raise Stopped(
      f'{workdir}: training stopped at step {step} of {config.total_steps} (checkpoint '
      'saved); run the same command again to resume.'
    )
  return (time.time() - start) / 60
