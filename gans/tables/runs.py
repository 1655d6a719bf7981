"""Training a paper table's members through the sweep runner, and reading them back.

A table's cell is a sweep of one experiment file: the file's `get_config(arg)` with a
list of override dicts (usually `sweep.seeds(n)` merged with the cell's settings),
trained by gans.sweep.runner into WORKDIR/<cell>/<index>_<overrides>/, so members that
differ only in seed and numeric hyperparameters run as one vectorised program and a
second invocation resumes or reuses finished members.
"""

import os
import time

from gans import configs
from gans.sweep import definition
from gans.sweep import runner
from gans.train import loop

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def experiment(name, arg=''):
  """'ROOT/experiments/<name>.py[:arg]': the spec of an experiment file of this repository."""
  path = os.path.join(ROOT, 'experiments', f'{name}.py')
  return f'{path}:{arg}' if arg else path


def train(spec, overrides, workdir, base=None, vectorise=True, dataset=None):
  """Trains (or resumes, or reuses) the members `overrides` of experiment `spec` in `workdir`.

  Args:
    spec: 'path/to/experiment.py[:arg]'.
    overrides: list of {dotted config key: value}, one per member (gans.sweep helpers).
    workdir: the cell's sweep folder (members in workdir/<index>_<overrides>/).
    base: the config the overrides apply to (default: the file's get_config(arg)).
    vectorise: False trains every member alone (gans.sweep --sweep_sequential).
    dataset: a gans.data.Dataset instead of the config's (tests, built datasets).

  Returns:
    ([gans.sweep.definition.Member], wall seconds of this call: training, or the
    seconds spent finding the members finished).

  Raises:
    UserInputError: an override that is not a field or does not fit it (naming the key).
  """
  config = base if base is not None else configs.load_config_file(spec)
  start = time.time()
  runner.run(config, spec, workdir, vectorise=vectorise, dataset=dataset, overrides=overrides)
  return definition.members(spec, config, overrides), time.time() - start


def failed(member, workdir):
  """Whether the member stopped on a non-finite loss (its folder has failed.json)."""
  return definition.failed(member.workdir(workdir)) is not None


def restore(member, workdir, dataset=None):
  """(experiment, state) of a trained member's latest checkpoint (gans.train.loop.restore_latest).

  `dataset`: the gans.data.Dataset it trained on when not its config's. Raises
  MissingInputError when the member has no checkpoint.
  """
  exp = None
  if dataset is not None:
    from gans.train import experiment as experiment_lib  # pylint: disable=g-import-not-at-top

    exp = experiment_lib.build(member.config, dataset=dataset)
  return loop.restore_latest(member.config, member.workdir(workdir), exp=exp)
