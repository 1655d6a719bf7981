"""Frechet Inception Distance (Heusel et al. 2017, "GANs trained by a two time-scale
update rule converge to a local Nash equilibrium"; reference code bioinf-jku/TTUR and
mseitzer/pytorch-fid)."""

from __future__ import annotations

import numpy as np

from gans.metrics.checks import check_finite_entries, check_finite_rows

# Relative round-off of the distance: |d(x, x)| stayed below 1e-10 of
# tr(sigma1) + tr(sigma2) + |mu1 - mu2|^2 over 300 random sets (N 3..200, D 1..100, scales
# 1e-3..1e3); square roots of eigenvalues at rounding level can reach sqrt(eps) ~ 1.5e-8.
ROUNDOFF = 1e-8


def _clip_eigenvalues(w: np.ndarray) -> np.ndarray:
  """Sets eigenvalues below eigh's rounding level (D * eps * max |w|) to exactly 0.

  Rounding leaves eigenvalues of order eps * |w|_max (either sign) in the null space of
  a singular covariance (N < D); their square roots, about 1e-8 each, would otherwise add
  up to a visible bias, e.g. FID(x, x) ~ 1e-6 instead of 0.
  """
  tol = len(w) * np.finfo(np.float64).eps * np.max(np.abs(w), initial=0.0)
  return np.where(w > tol, w, 0.0)


def _trace_sqrt_product(sigma1: np.ndarray, sigma2: np.ndarray) -> float:
  """Tr((S1 S2)^(1/2)) for symmetric PSD S1, S2.

  S1 S2 is similar to the symmetric PSD matrix S1^(1/2) S2 S1^(1/2), so its square root
  has trace sum(sqrt(eigvals)); two ``eigh`` calls in float64 replace ``sqrtm``, which
  is slower and can return complex parts or fail on singular covariances.
  """
  w, v = np.linalg.eigh(sigma1)
  sqrt_sigma1 = (v * np.sqrt(_clip_eigenvalues(w))) @ v.T
  m = sqrt_sigma1 @ sigma2 @ sqrt_sigma1
  eigvals = np.linalg.eigvalsh((m + m.T) / 2)
  return float(np.sqrt(_clip_eigenvalues(eigvals)).sum())


def frechet_distance_from_stats(mu1, sigma1, mu2, sigma2) -> float:
  """Frechet distance between N(mu1, sigma1) and N(mu2, sigma2).

  ||mu1 - mu2||^2 + Tr(sigma1 + sigma2 - 2 (sigma1 sigma2)^(1/2)), in float64.
  Shapes: mu [D], sigma [D, D]. Eigenvalues at rounding level (negative or positive)
  are clipped to 0, see ``_clip_eigenvalues``.

  A squared distance is never negative: a result below 0 by at most ``ROUNDOFF`` times
  tr(sigma1) + tr(sigma2) + ||mu1 - mu2||^2 is round-off and returned as 0.0 (FID(x, x)
  once printed -2.27e-11).

  Raises:
    ValueError: shapes that do not match; a NaN or inf entry (counted, naming mu1,
      sigma1, mu2 or sigma2); or a result negative beyond round-off, which only
      matrices that are not covariances (not positive semi-definite) can give.
  """
  mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
  sigma1, sigma2 = np.asarray(sigma1, np.float64), np.asarray(sigma2, np.float64)
  d = mu1.shape[0] if mu1.ndim == 1 else -1
  if not (mu1.ndim == 1 and mu1.shape == mu2.shape and sigma1.shape == (d, d) == sigma2.shape):
    raise ValueError(
      'frechet_distance_from_stats needs mu1, mu2 of shape [D] and sigma1, sigma2 of '
      f'shape [D, D]; got mu1 {mu1.shape}, sigma1 {sigma1.shape}, mu2 {mu2.shape}, '
      f'sigma2 {sigma2.shape}'
    )
  for value, name in ((mu1, 'mu1'), (sigma1, 'sigma1'), (mu2, 'mu2'), (sigma2, 'sigma2')):
    check_finite_entries(value, name)
  sigma1, sigma2 = (sigma1 + sigma1.T) / 2, (sigma2 + sigma2.T) / 2
  diff = mu1 - mu2
  trace_sqrt = _trace_sqrt_product(sigma1, sigma2)
  scale = diff @ diff + abs(np.trace(sigma1)) + abs(np.trace(sigma2))
  distance = float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * trace_sqrt)
  if distance < 0:
    if distance >= -ROUNDOFF * scale:
      return 0.0
    raise ValueError(
      f'frechet_distance_from_stats: the squared distance came out {distance:.6g}, below 0 '
      f'beyond round-off ({-ROUNDOFF * scale:.3g}); sigma1 and sigma2 must be covariance '
      f'matrices (symmetric positive semi-definite), smallest eigenvalues '
      f'{np.linalg.eigvalsh(sigma1)[0]:.3g} and {np.linalg.eigvalsh(sigma2)[0]:.3g}'
    )
  return distance


def frechet_distance(a, b) -> float:
  """FID between two feature sets a [N, D] and b [M, D] (e.g. 2048-d Inception pool3).

  Means and covariances (N - 1 normalisation) in float64, then
  ``frechet_distance_from_stats``. Fewer samples than dimensions gives a singular
  covariance; the value stays defined but is biased upward at small N. Never negative
  (see ``frechet_distance_from_stats``). Raises ValueError for shapes that do not match,
  fewer than 2 rows, or a NaN/inf row (counted, naming 'a' or 'b').
  """
  a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
  if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
    raise ValueError(
      f'frechet_distance needs [N, D] and [M, D] features; got {a.shape} and {b.shape}'
    )
  check_finite_rows(a, "'a'")
  check_finite_rows(b, "'b'")
  if len(a) < 2 or len(b) < 2:
    raise ValueError(
      f'frechet_distance needs at least 2 samples per set; got {a.shape} and {b.shape}'
    )
  return frechet_distance_from_stats(
    a.mean(0),
    np.atleast_2d(np.cov(a, rowvar=False)),
    b.mean(0),
    np.atleast_2d(np.cov(b, rowvar=False)),
  )
