"""Gated PixelCNN: shapes, exact causality of the masks, no blind spot, conditioning, sampler."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gans.nets import pixelcnn

KEY = jax.random.key(0)
RNG = np.random.default_rng(0)
_FAST_COMPILE = {'xla_backend_optimization_level': 0, 'xla_llvm_disable_expensive_passes': True}


def _call(fn, *args):
  """fn(*args) under jit, compiled without LLVM optimizations (compile time dominates)."""
  return jax.jit(fn).lower(*args).compile(compiler_options=_FAST_COMPILE)(*args)


def _tiny(**kwargs):
  fields = dict(features=12, num_layers=3, kernel_size=5, num_levels=5, head_features=24)
  return pixelcnn.PixelCNN(**{**fields, **kwargs})


def _init(model, shape, y=None):
  return _call(lambda k, x: model.init(k, x, y), KEY, jnp.zeros((1,) + shape, jnp.int32))


def _images(model, shape, n=2):
  return RNG.integers(0, model.num_levels, size=(n,) + shape).astype(np.int32)


def _order(shape):
  """Flat index of each (row, col, channel) in the model's order: raster scan, then channel."""
  return np.arange(np.prod(shape)).reshape(shape)


def _jacobian(model, variables, shape, n=4):
  """[P, P]: sum over n random float inputs of |d (projected logits at i) / d (input at j)|.

  Several inputs, so that an input that matters is not missed where ReLUs of the head
  happen to be inactive for one of them.
  """
  u = RNG.normal(size=model.num_levels).astype(np.float32)

  def f(x):
    logits = model.apply(variables, x[None], method=model.logits_from_float)[0]
    return (logits @ u).reshape(-1)

  x = RNG.uniform(-1, 1, size=(n,) + shape).astype(np.float32)
  size = int(np.prod(shape))
  jac = _call(lambda x: jnp.abs(jax.vmap(jax.jacrev(f))(x)).sum(0), x)
  return np.asarray(jac).reshape(size, size)


def test_shapes_and_dtype():
  model = _tiny(num_levels=16)
  variables = _init(model, (4, 5, 3))
  for dtype in (np.int32, np.uint8):
    x = _images(model, (4, 5, 3)).astype(dtype)
    logits = _call(model.apply, variables, x)
    assert logits.shape == (2, 4, 5, 3, 16) and logits.dtype == jnp.float32
    assert np.all(np.isfinite(logits))


@pytest.mark.parametrize('channels', [1, 3])
def test_exactly_causal_and_sees_every_earlier_input(channels):
  # 3 layers of kernel 5 reach the whole 4x4 image, so every earlier input matters.
  shape = (4, 4, channels)
  model = _tiny()
  jac = _jacobian(model, _init(model, shape), shape)
  size = jac.shape[0]
  later = np.triu(np.ones((size, size), bool))  # j >= i: includes the position itself.
  assert np.all(jac[later] == 0), np.argwhere(later & (jac != 0))[:5]
  assert np.all(jac[~later] > 0), np.argwhere(~later & (jac == 0))[:5]


def test_logits_ignore_later_inputs():
  shape = (4, 5, 3)
  order = _order(shape)
  model = _tiny()
  variables = _init(model, shape)
  base = _images(model, shape, n=3)  # Several, in case the head's ReLUs mute one of them.
  # First, last, the channel boundaries of one pixel, a pixel on the right edge of a row.
  positions = [(0, 0, 0), (3, 4, 2), (2, 1, 0), (2, 1, 1), (2, 1, 2), (1, 4, 0), (1, 4, 2)]
  later = [np.where(order >= order[p], _images(model, shape, n=3), base) for p in positions]
  earlier = [np.where(order < order[p], (base + 1) % model.num_levels, base) for p in positions]
  logits = np.asarray(_call(model.apply, variables, np.concatenate([base] + later + earlier)))
  logits = logits.reshape((-1, 3) + logits.shape[1:])  # [1 + 2 * positions, 3, ...].
  k = len(positions)
  for n, pos in enumerate(positions):
    index = (slice(None),) + pos
    np.testing.assert_allclose(logits[1 + n][index], logits[0][index], rtol=0, atol=1e-6)
    if order[pos] > 0:  # The earlier inputs do change it.
      assert np.abs(logits[1 + k + n][index] - logits[0][index]).max() > 1e-4


