"""`launch.py --sweep`: trains the groups of a sweep (all, or the one --sweep_index names).

WORKDIR/sweep.json lists every member (index, folder name, overrides, group) and every
group; each member folder gets sweep_member.json (its index, name and overrides) and
then the usual contents of a run. A vectorised group trains with
gans.sweep.vectorised on one process; a group of one member, a family other than
`gan`, members that differ in shape, and every group of a multi-process run
(jax.distributed: one member at a time over all hosts) train as normal runs, one
after the other, with gans.train.loop.train. Either way a member whose loss becomes
non-finite stops alone (its last checkpoint kept, WORKDIR/<member>/failed.json
written) and is skipped when the sweep runs again; the other members train on.
"""

import json
import os

from absl import logging
import jax
import numpy as np

from gans import errors
from gans import eval as eval_lib
from gans import files
from gans.sweep import definition
from gans.sweep import vectorised
from gans.train import experiment as experiment_lib
from gans.train import loop

INDEX_ENV = 'SLURM_ARRAY_TASK_ID'  # The group to run when --sweep_index is not given.


def sweep_index(index, num_groups, environ=None):
  """The group to run: `index`, else $SLURM_ARRAY_TASK_ID, else None (every group).

  Raises UserInputError naming the flag or variable when it is not an integer in
  [0, num_groups).
  """
  environ = os.environ if environ is None else environ
  source = '--sweep_index'
  if index is None and environ.get(INDEX_ENV, '').strip():
    source, index = INDEX_ENV, environ[INDEX_ENV].strip()
    try:
      index = int(index)
    except ValueError:
      raise errors.UserInputError(f'{INDEX_ENV}={index!r} is not an integer.') from None
  if index is not None and not 0 <= int(index) < num_groups:
    groups = f'{num_groups} group' + ('s' if num_groups != 1 else '')
    raise errors.UserInputError(
      f'{source}={index}: the sweep has {groups} (0 to {num_groups - 1}); '
      f'see the groups in the log or WORKDIR/{definition.SWEEP_FILE}.'
    )
  return None if index is None else int(index)


def describe(sweep_groups, spec):
  """The JSON-able listing of sweep.json."""
  return dict(
    experiment=spec,
    members=[
      dict(index=m.index, name=m.name, overrides=m.overrides, group=g.index)
      for g in sweep_groups
      for m in g.members
    ],
    groups=[
      dict(index=g.index, vectorised=g.vectorised, members=[m.index for m in g.members])
      for g in sweep_groups
    ],
  )


def _write_json(path, value):
  with files.atomic_open(path, 'w') as f:
    json.dump(value, f, indent=1, sort_keys=True, default=repr)
    f.write('\n')


def run(
  config, spec, workdir, index=None, vectorise=True, sweep_devices=0, dataset=None, overrides=None
):
  """Trains the sweep of experiment `spec` ('path[:arg]', its get_sweep) over `config`.

  `index`: run only that group (see sweep_index); `vectorise` False trains every member
  as its own run; `sweep_devices`: devices of the 'sweep' mesh axis (0: automatic);
  `dataset` overrides the config's (tests); `overrides`: the members' override dicts
  instead of the file's get_sweep (gans.tables). Every member's config is checked before
  anything is written. Returns {member index: final state (host arrays)} of the groups
  run. Raises UserInputError naming the file and key for a bad get_sweep.
  """
  sweep_members = definition.members(spec, config, overrides)
  for m in sweep_members:
    try:
      experiment_lib.validate(m.config)
    except errors.UserInputError as e:
      raise errors.UserInputError(f'sweep member {m.name}: {errors.one_line(e)}') from e
  sweep_groups = definition.groups(sweep_members, vectorise=vectorise)
  for g in sweep_groups:
    logging.info(
      'Sweep group %d: %s %s',
      g.index,
      'vectorised' if g.vectorised else 'alone',
      ', '.join(m.name for m in g.members),
    )
  index = sweep_index(index, len(sweep_groups))
  main = jax.process_index() == 0
  if main:
    os.makedirs(workdir, exist_ok=True)
    _write_json(os.path.join(workdir, definition.SWEEP_FILE), describe(sweep_groups, spec))
  selected = sweep_groups if index is None else [sweep_groups[index]]
  out = {}
  for g in selected:
    if main:
      for m in g.members:
        os.makedirs(m.workdir(workdir), exist_ok=True)
        _write_json(
          os.path.join(m.workdir(workdir), definition.MEMBER_FILE),
          dict(index=m.index, name=m.name, overrides=m.overrides, experiment=spec),
        )
    if g.vectorised and jax.process_count() == 1:
      logging.info('Training sweep group %d (%d members, vectorised).', g.index, len(g.members))
      final = vectorised.train(
        g.members, workdir, dataset=dataset, hooks=eval_lib.hooks, sweep_devices=sweep_devices
      )
      out.update({m.index: vectorised.unstack(final, i) for i, m in enumerate(g.members)})
      all_failed = all(definition.failed(m.workdir(workdir)) for m in g.members)
      if not all_failed and _stopped(final, g.members[0].config):
        return out
      continue
    for m in g.members:
      member_dir = m.workdir(workdir)
      if definition.failed_earlier(m.name, member_dir):
        continue
      logging.info('Training sweep member %s (group %d).', m.name, g.index)
      try:
        state = loop.train(m.config, member_dir, dataset=dataset, hooks=eval_lib.hooks(m.config))
      except loop.NonFiniteLossError as e:
        # As in a vectorised group: the member stops alone, the sweep goes on.
        logging.warning('Sweep member %s: %s', m.name, e)
        if main:
          definition.mark_failed(member_dir, e.step, str(e))
        continue
      out[m.index] = jax.device_get(state)
      if _stopped(state, m.config):
        return out
  return out


def _stopped(state, config):
  """True when training returned before `config.total_steps`: the loop was stopped by
  SIGTERM / SIGINT (its checkpoint saved), so the sweep stops too rather than going on
  to the next member or group; running the command again resumes it."""
  steps = np.asarray(jax.device_get(state.step)).reshape(-1)
  if int(steps.min()) < int(config.total_steps):
    logging.info('Sweep stopped at step %d; run the same command again to resume.', steps.min())
    return True
  return False
