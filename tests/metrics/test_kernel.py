import math

import numpy as np
import pytest

from gans.metrics import kernel_inception_distance, kernel_mmd


def loop_polynomial_mmd2(x, y):
  """MMD-GAN's unbiased estimator written with explicit loops."""
  m, d = x.shape
  k = lambda u, v: (float(u @ v) / d + 1.0) ** 3  # noqa: E731
  xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j)
  yy = sum(k(y[i], y[j]) for i in range(m) for j in range(m) if i != j)
  xy = sum(k(x[i], y[j]) for i in range(m) for j in range(m))
  return xx / (m * (m - 1)) + yy / (m * (m - 1)) - 2 * xy / (m * m)


def test_kid_hand_worked():
  # 1-d: k(u, v) = (uv + 1)^3. XX off-diagonal: k(1, -1) = 0; YY: k(2, 0) = 1 (twice) / 2;
  # XY: 27 + 1 - 1 + 1 = 28, times 2 / 4 = 14. MMD^2 = 0 + 1 - 14.
  x, y = np.array([[1.0], [-1.0]]), np.array([[2.0], [0.0]])
  mean, std = kernel_inception_distance(x, y, num_subsets=3, subset_size=2)
  assert mean == pytest.approx(-13.0, rel=1e-12)
  assert std == pytest.approx(0.0, abs=1e-12)


def test_kid_matches_loop_reference_on_same_subsets():
  rng = np.random.default_rng(0)
  a = rng.normal(size=(60, 5)).astype(np.float32)
  b = (rng.normal(size=(45, 5)) * 1.2 + 0.3).astype(np.float32)
  num_subsets, subset_size, seed = 4, 20, 3
  # The documented subset sampling: a's indices, then b's, per subset.
  draw = np.random.default_rng(seed)
  expected = []
  for _ in range(num_subsets):
    ia = draw.choice(len(a), subset_size, replace=False)
    ib = draw.choice(len(b), subset_size, replace=False)
    expected.append(loop_polynomial_mmd2(a[ia].astype(np.float64), b[ib].astype(np.float64)))
  mean, std = kernel_inception_distance(a, b, num_subsets, subset_size, seed)
  assert mean == pytest.approx(np.mean(expected), rel=1e-4)
  assert std == pytest.approx(np.std(expected), rel=1e-4)
  assert mean > 0.01  # the sets differ, so this is not a trivially-zero comparison


def test_kid_subset_larger_than_data_uses_all_rows():
  rng = np.random.default_rng(1)
  a, b = rng.normal(size=(12, 3)), rng.normal(size=(15, 3)) + 0.5
  # subset_size -> min(1000, 12, 15) = 12, so every subset of a is all of a (permuted).
  mean, _ = kernel_inception_distance(a, b, num_subsets=2, subset_size=1000, seed=0)
  draw = np.random.default_rng(0)
  expected = []
  for _ in range(2):
    ia, ib = draw.choice(12, 12, replace=False), draw.choice(15, 12, replace=False)
    expected.append(loop_polynomial_mmd2(a[ia], b[ib]))
  assert mean == pytest.approx(np.mean(expected), rel=1e-10)


def test_kid_near_zero_for_same_distribution():
  rng = np.random.default_rng(2)
  a, b = rng.normal(size=(400, 16)), rng.normal(size=(400, 16))
  mean, std = kernel_inception_distance(a, b, num_subsets=10, subset_size=200)
  shifted, _ = kernel_inception_distance(a, b + 1.0, num_subsets=10, subset_size=200)
  assert abs(mean) < 3 * std + 1e-3
  assert shifted > 100 * abs(mean)


def full_matrix_kernel_mmd(a, b, sigma2):
  def mean_k(x, y):
    d2 = ((x[:, None, :] - y[None, :, :]) ** 2).sum(-1)
    return np.exp(-d2 / (2 * sigma2)).mean()

  return math.sqrt(max(mean_k(a, a) + mean_k(b, b) - 2 * mean_k(a, b), 0.0))


def test_kernel_mmd_hand_worked():
  # sigma^2 = mean of |a_i - a_j|^2 over 4 ordered pairs = (0 + 4 + 4 + 0) / 4 = 2.
  a, b = np.array([[0.0], [2.0]]), np.array([[1.0]])
  expected = math.sqrt((1 + math.exp(-1)) / 2 + 1 - 2 * math.exp(-0.25))
  assert kernel_mmd(a, b) == pytest.approx(expected, rel=1e-12)
  assert kernel_mmd(a, a) == pytest.approx(0.0, abs=1e-7)


def test_kernel_mmd_matches_full_matrix_in_chunks():
  rng = np.random.default_rng(3)
  a = rng.normal(size=(50, 7))
  b = rng.normal(size=(37, 7)) * 0.8 + 0.2
  d2 = ((a[:, None] - a[None]) ** 2).sum(-1)
  expected = full_matrix_kernel_mmd(a, b, d2.mean())
  assert kernel_mmd(a, b, chunk_size=6) == pytest.approx(expected, rel=1e-4)
  assert kernel_mmd(a, b) == pytest.approx(expected, rel=1e-4)
  assert kernel_mmd(a, b, sigma=1.5, chunk_size=11) == pytest.approx(
    full_matrix_kernel_mmd(a, b, 1.5**2), rel=1e-4
  )
