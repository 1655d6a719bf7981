"""Sweeps: several runs of one experiment file, trained together where they can be.

An experiment file may define `get_sweep(arg)` next to `get_config(arg)`; it returns
the members' overrides, a list of {dotted config key: value} dicts, built with the
helpers here:

  def get_sweep(arg=None):
    return sweep.product(sweep.seeds(4), sweep.values('g_optimizer.lr', [1e-4, 2e-4]))

`python launch.py --config experiments/x.py --workdir runs/x_sweep --sweep` trains
every member in its own folder runs/x_sweep/<index>_<overrides>/ (docs/sweeps.md):
gans.sweep.definition loads and groups the members, gans.sweep.vectorised trains a
group of members that differ only in the seed and numeric hyperparameters as one
vmapped program, gans.sweep.runner runs the groups, gans.sweep.summarize tables them.
"""

import builtins
import itertools

from gans import errors


def values(key, items):
  """[{key: v} for v in items]: one sweep axis over config field `key` (dotted).

  Raises UserInputError when `items` is empty.
  """
  items = list(items)
  if not items:
    raise errors.UserInputError(f'sweep.values({key!r}, ...): no values.')
  return [{key: v} for v in items]


def seeds(n, start=0):
  """`n` members with config.seed = start, ..., start + n - 1."""
  return values('seed', range(int(start), int(start) + int(n)))


def _merge(dicts):
  out = {}
  for d in dicts:
    for k, v in d.items():
      if k in out and out[k] != v:
        raise errors.UserInputError(
          f'sweep: the key {k!r} is set twice in one member ({out[k]!r} and {v!r}).'
        )
      out[k] = v
  return out


def product(*axes):
  """Every combination of the members of `axes` (lists of override dicts), merged.

  The first axis varies slowest: product(seeds(2), values('lr', [1, 2])) is
  [{seed 0, lr 1}, {seed 0, lr 2}, {seed 1, lr 1}, {seed 1, lr 2}]. Raises
  UserInputError when two axes set one key to different values.
  """
  return [_merge(combo) for combo in itertools.product(*[list(a) for a in axes])]


def zip(*axes):  # pylint: disable=redefined-builtin
  """Members i of every axis merged into member i; the axes must have one length.

  zip(values('g_optimizer.lr', lrs), values('d_optimizer.lr', lrs)) moves both learning
  rates together. Raises UserInputError naming the lengths when they differ.
  """
  axes = [list(a) for a in axes]
  lengths = sorted({len(a) for a in axes})
  if len(lengths) > 1:
    raise errors.UserInputError(f'sweep.zip: the axes have different lengths {lengths}.')
  return [_merge(combo) for combo in builtins.zip(*axes)]
