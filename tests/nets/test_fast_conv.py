"""fast_conv equals plain lax/flax convolutions: values and 1st-3rd order gradients."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from gans.nets import fast_conv

NHWC = ('NHWC', 'HWIO', 'NHWC')


def _plain_conv(x, w, strides, padding):
  return lax.conv_general_dilated(x, w, strides, padding, dimension_numbers=NHWC)


def _plain_conv_transpose(x, w, strides, padding):
  return lax.conv_transpose(x, w, strides, padding, dimension_numbers=NHWC)


def _fast_conv(x, w, strides, padding):
  return fast_conv.conv2d(x, w, strides, padding)


def _fast_conv_transpose(x, w, strides, padding):
  return fast_conv.conv_transpose2d(x, w, strides, padding)


def _values_and_derivatives(op, x, w, v):
  """The op's output, first-order gradients of a nonlinear scalar of it, and the
  gradients of a WGAN-GP-like penalty of its input gradient (second order)."""

  def scalar(x, w):
    return jnp.sum(jnp.tanh(op(x, w)) * v)

  def penalty(x, w):
    gx = jax.grad(scalar)(x, w)
    norms = jnp.sqrt(jnp.sum(gx**2, axis=(1, 2, 3)) + 1e-12)
    return jnp.mean((norms - 1.0) ** 2)

  gx, gw = jax.grad(scalar, (0, 1))(x, w)
  px, pw = jax.grad(penalty, (0, 1))(x, w)
  return dict(out=op(x, w), grad_x=gx, grad_w=gw, penalty_grad_x=px, penalty_grad_w=pw)


def _assert_close(fast, plain, rtol=1e-5):
  for name in plain:
    ref = np.asarray(plain[name])
    got = np.asarray(fast[name])
    assert got.shape == ref.shape, name
    scale = np.max(np.abs(ref))
    assert scale > 0, f'{name}: reference is all zeros; the test would be vacuous'
    err = np.max(np.abs(got - ref)) / scale
    assert err <= rtol, f'{name}: max relative error {err:.2e} > {rtol:.0e}'


def _random(shape, seed):
  # NumPy, not jax.random: each new shape would cost a compilation.
  return jnp.asarray(np.random.default_rng(seed).standard_normal(shape), jnp.float32)


def _compare(fast_op, plain_op, x_shape, w_shape, strides, padding):
  x, w = _random(x_shape, 0), _random(w_shape, 1) / np.sqrt(np.prod(w_shape[:3]))
  out_shape = jax.eval_shape(lambda x, w: plain_op(x, w, strides, padding), x, w).shape
  v = _random(out_shape, 2)
  run = lambda op: jax.jit(
    lambda x, w, v: _values_and_derivatives(lambda x, w: op(x, w, strides, padding), x, w, v)
  )(x, w, v)
  _assert_close(run(fast_op), run(plain_op))


# (input NHWC, kernel HWIO, strides, padding). The first two are DCGAN critic layers
# at 32x32 (PyTorch Conv2d(k=4, s=2, p=1)), at batch 2.
CONV_CASES = [
  ((2, 32, 32, 3), (4, 4, 3, 64), (2, 2), ((1, 1), (1, 1))),
  ((2, 8, 8, 128), (4, 4, 128, 256), (2, 2), ((1, 1), (1, 1))),
  ((3, 7, 9, 5), (3, 3, 5, 4), (2, 2), 'SAME'),
  ((2, 11, 6, 3), (4, 3, 3, 6), (3, 2), 'VALID'),
  ((2, 10, 7, 3), (5, 2, 3, 2), (2, 3), ((-1, 2), (2, -1))),  # negative = crop
  ((2, 5, 5, 3), (3, 3, 3, 4), (1, 1), ((2, 2), (2, 2))),  # 'full' padding
]


@pytest.mark.parametrize('x_shape,w_shape,strides,padding', CONV_CASES)
def test_conv2d_matches_lax(x_shape, w_shape, strides, padding):
  _compare(_fast_conv, _plain_conv, x_shape, w_shape, strides, padding)


# The first two are DCGAN generator layers at 32x32 (flax ConvTranspose(4, 2, 'SAME')
# = PyTorch ConvTranspose2d(k=4, s=2, p=1)), at batch 2.
CONV_TRANSPOSE_CASES = [
  ((2, 4, 4, 256), (4, 4, 256, 128), (2, 2), 'SAME'),
  ((2, 16, 16, 64), (4, 4, 64, 3), (2, 2), 'SAME'),
  ((3, 5, 7, 4), (3, 3, 4, 5), (2, 2), 'SAME'),
  ((2, 5, 4, 3), (4, 3, 3, 2), (3, 2), 'VALID'),
  ((2, 6, 5, 3), (5, 4, 3, 4), (2, 3), ((3, -1), (2, 4))),
  ((2, 6, 6, 3), (3, 3, 3, 2), (1, 1), 'SAME'),
]


@pytest.mark.parametrize('x_shape,w_shape,strides,padding', CONV_TRANSPOSE_CASES)
def test_conv_transpose2d_matches_lax(x_shape, w_shape, strides, padding):
  _compare(_fast_conv_transpose, _plain_conv_transpose, x_shape, w_shape, strides, padding)


def test_third_order_gradient_matches_lax():
  """d/d(x, w) of a scalar of the penalty gradient: derivatives of all three maps."""
  fast_op, plain_op = _fast_conv, _plain_conv
  x, w = _random((2, 7, 6, 3), 0), _random((3, 3, 3, 4), 1) / 3.0
  out_shape = plain_op(x, w, (2, 2), 'SAME').shape
  v = _random(out_shape, 2)

  def third(op):
    def second(x, w):
      d = _values_and_derivatives(lambda x, w: op(x, w, (2, 2), 'SAME'), x, w, v)
      return jnp.sum(jnp.sin(d['penalty_grad_w'])) + jnp.sum(jnp.sin(d['penalty_grad_x']))

    gx, gw = jax.jit(jax.grad(second, (0, 1)))(x, w)
    return dict(x=gx, w=gw)

  _assert_close(third(fast_op), third(plain_op), rtol=2e-5)


class _Net(nn.Module):
  """A transposed convolution feeding a WGAN-GP-style critic."""

  conv: type
  conv_transpose: type

  @nn.compact
  def __call__(self, x):
    x = nn.relu(self.conv_transpose(4, (4, 4), strides=(2, 2), padding='SAME')(x))
    for features in (8, 16):
      x = nn.leaky_relu(
        self.conv(features, (4, 4), strides=(2, 2), padding=((1, 1), (1, 1)))(x), 0.2
      )
    return nn.Dense(1)(x.reshape(x.shape[0], -1))[:, 0]


def test_gradient_penalty_hlo_has_only_fast_convolutions():
  """The compiled WGAN-GP parameter gradient holds no convolution with window
  reversal and no non-canonical layout (the forms XLA CPU runs on a slow loop)."""
  x = _random((2, 8, 8, 3), 0)

  def penalty_grad_hlo(net):
    params = jax.eval_shape(net.init, jax.random.PRNGKey(0), x)

    def penalty(params):
      gx = jax.grad(lambda x: jnp.sum(net.apply(params, x)))(x)
      return jnp.mean((jnp.sqrt(jnp.sum(gx**2, axis=(1, 2, 3))) - 1.0) ** 2)

    return jax.jit(jax.grad(penalty)).lower(params).compile().as_text()

  plain = penalty_grad_hlo(_Net(nn.Conv, nn.ConvTranspose))
  assert 'rhs_reversal' in plain  # What this guards against, in plain autodiff.
  fast = penalty_grad_hlo(_Net(fast_conv.Conv, fast_conv.ConvTranspose))
  convs = [l for l in fast.splitlines() if ' convolution(' in l]
  # Forward, input gradient, and both parameter gradients of each layer (some of
  # the 3-channel ones may be simplified into other ops).
  assert len(convs) >= 10
  for line in convs:
    assert 'reversal' not in line, line
    assert 'dim_labels=b01f_01io->b01f' in line, line


@pytest.mark.parametrize(
  'fast_cls,plain_cls,kwargs,batch_shape',
  [
    (fast_conv.Conv, nn.Conv, dict(strides=(2, 2), padding=((1, 1), (1, 1))), (3,)),
    (fast_conv.Conv, nn.Conv, dict(strides=1, padding='CIRCULAR', use_bias=False), (2, 3)),
    (fast_conv.ConvTranspose, nn.ConvTranspose, dict(strides=(2, 2), padding='SAME'), (2, 3)),
    (fast_conv.ConvTranspose, nn.ConvTranspose, dict(strides=2, padding=1), (3,)),
  ],
)
def test_modules_match_flax(fast_cls, plain_cls, kwargs, batch_shape):
  x = _random(batch_shape + (8, 8, 5), 0)
  fast, plain = fast_cls(7, (4, 4), **kwargs), plain_cls(7, (4, 4), **kwargs)
  init = jax.jit(lambda key: (fast.init(key, x), plain.init(key, x)))
  fast_vars, plain_vars = init(jax.random.PRNGKey(3))
  # Same parameter names, shapes and initial values: either module takes the other's
  # parameters and checkpoints.
  assert jax.tree.structure(fast_vars) == jax.tree.structure(plain_vars)
  jax.tree.map(np.testing.assert_array_equal, fast_vars, plain_vars)
  plain_vars = jax.tree.map(lambda p: p + 0.1, plain_vars)  # A nonzero bias.
  apply = jax.jit(lambda v: (fast.apply(v, x), plain.apply(v, x)))
  np.testing.assert_allclose(*apply(plain_vars), rtol=1e-6, atol=1e-6)


def test_module_auto_names_match_flax():
  class Net(nn.Module):
    fast: bool

    @nn.compact
    def __call__(self, x):
      conv = fast_conv.Conv if self.fast else nn.Conv
      conv_t = fast_conv.ConvTranspose if self.fast else nn.ConvTranspose
      return conv_t(3, (4, 4), strides=(2, 2))(conv(4, (4, 4), strides=(2, 2))(x))

  x = jnp.zeros((1, 8, 8, 3))
  fast = jax.eval_shape(Net(True).init, jax.random.PRNGKey(0), x)
  plain = jax.eval_shape(Net(False).init, jax.random.PRNGKey(0), x)
  assert jax.tree.structure(fast) == jax.tree.structure(plain)
  assert jax.tree.map(lambda a: a.shape, fast) == jax.tree.map(lambda a: a.shape, plain)


def test_unsupported_configurations_raise_clearly():
  x2d, w = jnp.zeros((1, 8, 8, 3)), jnp.zeros((3, 3, 3, 4))
  with pytest.raises(NotImplementedError, match='kernel dilation'):
    fast_conv.conv_general_dilated(
      x2d, w, (1, 1), 'SAME', rhs_dilation=(2, 2), dimension_numbers=NHWC
    )
  with pytest.raises(NotImplementedError, match='groups'):
    fast_conv.conv_general_dilated(
      x2d, jnp.zeros((3, 3, 1, 3)), (1, 1), 'SAME', dimension_numbers=NHWC, feature_group_count=3
    )
  with pytest.raises(NotImplementedError, match='not both'):
    fast_conv.conv_general_dilated(
      x2d, w, (2, 2), 'SAME', lhs_dilation=(2, 2), dimension_numbers=NHWC
    )
  with pytest.raises(NotImplementedError, match='2-D'):
    fast_conv.conv2d(jnp.zeros((1, 8, 3)), jnp.zeros((3, 3, 4)))
  with pytest.raises(NotImplementedError, match='2-D'):
    fast_conv.Conv(4, (3,)).init(jax.random.PRNGKey(0), jnp.zeros((1, 8, 3)))
  with pytest.raises(NotImplementedError, match='transpose_kernel'):
    fast_conv.ConvTranspose(4, (3, 3), transpose_kernel=True).init(jax.random.PRNGKey(0), x2d)
  with pytest.raises(NotImplementedError, match='kernel_dilation'):
    fast_conv.ConvTranspose(4, (3, 3), kernel_dilation=2).init(jax.random.PRNGKey(0), x2d)
  with pytest.raises(ValueError, match='channels'):
    fast_conv.conv2d(x2d, jnp.zeros((3, 3, 5, 4)))
  with pytest.raises(ValueError, match='String padding'):
    fast_conv.conv_general_dilated(
      x2d, w, (1, 1), 'SAME', lhs_dilation=(2, 2), dimension_numbers=NHWC
    )
  with pytest.raises(ValueError, match='empty'):
    fast_conv.conv2d(x2d, jnp.zeros((9, 9, 3, 4)), padding='VALID')


def test_input_dilation_through_conv_general_dilated_matches_lax():
  """flax Conv(input_dilation=2) goes through the transposed-convolution path."""
  x, w = _random((2, 5, 6, 3), 0), _random((3, 3, 3, 4), 1)
  for padding in [((1, 1), (1, 1)), ((0, 0), (2, 0)), ((1, 2), (-1, 1))]:
    ref = lax.conv_general_dilated(
      x, w, (1, 1), padding, lhs_dilation=(2, 2), dimension_numbers=NHWC
    )
    got = fast_conv.conv_general_dilated(
      x, w, (1, 1), padding, lhs_dilation=(2, 2), dimension_numbers=NHWC
    )
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5)
