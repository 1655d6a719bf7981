import math

import numpy as np
import pytest

from gans.metrics import mode_coverage

RING = np.array([[math.cos(2 * math.pi * k / 8), math.sin(2 * math.pi * k / 8)] for k in range(8)])
SIGMA = 0.01


def test_samples_from_the_ring_cover_every_mode():
  rng = np.random.default_rng(0)
  idx = rng.integers(0, 8, size=4000)
  samples = RING[idx] + SIGMA * rng.normal(size=(4000, 2))
  result = mode_coverage(samples, RING, SIGMA)
  assert result['modes'] == 8
  # Within 3 sigma of a 2-d Gaussian: 1 - exp(-9/2) = 98.9%.
  assert result['high_quality'] == pytest.approx(1 - math.exp(-4.5), abs=0.01)
  assert result['reverse_kl'] < 0.01
  assert result['counts'].sum() == round(result['high_quality'] * 4000)


def test_three_modes_hand_worked():
  rng = np.random.default_rng(1)
  good = RING[np.repeat([0, 2, 5], [50, 30, 20])] + 0.5 * SIGMA * rng.uniform(-1, 1, size=(100, 2))
  far = np.array([[0.0, 0.0], [3.0, 3.0]] * 10)  # 20 samples far from every mode
  result = mode_coverage(np.concatenate([good, far]), RING, SIGMA)
  assert result['modes'] == 3
  assert result['high_quality'] == pytest.approx(100 / 120)
  np.testing.assert_array_equal(result['counts'], [50, 0, 30, 0, 0, 20, 0, 0])
  # KL(p || uniform(8)) with p = (0.5, 0.3, 0.2) on the captured modes.
  expected = 0.5 * math.log(8 * 0.5) + 0.3 * math.log(8 * 0.3) + 0.2 * math.log(8 * 0.2)
  assert result['reverse_kl'] == pytest.approx(expected, rel=1e-12)


def test_threshold_and_per_mode_sigma():
  means = np.array([[0.0, 0.0], [10.0, 0.0]])
  samples = np.array([[2.9, 0.0], [3.0, 0.0], [10.0, 5.0]])
  result = mode_coverage(samples, means, 1.0)
  # 2.9 sigma is high quality, exactly 3 sigma is not (strict <), 5 sigma is not.
  assert result['modes'] == 1 and result['high_quality'] == pytest.approx(1 / 3)
  assert result['reverse_kl'] == pytest.approx(math.log(2))
  wide = mode_coverage(samples, means, [1.0, 2.0])  # second mode: 5 / 2 = 2.5 sigma
  assert wide['modes'] == 2 and wide['reverse_kl'] == pytest.approx(0.0, abs=1e-12)


def test_no_high_quality_sample():
  result = mode_coverage(np.array([[5.0, 5.0]]), RING, SIGMA)
  assert result['modes'] == 0 and result['high_quality'] == 0.0
  assert result['reverse_kl'] == math.inf
