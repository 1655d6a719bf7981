"""Kernel two-sample statistics: KID (polynomial-kernel MMD) and Gaussian kernel MMD."""

from __future__ import annotations

import numpy as np

from gans.metrics.neighbors import _as_features, _check_same_dim, squared_distance_chunks


def _polynomial_mmd2_unbiased(x: np.ndarray, y: np.ndarray) -> float:
  """Unbiased MMD^2 with k(x, y) = (x.y / d + 1)^3 for equal-size sets x, y [m, d]."""
  m, d = x.shape
  k_xx = (x @ x.T / d + 1) ** 3
  k_yy = (y @ y.T / d + 1) ** 3
  k_xy = (x @ y.T / d + 1) ** 3
  within = (k_xx.sum() - np.trace(k_xx) + k_yy.sum() - np.trace(k_yy)) / (m * (m - 1))
  return float(within - 2 * k_xy.sum() / (m * m))


def kernel_inception_distance(
  a, b, num_subsets: int = 100, subset_size: int = 1000, seed: int = 0
) -> tuple[float, float]:
  """Kernel Inception Distance (Binkowski et al. 2018, "Demystifying MMD GANs").

  Features a [N, D], b [M, D]. For each of ``num_subsets`` subsets, with
  ``rng = np.random.default_rng(seed)``: ``rng.choice(N, m, replace=False)`` rows of a,
  then ``rng.choice(M, m, replace=False)`` rows of b, where
  ``m = min(subset_size, N, M)`` (so fewer samples than ``subset_size`` shrink the
  subsets instead of failing). On each pair the unbiased MMD^2 estimator of MMD-GAN's
  ``polynomial_mmd_averages`` (also torch-fidelity's KID) with kernel
  k(x, y) = (x.y / D + 1)^3:
      sum_{i!=j} k(x_i, x_j) / (m(m-1)) + sum_{i!=j} k(y_i, y_j) / (m(m-1))
      - 2 sum_{i,j} k(x_i, y_j) / m^2.
  Returns (mean, std) over subsets (std with ddof=0); slightly negative values are valid.
  Raises ValueError on a NaN/inf row of a or b.
  """
  a, b = _as_features(a, 'a'), _as_features(b, 'b')
  _check_same_dim(a, b, 'kernel_inception_distance')
  m = min(subset_size, len(a), len(b))
  if m < 2:
    raise ValueError(f'KID needs at least 2 samples per set; got {a.shape} and {b.shape}')
  rng = np.random.default_rng(seed)
  mmds = []
  for _ in range(num_subsets):
    x = a[rng.choice(len(a), m, replace=False)]
    y = b[rng.choice(len(b), m, replace=False)]
    mmds.append(_polynomial_mmd2_unbiased(x, y))
  return float(np.mean(mmds)), float(np.std(mmds))


def _gaussian_kernel_mean(x, y, sigma2: float, chunk_size: int | None) -> float:
  total = 0.0
  for _, d2 in squared_distance_chunks(x, y, chunk_size):
    total += np.exp(d2 / (-2.0 * sigma2)).sum()
  return total / (len(x) * len(y))


def kernel_mmd(a, b, sigma: float | None = None, *, chunk_size: int | None = None) -> float:
  """Gaussian-kernel MMD as reported by Xu et al. 2018 (xuqiantong/GAN-Metrics).

  a: real features [N, D], b: generated features [M, D]. Kernel
  k(x, y) = exp(-||x - y||^2 / (2 sigma^2)). With ``sigma=None`` the bandwidth comes
  from the real set: sigma^2 = mean over all N^2 ordered pairs (i = j included) of
  ||a_i - a_j||^2, which is GAN-Metrics' ``scale`` with its default sigma = 1.
  Estimator: the biased (V-statistic) MMD^2 = mean k(a, a) + mean k(b, b)
  - 2 mean k(a, b), every mean over all pairs including i = j; returns
  sqrt(max(MMD^2, 0)). Computed in row chunks, never holding an N x M matrix.
  Raises ValueError on a NaN/inf row of a or b.
  """
  a, b = _as_features(a, 'a'), _as_features(b, 'b')
  _check_same_dim(a, b, 'kernel_mmd')
  if sigma is None:
    # mean_ij ||a_i - a_j||^2 = 2 (mean_i ||a_i||^2 - ||mean_i a_i||^2)
    mean = a.mean(0)
    sigma2 = 2.0 * (np.einsum('ij,ij->', a, a) / len(a) - mean @ mean)
    if sigma2 <= 0:
      raise ValueError('kernel_mmd: all real samples are identical; pass sigma explicitly')
  else:
    sigma2 = float(sigma) ** 2
  mmd2 = (
    _gaussian_kernel_mean(a, a, sigma2, chunk_size)
    + _gaussian_kernel_mean(b, b, sigma2, chunk_size)
    - 2 * _gaussian_kernel_mean(a, b, sigma2, chunk_size)
  )
  return float(np.sqrt(max(mmd2, 0.0)))
