import numpy as np
import pytest
from scipy.spatial.distance import cdist

from gans.metrics import density_coverage, nearest_neighbor_accuracy, precision_recall
from gans.metrics.neighbors import kth_neighbor_sq_distances


def brute_force_prdc(real, fake, k_pr, k_dc):
  """Full-matrix definitions: radii exclude self; P/R use <=, D/C use strict <."""
  d_rr, d_ff, d_rf = cdist(real, real), cdist(fake, fake), cdist(real, fake)

  def radii(d, k):
    return np.sort(d, axis=1)[:, k]  # column 0 is the point itself

  r_real, r_fake = radii(d_rr, k_pr), radii(d_ff, k_pr)
  r_dc = radii(d_rr, k_dc)
  return dict(
    precision=np.mean(
      [any(d_rf[i, j] <= r_real[i] for i in range(len(real))) for j in range(len(fake))]
    ),
    recall=np.mean(
      [any(d_rf[i, j] <= r_fake[j] for j in range(len(fake))) for i in range(len(real))]
    ),
    density=np.sum(d_rf < r_dc[:, None]) / (k_dc * len(fake)),
    coverage=np.mean((d_rf < r_dc[:, None]).any(axis=1)),
  )


def point_sets(seed, n=120, m=90, d=6):
  rng = np.random.default_rng(seed)
  return rng.normal(size=(n, d)), rng.normal(size=(m, d)) * 1.3 + 0.4


def test_hand_worked_1d():
  real = np.array([[0.0], [1.0], [2.0], [3.0]])
  fake = np.array([[1.5], [10.0]])
  # k=1: every real radius is 1, both fake radii are 8.5.
  assert precision_recall(real, fake, k=1) == dict(precision=0.5, recall=1.0)
  # 1.5 lies strictly inside the balls of 1 and 2; 10 inside none.
  assert density_coverage(real, fake, k=1) == dict(density=1.0, coverage=0.5)


def test_ball_boundary():
  real, fake = np.array([[0.0], [1.0]]), np.array([[2.0], [5.0]])
  # fake 2 sits exactly on the boundary of real 1's ball (radius 1): inside for P/R, outside for D/C.
  assert precision_recall(real, fake, k=1)['precision'] == 0.5
  assert density_coverage(real, fake, k=1) == dict(density=0.0, coverage=0.0)


def test_kth_neighbor_excludes_self_but_not_duplicates():
  x = np.array([[0.0], [0.0], [3.0], [7.0]])
  np.testing.assert_allclose(kth_neighbor_sq_distances(x, 1), [0, 0, 9, 16])
  np.testing.assert_allclose(kth_neighbor_sq_distances(x, 2, chunk_size=3), [9, 9, 9, 49])


@pytest.mark.parametrize('chunk_size', [None, 7])
def test_matches_brute_force(chunk_size):
  real, fake = point_sets(0)
  expected = brute_force_prdc(real, fake, k_pr=3, k_dc=5)
  pr = precision_recall(real, fake, k=3, chunk_size=chunk_size)
  dc = density_coverage(real, fake, k=5, chunk_size=chunk_size)
  for key, value in {**pr, **dc}.items():
    assert value == pytest.approx(expected[key], rel=1e-4), key
  assert 0.05 < pr['precision'] < 0.95 and 0.05 < dc['coverage'] < 0.95  # not degenerate


def test_matches_prdc_package():
  prdc = pytest.importorskip('prdc')
  real, fake = point_sets(1, n=200, m=150, d=16)
  for k in (3, 5):
    ref = prdc.compute_prdc(real, fake, nearest_k=k)
    pr = precision_recall(real, fake, k=k, chunk_size=33)
    dc = density_coverage(real, fake, k=k, chunk_size=33)
    for key, value in {**pr, **dc}.items():
      assert value == pytest.approx(ref[key], rel=1e-4), (k, key)


def brute_force_1nn(real, fake):
  union = np.concatenate([real, fake])
  labels = np.r_[np.ones(len(real)), np.zeros(len(fake))]
  d = cdist(union, union)
  np.fill_diagonal(d, np.inf)
  correct = labels[d.argmin(1)] == labels
  return correct.mean(), correct[: len(real)].mean(), correct[len(real) :].mean()


def test_nearest_neighbor_hand_worked():
  separated = nearest_neighbor_accuracy([[0.0], [1.0]], [[10.0], [11.0]])
  assert separated == dict(accuracy=1.0, real_accuracy=1.0, fake_accuracy=1.0)
  # Interleaved: every nearest neighbour has the other label (ties go to the earlier real point).
  interleaved = nearest_neighbor_accuracy([[0.0], [2.0]], [[1.0], [3.0]])
  assert interleaved == dict(accuracy=0.0, real_accuracy=0.0, fake_accuracy=0.0)
  mixed = nearest_neighbor_accuracy([[0.0], [0.1], [5.0]], [[5.1], [9.0]])
  # 0 <-> 0.1 right; 5 -> 5.1 wrong; 5.1 -> 5 wrong; 9 -> 5.1 right.
  assert mixed == dict(accuracy=3 / 5, real_accuracy=2 / 3, fake_accuracy=1 / 2)


def test_nearest_neighbor_matches_brute_force_and_is_half_for_same_distribution():
  rng = np.random.default_rng(2)
  real, fake = rng.normal(size=(300, 4)), rng.normal(size=(250, 4))
  got = nearest_neighbor_accuracy(real, fake, chunk_size=64)
  expected = brute_force_1nn(real, fake)
  assert (got['accuracy'], got['real_accuracy'], got['fake_accuracy']) == pytest.approx(
    expected, rel=1e-12
  )
  assert abs(got['accuracy'] - 0.5) < 0.1
  assert nearest_neighbor_accuracy(real, fake + 3.0)['accuracy'] > 0.95
