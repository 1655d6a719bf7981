"""Perceptual path length (gans.metrics.ppl): interpolation, lengths, filtering."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gans.metrics import ppl

SHAPE = (4, 4, 1)  # Images of the toy generators.


def squared_l2(a, b):
  """Distance of the tests: sum of squared pixel differences (uint8 scale)."""
  assert a.dtype == jnp.float32  # Not quantized: steps of eps are far below one level.
  return jnp.sum(jnp.square(a - b), axis=(1, 2, 3))


def recording_endpoints(dim, log):
  """Endpoints N(0, I) of dimension `dim`, appended to `log` as NumPy (a, b)."""

  def endpoints(key, n):
    ka, kb = jax.random.split(key)
    a = jax.random.normal(ka, (n, dim), jnp.float32)
    b = jax.random.normal(kb, (n, dim), jnp.float32)
    log.append((np.asarray(a, np.float64), np.asarray(b, np.float64)))
    return a, b, None

  return endpoints


def linear_generator(matrix):
  """G(p) = tanh-free linear map p @ matrix, reshaped to images [n, 4, 4, 1]."""
  m = jnp.asarray(matrix, jnp.float32)
  return lambda key, p, context: (p @ m).reshape((-1,) + SHAPE)


def test_lerp_and_slerp_endpoints_and_midpoints():
  rng = np.random.default_rng(0)
  a, b = rng.normal(size=(2, 5, 7)).astype(np.float32)
  np.testing.assert_allclose(ppl.lerp(a, b, 0.25), a + 0.25 * (b - a), rtol=1e-6)
  t = np.array([0.0, 0.5, 1.0, 2.0, 0.1], np.float32)
  np.testing.assert_allclose(ppl.lerp(a, b, t), a + t[:, None] * (b - a), rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(ppl.slerp(a, b, 0.0), a, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(ppl.slerp(a, b, 1.0), b, rtol=1e-4, atol=1e-5)
  # Unit vectors at right angles: the quarter circle (cos, sin) of t pi / 2.
  e1, e2 = np.eye(2, dtype=np.float32)
  for s in (0.0, 0.3, 0.5, 1.0):
    want = [np.cos(s * np.pi / 2), np.sin(s * np.pi / 2)]
    np.testing.assert_allclose(ppl.slerp(e1[None], e2[None], s)[0], want, atol=1e-6)


def test_slerp_turns_by_t_omega_in_the_plane_and_interpolates_the_norm():
  rng = np.random.default_rng(1)
  a, b = rng.normal(size=(2, 6, 16))
  a[0] *= 3.0  # Unequal norms.
  t = rng.uniform(0, 1, 6)
  s = np.asarray(ppl.slerp(a.astype(np.float32), b.astype(np.float32), t.astype(np.float32)))
  na, nb, ns = (np.linalg.norm(x, axis=1) for x in (a, b, s))
  omega = np.arccos(np.sum(a * b, 1) / (na * nb))
  np.testing.assert_allclose(ns, na + t * (nb - na), rtol=1e-5)
  np.testing.assert_allclose(
    np.arccos(np.clip(np.sum(a * s, 1) / (na * ns), -1, 1)), t * omega, atol=1e-4
  )
  np.testing.assert_allclose(
    np.arccos(np.clip(np.sum(b * s, 1) / (nb * ns), -1, 1)), (1 - t) * omega, atol=1e-4
  )
  # On the great circle of a and b: in their span (least squares leaves nothing).
  for i in range(6):
    basis = np.stack([a[i], b[i]], 1)
    coef = np.linalg.lstsq(basis, s[i], rcond=None)[0]
    np.testing.assert_allclose(basis @ coef, s[i], atol=1e-5)
  # Equal norms: the textbook formula sin((1 - t) W) / sin W a + sin(t W) / sin W b.
  b_eq = b * (na / nb)[:, None]
  s_eq = np.asarray(ppl.slerp(a.astype(np.float32), b_eq.astype(np.float32), t.astype(np.float32)))
  w = omega[:, None]
  want = (np.sin((1 - t[:, None]) * w) * a + np.sin(t[:, None] * w) * b_eq) / np.sin(w)
  np.testing.assert_allclose(s_eq, want, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize('interpolation', ['slerp', 'lerp'])
def test_generator_that_ignores_its_latent_has_path_length_zero(interpolation):
  # Per-sample noise from the key is shared by both ends of a step, so it cancels too.
  def generate(key, p, context):
    return jnp.tanh(jax.random.normal(key, (p.shape[0],) + SHAPE))

  lengths = ppl.path_lengths(
    jax.random.PRNGKey(0),
    10,
    recording_endpoints(3, []),
    generate,
    squared_l2,
    interpolation=interpolation,
    batch_size=4,
  )
  assert lengths.shape == (10,) and np.all(lengths == 0.0)
  assert ppl.filtered_mean(lengths) == (0.0, 10)


def test_linear_generator_in_w_matches_the_hand_computed_length():
  # lerp + linear G: G(p(t + eps)) - G(p(t)) = eps (b - a) A exactly, so on the uint8
  # scale every length is 127.5^2 |(b - a) A|^2 whatever t is.
  rng = np.random.default_rng(2)
  matrix = rng.normal(size=(3, 16)) / 4
  log = []
  lengths = ppl.path_lengths(
    jax.random.PRNGKey(1),
    7,
    recording_endpoints(3, log),
    linear_generator(matrix),
    squared_l2,
    interpolation='lerp',
    epsilon=1e-2,
    batch_size=3,
  )
  a = np.concatenate([x for x, _ in log])[:7]
  b = np.concatenate([y for _, y in log])[:7]
  want = 127.5**2 * np.sum(((b - a) @ matrix) ** 2, axis=1)
  np.testing.assert_allclose(lengths, want, rtol=1e-4)
  assert len(log) == 3  # ceil(7 / 3) batches; the last one cut to size.


def test_linear_generator_in_z_at_the_path_start_matches_the_slerp_derivative():
  # sampling 'end' (t = 0): length -> 127.5^2 |s'(0) A|^2 as eps -> 0, with
  # s'(0) = (|b| - |a|) u + |a| Omega w (u = a/|a|, w the unit vector of the great
  # circle towards b, Omega the angle between a and b).
  rng = np.random.default_rng(3)
  matrix = rng.normal(size=(5, 16)) / 4
  log = []
  lengths = ppl.path_lengths(
    jax.random.PRNGKey(2),
    6,
    recording_endpoints(5, log),
    linear_generator(matrix),
    squared_l2,
    interpolation='slerp',
    sampling='end',
    epsilon=1e-3,
    batch_size=6,
  )
  (a, b), want = log[0], []
  for x, y in zip(a, b):
    u, v = x / np.linalg.norm(x), y / np.linalg.norm(y)
    omega = np.arccos(u @ v)
    w = (v - np.cos(omega) * u) / np.linalg.norm(v - np.cos(omega) * u)
    velocity = (np.linalg.norm(y) - np.linalg.norm(x)) * u + np.linalg.norm(x) * omega * w
    want.append(127.5**2 * np.sum((velocity @ matrix) ** 2))
  np.testing.assert_allclose(lengths, want, rtol=5e-3)


def test_end_sampling_starts_every_path_at_its_first_endpoint():
  seen = []

  def generate(key, p, context):
    seen.append(np.asarray(p))
    return jnp.zeros((p.shape[0],) + SHAPE)

  log = []
  ppl.path_lengths(
    jax.random.PRNGKey(3),
    4,
    recording_endpoints(3, log),
    generate,
    squared_l2,
    interpolation='lerp',
    sampling='end',
    batch_size=4,
  )
  np.testing.assert_allclose(seen[0], log[0][0], rtol=1e-6)  # p(0) = a.
  np.testing.assert_allclose(seen[1], log[0][0] + 1e-4 * (log[0][1] - log[0][0]), atol=1e-6)
  assert np.all(np.asarray(ppl.path_times(jax.random.PRNGKey(0), 5, 'end')) == 0)
  full = np.asarray(ppl.path_times(jax.random.PRNGKey(0), 1000, 'full'))
  assert 0 <= full.min() and full.max() < 1 and 0.45 < full.mean() < 0.55


def test_filtered_mean_drops_below_the_1st_and_above_the_99th_percentile():
  x = np.arange(1000.0)
  x[-1] = 1e9  # An outlier: filtered out.
  rng = np.random.default_rng(4)
  value, kept = ppl.filtered_mean(rng.permutation(x))
  # numpy percentile 1 ('lower') of 0..999 is 9, percentile 99 ('higher') is 990.
  assert kept == 982 and value == pytest.approx(np.arange(9, 991).mean())
  assert ppl.filtered_mean([5.0]) == (5.0, 1)
  with pytest.raises(ValueError, match='finite'):
    ppl.filtered_mean([1.0, np.nan])


def test_crop_and_downsampling():
  x = jnp.arange(2 * 16 * 16 * 1, dtype=jnp.float32).reshape(2, 16, 16, 1)
  crop = ppl.center_crop(x)
  np.testing.assert_array_equal(crop, x[:, 6:14, 4:12])
  down = ppl.box_downsample(jnp.ones((1, 512, 512, 3)).at[:, :2, :2].set(3.0))
  assert down.shape == (1, 256, 256, 3)
  assert float(down[0, 0, 0, 0]) == 3.0 and float(down[0, 1, 1, 0]) == 1.0
  assert ppl.box_downsample(x) is x  # At most 256: unchanged.
  np.testing.assert_allclose(ppl.to_pixel_scale(jnp.array([-1.0, 0.0, 1.0])), [0, 127.5, 255])


def test_bad_options_raise():
  args = (jax.random.PRNGKey(0), 4, recording_endpoints(3, []), linear_generator(np.ones((3, 16))))
  for kwargs, match in [
    (dict(interpolation='cubic'), 'interpolation'),
    (dict(sampling='middle'), 'sampling'),
    (dict(epsilon=-1e-4), 'epsilon'),
    (dict(epsilon=0.0), 'epsilon'),
    (dict(batch_size=0), 'batch_size'),
  ]:
    with pytest.raises(ValueError, match=match):
      ppl.path_lengths(*args, squared_l2, **kwargs)
  with pytest.raises(ValueError, match='num_samples'):
    ppl.path_lengths(args[0], 0, *args[2:], squared_l2)
  nan_distance = lambda a, b: jnp.full((a.shape[0],), jnp.nan)
  with pytest.raises(ValueError, match='4 of the 4 path lengths are non-finite'):
    ppl.path_lengths(*args, nan_distance)
