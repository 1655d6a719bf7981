"""A sweep's members (from the experiment file's `get_sweep(arg)`) and their groups.

A member is the base config (the experiment's `get_config(arg)` with the command
line's --config.* overrides) with the member's overrides applied; its folder is
WORKDIR/<index>_<key=value,...>. Members are grouped: those of the `gan` family whose
configs differ only in the seed and in the numeric hyperparameters the step takes as
inputs (gans.families.gan.step.HPARAM_FIELDS, the optimizers'
OPTIMIZER_HPARAM_FIELDS and ADA's target, with the same zero / non-zero pattern for
the weights that switch a term on) or in ADA's probability `ada.p` (set per member at
initialization) form one group, trained as one vmapped program
(gans.sweep.vectorised); every other member is a group of its own (one normal run).
Groups are numbered in the order of their first member, so `--sweep_index i` means
the same group on every machine.
"""

import dataclasses
import difflib
import importlib.util
import json
import os
import re

from absl import logging
import ml_collections

from gans import errors
from gans import files

MEMBER_FILE = 'sweep_member.json'  # In each member folder: its index, name and overrides.
SWEEP_FILE = 'sweep.json'  # In the sweep's folder: every member and group.
FAILED_FILE = 'failed.json'  # In a member folder whose loss became non-finite.
VECTORISED_FAMILIES = ('gan',)


@dataclasses.dataclass
class Member:
  """One run of a sweep: its index, overrides {dotted key: value}, config and folder name."""

  index: int
  overrides: dict
  config: ml_collections.ConfigDict
  name: str

  def workdir(self, root):
    return os.path.join(root, self.name)


@dataclasses.dataclass
class Group:
  """Members trained together (`vectorised`) or one member trained alone."""

  index: int
  members: list
  vectorised: bool


