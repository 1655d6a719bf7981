"""Orbax checkpoints of the whole train state plus the data position.

Each checkpoint holds two items: 'state' (the TrainState pytree) and 'meta' (JSON:
step, data position, and the shape of every array, used to refuse a workdir whose
checkpoint does not fit the config before anything is overwritten).

Once orbax has committed a checkpoint, process 0 writes `<step>/file_checksums.json`:
the size and SHA-256 of every file of it. A restore checks them first, since orbax
notices only some damage: a data file cut in half fails deep in TensorStore, but
bytes changed inside one restore without a word (measured: wrong weights, no error).
A damaged checkpoint is refused with a message naming the step, the first bad file
and the intact checkpoints; nothing is deleted, and `restore(step=...)` (launch.py
--resume_from) reads an older one. A checkpoint without the file (saved before it
existed, or killed between the commit and the file) is restored unverified.
"""

import json
import os
import shutil

from absl import logging
import jax
from jax.experimental import multihost_utils
import orbax.checkpoint as ocp

from gans import errors
from gans import files

CHECKSUMS = 'file_checksums.json'
SET_ASIDE = 'checkpoints_set_aside'  # Beside checkpoints/: newer steps left by --resume_from.


def shapes_of(tree):
  """{'models/generator/params/up0/kernel': [4, 4, 256, 128], ...} for every array."""
  flat = jax.tree_util.tree_flatten_with_path(tree)[0]
  return {jax.tree_util.keystr(path, simple=True, separator='/'): list(x.shape) for path, x in flat}


class CheckpointMismatchError(errors.UserInputError):
  """The checkpoint was made with another architecture than the config's."""


class DamagedCheckpointError(errors.UserInputError):
  """A checkpoint's files are missing, cut or changed since they were saved."""


def _sha256(path):
  return files.sha256(path)


def _files_under(directory):
  """Paths of every file under `directory`, relative to it, sorted."""
  out = []
  for root, _, names in os.walk(directory):
    out += [os.path.relpath(os.path.join(root, n), directory) for n in names]
  return sorted(out)


# Status codes of TensorStore's errors when it cannot read what is on disk.
_READ_STATUSES = ('OUT_OF_RANGE', 'NOT_FOUND', 'DATA_LOSS', 'FAILED_PRECONDITION', 'UNKNOWN')


def _read_failure(error):
  """One line about why reading failed, if `error` is a failure to read files; else None.

  Orbax wraps TensorStore's errors (ValueError 'OUT_OF_RANGE: ...', 'NOT_FOUND: ...',
  'DATA_LOSS: ...') in a bare Exception; metadata arrives as JSON.
  """
  seen = set()
  while error is not None and id(error) not in seen:
    seen.add(id(error))
    text = str(error)
    if isinstance(error, (OSError, json.JSONDecodeError)) or (
      isinstance(error, ValueError) and text.split(':', 1)[0] in _READ_STATUSES
    ):
      return errors.one_line(text)[:400]
    error = error.__cause__ or error.__context__
  return None


