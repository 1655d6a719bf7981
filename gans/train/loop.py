"""The training loop: resume, step, log, sample, checkpoint; stop cleanly on signals."""

import json
import math
import os
import signal

from absl import logging
import jax
import numpy as np

from gans import data
from gans import errors
from gans import files
from gans import parallel
from gans.data import images as image_lib
from gans.train import checkpoint as checkpoint_lib
from gans.train import experiment as experiment_lib
from gans.train import state as state_lib
from gans.train import writer as writer_lib


class NonFiniteLossError(FloatingPointError):
  """A logged loss or metric became NaN or infinite; `step` is the first such step."""

  def __init__(self, message, step=None):
    super().__init__(message)
    self.step = step


def save_config(config, workdir):
  """Writes the resolved config to workdir/config.json (keeps a differing old one)."""
  path = os.path.join(workdir, 'config.json')
  text = config.to_json_best_effort(indent=2, sort_keys=True)
  if os.path.exists(path):
    with open(path) as f:
      old = f.read()
    if old != text:
      n = 1
      while os.path.exists(os.path.join(workdir, f'config.{n}.json')):
        n += 1
      os.rename(path, os.path.join(workdir, f'config.{n}.json'))
      logging.warning(
        'The config differs from the one this workdir was run with; '
        'the old one is kept as config.%d.json.',
        n,
      )
  with open(path, 'w') as f:
    f.write(text)


def _check_finite(records, first_step):
  """Raises NonFiniteLossError naming the first step and loss that is not finite."""
  for i, record in enumerate(records):
    for name, value in record.items():
      if not math.isfinite(float(value)):
        raise NonFiniteLossError(
          f'{name} is {float(value)} at step {first_step + i + 1}; stopping. The last '
          f'checkpoint saved before it is kept.',
          step=first_step + i + 1,
        )


def _means(records):
  """Mean of each metric over the records that have it (phases may log different ones)."""
  names = dict.fromkeys(k for r in records for k in r)
  return {k: float(np.mean([r[k] for r in records if k in r])) for k in names}


def train(config, workdir, dataset=None, hooks=None, resume_from=None):
  """Trains (or resumes) the experiment of `config` in `workdir`. Returns the state.

  `dataset` overrides the one `config.dataset` names (tests, custom data). `hooks`
  (optional) is a function `hooks(exp, workdir) -> [hook]`, called once the experiment
  is built and before anything is written (so a missing weights file fails first);
  each hook has an int `every` and is called as `hook(state) -> {name: float}` every
  `every` steps and at the last step, its values logged as scalars (gans.run builds
  the evaluators of config.evals this way; the loop knows nothing of evaluation).

  Resumes from the latest checkpoint, or from step `resume_from` (launch.py
  --resume_from; the newer checkpoints are set aside, not deleted). On resume every
  log of the run (WORKDIR/*.jsonl, TensorBoard) drops what it holds after the
  restored step, which the run is about to log again. A finished run (restored step
  >= config.total_steps) says so and writes nothing. Nothing is created in `workdir`
  before the config, dataset, hooks and checkpoint have been checked.
  """
  exp = experiment_lib.build(config, dataset=dataset)
  hooks = list(hooks(exp, workdir)) if hooks is not None else []
  is_main = jax.process_index() == 0
  ckpts = checkpoint_lib.Checkpoints(workdir, keep=config.keep_checkpoints)
  try:
    state = exp.init()
    position = 0
    if resume_from is not None or ckpts.latest_step() is not None:
      state, position = ckpts.restore(state, step=resume_from)
      if resume_from is not None:
        ckpts.set_aside_after(int(resume_from))
  except BaseException:
    ckpts.close()
    raise
  start = int(state.step)
  if start >= config.total_steps:
    ckpts.close()
    logging.info(
      'The run in %s is finished: its checkpoint is at step %d and config.total_steps is %d; '
      'nothing to do (raise --config.total_steps to train on).',
      workdir,
      start,
      config.total_steps,
    )
    return state
  if start:
    logging.info('Resumed from step %d (data position %d) in %s', start, position, ckpts.directory)
  if is_main:
    os.makedirs(workdir, exist_ok=True)
    save_config(config, workdir)
    if start:
      for path, dropped in writer_lib.drop_rows_after(workdir, start).items():
        logging.info(
          'Dropped %d rows after step %d from %s (logged again now).', dropped, start, path
        )
  writer = writer_lib.Writer(workdir, enabled=is_main, purge_step=start + 1 if start else None)
  if start == 0:
    counts = ', '.join(f'{name} {n:,}' for name, n in state_lib.param_counts(state).items())
    logging.info(
      'Family %s; parameters: %s; %d devices; dataset %s (%d examples, %s)',
      config.get('family', 'gan'),
      counts,
      exp.mesh.devices.size,
      exp.dataset.name,
      exp.dataset.num_examples,
      exp.dataset.example_shape,
    )
  batches = data.Batches(
    exp.dataset,
    config.batch_size,
    config.seed,
    start=position,
    group=exp.batch_group,
    process_index=jax.process_index(),
    process_count=jax.process_count(),
  )
  progress = writer_lib.Progress(config.total_steps, start)

  stop = {'signal': None}

  def on_signal(signum, frame):
    del frame
    stop['signal'] = signum

  previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}

  pending = []  # Device metrics of the steps since the last check.
  checked_step = start  # Every step up to here had finite losses.
  step = start
  try:
    while step < config.total_steps and stop['signal'] is None:
      position, batch = next(batches)
      step_fn = exp.steps[exp.phase(step)]
      state, metrics = step_fn(state, parallel.to_global(batch, exp.mesh, 1))
      pending.append(metrics)
      step += 1
      log_now = step % config.log_every == 0 or step == config.total_steps
      ckpt_now = step % config.checkpoint_every == 0 or step == config.total_steps
      if log_now or ckpt_now:
        records = jax.device_get(pending)
        _check_finite(records, checked_step)
        checked_step, pending = step, []
        if log_now:
          means = _means(records)
          rate = progress.log(step, means)
          writer.write_scalars(step, {**means, 'steps_per_second': rate})
          if exp.health is not None:
            for name, message in exp.health(step, means, state):
              logging.warning('Training health (%s) at step %d: %s', name, step, message)
      if step % config.sample_every == 0 or step == config.total_steps:
        for name, image in exp.grids(state).items():
          writer.write_image(step, name, image)
      for hook in hooks:
        if step % hook.every == 0 or step == config.total_steps:
          writer.write_scalars(step, hook(state))
      if ckpt_now:
        ckpts.save(step, state, position)
    if stop['signal'] is not None:
      _check_finite(jax.device_get(pending), checked_step)
      if ckpts.latest_step() != step:
        ckpts.save(step, state, position)
      logging.info('Stopped by signal %d at step %d; checkpoint saved.', stop['signal'], step)
  finally:
    for s, handler in previous.items():
      signal.signal(s, handler)
    batches.close()
    writer.close()
    ckpts.close()
  return state


