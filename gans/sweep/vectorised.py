"""Trains a group of `gan`-family sweep members as one compiled program.

The members' configs differ only in the seed and the step's numeric hyperparameters
(gans.sweep.definition.group_key). Their train states are stacked on a leading member
axis [M, ...]; the step (gans.families.gan.step.make_hparam_train_step) is vmapped over
members with their hyperparameters as inputs ({name: float32 [M]}), and jitted on a 2D
mesh ('sweep', 'data'): the member axis of the state, the hyperparameters and the
batch [M, n_critic, B, ...] is split over 'sweep', the batch axis over 'data'. With M
members on N devices the 'sweep' axis has gcd(M, N) devices unless `sweep_devices`
says otherwise (8 devices: 2 members -> 2 x 4, 8 members -> 8 x 1).

Each member keeps the folder of a normal run: config.json, metrics.jsonl, TensorBoard,
samples/*.png and checkpoints/ in the normal format (its slice of the stacked state,
replicated), so `--mode sample`, `--mode eval` and a plain resume with launch.py work
on a member folder. Every member draws its own batches (data.Batches with its seed),
so a member trains as it would alone, up to float rounding (vmapped convolutions and
hyperparameters as inputs instead of constants). Exact resume: all members are saved
at the same steps; a restart restores every member from the newest step all of them
have (a kill between two members' saves leaves newer steps in some folders: they are
set aside in WORKDIR/checkpoints_set_aside/, as --resume_from does). A member whose
loss becomes non-finite is stopped alone: its folder keeps its last checkpoint and a
`failed.json` saying why; the others train on.
"""

import math
import os
import signal

from absl import logging
import jax
import numpy as np
from jax.sharding import NamedSharding, PartitionSpec as P

from gans import data
from gans import errors
from gans import parallel
from gans.families import gan as gan_family
from gans.families.gan import step as step_lib
from gans.sweep import definition
from gans.train import checkpoint as checkpoint_lib
from gans.train import experiment as experiment_lib
from gans.train import loop
from gans.train import writer as writer_lib


