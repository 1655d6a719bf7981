"""Builds everything a run needs from its config: data, networks, state, compiled step.

Shared by training, sampling, evaluation and the benchmark, so they all compile the
same functions with the same shardings.
"""

import dataclasses
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import NamedSharding, PartitionSpec as P

from gans import configs
from gans import data
from gans import nets
from gans import parallel
from gans.train import state as state_lib
from gans.train import step as step_lib


@dataclasses.dataclass
class Experiment:
  config: Any
  mesh: Any
  dataset: data.Dataset
  generator: Any
  discriminator: Any
  init: Callable[[], state_lib.TrainState]   # Jitted; returns a replicated state.
  train_step: Callable                        # Jitted, donates the state.
  sample: Callable                            # (params, g_state, z, y=None) -> samples.

  @property
  def num_classes(self):
    """K of a class-conditional experiment, 0 for an unconditional one."""
    return configs.class_count(self.config)

  def latents(self, key, n):
    """Latents for sampling and evaluation (truncated when config.truncation > 0)."""
    return step_lib.sample_latent(key, n, self.config.latent_dim,
                                  self.config.get('truncation', 0.0))

  def labels(self, start, n):
    """Labels of samples start..start+n-1: index mod K (every class equally often)."""
    if not self.num_classes:
      return None
    return jnp.arange(start, start + n, dtype=jnp.int32) % self.num_classes

  def grid_inputs(self, key, n):
    """Latents and labels for a sample grid: conditional grids hold one class per row."""
    z = self.latents(key, n)
    if not self.num_classes:
      return z, None
    cols = -(-n // self.num_classes)
    return z, jnp.arange(n, dtype=jnp.int32) // cols


def build(config, mesh=None, dataset=None):
  configs.validate(config)
  mesh = parallel.make_mesh() if mesh is None else mesh
  parallel.check_batch_size(config.batch_size, mesh)
  dataset = data.load(config) if dataset is None else dataset
  if config.get('conditional', False) and dataset.num_classes != config.num_classes:
    raise ValueError(f'config.conditional: dataset {dataset.name!r} has '
                     f'{dataset.num_classes} classes but config.num_classes is '
                     f'{config.num_classes}.')
  generator, discriminator = nets.build(config, dataset.example_shape)
  g_tx = state_lib.make_optimizer(config.g_optimizer, config.total_steps)
  d_tx = state_lib.make_optimizer(config.d_optimizer, config.total_steps * config.n_critic)
  replicated = parallel.replicated(mesh)

  init = jax.jit(lambda: state_lib.init_state(
      config, generator, discriminator, dataset.example_shape, g_tx, d_tx),
                 out_shardings=replicated)
  data_axis = NamedSharding(mesh, P('data'))
  constrain = lambda x: jax.lax.with_sharding_constraint(x, data_axis)
  step_fn = step_lib.make_train_step(config, generator, discriminator, g_tx, d_tx,
                                     constrain=constrain)
  batch_sharding = parallel.batch_sharding(mesh, batch_axis=1)
  train_step = jax.jit(step_fn, in_shardings=(replicated, batch_sharding),
                       out_shardings=(replicated, replicated), donate_argnums=0)
  sample = step_lib.make_sample_fn(generator)
  return Experiment(config, mesh, dataset, generator, discriminator, init, train_step,
                    sample)


def generated_batches(exp, state, num, seed=0, batch_size=None, use_ema=True):
  """Yields `num` generated samples (float, model space) as numpy batches.

  Batch b uses latents fold_in(PRNGKey(seed), b); sample i of a conditional experiment
  has class i mod K. EMA weights (and EMA batch-norm statistics) are used when kept
  and `use_ema`.
  """
  params, collections = state.generator(use_ema)
  batch_size = batch_size or max(exp.config.batch_size, 1)
  key = jax.random.PRNGKey(seed)
  for i in range(0, num, batch_size):
    z = exp.latents(jax.random.fold_in(key, i // batch_size), batch_size)
    y = exp.labels(i, batch_size)
    yield np.asarray(jax.device_get(exp.sample(params, collections, z, y)))[:num - i]


def generate(exp, state, num, seed=0, batch_size=None, use_ema=True):
  """All of `generated_batches` in one array (None when num is 0)."""
  out = list(generated_batches(exp, state, num, seed, batch_size, use_ema))
  return np.concatenate(out) if out else None