def restore_latest(config, workdir, exp=None, step=None):
  """Builds the experiment and restores the latest checkpoint (or `step`) of `workdir`.

  Creates nothing. Raises MissingInputError when the workdir has no checkpoint (or
  none at `step`), DamagedCheckpointError naming the damaged step and the intact ones.
  """
  ckpts = checkpoint_lib.Checkpoints(workdir, keep=config.keep_checkpoints)
  try:
    if ckpts.latest_step() is None:
      raise errors.MissingInputError(
        f'No checkpoint in {ckpts.directory}; train first with --mode train --workdir {workdir}.'
      )
    exp = exp or experiment_lib.build(config)
    state, _ = ckpts.restore(exp.init(), step=step)
  finally:
    ckpts.close()
  return exp, state


def npz_path(output):
  """The file np.savez writes for `output`: `.npz` added unless it ends so."""
  return output if output.endswith('.npz') else output + '.npz'


def sample(config, workdir, num_samples, output, seed=0, step=None):
  """Writes `num_samples` generated images (uint8 NHWC) or points to `output` (.npz).

  A conditional experiment's file also holds `labels` (sample i has class i mod K).
  `step`: the checkpoint to sample (default the latest). `.npz` is added to `output`
  unless it ends so; the file is written whole or not at all.
  """
  exp, state = restore_latest(config, workdir, step=step)
  samples = np.asarray(experiment_lib.generate(exp, state, num_samples, seed=seed))
  arrays = (
    {'images': image_lib.to_uint8(samples)}
    if exp.dataset.is_image
    else {'points': samples.astype(np.float32)}
  )
  if exp.num_classes:
    arrays['labels'] = np.asarray(exp.labels(0, num_samples))
  output = npz_path(output)
  if jax.process_index() == 0:
    with files.atomic_open(output, 'wb') as f:
      np.savez_compressed(
        f,
        **arrays,
        step=int(state.step),
        protocol=json.dumps(dict(seed=seed, ema=bool(state.ema))),
      )
    logging.info('Wrote %d samples from step %d to %s', num_samples, int(state.step), output)
  return arrays
