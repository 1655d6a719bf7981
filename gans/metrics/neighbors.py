"""k-nearest-neighbour metrics on feature sets, computed in row chunks.

No function here builds a full N x M distance matrix: squared distances
||x||^2 - 2 x.y + ||y||^2 are formed in float64 for a block of rows at a time (about
``_CHUNK_ELEMENTS`` distances, 128 MiB) and reduced at once, so 50k x 50k sets of
2048-d features fit in memory. Distances are compared squared; ties are rare in
continuous features and are resolved as each function documents.
"""

from __future__ import annotations

from typing import Iterator

import numpy as np

from gans.metrics.checks import check_finite_rows

_CHUNK_ELEMENTS = 1 << 24


def _as_features(x, name: str) -> np.ndarray:
  """x as float64 [N, D]; ValueError for another rank or a non-finite row (naming it)."""
  x = np.asarray(x, np.float64)
  if x.ndim != 2:
    raise ValueError(f'{name} must be a feature array [N, D]; got shape {x.shape}')
  check_finite_rows(x, repr(name))
  return x


def _check_same_dim(a: np.ndarray, b: np.ndarray, what: str) -> None:
  if a.shape[1] != b.shape[1]:
    raise ValueError(f'{what}: feature dimensions differ, {a.shape} vs {b.shape}')


def _row_chunks(n: int, m: int, chunk_size: int | None) -> Iterator[slice]:
  step = chunk_size or max(1, _CHUNK_ELEMENTS // max(m, 1))
  for start in range(0, n, step):
    yield slice(start, min(n, start + step))


def squared_distance_chunks(
  x: np.ndarray, y: np.ndarray, chunk_size: int | None = None
) -> Iterator[tuple[slice, np.ndarray]]:
  """Yields (rows, d2) with d2 [len(rows), M] = squared distances of x[rows] to all y.

  float64 arrays x [N, D], y [M, D]; values are clipped at 0 (the expansion can round
  slightly below). ``chunk_size`` rows per block, default about 2^24 / M.
  """
  y_sq = np.einsum('ij,ij->i', y, y)
  for rows in _row_chunks(len(x), len(y), chunk_size):
    xc = x[rows]
    d2 = np.einsum('ij,ij->i', xc, xc)[:, None] - 2.0 * (xc @ y.T) + y_sq[None, :]
    yield rows, np.maximum(d2, 0.0, out=d2)


def kth_neighbor_sq_distances(x, k: int, chunk_size: int | None = None) -> np.ndarray:
  """Squared distance from each row of x [N, D] to its k-th nearest other row -> [N].

  The row itself is excluded (an exact duplicate still counts, at distance 0), which
  equals prdc's "(k+1)-th smallest including self".
  """
  x = _as_features(x, 'x')
  if not 1 <= k < len(x):
    raise ValueError(f'k must be in [1, N-1]; got k={k} with N={len(x)}')
  out = np.empty(len(x))
  for rows, d2 in squared_distance_chunks(x, x, chunk_size):
    idx = np.arange(d2.shape[0])
    d2[idx, rows.start + idx] = np.inf
    out[rows] = np.partition(d2, k - 1, axis=1)[:, k - 1]
  return out


def precision_recall(real, fake, k: int = 3, *, chunk_size: int | None = None) -> dict:
  """Improved precision and recall (Kynkaanniemi et al. 2019).

  Each sample's ball has radius = distance to its k-th nearest neighbour in its own
  set (self excluded). precision = fraction of fake [M, D] inside some real ball;
  recall = fraction of real [N, D] inside some fake ball. Membership is ``<=`` as in
  the authors' code (prdc uses ``<``; they differ only on exact ties).
  Returns dict(precision=..., recall=...). Raises ValueError on a NaN/inf row (naming
  the set and counting the rows): such a row is never inside a ball and changes both.
  """
  real, fake = _as_features(real, 'real'), _as_features(fake, 'fake')
  _check_same_dim(real, fake, 'precision_recall')
  r2_real = kth_neighbor_sq_distances(real, k, chunk_size)
  r2_fake = kth_neighbor_sq_distances(fake, k, chunk_size)
  fake_in_real = np.zeros(len(fake), bool)
  real_in_fake = np.zeros(len(real), bool)
  for rows, d2 in squared_distance_chunks(real, fake, chunk_size):
    fake_in_real |= (d2 <= r2_real[rows, None]).any(axis=0)
    real_in_fake[rows] = (d2 <= r2_fake[None, :]).any(axis=1)
  return dict(precision=float(fake_in_real.mean()), recall=float(real_in_fake.mean()))


def density_coverage(real, fake, k: int = 5, *, chunk_size: int | None = None) -> dict:
  """Density and coverage (Naeem et al. 2020, clovaai/generative-evaluation-prdc).

  Balls B(X_i, NND_k(X_i)) around real samples only, NND_k = distance to the k-th
  nearest other real sample; membership is strict ``<``. With real [N, D], fake [M, D]:
  density = (1 / kM) sum_j sum_i 1[Y_j in B_i]; coverage = (1/N) sum_i 1[some Y_j in B_i].
  Returns dict(density=..., coverage=...). Raises ValueError on a NaN/inf row.
  """
  real, fake = _as_features(real, 'real'), _as_features(fake, 'fake')
  _check_same_dim(real, fake, 'density_coverage')
  r2 = kth_neighbor_sq_distances(real, k, chunk_size)
  inside = 0
  covered = np.zeros(len(real), bool)
  for rows, d2 in squared_distance_chunks(real, fake, chunk_size):
    hits = d2 < r2[rows, None]
    inside += int(hits.sum())
    covered[rows] = hits.any(axis=1)
  return dict(density=inside / (k * len(fake)), coverage=float(covered.mean()))


def nearest_neighbor_accuracy(real, fake, *, chunk_size: int | None = None) -> dict:
  """Leave-one-out 1-NN two-sample test (Lopez-Paz & Oquab 2017; Xu et al. 2018).

  On the union of real [N, D] (label 1) and fake [M, D] (label 0), each sample is
  classified with the label of its nearest other sample (on an exact tie the earliest
  index wins, i.e. a real sample). Returns dict(accuracy, real_accuracy,
  fake_accuracy); about 0.5 means the sets are indistinguishable, 1.0 fully separable.
  Raises ValueError on a NaN/inf row (one NaN row once turned accuracy 0.0 into 0.495).
  """
  real, fake = _as_features(real, 'real'), _as_features(fake, 'fake')
  _check_same_dim(real, fake, 'nearest_neighbor_accuracy')
  union = np.concatenate([real, fake])
  labels = np.arange(len(union)) < len(real)
  correct = np.empty(len(union), bool)
  for rows, d2 in squared_distance_chunks(union, union, chunk_size):
    idx = np.arange(d2.shape[0])
    d2[idx, rows.start + idx] = np.inf
    correct[rows] = labels[np.argmin(d2, axis=1)] == labels[rows]
  return dict(
    accuracy=float(correct.mean()),
    real_accuracy=float(correct[: len(real)].mean()),
    fake_accuracy=float(correct[len(real) :].mean()),
  )
