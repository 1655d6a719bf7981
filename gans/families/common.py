"""Small pieces every family's `build` uses: jitting a step with the run's shardings,
a fixed batch of real examples for grids, image grids and integer pixels.
"""

import jax
import jax.numpy as jnp
import numpy as np
import optax

from gans import parallel
from gans.data import images as image_lib
from gans.train import state as state_lib


def apply_net(module, params, collections, x, y, train, rng=None):
  """Applies a linen module as module(x, y, train=...); returns (output, collections).

  In train mode the non-parameter collections (batch statistics, spectral-norm
  vectors) are updated and returned; `rng` feeds the 'dropout' stream.
  """
  variables = {'params': params, **collections}
  rngs = {'dropout': rng} if (train and rng is not None) else None
  if train and collections:
    return module.apply(variables, x, y, train=True, mutable=list(collections), rngs=rngs)
  return module.apply(variables, x, y, train=train, rngs=rngs), collections


def jit_step(step_fn, mesh):
  """jit of `step(state, batch) -> (state, metrics)`: state replicated and donated,
  batch [group, B, ...] split over the 'data' axis on B."""
  replicated = parallel.replicated(mesh)
  return jax.jit(
    step_fn,
    in_shardings=(replicated, parallel.batch_sharding(mesh, 1)),
    out_shardings=(replicated, replicated),
    donate_argnums=0,
  )


def jit_init(init_fn, mesh):
  """jit of `init() -> TrainState`, replicated over the mesh."""
  return jax.jit(init_fn, out_shardings=parallel.replicated(mesh))


def fixed_batch(dataset, n, seed=1):
  """(x, y): `n` training examples at fixed random indices (reconstruction grids)."""
  n = min(n, dataset.num_examples)
  idx = np.sort(np.random.default_rng(seed).permutation(dataset.num_examples)[:n])
  return dataset.get(idx)


def image_grid(images, rows=None):
  """uint8 grid of model-space images [N, H, W, C] in [-1, 1]."""
  return image_lib.grid(image_lib.to_uint8(np.asarray(jax.device_get(images))), rows=rows)


def pairs_grid(originals, reconstructions):
  """Grid whose row pairs are originals then their reconstructions (8 per row)."""
  a = np.asarray(jax.device_get(originals))
  b = np.asarray(jax.device_get(reconstructions))
  cols = 8
  n = (len(a) // cols) * cols or len(a)
  rows = []
  for i in range(0, n, cols):
    rows += [a[i : i + cols], b[i : i + cols]]
  return image_grid(np.concatenate(rows), rows=len(rows))


def to_levels(x, num_levels=256):
  """Model-space images in [-1, 1] (from uint8) -> int32 levels 0..num_levels-1."""
  scale = (num_levels - 1) / 2.0
  return jnp.clip(jnp.round((x + 1.0) * scale), 0, num_levels - 1).astype(jnp.int32)


def from_levels(levels, num_levels=256):
  """int levels -> float32 model space in [-1, 1]."""
  return levels.astype(jnp.float32) / ((num_levels - 1) / 2.0) - 1.0


def binarize(x):
  """Static binarization of model-space images: 1.0 where the pixel is > 127.5."""
  return (x > 0.0).astype(jnp.float32)


def init_state(seed, models, tx=None):
  """TrainState with one ModelState per entry of `models` {name: (module, args)}.

  Keys: (init, root) = split(PRNGKey(seed)); model i is initialized with the i-th
  key of split(init, len(models)), in the order given; every model gets optimizer `tx`
  (a dict {name: tx} gives each its own). No EMA, no extras.
  """
  init_key, key = jax.random.split(jax.random.PRNGKey(seed))
  keys = jax.random.split(init_key, len(models))
  txs = tx if isinstance(tx, dict) else {name: tx for name in models}
  out = {
    name: state_lib.init_model(module, k, *args, tx=txs[name])
    for k, (name, (module, args)) in zip(keys, models.items())
  }
  return state_lib.TrainState(step=jnp.zeros((), jnp.int32), key=key, models=out, ema={}, extras={})


def apply_gradients(state, grads, tx, collections):
  """Updates every model named in `grads` with its optimizer; sets its collections.

  `tx`: one optax transformation for all, or {name: tx}; `collections`: {name: the
  model's new non-parameter collections}.
  """
  for name, g in grads.items():
    m = state.models[name]
    t = tx[name] if isinstance(tx, dict) else tx
    updates, opt_state = t.update(g, m.opt_state, m.params)
    state = state.replace_model(
      name,
      params=optax.apply_updates(m.params, updates),
      opt_state=opt_state,
      collections=collections[name],
    )
  return state


def zeros_inputs(example_shape, latent_dim, n=2):
  """(x, y, z) zeros to initialize image, label and latent inputs."""
  return (
    jnp.zeros((n,) + tuple(example_shape), jnp.float32),
    jnp.zeros((n,), jnp.int32),
    jnp.zeros((n, latent_dim), jnp.float32),
  )
