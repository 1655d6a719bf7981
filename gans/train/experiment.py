"""Builds everything a run needs from its config: data, networks, state, compiled step.

Shared by training, sampling, evaluation and the benchmark, so they all compile the
same functions with the same shardings.
"""

import dataclasses
from typing import Any, Callable

import jax
import jax.numpy as jnp
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
  sample: Callable                            # (params, g_state, z) -> samples.

  def latents(self, key, n):
    return step_lib.sample_latent(key, n, self.config.latent_dim)


def build(config, mesh=None, dataset=None):
  configs.validate(config)
  mesh = parallel.make_mesh() if mesh is None else mesh
  parallel.check_batch_size(config.batch_size, mesh)
  dataset = data.load(config) if dataset is None else dataset
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


def generate(exp, state, num, seed=0, batch_size=None, use_ema=True):
  """Generates `num` samples with latents from `seed` (EMA weights when kept)."""
  params = state.ema_params if (use_ema and state.ema_params) else state.g_params
  batch_size = batch_size or max(exp.config.batch_size, 1)
  key = jax.random.PRNGKey(seed)
  out = []
  for i in range(0, num, batch_size):
    z = exp.latents(jax.random.fold_in(key, i // batch_size), batch_size)
    out.append(jax.device_get(exp.sample(params, state.g_state, z)))
  return jnp.concatenate(out)[:num] if out else None
