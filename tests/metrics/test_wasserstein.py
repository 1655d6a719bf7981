import itertools
import os

import numpy as np
import pytest
import scipy.stats
from scipy.spatial.distance import cdist

from gans.metrics import wasserstein_distance


def test_hand_worked():
  assert wasserstein_distance([[0.0], [1.0]], [[0.5]]) == pytest.approx(0.5, rel=1e-9)
  # a: 2/3 mass at 0, 1/3 at 3; b: 1/2 at each. Move 1/6 over distance 3.
  assert wasserstein_distance([[0.0], [0.0], [3.0]], [[0.0], [3.0]]) == pytest.approx(0.5, rel=1e-9)
  # 2-d, equal sizes: each point moves by (3, 4).
  a = np.array([[0.0, 0.0], [10.0, 0.0]])
  assert wasserstein_distance(a, a + [3.0, 4.0]) == pytest.approx(5.0, rel=1e-12)
  assert wasserstein_distance(a, a[::-1]) == 0.0


def test_equal_sizes_match_permutation_brute_force():
  rng = np.random.default_rng(0)
  a, b = rng.normal(size=(6, 3)), rng.normal(size=(6, 3)) + 0.5
  cost = cdist(a, b)
  best = min(cost[range(6), perm].mean() for perm in itertools.permutations(range(6)))
  assert wasserstein_distance(a, b) == pytest.approx(best, rel=1e-12)


@pytest.mark.parametrize('n,m', [(40, 40), (30, 45), (50, 17)])
def test_one_dimensional_matches_scipy(n, m):
  # In 1-d the exact W1 has a closed form (scipy.stats.wasserstein_distance).
  rng = np.random.default_rng(n + m)
  a, b = rng.normal(size=n), rng.exponential(size=m)
  expected = scipy.stats.wasserstein_distance(a, b)
  assert wasserstein_distance(a[:, None], b[:, None]) == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize('n,m', [(60, 60), (35, 48)])
def test_matches_pot(n, m):
  # POT would otherwise import torch, JAX and TensorFlow backends (slow, not needed here).
  for backend in ('PYTORCH', 'JAX', 'TENSORFLOW', 'CUPY'):
    os.environ.setdefault(f'POT_BACKEND_DISABLE_{backend}', '1')
  ot = pytest.importorskip('ot')
  rng = np.random.default_rng(1)
  a, b = rng.normal(size=(n, 8)), rng.normal(size=(m, 8)) * 0.7 + 0.2
  expected = ot.emd2(np.full(n, 1 / n), np.full(m, 1 / m), cdist(a, b))
  assert wasserstein_distance(a, b) == pytest.approx(expected, rel=1e-4)


def test_rejects_mismatched_dimensions():
  with pytest.raises(ValueError, match=r'\(3, 2\) vs \(4, 5\)'):
    wasserstein_distance(np.zeros((3, 2)), np.zeros((4, 5)))