def make_mesh(num_members, devices=None, sweep_devices=0):
  """The 2D mesh ('sweep', 'data') of a group of `num_members` members.

  'sweep' has `sweep_devices` devices (0: gcd(num_members, number of devices)); it must
  divide both. Raises UserInputError naming --sweep_devices otherwise.
  """
  devices = jax.devices() if devices is None else list(devices)
  n = len(devices)
  s = int(sweep_devices) or math.gcd(num_members, n)
  if s <= 0 or n % s or num_members % s:
    raise errors.UserInputError(
      f'--sweep_devices={sweep_devices}: the sweep axis must divide both the {n} devices '
      f'and the {num_members} members of the group.'
    )
  auto = jax.sharding.AxisType.Auto
  return jax.make_mesh((s, n // s), ('sweep', 'data'), devices=devices, axis_types=(auto, auto))


def stack(trees):
  """Host arrays of `trees` stacked on a new leading member axis."""
  return jax.tree.map(lambda *xs: np.stack([np.asarray(x) for x in xs]), *trees)


def unstack(tree, i):
  """Member `i` of a stacked tree (host arrays, or device arrays: sliced on device)."""
  return jax.tree.map(lambda x: x[i], tree)


class Program:
  """The vmapped init and step of a group, on `mesh` ('sweep', 'data').

  init() -> stacked TrainState [M, ...] (member i initialized from configs[i].seed as
  gans.families.gan.init_state does); step(state, batch) -> (state, metrics [M]) with
  batch {'x': [M, n_critic, B, ...], 'y': [M, n_critic, B]}, the state donated.
  """

  def __init__(self, configs, mesh, exp):
    base = configs[0]
    self.mesh = mesh
    self.member_sharding = NamedSharding(mesh, P('sweep'))
    self.batch_sharding = NamedSharding(mesh, P('sweep', None, 'data'))
    generator, discriminator = exp.modules['generator'], exp.modules['discriminator']
    g_tx, d_tx = gan_family.optimizers(base)
    shape = exp.dataset.example_shape

    def init_one(seed, ada_p):
      state = gan_family.init_state(base, generator, discriminator, shape, g_tx, d_tx, seed=seed)
      if 'ada_p' in state.extras:  # ADA's starting (or fixed) probability, per member.
        state = state.replace(extras={**state.extras, 'ada_p': ada_p})
      return state

    seeds = np.array([int(c.seed) for c in configs], np.int32)
    ada_ps = np.array([float((c.get('ada') or {}).get('p', 0.0)) for c in configs], np.float32)
    init = jax.jit(jax.vmap(init_one), out_shardings=self.member_sharding)
    self.init = lambda: init(*jax.device_put((seeds, ada_ps), self.member_sharding))
    data_axis = NamedSharding(mesh, P('data'))
    constrain = lambda x: jax.lax.with_sharding_constraint(x, data_axis)
    step = step_lib.make_hparam_train_step(base, generator, discriminator, constrain)
    hps = [step_lib.hparams(c) for c in configs]
    self.hparams = jax.device_put(
      {k: np.array([hp[k] for hp in hps], np.float32) for k in hps[0]}, self.member_sharding
    )
    jitted = jax.jit(
      jax.vmap(step, spmd_axis_name='sweep'),
      in_shardings=(self.member_sharding, self.batch_sharding, self.member_sharding),
      out_shardings=(self.member_sharding, self.member_sharding),
      donate_argnums=0,
    )
    self.step = lambda state, batch: jitted(
      state, jax.device_put(batch, self.batch_sharding), self.hparams
    )


def _resume_step(ckpts, active):
  """The step every active member has a checkpoint at (newest), or None for a fresh start."""
  steps = [set(ckpts[i].steps()) for i in active]
  if not steps or not all(steps):
    return None
  common = set.intersection(*steps)
  if not common:
    raise errors.UserInputError(
      'The sweep members have no checkpoint step in common ('
      + '; '.join(f'{ckpts[i].directory}: {sorted(s)}' for i, s in zip(active, steps))
      + '); resume the members one by one with launch.py --workdir <member> --resume_from.'
    )
  return max(common)


def _finite(records):
  """(True, None) or (False, 'name is nan at record r') for a member's records."""
  for r, record in enumerate(records):
    for name, value in record.items():
      if not math.isfinite(float(value)):
        return False, (name, float(value), r)
  return True, None


def _member_outputs(
  i,
  step,
  stacked,
  replicated,
  exp,
  writer,
  ckpts,
  hooks,
  position,
  total_steps,
  means,
  sample_now,
  ckpt_now,
  name,
):
  """Health warnings, sample grids, hook values and the checkpoint of member `i` at `step`."""
  cache = []

  def state():
    if not cache:
      cache.append(jax.device_put(unstack(stacked, i), replicated))
    return cache[0]

  if means is not None and exp.health is not None:
    for check, message in exp.health(step, means, state()):
      logging.warning('%s: training health (%s) at step %d: %s', name, check, step, message)
  if sample_now:
    for grid, image in exp.grids(state()).items():
      writer.write_image(step, grid, image)
  for hook in hooks:
    if step % hook.every == 0 or step == total_steps:
      writer.write_scalars(step, hook(state()))
  if ckpt_now:
    ckpts.save(step, state(), position)


def train(members, root, dataset=None, hooks=None, sweep_devices=0, devices=None):
  """Trains (or resumes) the vectorised group `members` in their folders under `root`.

  `members`: gans.sweep.definition.Member of one group (same group_key); `hooks`:
  optional `hooks(config) -> (exp, workdir) -> [hook]` (gans.eval.hooks), run on each
  member's state; `dataset` overrides the config's. Returns the stacked final state
  (host arrays, leading member axis). Raises UserInputError for members that do not
  form a group or a mesh that does not fit, CheckpointMismatchError as a normal run.
  """
  configs = [m.config for m in members]
  base = configs[0]
  keys = {definition.group_key(c) for c in configs}
  if len(keys) != 1 or None in keys:
    raise errors.UserInputError(
      'These sweep members differ in more than the seed and numeric hyperparameters; '
      'train them as separate groups.'
    )
  workdirs = [m.workdir(root) for m in members]
  dataset = dataset or data.load(base, split=base.get('train_split', 'train'))
  exps = [experiment_lib.build(c, dataset=dataset) for c in configs]
  member_hooks = [
    list(hooks(c)(exp, wd)) if hooks is not None else []
    for c, exp, wd in zip(configs, exps, workdirs)
  ]
  mesh = make_mesh(len(members), devices=devices, sweep_devices=sweep_devices)
  data_size = mesh.shape['data']
  if base.batch_size % data_size:
    raise errors.UserInputError(
      f'config.batch_size={base.batch_size} does not split over the {data_size} devices of '
      f'the data axis; choose --sweep_devices or the batch size so that it does.'
    )
  program = Program(configs, mesh, exps[0])
  replicated = [parallel.replicated(exp.mesh) for exp in exps]
  ckpts = [checkpoint_lib.Checkpoints(wd, keep=base.keep_checkpoints) for wd in workdirs]
  failed = {i for i, m in enumerate(members) if definition.failed_earlier(m.name, workdirs[i])}
  active = [i for i in range(len(members)) if i not in failed]
  positions = [0] * len(members)
  try:
    state = program.init()
    start = _resume_step(ckpts, active)
    if start is None:
      for i in active:
        ckpts[i].set_aside_after(0)  # A first save cut by a kill: start again.
    else:
      for i in active:
        ckpts[i].set_aside_after(start)
      host = jax.device_get(state)
      parts = []
      for i in range(len(members)):
        abstract = jax.tree.map(
          lambda x, r=replicated[i]: jax.ShapeDtypeStruct(x.shape[1:], x.dtype, sharding=r),
          host,
        )
        if i in failed:  # Its values no longer matter: any state of the right shape.
          parts.append(unstack(host, i))
          continue
        restored, positions[i] = ckpts[i].restore(abstract, step=start)
        parts.append(jax.device_get(restored))
      state = jax.device_put(stack(parts), program.member_sharding)
  except BaseException:
    for c in ckpts:
      c.close()
    raise
  start = start or 0
  if start >= base.total_steps:
    for c in ckpts:
      c.close()
    logging.info('The sweep group in %s is finished at step %d; nothing to do.', root, start)
    return jax.device_get(state)
  if start:
    logging.info('Resumed the sweep group of %d members from step %d.', len(members), start)
  for i in active:
    os.makedirs(workdirs[i], exist_ok=True)
    loop.save_config(configs[i], workdirs[i])
    if start:
      writer_lib.drop_rows_after(workdirs[i], start)
  writers = [
    writer_lib.Writer(wd, enabled=i in active, purge_step=start + 1 if start else None)
    for i, wd in enumerate(workdirs)
  ]
  if start == 0:
    logging.info(
      'Sweep group of %d members on a %s mesh (sweep x data); family gan; dataset %s',
      len(members),
      dict(mesh.shape),
      dataset.name,
    )
  batches = [
    data.Batches(dataset, c.batch_size, c.seed, start=positions[i], group=exps[i].batch_group)
    for i, c in enumerate(configs)
  ]
  progress = writer_lib.Progress(base.total_steps, start)
  stop = {'signal': None}

  def on_signal(signum, frame):
    del frame
    stop['signal'] = signum

  previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
  pending = []
  checked_step = start
  step = start

  def fail(i, problem, first_step):
    name, value, r = problem
    message = f'{name} is {value} at step {first_step + r + 1}; member stopped.'
    logging.warning('Sweep member %s: %s', members[i].name, message)
    definition.mark_failed(workdirs[i], first_step + r + 1, message)
    failed.add(i)
    active.remove(i)

  def check(records, first_step):
    per_member = []
    for i in range(len(members)):
      rows = [{k: v[i] for k, v in r.items()} for r in records]
      if i in active:
        ok, problem = _finite(rows)
        if not ok:
          fail(i, problem, first_step)
      per_member.append(rows)
    return per_member

  try:
    while step < base.total_steps and stop['signal'] is None and active:
      items = [next(b) for b in batches]
      positions = [p for p, _ in items]
      batch = {k: np.stack([b[k] for _, b in items]) for k in ('x', 'y')}
      state, metrics = program.step(state, batch)
      pending.append(metrics)
      step += 1
      log_now = step % base.log_every == 0 or step == base.total_steps
      ckpt_now = step % base.checkpoint_every == 0 or step == base.total_steps
      sample_now = step % base.sample_every == 0 or step == base.total_steps
      hook_now = any(step % h.every == 0 or step == base.total_steps for h in sum(member_hooks, []))
      if log_now or ckpt_now:
        per_member = check(jax.device_get(pending), checked_step)
        checked_step, pending = step, []
        if log_now and active:
          rate = None
          for i in active:
            means = loop._means(per_member[i])  # pylint: disable=protected-access
            if rate is None:
              rate = progress.log(step, {'members': len(active), **means})
            writers[i].write_scalars(step, {**means, 'steps_per_second': rate})
      if (sample_now or hook_now or ckpt_now or log_now) and active:
        for i in list(active):
          _member_outputs(  # Slices the stacked state on device: no copy to the host.
            i,
            step,
            state,
            replicated[i],
            exps[i],
            writers[i],
            ckpts[i],
            member_hooks[i],
            positions[i],
            base.total_steps,
            means=loop._means(per_member[i]) if log_now else None,  # pylint: disable=protected-access
            sample_now=sample_now,
            ckpt_now=ckpt_now,
            name=members[i].name,
          )
    if stop['signal'] is not None:
      check(jax.device_get(pending), checked_step)
      for i in active:
        if ckpts[i].latest_step() != step:
          ckpts[i].save(step, jax.device_put(unstack(state, i), replicated[i]), positions[i])
      logging.info('Stopped by signal %d at step %d; checkpoints saved.', stop['signal'], step)
  finally:
    for s, handler in previous.items():
      signal.signal(s, handler)
    for b in batches:
      b.close()
    for w in writers:
      w.close()
    for c in ckpts:
      c.close()
  return jax.device_get(state)
