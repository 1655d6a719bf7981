"""CycleGAN's ResNet generator: keeps the image size, reflection padding is torch's
ReflectionPad2d, the residual blocks and downsamplings the paper's layout."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gans.nets import cyclegan


@pytest.mark.parametrize(
  'size, c_in, c_out, blocks, downs', [(32, 1, 1, 6, 2), (16, 3, 3, 2, 2), (24, 3, 1, 1, 3)]
)
def test_resnet_generator_keeps_the_image_size(size, c_in, c_out, blocks, downs):
  net = cyclegan.Translator(out_channels=c_out, width=4, num_blocks=blocks, num_downs=downs)
  x = jax.random.normal(jax.random.PRNGKey(0), (2, size, size, c_in))
  variables = jax.jit(lambda k: net.init(k, x, train=False))(jax.random.PRNGKey(1))
  y = jax.jit(lambda v: net.apply(v, x, train=True))(variables)
  assert y.shape == (2, size, size, c_out)
  assert float(jnp.max(jnp.abs(y))) <= 1.0  # tanh
  # Instance norm keeps no statistics: no collection besides the parameters.
  assert set(variables) == {'params'}


def test_paper_layout_c7s1_d_r_u_c7s1():
  net = cyclegan.Translator(out_channels=3, width=64, num_blocks=9)
  x = jnp.zeros((1, 64, 64, 3))
  params = jax.eval_shape(lambda: net.init(jax.random.PRNGKey(0), x, train=False))['params']
  shapes = {name: p['kernel'].shape for name, p in params.items() if 'kernel' in p}
  assert shapes['c7s1'] == (7, 7, 3, 64)
  assert shapes['d0'] == (3, 3, 64, 128) and shapes['d1'] == (3, 3, 128, 256)
  assert sum(n.endswith('_conv0') for n in shapes) == 9
  assert shapes['r8_conv1'] == (3, 3, 256, 256)
  assert shapes['u1'] == (3, 3, 256, 128) and shapes['u0'] == (3, 3, 128, 64)
  assert shapes['out'] == (7, 7, 64, 3)
  # Biases everywhere with instance norm (the reference's use_bias for InstanceNorm2d).
  assert all('bias' in p for p in params.values())


def test_reflect_pad_is_torch_reflection_pad():
  x = np.arange(2 * 4 * 5 * 1, dtype=np.float32).reshape(2, 4, 5, 1)
  got = np.asarray(cyclegan.reflect_pad(jnp.asarray(x), 2))
  # ReflectionPad2d: the edge is not repeated: row -1 is row 1.
  np.testing.assert_array_equal(got[:, 2:-2, 2:-2], x)
  np.testing.assert_array_equal(got[:, 1, 2:-2], x[:, 1])
  np.testing.assert_array_equal(got[:, 0, 2:-2], x[:, 2])
  np.testing.assert_array_equal(got[:, 2:-2, -1], x[:, :, -3])


def test_sizes_it_cannot_halve_are_refused():
  net = cyclegan.Translator(width=4, num_blocks=1)
  with pytest.raises(ValueError, match='divisible by 4'):
    net.init(jax.random.PRNGKey(0), jnp.zeros((1, 30, 30, 3)), train=False)
