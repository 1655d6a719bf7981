"""ProGAN networks against a NumPy forward pass written out here from the paper: the
fade-in blends, minibatch standard deviation and the equalized learning rate."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gans.nets import progan

SIZE, LATENT, BASE, MAX = 16, 8, 32, 8


def _lrelu(x):
  return np.where(x >= 0, x, 0.2 * x)


def _pixel_norm(x):
  return x / np.sqrt(np.mean(x**2, axis=-1, keepdims=True) + 1e-8)


def _up(x):
  return x.repeat(2, axis=1).repeat(2, axis=2)


def _pool(x):
  n, h, w, c = x.shape
  return x.reshape(n, h // 2, 2, w // 2, 2, c).mean(axis=(2, 4))


def _conv(p, x, gain=math.sqrt(2.0)):
  """'SAME' cross-correlation with the He-scaled kernel, plus bias (HWIO kernel)."""
  w = np.asarray(p['kernel'], np.float64)
  k = w.shape[0]
  w = w * gain / math.sqrt(k * k * w.shape[2])
  pad = k // 2
  xp = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
  h, wd = x.shape[1:3]
  y = sum(
    np.einsum('nhwc,co->nhwo', xp[:, a : a + h, b : b + wd], w[a, b])
    for a in range(k)
    for b in range(k)
  )
  return y + np.asarray(p['bias'])


def _dense(p, x, gain=math.sqrt(2.0)):
  w = np.asarray(p['kernel'], np.float64)
  y = x @ (w * gain / math.sqrt(w.shape[0]))
  return y + np.asarray(p['bias']) if 'bias' in p else y


def _mbstd(x, group):
  """Per group of samples {i : i mod (N / G) = m}: mean over C, H, W of the std."""
  n = x.shape[0]
  g = min(group, n)
  m = n // g
  out = np.zeros((n,) + x.shape[1:3] + (1,))
  for j in range(m):
    members = [i for i in range(n) if i % m == j]
    s = np.sqrt(np.var(x[members], axis=0) + 1e-8).mean()
    out[members] = s
  return np.concatenate([x, out], axis=-1)


def _np_generator(params, z, resolution):
  """(image of the block of `resolution`, image of the block below), NumPy float64."""
  p = jax.tree.map(lambda a: np.asarray(a, np.float64), params)
  c4 = p['b4_conv']['bias'].shape[0]
  h = _dense(p['b4_dense'], _pixel_norm(np.asarray(z, np.float64)), math.sqrt(2.0) / 4)
  h = _pixel_norm(_lrelu(h.reshape(-1, 4, 4, c4) + p['b4_dense_bias']))
  h = _pixel_norm(_lrelu(_conv(p['b4_conv'], h)))
  feats = {4: h}
  r = 8
  while r <= resolution:
    h = _pixel_norm(_lrelu(_conv(p[f'b{r}_conv0'], _up(h))))
    h = _pixel_norm(_lrelu(_conv(p[f'b{r}_conv1'], h)))
    feats[r] = h
    r *= 2
  rgb = lambda r: _conv(p[f'torgb{r}'], feats[r], gain=1.0)
  return rgb(resolution), (rgb(resolution // 2) if resolution > 4 else None)


def _np_discriminator(params, x, group=4):
  """(scores through the block of x's resolution, scores through the fromRGB below)."""
  p = jax.tree.map(lambda a: np.asarray(a, np.float64), params)
  x = np.asarray(x, np.float64)

  def from_rgb(x, r):
    return _lrelu(_conv(p[f'fromrgb{r}'], x))

  def rest(h, r):
    while r > 4:
      h = _lrelu(_conv(p[f'b{r}_conv0'], h))
      h = _pool(_lrelu(_conv(p[f'b{r}_conv1'], h)))
      r //= 2
    h = _lrelu(_conv(p['b4_conv'], _mbstd(h, group)))
    h = _lrelu(_dense(p['b4_dense0'], h.reshape(h.shape[0], -1)))
    return _dense(p['b4_dense1'], h, gain=1.0)[:, 0]

  r = x.shape[1]
  new = rest(from_rgb(x, r), r)
  old = rest(from_rgb(_pool(x), r // 2), r // 2) if r > 4 else None
  return new, old


@pytest.fixture(scope='module')
def nets():
  g = progan.Generator((SIZE, SIZE, 3), latent_dim=LATENT, fmap_base=BASE, fmap_max=MAX)
  d = progan.Discriminator(fmap_base=BASE, fmap_max=MAX, mbstd_group_size=4)
  z = jax.random.normal(jax.random.PRNGKey(1), (8, LATENT))
  x = jax.random.normal(jax.random.PRNGKey(2), (8, SIZE, SIZE, 3))
  g_params = g.init(jax.random.PRNGKey(3), z)['params']
  d_params = d.init(jax.random.PRNGKey(4), x)['params']
  # Nonzero biases, so that the reference checks where each bias enters.
  perturb = lambda p, k: jax.tree.map(
    lambda a, s: a + 0.1 * jax.random.normal(s, a.shape) if a.ndim == 1 else a,
    p,
    jax.tree.unflatten(jax.tree.structure(p), list(jax.random.split(k, len(jax.tree.leaves(p))))),
  )
  return (
    g,
    d,
    z,
    x,
    perturb(g_params, jax.random.PRNGKey(5)),
    perturb(d_params, jax.random.PRNGKey(6)),
  )


def test_every_resolution_has_its_layers_from_init(nets):
  _, _, _, _, g_params, d_params = nets
  for r in (4, 8, 16):
    assert f'torgb{r}' in g_params and f'fromrgb{r}' in d_params
  for r in (8, 16):
    for name in (f'b{r}_conv0', f'b{r}_conv1'):
      assert name in g_params and name in d_params
  # Widths nf(k - 1) = min(32 / 2^(k - 1), 8): 8 at 4 and 8, 4 at 16.
  assert g_params['b16_conv1']['kernel'].shape == (3, 3, 4, 4)
  assert d_params['b16_conv1']['kernel'].shape == (3, 3, 4, 8)
  assert d_params['b4_conv']['kernel'].shape == (3, 3, 9, 8)  # + the stddev map.


@pytest.mark.parametrize('resolution', [4, 8, 16])
def test_generator_equals_the_numpy_forward_pass(nets, resolution):
  g, _, z, _, params, _ = nets
  new, old = _np_generator(params, z, resolution)
  got = g.apply({'params': params}, z, resolution=resolution, alpha=1.0)
  np.testing.assert_allclose(got, new, rtol=1e-4, atol=1e-4)
  if resolution > 4:
    got = g.apply({'params': params}, z, resolution=resolution, alpha=0.3)
    np.testing.assert_allclose(got, 0.7 * _up(old) + 0.3 * new, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize('resolution', [8, 16])
def test_generator_fade_in_ends(nets, resolution):
  g, _, z, _, params, _ = nets
  run = lambda **kw: np.asarray(g.apply({'params': params}, z, **kw))
  lower = run(resolution=resolution // 2)
  at0 = run(resolution=resolution, alpha=0.0)
  np.testing.assert_array_equal(at0, progan.upsample(lower))
  at1 = run(resolution=resolution, alpha=jnp.float32(1.0))  # Traced alpha: same.
  new, _ = _np_generator(params, z, resolution)
  np.testing.assert_allclose(at1, new, rtol=1e-4, atol=1e-4)
  assert np.abs(at1 - at0).max() > 1e-2  # The new block changes the image.


@pytest.mark.parametrize('resolution', [4, 8, 16])
def test_discriminator_equals_the_numpy_forward_pass(nets, resolution):
  _, d, _, x, _, params = nets
  x = progan.downsample(x, SIZE // resolution)
  new, old = _np_discriminator(params, x)
  got = d.apply({'params': params}, x, alpha=1.0)
  np.testing.assert_allclose(got, new, rtol=1e-4, atol=1e-4)
  if resolution > 4:
    # The blend is of features after fromRGB, not of scores: check the ends exactly.
    got0 = d.apply({'params': params}, x, alpha=0.0)
    np.testing.assert_allclose(got0, old, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize('resolution', [8, 16])
def test_discriminator_fade_in_ends(nets, resolution):
  _, d, _, x, _, params = nets
  x = progan.downsample(x, SIZE // resolution)
  at0 = d.apply({'params': params}, x, alpha=0.0)
  lower = d.apply({'params': params}, progan.downsample(x))
  np.testing.assert_array_equal(at0, lower)
  at_half = d.apply({'params': params}, x, alpha=0.5)
  at1 = d.apply({'params': params}, x, alpha=1.0)
  assert np.abs(np.asarray(at1) - np.asarray(at0)).max() > 1e-3
  assert not np.allclose(at_half, at0) and not np.allclose(at_half, at1)


def test_real_images_fade_like_the_official_process_reals():
  x = np.asarray(jax.random.normal(jax.random.PRNGKey(0), (2, 4, 4, 3)))
  coarse = _up(_pool(x))
  np.testing.assert_array_equal(progan.fade_images(x, 1.0), x)
  np.testing.assert_allclose(progan.fade_images(x, 0.0), coarse, rtol=1e-6)
  np.testing.assert_allclose(progan.fade_images(x, 0.25), 0.25 * x + 0.75 * coarse, rtol=1e-5)
  # Block (0, 0) of the coarse image is the mean of x[:, :2, :2].
  np.testing.assert_allclose(coarse[:, 1, 0], x[:, :2, :2].mean(axis=(1, 2)), rtol=1e-5)


@pytest.mark.parametrize('n,group', [(8, 4), (8, 2), (6, 6), (3, 4)])
def test_minibatch_stddev_equals_numpy(n, group):
  x = np.asarray(jax.random.normal(jax.random.PRNGKey(n + group), (n, 3, 3, 5)))
  got = progan.minibatch_stddev(jnp.asarray(x), group)
  np.testing.assert_allclose(got, _mbstd(x, group), rtol=1e-5, atol=1e-6)


def test_minibatch_stddev_refuses_a_batch_not_divisible_by_the_group():
  with pytest.raises(ValueError, match='group size'):
    progan.minibatch_stddev(jnp.zeros((6, 2, 2, 1)), 4)


def test_equalized_learning_rate_scales_unit_normal_weights_at_run_time():
  layer = progan.EqualizedDense(64)
  x = jax.random.normal(jax.random.PRNGKey(0), (5, 256))
  params = layer.init(jax.random.PRNGKey(1), x)['params']
  kernel = np.asarray(params['kernel'])
  assert abs(kernel.std() - 1.0) < 0.02 and abs(kernel.mean()) < 0.02  # Stored N(0, 1).
  np.testing.assert_array_equal(params['bias'], 0.0)
  want = np.asarray(x) @ kernel * (math.sqrt(2.0) / 16.0)
  np.testing.assert_allclose(layer.apply({'params': params}, x), want, rtol=1e-5, atol=1e-5)
  conv = progan.EqualizedConv(4, 3, gain=1.0, fast_conv=False)
  xc = jax.random.normal(jax.random.PRNGKey(2), (2, 5, 5, 6))
  cp = conv.init(jax.random.PRNGKey(3), xc)['params']
  np.testing.assert_allclose(
    conv.apply({'params': cp}, xc), _conv(cp, np.asarray(xc), gain=1.0), rtol=1e-4, atol=1e-5
  )
  # The gradient w.r.t. the stored weights is the effective weights' times the constant:
  # Adam's per-parameter normalization then gives every layer the same update speed.
  g = jax.grad(lambda p: jnp.sum(layer.apply({'params': p}, x) ** 2))(params)['kernel']
  eff = jax.grad(lambda w: jnp.sum((x @ w + params['bias']) ** 2))(
    params['kernel'] * math.sqrt(2.0) / 16.0
  )
  np.testing.assert_allclose(g, eff * math.sqrt(2.0) / 16.0, rtol=1e-4, atol=1e-5)


def test_fast_and_plain_convolutions_agree(nets):
  g, d, z, x, g_params, d_params = nets
  slow_g = g.clone(fast_conv=False)
  slow_d = d.clone(fast_conv=False)
  np.testing.assert_allclose(
    g.apply({'params': g_params}, z, resolution=16, alpha=0.4),
    slow_g.apply({'params': g_params}, z, resolution=16, alpha=0.4),
    rtol=1e-5,
    atol=1e-5,
  )
  np.testing.assert_allclose(
    d.apply({'params': d_params}, x, alpha=0.4),
    slow_d.apply({'params': d_params}, x, alpha=0.4),
    rtol=1e-5,
    atol=1e-5,
  )


def test_resolutions_and_widths():
  assert progan.resolutions(32) == (4, 8, 16, 32)
  assert progan.resolutions(32, 8) == (8, 16, 32)
  for bad in (12, 2):
    with pytest.raises(ValueError, match='power-of-two'):
      progan.resolutions(bad)
  # The paper: fmap_base 8192, fmap_max 512: 512 up to 32x32, then 256, 128, 64, 32, 16.
  assert [progan.channels(r, 8192, 512) for r in (4, 32, 64, 1024)] == [512, 512, 256, 16]
  # CIFAR-10 (fmap_base 4096, fmap_max 128): 128 everywhere.
  assert {progan.channels(r, 4096, 128) for r in (4, 8, 16, 32)} == {128}
