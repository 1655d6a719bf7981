"""gans.objectives.likelihood: hand-worked values, scipy references, the IWAE bound."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import special as sp_special
from scipy import stats
from sklearn import datasets

from gans.nets import autoencoder
from gans.objectives import likelihood as lk

LEVELS = np.arange(256)
CENTRES = (LEVELS / 127.5 - 1.0).astype(np.float32)  # The project's uint8 -> [-1, 1].


# ---------------------------------------------------------------------------- latents


def test_gaussian_kl_by_hand():
  # KL = 1/2 sum_j (s_j^2 + m_j^2 - 1 - log s_j^2):
  #   j = 1: m = 1, s^2 = 1 -> 1/2 (1 + 1 - 1 - 0) = 1/2;
  #   j = 2: m = 0, s^2 = 2 -> 1/2 (2 + 0 - 1 - log 2) = 1/2 - log(2) / 2.
  mean = jnp.array([[1.0, 0.0], [0.0, 0.0]])
  log_variance = jnp.array([[0.0, math.log(2.0)], [0.0, 0.0]])
  np.testing.assert_allclose(
    lk.gaussian_kl(mean, log_variance), [1.0 - 0.5 * math.log(2.0), 0.0], rtol=1e-6, atol=1e-7
  )


def test_gaussian_densities_match_scipy_and_the_kl():
  rng = np.random.default_rng(0)
  z = rng.normal(size=(3, 2, 5)).astype(np.float32)  # [K, N, L].
  mean = rng.normal(size=(2, 5)).astype(np.float32)
  log_variance = rng.normal(0.0, 0.5, size=(2, 5)).astype(np.float32)
  want = stats.norm.logpdf(z, mean, np.exp(0.5 * log_variance)).sum(-1)
  np.testing.assert_allclose(lk.gaussian_log_density(z, mean, log_variance), want, rtol=1e-5)
  np.testing.assert_allclose(
    lk.standard_normal_log_density(z), stats.norm.logpdf(z).sum(-1), rtol=1e-5
  )

  # KL = E_q[log q(z) - log p(z)], by Monte Carlo over 200k reparameterized samples
  # (standard error of the mean ~ 0.005 nats here).
  @jax.jit
  def monte_carlo_kl(key):
    z = lk.gaussian_sample(key, mean, log_variance, 200_000)
    assert z.shape == (200_000, 2, 5)
    return jnp.mean(
      lk.gaussian_log_density(z, mean, log_variance) - lk.standard_normal_log_density(z), axis=0
    )

  np.testing.assert_allclose(
    monte_carlo_kl(jax.random.PRNGKey(0)), lk.gaussian_kl(mean, log_variance), atol=0.03
  )


# ----------------------------------------------------------------------------- pixels


def test_bernoulli_matches_the_direct_formula_and_is_stable():
  rng = np.random.default_rng(1)
  logits = rng.normal(0.0, 3.0, size=(2, 4, 4, 1))
  x = (rng.uniform(size=(2, 4, 4, 1)) < 0.5).astype(np.float32)
  p = 1.0 / (1.0 + np.exp(-logits))
  want = np.sum(x * np.log(p) + (1 - x) * np.log(1 - p), axis=(1, 2, 3))
  got = lk.bernoulli_log_likelihood(jnp.asarray(logits, jnp.float32), x)
  np.testing.assert_allclose(got, want, rtol=1e-5)
  # Saturated logits: no log(0); the right answer costs ~e^-100, the wrong one 100 nats.
  far = lk.bernoulli_log_likelihood(jnp.array([[100.0, -100.0]]), jnp.array([[1.0, 0.0]]))
  np.testing.assert_allclose(far, [0.0], atol=1e-30)
  far = lk.bernoulli_log_likelihood(jnp.array([[100.0, -100.0]]), jnp.array([[0.0, 1.0]]))
  np.testing.assert_allclose(far, [-200.0], rtol=1e-6)
  # Parameters with a leading sample axis K broadcast against x [N, ...]: [K, N].
  assert lk.bernoulli_log_likelihood(jnp.zeros((3,) + x.shape), x).shape == (3, 2)


def _as_float32(mean, scale):
  """The mean and scale that the float32 inputs of the tests really hold."""
  return float(np.float32(mean)), float(np.exp(np.float32(math.log(scale))))


def _reference(dist, mean, scale):
  """log P(level) for all 256 levels in float64 with a scipy distribution, from the
  CDFs in the lower tail and the survival functions in the upper one."""
  mean, scale = _as_float32(mean, scale)
  x = CENTRES.astype(np.float64)
  lo = np.where(LEVELS == 0, -np.inf, x - 1 / 255)
  hi = np.where(LEVELS == 255, np.inf, x + 1 / 255)
  cdf_lo, cdf_hi = dist.logcdf(lo, mean, scale), dist.logcdf(hi, mean, scale)
  sf_lo, sf_hi = dist.logsf(lo, mean, scale), dist.logsf(hi, mean, scale)
  with np.errstate(divide='ignore'):
    lower = cdf_hi + np.log1p(-np.exp(cdf_lo - cdf_hi))
    upper = sf_lo + np.log1p(-np.exp(sf_hi - sf_lo))
  return np.where(x < mean, lower, upper)


@jax.jit
def _per_level_jit(centres, mean, log_scale):
  return (
    lk.discretized_gaussian_log_likelihood(centres, mean, log_scale, event_ndims=0),
    lk.discretized_logistic_log_likelihood(centres, mean, log_scale, event_ndims=0),
  )


@jax.jit
def _gradients(centres, mean, log_scale):
  """Gradients of both likelihoods, summed over the levels, w.r.t. (mean, log_scale)."""

  def total(f):
    return lambda m, s: jnp.sum(f(centres, m, s, event_ndims=0))

  return (
    jax.grad(total(lk.discretized_gaussian_log_likelihood), (0, 1))(mean, log_scale),
    jax.grad(total(lk.discretized_logistic_log_likelihood), (0, 1))(mean, log_scale),
  )


def _all_finite_gradients(mean, scale):
  grads = _gradients(
    jnp.asarray(CENTRES),
    jnp.full(256, mean, jnp.float32),
    jnp.full(256, math.log(scale), jnp.float32),
  )
  return all(bool(np.all(np.isfinite(g))) for g in jax.tree.leaves(grads))


def _per_level(likelihood, mean, scale):
  """log P of each of the 256 levels under `likelihood` ('gaussian' or 'logistic')."""
  out = _per_level_jit(
    jnp.asarray(CENTRES),
    jnp.full(256, mean, jnp.float32),
    jnp.full(256, math.log(scale), jnp.float32),
  )
  return out[['gaussian', 'logistic'].index(likelihood)]


# (mean, scale): wide, narrow, at the edges, far outside [-1, 1], bins << scale.
PAIRS = [
  (0.0, 1.0),
  (0.3, 0.05),
  (-0.9, 0.002),
  (0.99, 0.5),
  (0.0, 10.0),
  (0.5, 1e-4),
  (-1.0, 3e-3),
  (1.7, 0.2),
  (0.2, 1e3),
]


@pytest.mark.parametrize('mean,scale', PAIRS)
def test_discretized_gaussian_sums_to_one_and_matches_scipy(mean, scale):
  got = np.asarray(_per_level('gaussian', mean, scale), np.float64)
  want = _reference(stats.norm, mean, scale)
  assert np.all(np.isfinite(got)) and np.all(got <= 0)
  np.testing.assert_allclose(np.exp(got).sum(), 1.0, rtol=1e-5)
  # float32 log-probabilities: absolute error ~1e-5 where P is not tiny, relative
  # error ~1e-5 in the far tails (log P down to -1e7 here).
  near = want > -50
  np.testing.assert_allclose(got[near], want[near], rtol=1e-5, atol=1e-4)
  np.testing.assert_allclose(got[~near], want[~near], rtol=1e-5)
  assert _all_finite_gradients(mean, scale)


def test_discretized_gaussian_edge_bins_and_tails():
  mean, scale = 0.1, 0.3
  got = _per_level('gaussian', mean, scale)
  # The first bin is (-inf, -1 + 1/255], the last [1 - 1/255, inf).
  np.testing.assert_allclose(got[0], stats.norm.logcdf((-1 + 1 / 255 - mean) / scale), rtol=1e-5)
  np.testing.assert_allclose(got[255], stats.norm.logsf((1 - 1 / 255 - mean) / scale), rtol=1e-5)
  # 2000 scales out in either direction, and the gradients there, stay finite.
  f = jax.jit(
    lambda x, m: lk.discretized_gaussian_log_likelihood(
      x, m, jnp.full_like(m, math.log(1e-3)), event_ndims=0
    )
  )
  x, m = jnp.array([1.0, -1.0, CENTRES[191]]), jnp.array([-1.0, 1.0, -1.5])
  want = [
    stats.norm.logsf((1 - 1 / 255 + 1) / 1e-3),
    stats.norm.logcdf((-1 + 1 / 255 - 1) / 1e-3),
    _reference(stats.norm, -1.5, 1e-3)[191],
  ]
  np.testing.assert_allclose(f(x, m), want, rtol=1e-5)
  assert np.all(np.isfinite(jax.jit(jax.grad(lambda m: jnp.sum(f(x, m))))(m)))
  # Sum over the event axes of x [N, H, W, C], with leading sample axes [K, N, ...].
  xs = jnp.asarray(CENTRES[:24].reshape(2, 2, 2, 3))
  out = jax.eval_shape(
    lk.discretized_gaussian_log_likelihood, xs, jnp.zeros((5,) + xs.shape), jnp.zeros(3)
  )
  assert out.shape == (5, 2)
  with pytest.raises(ValueError, match='u / 127.5 - 1'):
    lk.discretized_gaussian_log_likelihood(jnp.zeros((1, 2), jnp.uint8), 0.0, 0.0)


@pytest.mark.parametrize(
  'mean,scale', [(0.0, 0.5), (0.3, 0.01), (-0.99, 0.1), (0.2, 100.0), (0.0, 1e7)]
)
def test_discretized_logistic_sums_to_one_and_matches_scipy(mean, scale):
  got = np.asarray(_per_level('logistic', mean, scale))
  want = _reference(stats.logistic, mean, scale)
  np.testing.assert_allclose(np.exp(got.astype(np.float64)).sum(), 1.0, rtol=1e-5)
  assert np.all(np.isfinite(got)) and np.all(got <= 0)
  np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-4)
  assert _all_finite_gradients(mean, scale)


def test_categorical_matches_a_manual_log_softmax():
  rng = np.random.default_rng(2)
  logits = rng.normal(0.0, 2.0, size=(3, 2, 2, 1, 256)).astype(np.float32)  # [K, N, ...].
  x = rng.integers(0, 256, size=(2, 2, 1)).astype(np.uint8)
  log_p = logits - sp_special.logsumexp(logits, axis=-1, keepdims=True)
  want = np.take_along_axis(log_p, np.broadcast_to(x[..., None], (3, 2, 2, 1, 1)).astype(int), -1)[
    ..., 0
  ].sum(axis=(2, 3))
  np.testing.assert_allclose(lk.categorical_log_likelihood(logits, x), want, rtol=1e-5)
  bad = lk.categorical_log_likelihood(jnp.zeros((1, 3, 4)), jnp.array([[0, 4, -1]]), event_ndims=0)
  assert np.isfinite(bad[0, 0]) and np.all(np.isnan(bad[0, 1:]))
  with pytest.raises(ValueError, match='integer x'):
    lk.categorical_log_likelihood(jnp.zeros((2, 4)), jnp.zeros(2))


# ----------------------------------------------------------------------- bounds, units


def test_iwae_bound_values():
  rng = np.random.default_rng(3)
  a, b, c = (rng.normal(size=(1, 4)).astype(np.float32) for _ in range(3))
  np.testing.assert_array_equal(lk.iwae_bound(a, b, c), (a + b - c)[0])  # K = 1: the ELBO.
  log_w = np.log(np.array([[1.0, 2.0], [3.0, 4.0]]))
  np.testing.assert_allclose(lk.iwae_bound(log_w, 0.0, 0.0), np.log([2.0, 3.0]), rtol=1e-6)
  with pytest.raises(ValueError, match=r'\[K, N\]'):
    lk.iwae_bound(jnp.zeros(3), 0.0, 0.0)


def test_units():
  d = 3072
  np.testing.assert_allclose(lk.bits_per_dim(d * math.log(2.0), d), 1.0, rtol=1e-12)
  np.testing.assert_allclose(lk.nats_per_dim(jnp.array([6.0, 3.0]), 3), [2.0, 1.0])
  np.testing.assert_allclose(lk.continuous_to_discrete_nats(1.0, d), 1.0 + d * math.log(127.5))
  with pytest.raises(ValueError, match='num_dims'):
    lk.bits_per_dim(1.0, 0)
  with pytest.raises(ValueError, match='num_levels'):
    lk.discretized_gaussian_log_likelihood(
      jnp.zeros((1, 1)), jnp.zeros((1, 1)), jnp.zeros((1, 1)), num_levels=1
    )


# ------------------------------------------------------------- IWAE on a tiny VAE

M = 50 * 200  # Samples per image: 200 groups of K = 50, 2000 of 5, 10000 of 1.


def test_iwae_of_a_random_vae_equals_the_elbo_at_k1_and_increases_with_k():
  x = (datasets.load_digits().images[:4, :, :, None] > 8).astype(np.float32)
  encoder = autoencoder.Encoder('mlp', hidden=(16,), latent_dim=4)
  decoder = autoencoder.Decoder((8, 8, 1), 'mlp', hidden=(16,), output='bernoulli')
  k_enc, k_dec, k_z = jax.random.split(jax.random.PRNGKey(0), 3)
  enc_vars = jax.jit(encoder.init)(k_enc, x)
  dec_vars = jax.jit(decoder.init)(k_dec, jnp.zeros((1, 4)))

  @jax.jit
  def terms(key):
    mean, log_variance = encoder.apply(enc_vars, x)
    z = lk.gaussian_sample(key, mean, log_variance, M)  # [M, N, L]
    logits = decoder.apply(dec_vars, z.reshape(-1, 4)).reshape((M,) + x.shape)
    return (
      lk.bernoulli_log_likelihood(logits, x),
      lk.standard_normal_log_density(z),
      lk.gaussian_log_density(z, mean, log_variance),
      lk.gaussian_kl(mean, log_variance),
    )

  log_px, log_pz, log_qz, kl = (np.asarray(t) for t in terms(k_z))
  assert log_px.shape == (M, 4) and kl.shape == (4,)
  # K = 1 on the same samples is the single-sample (Monte Carlo KL) ELBO, exactly.
  np.testing.assert_array_equal(
    lk.iwae_bound(log_px[:1], log_pz[:1], log_qz[:1]), log_px[0] + log_pz[0] - log_qz[0]
  )
  # ELBO estimate with the analytic KL, and its standard error.
  elbo = log_px - kl
  elbo_mean, elbo_se = elbo.mean(0), elbo.std(0) / math.sqrt(M)
  means, ses = {}, {}
  grouped_bounds = jax.jit(jax.vmap(lk.iwae_bound))
  for k in (1, 5, 50):
    bounds = np.asarray(
      grouped_bounds(*(t.reshape(M // k, k, -1) for t in (log_px, log_pz, log_qz)))
    )  # [M / K, N]
    means[k], ses[k] = bounds.mean(0), bounds.std(0) / math.sqrt(M // k)

  # The estimates are means of independent groups, so each is within a few standard
  # errors (~0.03 nats here) of its expectation. Tolerance: 4 standard errors of the
  # difference of two estimates (one-sided, a false failure has probability ~3e-5 per
  # comparison if they were independent; sharing samples makes them correlated and the
  # difference less noisy). The true gaps here are ~2 nats (K 1 -> 5) and ~0.4 nats
  # (5 -> 50) per image, more than 8 standard errors, so they are also required to be
  # positive on average over the 4 images.
  def tol(s, t):
    return 4.0 * np.sqrt(s**2 + t**2)

  np.testing.assert_allclose(means[1], elbo_mean, atol=float(np.max(tol(ses[1], elbo_se))))
  assert np.all(means[5] >= elbo_mean - tol(ses[5], elbo_se))
  assert np.all(means[5] >= means[1] - tol(ses[5], ses[1]))
  assert np.all(means[50] >= means[5] - tol(ses[50], ses[5]))
  assert np.mean(means[5] - means[1]) > np.max(tol(ses[5], ses[1]))
  assert np.mean(means[50] - means[5]) > np.max(tol(ses[50], ses[5]))
  # Every bound is below log p(x) <= 0 for binary data.
  assert np.all(means[50] < 0)
