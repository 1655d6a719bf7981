"""Orbax checkpoints of the whole train state plus the data position.

Each checkpoint holds two items: 'state' (the TrainState pytree) and 'meta' (JSON:
step, data position, and the shape of every array, used to refuse a workdir whose
checkpoint does not fit the config before anything is overwritten).
"""

import os

import jax
import orbax.checkpoint as ocp

from gans import errors


def shapes_of(tree):
  """{'models/generator/params/up0/kernel': [4, 4, 256, 128], ...} for every array."""
  flat = jax.tree_util.tree_flatten_with_path(tree)[0]
  return {jax.tree_util.keystr(path, simple=True, separator='/'): list(x.shape) for path, x in flat}


class CheckpointMismatchError(errors.UserInputError):
  """The checkpoint was made with another architecture than the config's."""


class Checkpoints:
  """Saves and restores (state, data position) under `workdir/checkpoints`.

  Nothing is created until the first save, so reading a workdir (--mode sample, eval)
  never adds a folder to it.
  """

  def __init__(self, workdir, keep=3):
    self.directory = os.path.abspath(os.path.join(workdir, 'checkpoints'))
    self.manager = ocp.CheckpointManager(
      self.directory,
      options=ocp.CheckpointManagerOptions(
        max_to_keep=keep, create=False, enable_async_checkpointing=False
      ),
      item_names=('state', 'meta'),
    )

  def latest_step(self):
    return self.manager.latest_step()

  def save(self, step, state, data_position):
    meta = dict(step=int(step), data_position=int(data_position), shapes=shapes_of(state))
    self.manager.save(
      int(step),
      args=ocp.args.Composite(state=ocp.args.StandardSave(state), meta=ocp.args.JsonSave(meta)),
      force=True,
    )
    self.manager.wait_until_finished()

  def restore(self, state_like, step=None):
    """Restores the latest (or given) checkpoint into the structure of `state_like`.

    Returns (state, data_position). Raises CheckpointMismatchError naming the first
    arrays whose shapes differ when the checkpoint was made with another architecture.
    """
    step = self.latest_step() if step is None else step
    meta = self.manager.restore(step, args=ocp.args.Composite(meta=ocp.args.JsonRestore()))['meta']
    self._check(meta['shapes'], shapes_of(state_like), step)
    abstract = jax.tree.map(
      lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=x.sharding), state_like
    )
    restored = self.manager.restore(
      step, args=ocp.args.Composite(state=ocp.args.StandardRestore(abstract))
    )
    return restored['state'], meta['data_position']

  def _check(self, saved, current, step):
    problems = []
    # Parameters first: they name the architecture; optimizer moments only mirror them.
    order = lambda k: (not (k.startswith('models/') and '/params/' in k), k)
    for key in sorted(set(saved) | set(current), key=order):
      if key not in current:
        problems.append(f'{key} is in the checkpoint but not in the config')
      elif key not in saved:
        problems.append(f'{key} is in the config but not in the checkpoint')
      elif saved[key] != current[key]:
        problems.append(
          f'{key} has shape {tuple(saved[key])} in the checkpoint but '
          f'{tuple(current[key])} under this config'
        )
    if problems:
      shown = '\n  '.join(problems[:8])
      more = f'\n  ... and {len(problems) - 8} more' if len(problems) > 8 else ''
      raise CheckpointMismatchError(
        f'The checkpoint at step {step} in {self.directory} does not fit this config '
        f'(another architecture?):\n  {shown}{more}\nUse a new --workdir, or the config '
        f'it was trained with (saved as config.json beside it). Nothing was overwritten.'
      )

  def close(self):
    self.manager.close()
