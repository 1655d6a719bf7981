"""Input checks shared by the metrics: non-finite rows, said where they came from.

A NaN or inf in one feature row does not make a metric fail by itself: nearest-neighbour
metrics compare it as "far" or "never nearer" and return ordinary-looking numbers, and
the Frechet distance dies in the eigensolver. Every metric therefore checks its inputs
where they enter and raises ``ValueError`` naming the input, e.g. "3 of 100 feature rows
of 'fake' are non-finite (NaN/inf; first: row 17)". Callers that know more about where
an array came from (the evaluators, the metrics CLI) pass a longer name.
"""

from __future__ import annotations

import numpy as np


def nonfinite_rows(x) -> np.ndarray:
  """Indices [K] int64 of the rows of x [N, ...] holding a NaN or inf."""
  x = np.asarray(x)
  if x.dtype.kind not in 'fc' or x.size == 0:
    return np.zeros([0], np.int64)
  return np.flatnonzero(~np.isfinite(x.reshape(len(x), -1)).all(axis=1))


def check_finite_rows(x, name: str, what: str = 'feature rows') -> None:
  """Raises ValueError if a row of x [N, ...] is non-finite.

  The message says how many of the N rows, which ``what`` (e.g. 'feature rows',
  'logit rows', 'samples') of ``name`` (the argument name, quoted, or a longer
  description of the source), and the first bad row's index.
  """
  x = np.asarray(x)
  if x.ndim == 0:
    if not np.isfinite(x):
      raise ValueError(f'{name} is non-finite ({x})')
    return
  bad = nonfinite_rows(x)
  if len(bad):
    raise ValueError(
      f'{len(bad)} of {len(x)} {what} of {name} are non-finite (NaN/inf; first: row {bad[0]})'
    )


def check_finite_entries(x, name: str) -> None:
  """Raises ValueError if any entry of the array x is NaN or inf (counts them)."""
  x = np.asarray(x)
  if x.dtype.kind not in 'fc':
    return
  bad = int(np.count_nonzero(~np.isfinite(x)))
  if bad:
    raise ValueError(
      f'{name} has {bad} non-finite entries (NaN/inf) of {x.size} (shape {tuple(x.shape)})'
    )
