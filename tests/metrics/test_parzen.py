"""Parzen-window log-likelihood against direct float64 computations."""

import math
import warnings

import jax.numpy as jnp
import numpy as np
import pytest
from scipy import special
from scipy import stats

from gans import metrics
from gans.metrics import parzen
from gans.metrics import parzen_log_likelihood
from gans.metrics import select_parzen_sigma


def reference_log_likelihoods(samples, points, sigma):
  """Per-point log p(x) [M]: the unchunked formula, float64, explicit differences."""
  samples = np.asarray(samples, np.float64)
  points = np.asarray(points, np.float64)
  n, d = samples.shape
  sq = np.sum((points[:, None, :] - samples[None, :, :]) ** 2, axis=-1)
  return (
    special.logsumexp(-sq / (2 * sigma**2), axis=1)
    - math.log(n)
    - 0.5 * d * math.log(2 * math.pi * sigma**2)
  )


def test_exported():
  assert metrics.parzen_log_likelihood is parzen_log_likelihood
  assert metrics.select_parzen_sigma is select_parzen_sigma
  assert {'parzen_log_likelihood', 'select_parzen_sigma'} <= set(metrics.__all__)


@pytest.mark.parametrize('chunk_size', [1, 5, 7, 16, 37, 1024])
def test_matches_unchunked_reference_for_any_chunk_size(chunk_size):
  # N = 37 and M = 23 are not multiples of 5, 7 or 16: padded last blocks.
  rng = np.random.default_rng(0)
  samples = rng.uniform(-1, 1, size=(37, 12))
  points = rng.uniform(-1, 1, size=(23, 12))
  for sigma in (0.05, 0.3, 2.0):
    ref = reference_log_likelihoods(samples, points, sigma)
    ll = parzen._log_likelihoods(samples, points, [sigma], chunk_size)[0]
    np.testing.assert_allclose(ll, ref, rtol=1e-12, atol=1e-9)
    mean, se = parzen_log_likelihood(samples, points, sigma, chunk_size=chunk_size)
    assert mean == pytest.approx(ref.mean(), rel=1e-12)
    assert se == pytest.approx(ref.std(ddof=0) / math.sqrt(len(ref)), rel=1e-9)


def test_matches_scipy_multivariate_normal_mixture():
  rng = np.random.default_rng(1)
  samples = rng.normal(size=(5, 3))
  points = rng.normal(size=(4, 3))
  sigma = 0.7
  comps = np.stack(
    [stats.multivariate_normal(mean=s, cov=sigma**2 * np.eye(3)).logpdf(points) for s in samples]
  )  # [N, M]
  ref = special.logsumexp(comps, axis=0) - math.log(len(samples))
  mean, se = parzen_log_likelihood(samples, points, sigma, chunk_size=2)
  assert mean == pytest.approx(ref.mean(), rel=1e-12)
  assert se == pytest.approx(np.std(ref) / 2.0, rel=1e-9)  # sqrt(M) = 2, ddof=0.


def test_far_points_stay_finite_and_exact():
  # -||x - s||^2 / (2 sigma^2) around -1e6: exp underflows unless the max is taken out.
  samples = np.array([[0.0, 0.0], [1.0, 0.0]])
  points = np.array([[100.0, 0.0], [-50.0, 3.0]])
  ll = parzen._log_likelihoods(samples, points, [0.07], 1)[0]
  np.testing.assert_allclose(ll, reference_log_likelihoods(samples, points, 0.07), rtol=1e-13)
  assert np.all(np.isfinite(ll))


def test_standard_error_formula_and_single_point():
  samples = np.zeros((1, 1))
  points = np.array([[0.0], [1.0], [2.0], [4.0]])
  sigma = 1.0
  ll = -0.5 * points[:, 0] ** 2 - 0.5 * math.log(2 * math.pi)  # One Gaussian at 0.
  mean, se = parzen_log_likelihood(samples, points, sigma)
  assert mean == pytest.approx(ll.mean(), rel=1e-14)
  assert se == pytest.approx(np.sqrt(np.mean((ll - ll.mean()) ** 2) / 4), rel=1e-12)
  mean1, se1 = parzen_log_likelihood(samples, points[1:2], sigma)
  assert (mean1, se1) == (pytest.approx(ll[1], rel=1e-14), 0.0)


def test_rescaling_the_data_shifts_by_d_log_2():
  # Documented: log p in [0, 1] units = log p in [-1, 1] units + D log 2.
  rng = np.random.default_rng(2)
  samples, points = rng.uniform(0, 1, size=(2, 30, 8))
  mean01, _ = parzen_log_likelihood(samples, points, 0.2)
  mean11, _ = parzen_log_likelihood(2 * samples - 1, 2 * points - 1, 0.4)
  assert mean01 == pytest.approx(mean11 + 8 * math.log(2), rel=1e-12)


def test_float32_and_integer_inputs_and_x64_is_scoped():
  rng = np.random.default_rng(3)
  samples = rng.integers(0, 3, size=(9, 4))
  points = rng.integers(0, 3, size=(6, 4))
  ref = reference_log_likelihoods(samples, points, 0.5)
  assert parzen_log_likelihood(samples, points, 0.5)[0] == pytest.approx(ref.mean(), rel=1e-12)
  assert parzen_log_likelihood(
    samples.astype(np.float32), points.astype(np.float32), np.float32(0.5)
  )[0] == pytest.approx(ref.mean(), rel=1e-12)
  assert jnp.zeros(1).dtype == jnp.float32  # jax.enable_x64 did not leak.


