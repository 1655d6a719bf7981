"""StyleGAN2 layers against their definitions, written out here independently."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gans.nets import stylegan2 as sg


def _direct_modconv(x, weight, styles, demodulate):
  """Per-sample weights, one plain convolution per sample (the paper's eqs. 1-3)."""
  out = []
  for n in range(x.shape[0]):
    w = np.asarray(weight) * np.asarray(styles)[n][None, None, :, None]
    if demodulate:
      w = w / np.sqrt(np.sum(np.square(w), axis=(0, 1, 2), keepdims=True) + 1e-8)
    y = jax.lax.conv_general_dilated(
      x[n : n + 1], jnp.asarray(w), (1, 1), 'SAME', dimension_numbers=('NHWC', 'HWIO', 'NHWC')
    )
    out.append(np.asarray(y[0]))
  return np.stack(out)


@pytest.mark.parametrize('demodulate', [True, False])
@pytest.mark.parametrize('kernel', [3, 1])
@pytest.mark.parametrize('fast', [False, True])
def test_modulated_conv_equals_per_sample_convolution(demodulate, kernel, fast):
  kx, kw, ks = jax.random.split(jax.random.PRNGKey(0), 3)
  x = jax.random.normal(kx, (3, 8, 8, 5))
  weight = jax.random.normal(kw, (kernel, kernel, 5, 4))
  styles = jax.random.normal(ks, (3, 5)) + 1.0
  got = sg.modulated_conv2d(x, weight, styles, demodulate, fast=fast)
  want = _direct_modconv(x, weight, styles, demodulate)
  np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


def test_modulated_conv_refuses_mismatched_shapes():
  with pytest.raises(ValueError, match=r'styles \(2, 3\)'):
    sg.modulated_conv2d(jnp.zeros((2, 4, 4, 5)), jnp.zeros((3, 3, 5, 4)), jnp.zeros((2, 3)))


def test_demodulated_output_has_unit_variance_for_unit_inputs():
  kx, kw, ks = jax.random.split(jax.random.PRNGKey(1), 3)
  x = jax.random.normal(kx, (4, 64, 64, 32))
  weight = jax.random.normal(kw, (3, 3, 32, 16)) * 0.3
  styles = jax.random.uniform(ks, (4, 32), minval=0.2, maxval=3.0)
  y = np.asarray(sg.modulated_conv2d(x, weight, styles))[:, 1:-1, 1:-1]  # Away from padding.
  per_channel = y.reshape(-1, 16).std(axis=0)
  np.testing.assert_allclose(per_channel, 1.0, atol=0.05)
  # Without demodulation the scale follows the styles and weights instead.
  raw = np.asarray(sg.modulated_conv2d(x, weight, styles, demodulate=False))
  assert raw.std() > 2.0


def test_equalized_dense_uses_the_he_scaled_weight():
  layer = sg.EqualDense(6, lr_multiplier=0.01, bias_init=0.5)
  x = jax.random.normal(jax.random.PRNGKey(0), (4, 10))
  params = layer.init(jax.random.PRNGKey(1), x)['params']
  # Stored N(0, 1 / lr^2): the effective weight lr / sqrt(fan_in) * kernel is N(0, 1/fan_in).
  assert 50 < float(np.std(params['kernel'])) < 200
  want = x @ (params['kernel'] * 0.01 / math.sqrt(10)) + params['bias'] * 0.01
  np.testing.assert_allclose(layer.apply({'params': params}, x), want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize('down', [1, 2])
def test_equalized_conv_uses_the_he_scaled_kernel(down):
  layer = sg.EqualConv(4, 3, activation='linear', down=down, fast_conv=False)
  x = jax.random.normal(jax.random.PRNGKey(0), (2, 8, 8, 5))
  params = layer.init(jax.random.PRNGKey(1), x)['params']
  assert 0.7 < float(np.std(params['kernel'])) < 1.3
  w = params['kernel'] / math.sqrt(3 * 3 * 5)
  if down == 1:
    want = jax.lax.conv_general_dilated(
      x, w, (1, 1), 'SAME', dimension_numbers=('NHWC', 'HWIO', 'NHWC')
    )
  else:  # Blur [1, 3, 3, 1] / 8 per axis with 2 zeros each side, then stride 2.
    f = np.array([1.0, 3.0, 3.0, 1.0]) / 8
    xp = np.pad(np.asarray(x), ((0, 0), (2, 2), (2, 2), (0, 0)))
    blurred = np.zeros((2, 9, 9, 5))
    for i in range(9):
      for j in range(9):
        blurred[:, i, j] = np.einsum('a,b,nabc->nc', f, f, xp[:, i : i + 4, j : j + 4])
    want = jax.lax.conv_general_dilated(
      jnp.asarray(blurred, jnp.float32),
      w,
      (2, 2),
      'VALID',
      dimension_numbers=('NHWC', 'HWIO', 'NHWC'),
    )
    assert want.shape == (2, 4, 4, 4)
  np.testing.assert_allclose(layer.apply({'params': params}, x), want, rtol=1e-4, atol=1e-5)


def test_upsample_and_downsample_follow_the_fir_filter():
  x = np.random.default_rng(0).normal(size=(1, 4, 4, 1)).astype(np.float32)
  up = np.asarray(sg.upsample2d(jnp.asarray(x)))
  assert up.shape == (1, 8, 8, 1)
  # Separable: along each axis output 2i = (x[i-1] + 3 x[i]) / 4, 2i+1 = (3 x[i] + x[i+1]) / 4.
  m = np.zeros((8, 4))
  for i in range(4):
    m[2 * i, i] += 0.75
    if i > 0:
      m[2 * i, i - 1] += 0.25
    m[2 * i + 1, i] += 0.75
    if i < 3:
      m[2 * i + 1, i + 1] += 0.25
  np.testing.assert_allclose(up[0, :, :, 0], m @ x[0, :, :, 0] @ m.T, rtol=1e-5, atol=1e-6)
  down = np.asarray(sg.downsample2d(jnp.ones((1, 8, 8, 1))))
  assert down.shape == (1, 4, 4, 1)
  np.testing.assert_allclose(down[0, 1:3, 1:3, 0], 1.0, rtol=1e-6)  # Unit DC gain inside.


def test_minibatch_stddev_equals_numpy():
  x = np.random.default_rng(0).normal(size=(8, 4, 4, 6)).astype(np.float32)
  got = np.asarray(sg.minibatch_stddev(jnp.asarray(x), group_size=4, num_channels=2))
  assert got.shape == (8, 4, 4, 8)
  np.testing.assert_array_equal(got[..., :6], x)
  groups = 8 // 4
  for i in range(8):
    members = [j for j in range(8) if j % groups == i % groups]  # Sample i joins group i mod 2.
    for f in range(2):
      part = x[members][..., 3 * f : 3 * f + 3]
      std = np.sqrt(np.mean((part - part.mean(axis=0)) ** 2, axis=0) + 1e-8)
      np.testing.assert_allclose(got[i, :, :, 6 + f], std.mean(), rtol=1e-5)
  with pytest.raises(ValueError, match='group size 4'):
    sg.minibatch_stddev(jnp.zeros((6, 4, 4, 2)))


def _tiny_generator(**kw):
  g = sg.Generator(
    out_shape=(16, 16, 1),
    latent_dim=8,
    w_dim=8,
    mapping_layers=2,
    channel_base=64,
    channel_max=8,
    fast_conv=False,
    **kw,
  )
  z = jax.random.normal(jax.random.PRNGKey(3), (4, 8))
  y = jnp.zeros((4,), jnp.int32) if kw.get('num_classes') else None
  variables = g.init({'params': jax.random.PRNGKey(0), 'noise': jax.random.PRNGKey(1)}, z, y)
  return g, z, variables


def test_truncation_psi_zero_gives_the_mean_image():
  g, z, variables = _tiny_generator()
  w_avg = jax.random.normal(jax.random.PRNGKey(5), (8,))
  variables = {**variables, 'stats': {'mapping': {'w_avg': w_avg}}}
  images = g.apply(variables, z, truncation_psi=0.0, noise_mode='none')
  ws = jnp.broadcast_to(w_avg, (1, g.num_ws, 8))
  mean_image = g.apply(variables, ws, 'none', method='synthesize')
  for img in np.asarray(images):
    np.testing.assert_allclose(img, mean_image[0], rtol=1e-5, atol=1e-6)
  assert np.asarray(g.apply(variables, z, noise_mode='none')).std(axis=0).max() > 1e-3


def test_w_avg_tracks_the_mean_of_w_only_when_asked():
  g, z, variables = _tiny_generator()
  w, mutated = g.apply(variables, z, None, 1.0, True, method='map', mutable=['stats'])
  np.testing.assert_allclose(
    mutated['stats']['mapping']['w_avg'], (1 - 0.995) * np.mean(w, axis=0), rtol=1e-5, atol=1e-7
  )
  _, unchanged = g.apply(variables, z, None, 1.0, False, method='map', mutable=['stats'])
  np.testing.assert_array_equal(unchanged['stats']['mapping']['w_avg'], 0.0)


def test_noise_inputs_draw_from_the_noise_stream():
  g, z, variables = _tiny_generator()
  strengths = jax.tree.map(lambda v: v, variables['params'])
  synth = strengths['synthesis']
  for name in synth:
    if isinstance(synth[name], dict) and 'noise_strength' in synth[name]:
      synth[name]['noise_strength'] = jnp.ones(())
  variables = {**variables, 'params': strengths}
  a = g.apply(variables, z, rngs={'noise': jax.random.PRNGKey(0)})
  b = g.apply(variables, z, rngs={'noise': jax.random.PRNGKey(0)})
  c = g.apply(variables, z, rngs={'noise': jax.random.PRNGKey(1)})
  none = g.apply(variables, z, noise_mode='none')
  np.testing.assert_array_equal(a, b)
  assert np.abs(np.asarray(a) - np.asarray(c)).max() > 1e-3
  assert np.abs(np.asarray(a) - np.asarray(none)).max() > 1e-3


def test_conditional_networks_use_the_label():
  g, z, variables = _tiny_generator(num_classes=3)
  y0, y1 = jnp.zeros(4, jnp.int32), jnp.ones(4, jnp.int32)
  a = g.apply(variables, z, y0, noise_mode='none')
  b = g.apply(variables, z, y1, noise_mode='none')
  assert np.abs(np.asarray(a) - np.asarray(b)).max() > 1e-4
  d = sg.Discriminator(channel_base=64, channel_max=8, num_classes=3, fast_conv=False)
  x = jnp.asarray(np.random.default_rng(0).normal(size=(4, 16, 16, 1)), jnp.float32)
  dv = d.init(jax.random.PRNGKey(0), x, y0)
  assert d.apply(dv, x, y0).shape == (4,)
  assert np.abs(np.asarray(d.apply(dv, x, y0) - d.apply(dv, x, y1))).max() > 1e-5


def _count(tree):
  return sum(int(np.prod(v.shape)) for v in jax.tree.leaves(tree))


# Parameters (not buffers) of stylegan2-ada-pytorch's training/networks.py Generator and
# Discriminator with train.py's --cfg settings (z 512, w 512, RGB), counted by
# instantiating them (NVlabs/stylegan2-ada-pytorch commit d72cc7d, torch 2.14 CPU).
# Columns: resolution, G kwargs, D kwargs, classes, G count, D count.
REFERENCE_COUNTS = {
  'cifar': (32, dict(mapping_layers=2), dict(architecture='orig', mbstd_group_size=32), 0,
            19_947_539, 20_720_641),
  'cifar_conditional': (32, dict(mapping_layers=2),
                        dict(architecture='orig', mbstd_group_size=32), 10,
                        20_215_315, 23_089_664),
  'paper256': (256, dict(channel_base=16384), dict(channel_base=16384, mbstd_group_size=8), 0,
               24_767_458, 24_001_089),
  'stylegan2_1024': (1024, {}, {}, 0, 30_370_060, 29_012_513),
}  # fmt: skip


@pytest.mark.parametrize('preset', sorted(REFERENCE_COUNTS))
def test_parameter_counts_match_stylegan2_ada_pytorch(preset):
  res, g_kw, d_kw, k, g_count, d_count = REFERENCE_COUNTS[preset]
  g = sg.Generator(out_shape=(res, res, 3), num_classes=k, **g_kw)
  d = sg.Discriminator(num_classes=k, **d_kw)
  z = jnp.zeros((2, 512))
  y = jnp.zeros((2,), jnp.int32) if k else None
  gv = jax.eval_shape(
    lambda: g.init({'params': jax.random.PRNGKey(0), 'noise': jax.random.PRNGKey(1)}, z, y)
  )
  dv = jax.eval_shape(
    lambda: d.init(jax.random.PRNGKey(0), jnp.zeros((32, res, res, 3)), jnp.zeros((32,), jnp.int32))
  )
  assert _count(gv['params']) == g_count
  assert _count(dv['params']) == d_count
  assert _count(gv['stats']) == 512  # w_avg, a buffer in stylegan2-ada-pytorch.


def test_experiment_presets_build_the_reference_networks():
  from gans import configs, nets  # pylint: disable=g-import-not-at-top
  import os  # pylint: disable=g-import-not-at-top

  root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
  for arg, (g_count, d_count) in {
    'preset=cifar': REFERENCE_COUNTS['cifar'][4:],
    'preset=cifar,conditional': REFERENCE_COUNTS['cifar_conditional'][4:],
    'preset=paper256': REFERENCE_COUNTS['paper256'][4:],
  }.items():
    c = configs.load_config_file(os.path.join(root, 'experiments', 'stylegan2.py') + ':' + arg)
    k = configs.class_count(c)
    res = c.image_size
    g = nets.build_module(c.generator, 'Generator', k, out_shape=(res, res, 3))
    d = nets.build_module(c.discriminator, 'Discriminator', k)
    z = jnp.zeros((2, c.generator.latent_dim))
    y = jnp.zeros((2,), jnp.int32) if k else None
    gv = jax.eval_shape(
      lambda: g.init({'params': jax.random.PRNGKey(0), 'noise': jax.random.PRNGKey(1)}, z, y)
    )
    dv = jax.eval_shape(
      lambda: d.init(
        jax.random.PRNGKey(0),
        jnp.zeros((c.batch_size, res, res, 3)),
        jnp.zeros((c.batch_size,), jnp.int32),
      )
    )
    assert (_count(gv['params']), _count(dv['params'])) == (g_count, d_count), arg
