"""The train state: both networks, their collections, optimizers, EMA, step and key."""

from typing import Any

import flax
import jax
import jax.numpy as jnp
import optax

from gans.train import tricks


@flax.struct.dataclass
class TrainState:
  step: jax.Array            # Generator steps taken (int32 scalar).
  key: jax.Array             # Root key (uint32[2]); step keys are fold_in(key, step).
  g_params: Any
  g_state: Any               # Non-parameter collections of G (e.g. batch_stats).
  d_params: Any
  d_state: Any
  g_opt: Any
  d_opt: Any
  ema_params: Any            # Generator EMA parameters; an empty dict without EMA.
  ema_state: Any             # EMA of G's collections (batch-norm statistics), as
                             # BigGAN-PyTorch averages buffers; empty without EMA.

  def generator(self, use_ema=True):
    """(params, collections) to sample with: the EMA pair when kept and `use_ema`."""
    if use_ema and self.ema_params:
      return self.ema_params, self.ema_state
    return self.g_params, self.g_state


def make_optimizer(cfg, num_updates):
  """optax transformation from an optimizer config fragment (gans.configs.optimizer).

  `num_updates` is how many updates this optimizer makes over the run (the linear
  decay reaches 0 there).
  """
  name = cfg.name
  lr = cfg.lr
  decay = cfg.get('decay', 'none')
  if decay == 'linear':
    lr = optax.linear_schedule(cfg.lr, 0.0, num_updates)
  elif decay != 'none':
    raise ValueError(f"Optimizer decay {decay!r} is not 'none' or 'linear'.")
  if name == 'adam':
    return optax.adam(lr, b1=cfg.b1, b2=cfg.b2)
  if name == 'rmsprop':
    return optax.rmsprop(lr)
  if name == 'sgd':
    return optax.sgd(lr, momentum=cfg.get('momentum', 0.0) or None)
  raise ValueError(f"Optimizer name {name!r} is not one of 'adam', 'rmsprop', 'sgd'.")


def split_variables(variables):
  variables = dict(variables)
  params = variables.pop('params')
  return params, variables


def init_state(config, generator, discriminator, example_shape, g_tx, d_tx, seed=None):
  """Initializes every part of the state from `config.seed` (pure; jit it).

  `seed` (optional, may be traced) replaces config.seed, so several runs can be
  initialized under `jax.vmap` (gans.toy_table). With `config.pack` = m, D is
  initialized on m samples concatenated (gans.train.tricks.pack).
  """
  seed = config.seed if seed is None else seed
  init_key, key = jax.random.split(jax.random.PRNGKey(seed))
  g_key, d_key = jax.random.split(init_key)
  z = jnp.zeros((2, config.latent_dim), jnp.float32)
  y = jnp.zeros((2,), jnp.int32)
  g_params, g_state = split_variables(generator.init(g_key, z, y, train=False))
  m = int(config.get('pack', 1))
  x = tricks.pack(jnp.zeros((2 * m,) + tuple(example_shape), jnp.float32), m)
  d_params, d_state = split_variables(discriminator.init(d_key, x, y, train=False))
  keep_ema = config.ema_decay > 0
  ema = jax.tree.map(jnp.copy, g_params) if keep_ema else {}
  ema_state = jax.tree.map(jnp.copy, g_state) if keep_ema else {}
  return TrainState(step=jnp.zeros((), jnp.int32), key=key, g_params=g_params,
                    g_state=g_state, d_params=d_params, d_state=d_state,
                    g_opt=g_tx.init(g_params), d_opt=d_tx.init(d_params), ema_params=ema,
                    ema_state=ema_state)


def param_count(params):
  return sum(x.size for x in jax.tree.leaves(params))