def test_select_recovers_the_variance_mle_of_a_single_kernel():
  # One sample at 0: mean log p = -E||x||^2 / (2 s^2) - (D/2) log(2 pi s^2), maximised
  # at s^2 = E||x||^2 / D, the Gaussian variance MLE.
  rng = np.random.default_rng(4)
  points = rng.normal(size=(200, 5)) * 0.3
  best = math.sqrt(np.mean(np.sum(points**2, axis=1)) / 5)
  grid = [best / 2, best / 1.1, best, best * 1.1, best * 2]
  sigma, means = select_parzen_sigma(np.zeros((1, 5)), points, grid, chunk_size=64)
  assert sigma == best
  assert list(means) == grid
  for s in grid:
    assert means[s] == pytest.approx(
      parzen_log_likelihood(np.zeros((1, 5)), points, s)[0], rel=1e-12
    )


def test_select_on_well_separated_clusters():
  # Each point is near one of three far-apart samples: the KDE is a single kernel there
  # (plus log 1/3), so the best sigma is again sqrt(mean squared offset / D).
  rng = np.random.default_rng(5)
  centres = np.array([[0.0, 0.0], [100.0, 0.0], [0.0, 100.0]])
  offsets = rng.normal(size=(300, 2)) * 0.5
  points = centres[np.arange(300) % 3] + offsets
  best = math.sqrt(np.mean(np.sum(offsets**2, axis=1)) / 2)
  grid = np.array([0.25, 0.4, best, 0.7, 1.0])
  sigma, means = select_parzen_sigma(centres, points, grid, chunk_size=7)
  assert sigma == best
  assert means[best] == pytest.approx(
    reference_log_likelihoods(centres, points, best).mean(), rel=1e-12
  )


def test_select_default_grid_and_edge_warning():
  assert len(parzen.DEFAULT_SIGMAS) == 10
  np.testing.assert_allclose(parzen.DEFAULT_SIGMAS, 2 * np.logspace(-1, 0, 10))
  rng = np.random.default_rng(6)
  points = rng.normal(size=(50, 3)) * 0.6  # Best sigma about 0.6: inside the grid.
  with warnings.catch_warnings():
    warnings.simplefilter('error')
    sigma, means = select_parzen_sigma(np.zeros((1, 3)), points)
  assert sigma in parzen.DEFAULT_SIGMAS and list(means) == list(parzen.DEFAULT_SIGMAS)
  assert 0.4 < sigma < 0.9
  with pytest.warns(UserWarning, match='edge of the grid'):
    select_parzen_sigma(np.zeros((1, 3)), points * 100)


@pytest.mark.parametrize(
  'samples,points,match',
  [
    (np.zeros(5), np.zeros((2, 5)), r'samples must be a 2-D array .* shape \(5,\)'),
    (np.zeros((3, 5)), np.zeros((2, 5, 1)), r'points must be a 2-D array .* shape \(2, 5, 1\)'),
    (np.zeros((0, 5)), np.zeros((2, 5)), r'samples must be non-empty; got shape \(0, 5\)'),
    (np.zeros((3, 5)), np.zeros((0, 5)), r'points must be non-empty'),
    (np.zeros((3, 0)), np.zeros((2, 0)), r'samples must be non-empty'),
    (np.zeros((3, 5)), np.zeros((2, 4)), r'same dimension D.*\(3, 5\).*\(2, 4\)'),
    (np.full((3, 5), np.nan), np.zeros((2, 5)), r'3 of 3 rows of samples are non-finite'),
    (
      np.zeros((3, 5)),
      np.array([[0.0] * 5, [0, np.inf, 0, 0, 0]]),
      r'1 of 2 rows of points .* row 1',
    ),
  ],
)
def test_array_errors_name_the_argument_and_shape(samples, points, match):
  with pytest.raises(ValueError, match=match):
    parzen_log_likelihood(samples, points, 1.0)


@pytest.mark.parametrize('sigma', [0.0, -1.0, float('nan'), float('inf'), 'wide', None, [1.0]])
def test_sigma_errors(sigma):
  with pytest.raises(ValueError, match='sigma must be a positive finite scalar'):
    parzen_log_likelihood(np.zeros((2, 3)), np.zeros((2, 3)), sigma)


@pytest.mark.parametrize('chunk_size', [0, -3, 2.5, True])
def test_chunk_size_errors(chunk_size):
  with pytest.raises(ValueError, match='chunk_size'):
    parzen_log_likelihood(np.zeros((2, 3)), np.zeros((2, 3)), 1.0, chunk_size=chunk_size)


def test_select_errors():
  s, v = np.zeros((2, 3)), np.zeros((4, 3))
  with pytest.raises(ValueError, match=r'validation_points must be a 2-D array .* \(4,\)'):
    select_parzen_sigma(s, np.zeros(4))
  with pytest.raises(ValueError, match=r'same dimension D.*validation_points shape \(4, 2\)'):
    select_parzen_sigma(s, np.zeros((4, 2)))
  for bad in ([], [[0.1, 0.2]], 0.5, 'abc'):
    with pytest.raises(ValueError, match='sigmas must be a non-empty 1-D sequence'):
      select_parzen_sigma(s, v, bad)
  with pytest.raises(ValueError, match='sigmas must be a positive finite scalar'):
    select_parzen_sigma(s, v, [0.1, -0.2])
