"""Mode counts for 2-D toy mixtures (VEEGAN, Srivastava et al. 2017; PacGAN, Lin et al. 2018)."""

from __future__ import annotations

import numpy as np

from gans.metrics.checks import check_finite_entries, check_finite_rows
from gans.metrics.scores import kl_to_uniform


def mode_coverage(samples, means, sigma, threshold: float = 3.0) -> dict:
  """Modes captured, fraction of high-quality samples and reverse KL over modes.

  samples [N, D] from a generator; means [K, D] the mixture's modes; sigma the modes'
  standard deviation (scalar, or [K] per mode). As in PacGAN's ``MetricLogger``
  (fjxmlzn/PacGAN, synthetic_data_experiments): a sample is high quality if its
  distance to the nearest mode, in units of that mode's sigma, is below ``threshold``
  (strict ``<``); the histogram ``counts`` [K] counts high-quality samples only, each
  at its nearest mode; a mode is captured if its count is > 0.
  reverse_kl = KL(counts / sum(counts) || uniform(K)) = sum_k p_k log(K p_k), with
  0 log 0 = 0 (PacGAN's Table 1 "reverse KL"; ``scores.kl_to_uniform``); inf when no
  sample is high quality.
  Returns dict(modes=int, high_quality=float, reverse_kl=float, counts=[K] int array).
  Raises ValueError for a NaN/inf sample (a NaN sample counted as "not high quality").
  """
  x = np.asarray(samples, np.float64)
  means = np.asarray(means, np.float64)
  if x.ndim != 2 or means.ndim != 2 or x.shape[1] != means.shape[1]:
    raise ValueError(
      f'mode_coverage needs samples [N, D] and means [K, D]; got {x.shape} and {means.shape}'
    )
  check_finite_rows(x, "'samples'", 'samples')
  check_finite_entries(means, "'means'")
  check_finite_entries(sigma, "'sigma'")
  sigma = np.broadcast_to(np.asarray(sigma, np.float64), means.shape[:1])
  scaled = np.linalg.norm(x[:, None, :] - means[None, :, :], axis=-1) / sigma
  nearest = np.argmin(scaled, axis=1)
  good = scaled[np.arange(len(x)), nearest] < threshold
  counts = np.bincount(nearest[good], minlength=len(means))
  return dict(
    modes=int(np.count_nonzero(counts)),
    high_quality=float(good.mean()),
    reverse_kl=kl_to_uniform(counts),
    counts=counts,
  )