class Checkpoints:
  """Saves and restores (state, data position) under `workdir/checkpoints`.

  Nothing is created until the first save, so reading a workdir (--mode sample, eval)
  never adds a folder to it.
  """

  def __init__(self, workdir, keep=3):
    self.workdir = workdir
    self.directory = os.path.abspath(os.path.join(workdir, 'checkpoints'))
    self.keep = keep
    self.manager = self._manager()

  def _manager(self):
    return ocp.CheckpointManager(
      self.directory,
      options=ocp.CheckpointManagerOptions(
        max_to_keep=self.keep, create=False, enable_async_checkpointing=False
      ),
      item_names=('state', 'meta'),
    )

  def latest_step(self):
    return self.manager.latest_step()

  def steps(self):
    return sorted(self.manager.all_steps())

  def save(self, step, state, data_position):
    meta = dict(step=int(step), data_position=int(data_position), shapes=shapes_of(state))
    self.manager.save(
      int(step),
      args=ocp.args.Composite(state=ocp.args.StandardSave(state), meta=ocp.args.JsonSave(meta)),
      force=True,
    )
    self.manager.wait_until_finished()
    if jax.process_index() == 0:
      self._write_checksums(int(step))

  def _step_dir(self, step):
    return os.path.join(self.directory, str(int(step)))

  def _write_checksums(self, step):
    directory = self._step_dir(step)
    listing = {}
    for name in _files_under(directory):
      if name != CHECKSUMS:
        path = os.path.join(directory, name)
        listing[name] = dict(bytes=os.path.getsize(path), sha256=_sha256(path))
    with files.atomic_open(os.path.join(directory, CHECKSUMS), 'w') as f:
      json.dump(dict(step=step, files=listing), f, indent=1, sort_keys=True)

  def verify(self, step):
    """(checked, problem): whether checksums were found, and the first damage or None."""
    directory = self._step_dir(step)
    path = os.path.join(directory, CHECKSUMS)
    if not os.path.exists(path):
      return False, None
    try:
      with open(path) as f:
        listing = json.load(f)['files']
    except (OSError, ValueError, KeyError, TypeError) as e:
      return True, f'its {CHECKSUMS} is unreadable ({errors.one_line(e)})'
    damaged = []
    for name, want in sorted(listing.items()):
      full = os.path.join(directory, name)
      if not os.path.isfile(full):
        damaged.append(f'{name} is missing')
      elif (size := os.path.getsize(full)) != want['bytes']:
        damaged.append(f'{name} has {size:,} bytes, {want["bytes"]:,} when saved')
      elif _sha256(full) != want['sha256']:
        damaged.append(f'{name} has changed since it was saved (SHA-256)')
    if not damaged:
      return True, None
    more = f' (and {len(damaged) - 1} more files)' if len(damaged) > 1 else ''
    return True, damaged[0] + more

  def _read(self, state_like, step):
    meta = self.manager.restore(step, args=ocp.args.Composite(meta=ocp.args.JsonRestore()))['meta']
    self._check(meta['shapes'], shapes_of(state_like), step)
    abstract = jax.tree.map(
      lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=x.sharding), state_like
    )
    restored = self.manager.restore(
      step, args=ocp.args.Composite(state=ocp.args.StandardRestore(abstract))
    )
    return restored['state'], meta['data_position']

  def restore(self, state_like, step=None):
    """Restores the latest (or given) checkpoint into the structure of `state_like`.

    Returns (state, data_position). Raises CheckpointMismatchError naming the first
    arrays whose shapes differ when the checkpoint was made with another architecture,
    DamagedCheckpointError naming the step, its first bad file and the intact
    checkpoints when its files are damaged, and MissingInputError for a step that is
    not on disk.
    """
    steps = self.steps()
    if step is None:
      step = self.latest_step()
      if step is None:
        raise errors.MissingInputError(f'No checkpoint in {self.directory}.')
    elif int(step) not in steps:
      raise errors.MissingInputError(
        f'No checkpoint at step {step} in {self.directory}; its checkpoints: '
        f'{", ".join(map(str, steps)) or "none"}.'
      )
    step = int(step)
    checked, problem = self.verify(step)
    if problem is None:
      try:
        return self._read(state_like, step)
      except CheckpointMismatchError:
        raise
      except Exception as e:  # pylint: disable=broad-except
        problem = _read_failure(e)
        if checked or problem is None:  # Files as saved: not damage, a bug. Keep the trace.
          raise
        problem = f'it cannot be read ({problem})'
    raise DamagedCheckpointError(self._damage_message(step, problem, state_like, steps))

  def _intact(self, step, state_like):
    checked, problem = self.verify(step)
    if problem is not None:
      return False
    if checked:
      return True
    try:  # Saved without checksums: intact if it reads.
      self._read(state_like, step)
      return True
    except Exception:  # pylint: disable=broad-except
      return False

  def _damage_message(self, step, problem, state_like, steps):
    others = [s for s in steps if s != step]
    intact = [s for s in others if self._intact(s, state_like)]
    bad = [s for s in others if s not in intact]
    text = f'Checkpoint step {step} in {self.directory} is damaged: {problem}.'
    if bad:
      text += f' Also damaged: step{"s" if len(bad) > 1 else ""} {", ".join(map(str, bad))}.'
    if intact:
      text += (
        f' Intact: step{"s" if len(intact) > 1 else ""} {", ".join(map(str, intact))}; '
        f'start from the newest of them with --resume_from={max(intact)}.'
      )
    else:
      text += ' No intact checkpoint is left: train again in a new --workdir.'
    return text + ' Nothing was deleted.'

  def set_aside_after(self, step):
    """Moves the checkpoints newer than `step` to WORKDIR/checkpoints_set_aside/<step>.

    For a run resumed from an older checkpoint (--resume_from): its new checkpoints
    take those steps again. Nothing is deleted; returns the steps moved.
    """
    newer = [s for s in self.steps() if s > step]
    if not newer:
      return newer
    self.manager.close()
    if jax.process_index() == 0:
      target_root = os.path.join(self.workdir, SET_ASIDE)
      os.makedirs(target_root, exist_ok=True)
      for s in newer:
        target, n = os.path.join(target_root, str(s)), 1
        while os.path.exists(target):
          target, n = os.path.join(target_root, f'{s}.{n}'), n + 1
        shutil.move(self._step_dir(s), target)
        logging.warning('Checkpoint step %d set aside in %s (--resume_from=%d).', s, target, step)
    if jax.process_count() > 1:
      multihost_utils.sync_global_devices('gans_checkpoints_set_aside')
    self.manager = self._manager()
    return newer

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
