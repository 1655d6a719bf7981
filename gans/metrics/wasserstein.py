"""Exact earth mover's distance between two empirical feature sets."""

from __future__ import annotations

import numpy as np
import scipy.sparse
from scipy.optimize import linear_sum_assignment, linprog
from scipy.spatial.distance import cdist

from gans.metrics.neighbors import _as_features, _check_same_dim


def wasserstein_distance(a, b) -> float:
  """Exact 1-Wasserstein (earth mover's) distance between point sets, as in Xu et al. 2018.

  a [N, D] and b [M, D] are empirical distributions with uniform weights 1/N and 1/M;
  the ground cost is the Euclidean distance (``scipy.spatial.distance.cdist``, float64).
  N == M: optimal transport is a permutation (Birkhoff), solved as an assignment problem
  with ``scipy.optimize.linear_sum_assignment`` (O(N^3); practical to a few thousand
  points, memory N^2 floats). N != M: the transport linear program
  min sum_ij C_ij P_ij s.t. P 1 = M, P^T 1 = N, P >= 0 (marginals scaled to integers),
  divided by N M, solved exactly with HiGHS (``scipy.optimize.linprog``); N M variables,
  practical to about N M = 10^6. Same quantity as POT's ``ot.emd2(1/N, 1/M, C)``.
  Raises ValueError on a NaN/inf row of a or b.
  """
  a, b = _as_features(a, 'a'), _as_features(b, 'b')
  _check_same_dim(a, b, 'wasserstein_distance')
  n, m = len(a), len(b)
  if n == 0 or m == 0:
    raise ValueError(f'wasserstein_distance needs non-empty sets; got {a.shape} and {b.shape}')
  cost = cdist(a, b)
  if n == m:
    rows, cols = linear_sum_assignment(cost)
    return float(cost[rows, cols].mean())
  row_sums = scipy.sparse.kron(scipy.sparse.eye(n), np.ones((1, m)))
  col_sums = scipy.sparse.kron(np.ones((1, n)), scipy.sparse.eye(m))
  result = linprog(
    cost.ravel(),
    A_eq=scipy.sparse.vstack([row_sums, col_sums]).tocsr(),
    b_eq=np.concatenate([np.full(n, float(m)), np.full(m, float(n))]),
    bounds=(0, None),
    method='highs',
  )
  if result.status != 0:
    raise RuntimeError(f'wasserstein_distance: linear program failed: {result.message}')
  return float(result.fun / (n * m))
