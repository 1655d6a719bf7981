"""The paired family's networks: U-Net keeps the size, pixel shuffle is torch's
PixelShuffle (checked against NumPy), PatchGAN's receptive field and output grid."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gans.nets import patchgan
from gans.nets import srgan
from gans.nets import unet


def _numpy_pixel_shuffle_nchw(x, r):
  """torch.nn.PixelShuffle as its documentation defines it, on NCHW NumPy arrays:
  out[n, c, h*r + i, w*r + j] = in[n, c*r*r + i*r + j, h, w]."""
  n, depth, h, w = x.shape
  c = depth // (r * r)
  out = np.empty((n, c, h * r, w * r), x.dtype)
  for ci in range(c):
    for i in range(r):
      for j in range(r):
        out[:, ci, i::r, j::r] = x[:, ci * r * r + i * r + j]
  return out


@pytest.mark.parametrize('r, c', [(2, 1), (2, 3), (3, 2)])
def test_pixel_shuffle_equals_numpy_depth_to_space_in_torch_order(r, c):
  x = np.random.default_rng(0).normal(size=(2, c * r * r, 3, 4)).astype(np.float32)  # NCHW
  expected = _numpy_pixel_shuffle_nchw(x, r).transpose(0, 2, 3, 1)  # -> NHWC
  got = np.asarray(srgan.pixel_shuffle(jnp.asarray(x.transpose(0, 2, 3, 1)), r))
  np.testing.assert_array_equal(got, expected)


def test_pixel_shuffle_differs_from_tf_depth_to_space_order_with_channels():
  # TF's DCR order: out[b, h*r+i, w*r+j, c] = in[b, h, w, (i*r + j)*C + c]. With C = 1
  # both orders agree; with C > 1 they do not (the docstring's convention matters).
  r, c = 2, 3
  x = np.arange(1 * 1 * 1 * c * r * r, dtype=np.float32).reshape(1, 1, 1, c * r * r)
  dcr = x.reshape(1, 1, 1, r, r, c).transpose(0, 1, 3, 2, 4, 5).reshape(1, r, r, c)
  assert not np.array_equal(np.asarray(srgan.pixel_shuffle(jnp.asarray(x), r)), dcr)
  x1 = x[..., : r * r]
  dcr1 = x1.reshape(1, 1, 1, r, r, 1).transpose(0, 1, 3, 2, 4, 5).reshape(1, r, r, 1)
  np.testing.assert_array_equal(np.asarray(srgan.pixel_shuffle(jnp.asarray(x1), r)), dcr1)


def test_pixel_shuffle_rejects_indivisible_channels():
  with pytest.raises(ValueError, match='divisible'):
    srgan.pixel_shuffle(jnp.zeros((1, 2, 2, 6)), 2)


@pytest.mark.parametrize('num_downs, size, channels', [(5, 32, 1), (3, 16, 3), (2, 8, 2)])
def test_unet_keeps_spatial_size(num_downs, size, channels):
  net = unet.Translator(out_channels=channels, num_downs=num_downs, width=4, dropout_blocks=1)
  x = jnp.zeros((2, size, size, 1))
  variables = jax.jit(lambda k: net.init(k, x, train=False))(jax.random.PRNGKey(0))
  y = jax.jit(lambda v: net.apply(v, x, train=False))(variables)
  assert y.shape == (2, size, size, channels)
  assert float(jnp.max(jnp.abs(y))) <= 1.0  # tanh output
  y_train, _ = jax.jit(
    lambda v: net.apply(
      v, x, train=True, mutable=['batch_stats'], rngs={'dropout': jax.random.PRNGKey(1)}
    )
  )(variables)
  assert y_train.shape == y.shape


def test_unet_skip_connections_reach_the_output():
  # A pixel change in the input changes the output near it through the outermost skip,
  # even with the bottleneck's contribution fixed.
  net = unet.Translator(out_channels=1, num_downs=5, width=4, norm='none')
  x = jax.random.normal(jax.random.PRNGKey(1), (1, 32, 32, 1))
  variables = jax.jit(lambda k: net.init(k, x, train=False))(jax.random.PRNGKey(0))
  grad = jax.jit(jax.grad(lambda v: net.apply(variables, v, train=False)[0, 10, 10, 0]))(x)
  assert float(jnp.abs(grad[0, 9:12, 9:12, 0]).sum()) > 0


def test_unet_rejects_sizes_it_cannot_halve():
  net = unet.Translator(num_downs=5, width=4)
  with pytest.raises(ValueError, match='divisible by 32'):
    net.init(jax.random.PRNGKey(0), jnp.zeros((1, 24, 24, 1)), train=False)


def test_patchgan_receptive_field():
  assert patchgan.receptive_field(3) == 70  # The paper's 70x70 PatchGAN.
  assert [patchgan.receptive_field(n) for n in (1, 2, 4)] == [16, 34, 142]
  assert patchgan.output_size(256, 3) == 30
  assert [patchgan.output_size(32, n) for n in (1, 2, 3)] == [14, 6, 2]
  with pytest.raises(ValueError, match='no output'):
    patchgan.output_size(8, 3)


@pytest.mark.parametrize('n_layers, size', [(1, 32), (2, 48), (3, 96)])
def test_patchgan_output_grid_and_measured_receptive_field(n_layers, size):
  net = patchgan.Discriminator(width=2, n_layers=n_layers, norm='none')
  x = jnp.zeros((1, size, size, 2))
  variables = jax.jit(lambda k: net.init(k, x, train=False))(jax.random.PRNGKey(0))
  out = jax.eval_shape(lambda v: net.apply(variables, v, train=False), x)
  side = patchgan.output_size(size, n_layers)
  assert out.shape == (1, side, side)
  # The input pixels one central logit depends on: a square of side receptive_field.
  noise = jax.random.normal(jax.random.PRNGKey(1), x.shape)
  centre = lambda v: net.apply(variables, v, train=False)[0, side // 2, side // 2]
  grad = jax.jit(jax.grad(centre))(noise)
  rows, cols = np.nonzero(np.abs(np.asarray(grad[0])).sum(-1))
  field = patchgan.receptive_field(n_layers)
  inside = min(field, size)  # Padding clips the patch at the borders of small inputs.
  assert rows.max() - rows.min() + 1 <= field and cols.max() - cols.min() + 1 <= field
  if field < size:
    assert rows.max() - rows.min() + 1 == inside and cols.max() - cols.min() + 1 == inside


def test_srresnet_upsamples_by_its_scale_and_discriminator_gives_one_logit():
  g = srgan.Translator(out_channels=1, scale=4, width=8, num_blocks=2)
  x = jnp.zeros((2, 8, 8, 1))
  y = jax.eval_shape(lambda: g.init_with_output(jax.random.PRNGKey(0), x, train=False)[0])
  assert y.shape == (2, 32, 32, 1)
  d = srgan.Discriminator(width=4)
  images = jnp.zeros(y.shape)
  logits = jax.eval_shape(lambda: d.init_with_output(jax.random.PRNGKey(1), images, train=False)[0])
  assert logits.shape == (2,)
  with pytest.raises(ValueError, match='powers of two'):
    jax.eval_shape(lambda: srgan.Translator(scale=3).init(jax.random.PRNGKey(0), x, train=False))
