import numpy as np
import pytest
import scipy.linalg

from gans.metrics import FeatureStats, frechet_distance, frechet_distance_from_stats


def pytorch_fid_formula(mu1, sigma1, mu2, sigma2, eps=1e-6):
  """The TTUR / pytorch-fid computation, based on scipy.linalg.sqrtm."""
  diff = mu1 - mu2
  covmean = scipy.linalg.sqrtm(sigma1.dot(sigma2))
  if not np.isfinite(covmean).all():
    offset = np.eye(sigma1.shape[0]) * eps
    covmean = scipy.linalg.sqrtm((sigma1 + offset).dot(sigma2 + offset))
  covmean = covmean.real
  return diff.dot(diff) + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean)


def correlated_features(rng, n, d, shift=0.0):
  mixing = rng.normal(size=(d, d)) / np.sqrt(d)
  return rng.normal(size=(n, d)) @ mixing + shift


def test_diagonal_gaussians_closed_form():
  # For commuting (diagonal) covariances FID = |mu1 - mu2|^2 + sum (sqrt(s1) - sqrt(s2))^2.
  mu1, mu2 = np.array([0.0, 1.0, 2.0]), np.array([1.0, 1.0, 0.0])
  s1, s2 = np.array([1.0, 4.0, 9.0]), np.array([4.0, 1.0, 1.0])
  expected = 1 + 0 + 4 + (1 - 2) ** 2 + (2 - 1) ** 2 + (3 - 1) ** 2
  got = frechet_distance_from_stats(mu1, np.diag(s1), mu2, np.diag(s2))
  assert got == pytest.approx(expected, rel=1e-12)


def test_matches_pytorch_fid_formula():
  rng = np.random.default_rng(0)
  a = correlated_features(rng, 500, 32)
  b = correlated_features(rng, 400, 32, shift=0.3)
  mu1, s1 = a.mean(0), np.cov(a, rowvar=False)
  mu2, s2 = b.mean(0), np.cov(b, rowvar=False)
  expected = pytorch_fid_formula(mu1, s1, mu2, s2)
  assert frechet_distance(a, b) == pytest.approx(expected, rel=1e-4)
  assert frechet_distance_from_stats(mu1, s1, mu2, s2) == pytest.approx(expected, rel=1e-4)
  # float32 and JAX inputs are promoted to float64 internally.
  import jax.numpy as jnp

  got32 = frechet_distance(jnp.asarray(a, jnp.float32), jnp.asarray(b, jnp.float32))
  assert got32 == pytest.approx(expected, rel=1e-4)


def test_singular_covariances_match_reference():
  # Fewer samples than dimensions: both covariances are rank deficient.
  rng = np.random.default_rng(1)
  a, b = rng.normal(size=(20, 40)), rng.normal(size=(25, 40)) + 0.1
  mu1, s1 = a.mean(0), np.cov(a, rowvar=False)
  mu2, s2 = b.mean(0), np.cov(b, rowvar=False)
  expected = pytorch_fid_formula(mu1, s1, mu2, s2)
  assert frechet_distance(a, b) == pytest.approx(expected, rel=1e-4)


def test_identical_sets_give_zero():
  rng = np.random.default_rng(2)
  x = correlated_features(rng, 300, 64, shift=5.0)
  assert abs(frechet_distance(x, x)) < 1e-6
  # Also when N < D (singular covariance, tiny negative eigenvalues clipped).
  y = rng.normal(size=(30, 64))
  assert abs(frechet_distance(y, y)) < 1e-6


def test_mean_shift_adds_squared_norm():
  rng = np.random.default_rng(3)
  x = correlated_features(rng, 200, 16)
  shift = np.arange(16) / 10.0
  assert frechet_distance(x, x + shift) == pytest.approx(shift @ shift, rel=1e-8)


def test_from_feature_stats():
  rng = np.random.default_rng(4)
  a, b = correlated_features(rng, 300, 8), correlated_features(rng, 300, 8, shift=1.0)
  sa, sb = FeatureStats().update(a), FeatureStats().update(b)
  got = frechet_distance_from_stats(sa.mean(), sa.cov(), sb.mean(), sb.cov())
  assert got == pytest.approx(frechet_distance(a, b), rel=1e-10)


def test_shape_mismatch_names_shapes():
  with pytest.raises(ValueError, match=r'\(10, 3\).*\(10, 4\)'):
    frechet_distance(np.zeros((10, 3)), np.zeros((10, 4)))
  with pytest.raises(ValueError, match=r'sigma2 \(4, 4\)'):
    frechet_distance_from_stats(np.zeros(3), np.eye(3), np.zeros(3), np.eye(4))
