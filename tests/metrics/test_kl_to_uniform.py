import math

import numpy as np
import pytest
from scipy import stats

from gans import metrics
from gans.metrics import kl_to_uniform


def test_hand_worked_and_scipy_entropy():
  counts = np.array([50, 0, 30, 0, 0, 20, 0, 0])
  expected = 0.5 * math.log(8 * 0.5) + 0.3 * math.log(8 * 0.3) + 0.2 * math.log(8 * 0.2)
  assert kl_to_uniform(counts) == pytest.approx(expected, rel=1e-14)
  assert kl_to_uniform(counts) == pytest.approx(stats.entropy(counts, np.ones(8)), rel=1e-14)
  assert metrics.kl_to_uniform is kl_to_uniform and 'kl_to_uniform' in metrics.__all__


def test_extremes_and_float_counts():
  assert kl_to_uniform([7, 7, 7, 7]) == pytest.approx(0.0, abs=1e-15)
  assert kl_to_uniform([0, 0, 9]) == pytest.approx(math.log(3), rel=1e-15)
  assert kl_to_uniform([5]) == 0.0
  assert kl_to_uniform([0.5, 1.5]) == pytest.approx(kl_to_uniform([1, 3]), rel=1e-15)
  assert kl_to_uniform(np.zeros(1000, np.int64)) == math.inf


@pytest.mark.parametrize('counts', [[], [[1, 2]], 3, [1, -1], [1, np.nan], [np.inf, 1]])
def test_errors(counts):
  with pytest.raises(ValueError, match='kl_to_uniform needs'):
    kl_to_uniform(counts)


def test_count_modes_uses_it():
  from gans.metrics import stacked_mnist  # pylint: disable=g-import-not-at-top

  class FixedClassifier:
    def features(self, images, batch_size):
      # Channel value v (the same in every pixel) -> class v: one-hot logits.
      digits = images[:, 0, 0, 0].astype(int)
      return None, np.eye(10)[digits]

  images = np.zeros((6, 2, 2, 3), np.uint8)
  images[:3] = [1, 2, 3]  # Mode 123, three times.
  images[3:, :, :, 2] = 7  # Mode 7, three times.
  result = stacked_mnist.count_modes(images, FixedClassifier())
  assert result['modes'] == 2 and result['counts'][123] == 3 and result['counts'][7] == 3
  assert result['reverse_kl'] == pytest.approx(math.log(500), rel=1e-14)
