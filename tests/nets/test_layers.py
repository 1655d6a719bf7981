"""Layers: spectral norm against the SVD, conditional batch norm, self-attention, projection."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gans.nets import layers

# RBG keys: the same tests, but parameter initialization compiles several times faster.
KEY = jax.random.key(0, impl='rbg')
RNG = np.random.default_rng(0)


_FAST_COMPILE = {'xla_backend_optimization_level': 0, 'xla_llvm_disable_expensive_passes': True}


def _call(fn, *args):
  """fn(*args) under jit, compiled without LLVM optimizations (compile time dominates)."""
  return jax.jit(fn).lower(*args).compile(compiler_options=_FAST_COMPILE)(*args)


def _init(module, *args, **kwargs):
  return _call(lambda key, *a: module.init(key, *a, **kwargs), KEY, *args)


def _apply(module, variables, *args, **kwargs):
  return _call(lambda v, *a: module.apply(v, *a, **kwargs), variables, *args)


class _Normalized(nn.Module):
  """Returns the spectrally normalized kernel itself."""

  shape: tuple

  @nn.compact
  def __call__(self, train):
    kernel = self.param('kernel', nn.initializers.normal(1.0), self.shape)
    return layers.spectral_normalize(self, kernel, train)


def _train_calls(module, variables, n, *args):
  fn = lambda v: module.apply(v, *args, train=True, mutable=['spectral'])
  step = jax.jit(fn).lower(variables).compile(compiler_options=_FAST_COMPILE)
  for _ in range(n):
    out, updates = step(variables)
    variables = {**variables, **updates}
  return out, variables


@pytest.mark.parametrize('shape', [(24, 10), (3, 3, 4, 8)], ids=['dense', 'conv'])
def test_spectral_norm_converges_to_largest_singular_value(shape):
  module = _Normalized(shape)
  variables = _init(module, train=False)
  assert set(variables) == {'params', 'spectral'}
  assert variables['spectral']['u'].shape == (1, shape[-1])
  kernel = np.asarray(variables['params']['kernel'], np.float64)
  singular = np.linalg.svd(kernel.reshape(-1, shape[-1]), compute_uv=False)
  assert singular[1] < 0.97 * singular[0]  # A gap, so that 100 iterations converge.
  normalized, variables = _train_calls(module, variables, 100)
  sigma = kernel / np.asarray(normalized, np.float64)
  np.testing.assert_allclose(sigma, singular[0], rtol=1e-3)
  top = np.linalg.svd(np.asarray(normalized).reshape(-1, shape[-1]), compute_uv=False)[0]
  assert abs(top - 1.0) < 1e-3
  # Eval right after the last training call divides by the same sigma.
  np.testing.assert_allclose(_apply(module, variables, train=False), normalized, rtol=1e-6)


def test_spectral_state_updates_only_in_train_mode():
  module = layers.SNDense(6)
  x = RNG.normal(size=(5, 7)).astype(np.float32)
  variables = _init(module, x, train=False)
  u0 = variables['spectral']['u']
  out_eval, state = _apply(module, variables, x, train=False, mutable=['spectral'])
  np.testing.assert_array_equal(state['spectral']['u'], u0)
  np.testing.assert_array_equal(_apply(module, variables, x, train=False), out_eval)
  out_train, state = _apply(module, variables, x, train=True, mutable=['spectral'])
  assert np.max(np.abs(state['spectral']['u'] - u0)) > 1e-3
  assert np.max(np.abs(out_train - out_eval)) > 1e-6
  assert np.isclose(np.linalg.norm(state['spectral']['u']), 1.0, atol=1e-6)
  with pytest.raises(Exception, match='spectral'):
    module.apply(variables, x, train=True)  # Training without a mutable 'spectral' fails.


def test_spectral_norm_off_is_a_plain_layer():
  x = RNG.normal(size=(2, 6, 6, 3)).astype(np.float32)
  conv = layers.SNConv(5, (3, 3), spectral_norm=False)
  variables = _init(conv, x)
  assert set(variables) == {'params'}
  reference = _apply(nn.Conv(5, (3, 3)), variables, x)
  np.testing.assert_allclose(_apply(conv, variables, x), reference, atol=1e-5)


@pytest.mark.parametrize(
  'module,x',
  [
    (layers.SNDense(5, use_bias=False), jnp.ones((3, 12))),
    (layers.SNConv(5, (3, 3), strides=2, padding=1, use_bias=False), jnp.ones((2, 6, 6, 3))),
  ],
  ids=['dense', 'conv'],
)
def test_converged_layers_divide_by_the_spectral_norm(module, x):
  x = RNG.normal(size=x.shape).astype(np.float32)
  variables = _init(module, x, train=False)
  _, variables = _train_calls(module, variables, 100, x)
  kernel = variables['params']['kernel']
  sigma = np.linalg.svd(np.asarray(kernel).reshape(-1, kernel.shape[-1]), compute_uv=False)[0]
  plain = _apply(module.clone(spectral_norm=False), {'params': variables['params']}, x)
  np.testing.assert_allclose(
    _apply(module, variables, x, train=False), plain / sigma, rtol=1e-3, atol=1e-5
  )

  # Gradient: u, v are constants, so at convergence it is that of W / sigma_max(W).
  def loss(params, sn):
    if sn:
      out = module.apply({**variables, 'params': params}, x, train=False)
    else:
      w = params['kernel']
      top = jnp.linalg.svd(w.reshape(-1, w.shape[-1]), compute_uv=False)[0]
      out = module.clone(spectral_norm=False).apply({'params': {'kernel': w / top}}, x)
    return jnp.sum(jnp.sin(out))

  got = _call(lambda p: jax.grad(loss)(p, True), variables['params'])['kernel']
  want = _call(lambda p: jax.grad(loss)(p, False), variables['params'])['kernel']
  np.testing.assert_allclose(got, want, rtol=2e-3, atol=2e-3 * np.abs(want).max())


def _batch_normalize(x, eps):
  x = np.asarray(x, np.float64)
  axes = tuple(range(x.ndim - 1))
  return (x - x.mean(axes)) / np.sqrt(x.var(axes) + eps)


def test_class_conditional_batch_norm():
  cbn = layers.ConditionalBatchNorm(num_classes=3, embedding_init=nn.initializers.normal(0.5))
  x = RNG.normal(size=(4, 5, 5, 6)).astype(np.float32) * 2 + 1
  x[1] = x[2] = x[0]  # Samples 0, 1, 2 share the input.
  y = np.array([0, 0, 2, 1])
  variables = _init(cbn, x, y, train=False)
  assert set(variables) == {'params', 'batch_stats'}
  out, state = _apply(cbn, variables, x, y, train=True, mutable=['batch_stats'])
  np.testing.assert_array_equal(out[0], out[1])  # Same x, same label.
  assert np.max(np.abs(out[0] - out[2])) > 1e-2  # Same x, another label.
  gain = 1 + np.asarray(variables['params']['gain']['embedding'])[y]
  bias = np.asarray(variables['params']['bias']['embedding'])[y]
  want = _batch_normalize(x, 1e-5) * gain[:, None, None] + bias[:, None, None]
  np.testing.assert_allclose(out, want, atol=1e-4)
  mean = state['batch_stats']['bn']['mean']
  np.testing.assert_allclose(mean, 0.1 * np.asarray(x).mean((0, 1, 2)), atol=1e-5)
  with pytest.raises(ValueError, match='int labels'):
    cbn.apply(variables, x, np.ones((4, 3), np.float32), train=False)


def test_linear_conditional_batch_norm_with_spectral_norm():
  cbn = layers.ConditionalBatchNorm(spectral_norm=True)
  x = RNG.normal(size=(6, 4, 4, 8)).astype(np.float32)
  cond = RNG.normal(size=(6, 5)).astype(np.float32)
  variables = _init(cbn, x, cond, train=False)
  assert set(variables['spectral']) == {'gain', 'bias'}
  out = _apply(cbn, variables, x, cond, train=False)  # Running stats: mean 0, var 1.
  params, u = variables['params'], variables['spectral']

  def normalized(name):  # W / (v^T W u) with v = normalize(W u), from the stored u.
    w = np.asarray(params[name]['kernel'], np.float64)
    wu = w @ np.asarray(u[name]['u'], np.float64)[0]
    return w / np.linalg.norm(wu)

  cond = np.asarray(cond, np.float64)
  gain, bias = 1 + cond @ normalized('gain'), cond @ normalized('bias')
  want = np.asarray(x) / np.sqrt(1 + 1e-5) * gain[:, None, None] + bias[:, None, None]
  np.testing.assert_allclose(out, want, atol=1e-4)
  assert np.max(np.abs(out[0] - out[1])) > 1e-2


def test_self_attention_matches_numpy_reference():
  attention = layers.SelfAttention(spectral_norm=False)
  x = RNG.normal(size=(2, 4, 6, 16)).astype(np.float32)
  variables = _init(attention, x)
  assert variables['params']['gamma'] == 0
  np.testing.assert_array_equal(_apply(attention, variables, x), x)  # Starts as identity.
  params = jax.tree.map(np.asarray, variables['params'])
  params['gamma'] = np.float32(0.7)
  out = _apply(attention, {'params': params}, x)

  w = lambda name: params[name]['kernel'][0, 0].astype(np.float64)  # [Cin, Cout]
  xn = np.asarray(x, np.float64)

  def pool(t):  # 2x2 max pool, NHWC.
    b, h, wd, c = t.shape
    return t.reshape(b, h // 2, 2, wd // 2, 2, c).max((2, 4))

  theta = (xn @ w('theta')).reshape(2, 24, 2)
  phi = pool(xn @ w('phi')).reshape(2, 6, 2)
  g = pool(xn @ w('g')).reshape(2, 6, 8)
  logits = theta @ phi.transpose(0, 2, 1)
  beta = np.exp(logits - logits.max(-1, keepdims=True))
  beta /= beta.sum(-1, keepdims=True)
  o = (beta @ g).reshape(2, 4, 6, 8) @ w('o')
  np.testing.assert_allclose(out, xn + 0.7 * o, atol=1e-5)


def test_projection_head_is_linear_plus_inner_product():
  head = layers.ProjectionHead(num_classes=4, spectral_norm=False)
  h = RNG.normal(size=(5, 7)).astype(np.float32)
  y = np.array([0, 3, 1, 3, 2])
  variables = _init(head, h, y)
  p = variables['params']
  want = (
    np.asarray(h) @ np.asarray(p['linear']['kernel'])[:, 0]
    + p['linear']['bias'][0]
    + np.sum(np.asarray(p['embed']['embedding'])[y] * np.asarray(h), axis=1)
  )
  np.testing.assert_allclose(_apply(head, variables, h, y), want, atol=1e-5)
  with pytest.raises(ValueError, match='needs integer labels'):
    head.apply(variables, h, None)


@pytest.mark.parametrize('norm', ['batch', 'embed', 'linear'])
def test_residual_blocks_shapes(norm):
  x = np.ones((2, 4, 4, 8), np.float32)
  cond = {'batch': None, 'embed': np.array([0, 2]), 'linear': np.ones((2, 3), np.float32)}[norm]
  up = layers.UpBlock(6, norm, num_classes=3, spectral_norm=True)
  variables = jax.eval_shape(lambda: up.init(KEY, x, cond, train=False))
  out, state = jax.eval_shape(
    lambda v: up.apply(v, x, cond, train=True, mutable=['batch_stats', 'spectral']), variables
  )
  assert out.shape == (2, 8, 8, 6)
  assert set(state) == {'batch_stats', 'spectral'}
  for preactivation, down, shape in [(False, True, (2, 2, 2, 6)), (True, False, (2, 4, 4, 6))]:
    block = layers.DownBlock(6, down, preactivation)
    out = jax.eval_shape(lambda: block.init_with_output(KEY, x, train=False))[0]
    assert out.shape == shape
  identity_block = layers.DownBlock(8, downsample=False)
  params = jax.eval_shape(lambda: identity_block.init(KEY, x, train=False))['params']
  assert 'shortcut' not in params
