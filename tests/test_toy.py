"""The 2D mode-collapse benchmark's data and scoring (the table: tests/tables/test_toy2d.py)."""

import numpy as np

from gans.data import builtin
from gans.metrics import mode_coverage
from gans.tables import toy2d


def test_mixture_data_scores_as_the_metrics_ideal():
  points, modes, means, sigma = builtin.toy_mixture('grid25', num_points=10_000, seed=0)
  assert points.shape == (10_000, 2) and modes.shape == (10_000,) and sigma == 0.05
  np.testing.assert_allclose(np.std(points - means[modes]), sigma, rtol=0.03)
  assert np.bincount(modes, minlength=25).min() > 300  # ~400 per mode.
  # Real data scores as the metric's ideal: all modes, P(r < 3 sigma) = 1 - e^-4.5 in 2-D.
  cov = mode_coverage(points[:2500], means, sigma)
  assert cov['modes'] == 25
  np.testing.assert_allclose(cov['high_quality'], 1 - np.exp(-4.5), atol=0.01)
  assert cov['reverse_kl'] < 0.03


def test_summary_is_mean_and_standard_error():
  runs = [
    dict(modes=6, high_quality=0.9, reverse_kl=0.2),
    dict(modes=8, high_quality=0.8, reverse_kl=0.4),
  ]
  s = toy2d.summarize(runs)
  np.testing.assert_allclose(s['modes'], (7.0, 1.0))
  np.testing.assert_allclose(s['high_quality'], (85.0, 5.0))
  np.testing.assert_allclose(s['reverse_kl'], (0.3, 0.1))