def test_no_blind_spot():
  # One gated layer: the pixel up-right of (r, col) reaches it through the vertical stack.
  shape = (3, 4, 1)
  model = _tiny(num_layers=1, kernel_size=3)
  jac = _jacobian(model, _init(model, shape), shape)
  order = _order(shape)
  r, col = 1, 1

  def sees(dr, dc):
    return jac[order[r, col, 0], order[r + dr, col + dc, 0]] != 0

  assert sees(-1, 1) and sees(-1, 0) and sees(-1, -1) and sees(0, -1)
  assert not sees(0, 0) and not sees(0, 1)


def test_class_conditioning():
  shape = (3, 3, 1)
  model = _tiny(num_classes=3)
  variables = _init(model, shape, jnp.zeros((1,), jnp.int32))
  assert variables['params']['layer0']['cond'].shape == (3, 24)
  x = np.repeat(_images(model, shape, n=1), 2, axis=0)
  logits = _call(lambda v, x, y: model.apply(v, x, y), variables, x, np.array([0, 1]))
  assert np.abs(logits[0] - logits[1]).max() > 1e-3
  with pytest.raises(ValueError, match='labels'):
    model.apply(variables, x)


def _positions_agree(model, variables, samples, key, labels=None):
  """Whether every draw equals categorical(fold_in(key, p), full-model logits at p)."""
  logits = np.asarray(_call(lambda v, x: model.apply(v, x, labels), variables, samples))
  n, size = samples.shape[0], samples[0].size
  logits = jnp.asarray(logits.reshape(n, size, -1).transpose(1, 0, 2))  # [P, N, levels]
  keys = jax.vmap(lambda p: jax.random.fold_in(key, p))(jnp.arange(size))
  draws = jax.vmap(jax.random.categorical)(keys, logits)  # [P, N]
  return np.array_equal(np.asarray(draws).T, samples.reshape(n, size))


def test_sampler_is_the_model():
  shape = (3, 4, 3)
  model = _tiny()
  variables = _init(model, shape)
  samples = {
    s: np.asarray(pixelcnn.make_sampler(model, shape, s)(variables, KEY, 3))
    for s in ('rows', 'host', 'fori')
  }
  x = samples['rows']
  assert x.shape == (3,) + shape and x.dtype == np.int32
  assert x.min() >= 0 and x.max() < model.num_levels and len(np.unique(x)) > 1
  assert np.array_equal(samples['host'], x) and np.array_equal(samples['fori'], x)
  assert _positions_agree(model, variables, x, KEY)


def test_sampler_deterministic_and_conditional():
  shape = (3, 3, 1)
  model = _tiny(num_classes=3, kernel_size=3)
  variables = _init(model, shape, jnp.zeros((1,), jnp.int32))
  sample = pixelcnn.make_sampler(model, shape)
  labels = np.array([0, 1, 2, 2])
  x = np.asarray(sample(variables, KEY, labels))
  assert np.array_equal(np.asarray(sample(variables, KEY, labels)), x)
  assert not np.array_equal(np.asarray(sample(variables, jax.random.key(1), labels)), x)
  assert _positions_agree(model, variables, x, KEY, labels)
  with pytest.raises(ValueError, match='labels'):
    sample(variables, KEY, 4)


def test_first_pixel_distribution():
  # The logits at position 0 see no input; give them a lopsided softmax.
  shape = (1, 2, 1)
  model = _tiny(num_levels=4)
  variables = _init(model, shape)
  params = variables['params']
  head = {**params['head'], 'out_bias': jnp.array([1.5, 0.0, -1.0, 0.5])}
  variables = {'params': {**params, 'head': head}}
  logits = _call(model.apply, variables, np.zeros((1,) + shape, np.int32))
  probs = jax.nn.softmax(logits[0, 0, 0, 0])
  n = 4000
  x = np.asarray(pixelcnn.make_sampler(model, shape)(variables, KEY, n))
  freq = np.bincount(x[:, 0, 0, 0], minlength=4) / n
  np.testing.assert_allclose(freq, probs, atol=4 * np.sqrt(0.25 / n))
  assert np.abs(probs - 0.25).max() > 0.1
