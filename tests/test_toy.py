"""The 2D mode-collapse benchmark's data and scoring (the table: tests/tables/test_toy2d.py)."""

import os

import numpy as np

from gans import configs
from gans import eval as eval_lib
from gans.data import builtin
from gans.metrics import mode_coverage
from gans.tables import toy2d
from gans.train import experiment


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


def test_toy_experiment_evaluates_with_its_own_metrics():
  # experiments/toy.py's evaluator asks only for metrics that apply to 2-D points, so
  # `launch.py --mode eval` on a toy run (docs/sweeps.md's example) works.
  root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  config = configs.load_config_file(os.path.join(root, 'experiments', 'toy.py:runlocal'))
  exp = experiment.build(config)
  results = eval_lib.evaluate(config, exp, exp.init(), num_samples=500)['samples']
  assert 0 <= results['modes'] <= 25 and 0 <= results['high_quality'] <= 1
  assert 'fid_points' in results and 'is' not in results