def load_module(path):
  """The experiment file at `path` as a module; MissingInputError when it does not exist."""
  if not os.path.isfile(path):
    raise errors.MissingInputError(f'Config file {path!r} does not exist.')
  spec = importlib.util.spec_from_file_location(os.path.splitext(os.path.basename(path))[0], path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def sweep_overrides(spec):
  """The list of override dicts that `get_sweep(arg)` of experiment `path[:arg]` returns.

  Raises UserInputError naming the file when it has no `get_sweep`, when it returns
  no members or something other than a list of {str: value} dicts, or the same
  overrides twice.
  """
  path, _, arg = spec.partition(':')
  module = load_module(path)
  if not callable(getattr(module, 'get_sweep', None)):
    raise errors.UserInputError(
      f"--sweep: {path} defines no get_sweep(arg); add one returning the members' overrides "
      f'(see docs/sweeps.md).'
    )
  try:
    overrides = module.get_sweep(arg or None)
  except errors.UserInputError as e:  # From the helpers (a key set twice, zip lengths).
    raise errors.UserInputError(f'{path}: get_sweep: {errors.one_line(e)}') from e
  if not isinstance(overrides, (list, tuple)) or not overrides:
    raise errors.UserInputError(f'{path}: get_sweep returned no members ({overrides!r}).')
  seen = set()
  for i, o in enumerate(overrides):
    if not isinstance(o, dict) or not all(isinstance(k, str) for k in o):
      raise errors.UserInputError(
        f'{path}: get_sweep member {i} is {o!r}, not a dict of config keys to values.'
      )
    text = json.dumps(o, sort_keys=True, default=repr)
    if text in seen:
      raise errors.UserInputError(f'{path}: get_sweep lists the member {o!r} twice.')
    seen.add(text)
  return [dict(o) for o in overrides]


def apply_overrides(config, overrides, source='get_sweep'):
  """A copy of `config` with {dotted key: value} `overrides` set.

  Raises UserInputError naming the key (and `source`) when it is not a field of the
  config or the value does not fit the field's type.
  """
  config = config.copy_and_resolve_references()
  for key, value in overrides.items():
    node, parts = config, key.split('.')
    for depth, part in enumerate(parts):
      if not isinstance(node, ml_collections.ConfigDict) or part not in node:
        owner = '.'.join(['config', *parts[:depth]])
        known = sorted(node.keys()) if isinstance(node, ml_collections.ConfigDict) else []
        close = difflib.get_close_matches(part, known, n=1)
        hint = f' did you mean {close[0]!r}?' if close else ''
        raise errors.UserInputError(
          f'{source}: {key!r} is not a field of the config ({owner} has no {part!r}).{hint}'
        )
      if depth < len(parts) - 1:
        node = node[part]
    try:
      node[parts[-1]] = value
    except (TypeError, ValueError):
      old = node[parts[-1]]
      raise errors.UserInputError(
        f'{source}: {key}={value!r} does not fit the field: it holds a '
        f'{type(old).__name__} ({old!r}), not a {type(value).__name__}.'
      ) from None
  return config


def _format(value):
  if isinstance(value, float):
    return f'{value:g}'
  if isinstance(value, (list, tuple)):
    return '-'.join(_format(v) for v in value)
  return str(value)


def member_name(index, overrides):
  """Folder name of member `index`: '003_seed=1,g_optimizer.lr=0.0002' (file-name safe)."""
  text = ','.join(f'{k}={_format(v)}' for k, v in overrides.items())
  text = re.sub(r'[^A-Za-z0-9._=,+-]', '_', text)[:120]
  return f'{index:03d}_{text}' if text else f'{index:03d}'


def members(spec, config, overrides=None):
  """The `Member`s of the sweep of experiment `spec` ('path[:arg]') over `config`.

  `overrides`: the members' list of {dotted key: value} dicts; None reads the file's
  get_sweep (gans.tables passes its own lists). Raises UserInputError as
  sweep_overrides and apply_overrides do.
  """
  path = spec.partition(':')[0]
  source = 'get_sweep' if overrides is None else 'sweep'
  if overrides is None:
    overrides = sweep_overrides(spec)
  return [
    Member(i, o, apply_overrides(config, o, f'{path}: {source} member {i}'), member_name(i, o))
    for i, o in enumerate(overrides)
  ]


def _flatten(tree, prefix=''):
  out = {}
  for k, v in tree.items():
    if isinstance(v, dict):
      out.update(_flatten(v, f'{prefix}{k}.'))
    else:
      out[f'{prefix}{k}'] = v
  return out


def vectorisable_fields():
  """(fields a vectorised group's members may differ in, fields whose zero-ness is fixed)."""
  from gans.families.gan import step as step_lib  # pylint: disable=g-import-not-at-top

  fields = {'seed', *step_lib.HPARAM_FIELDS, 'ada.p'}  # ada.p: set per member at init.
  fields |= {f'ada.{f}' for f in step_lib.ADA_HPARAM_FIELDS}
  for opt in ('g_optimizer', 'd_optimizer'):
    fields |= {f'{opt}.{f}' for f in step_lib.OPTIMIZER_HPARAM_FIELDS}
  return fields, set(step_lib.SWITCH_FIELDS)


def group_key(config):
  """A string equal for two configs that can train as one vmapped program, else None.

  Every field but the vectorisable ones, plus whether each switch weight is > 0.
  """
  if config.get('family', 'gan') not in VECTORISED_FAMILIES:
    return None
  fields, switches = vectorisable_fields()
  key = {}
  for k, v in _flatten(config.to_dict()).items():
    if k in switches:
      key[k] = float(v) > 0
    elif k in fields:
      key[k] = '*'
    else:
      key[k] = v
  return json.dumps(key, sort_keys=True, default=repr)


def groups(sweep_members, vectorise=True):
  """The members' `Group`s, numbered by their first member (see the module docstring).

  With `vectorise` False every member is a group of its own.
  """
  out, by_key = [], {}
  for m in sweep_members:
    key = group_key(m.config) if vectorise else None
    if key is not None and key in by_key:
      by_key[key].members.append(m)
      continue
    g = Group(len(out), [m], False)
    out.append(g)
    if key is not None:
      by_key[key] = g
  for g in out:
    g.vectorised = len(g.members) > 1
  return out


def mark_failed(workdir, step, message):
  """Writes workdir/failed.json {step, message}: the member's loss became non-finite at
  `step` (int); the sweep skips it from then on and summaries count it as failed."""
  os.makedirs(workdir, exist_ok=True)
  with files.atomic_open(os.path.join(workdir, FAILED_FILE), 'w') as f:
    json.dump(dict(step=None if step is None else int(step), message=str(message)), f)


def failed(workdir):
  """The {step, message} of the member folder's failed.json, or None when it has none."""
  path = os.path.join(workdir, FAILED_FILE)
  if not os.path.exists(path):
    return None
  with open(path) as f:  # Written atomically (gans.files.atomic_open).
    return json.load(f)


def failed_earlier(name, workdir):
  """Whether member `name` (folder `workdir`) has a failed.json; logs that it is skipped."""
  info = failed(workdir)
  if info is not None:
    logging.warning(
      'Sweep member %s failed earlier (%s); skipped. Delete its %s to train it again.',
      name,
      info['message'],
      FAILED_FILE,
    )
  return info is not None


def member_config(config, workdir):
  """`config` with the overrides of the sweep member in `workdir` (its MEMBER_FILE), if any.

  So `launch.py --config experiments/x.py --workdir runs/x_sweep/<member> --mode eval`
  reads the member's own config. Returns `config` unchanged for a folder that is not a
  member's.
  """
  path = os.path.join(workdir, MEMBER_FILE)
  if not os.path.isfile(path):
    return config
  with open(path) as f:
    overrides = json.load(f)['overrides']
  logging.info('Sweep member folder: applying its overrides %s (from %s).', overrides, path)
  return apply_overrides(config, overrides, path)
