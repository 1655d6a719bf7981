"""Streaming feature statistics and sharded feature extraction.

Sufficient statistics for Frechet-type metrics (count, sum, sum of outer products) are
accumulated in float64 on the host, as in stylegan2-ada's ``FeatureStats``: float32
accumulation drifts with the batch size (torchmetrics #1620, torch-fidelity #43).
"""

from __future__ import annotations

import os
from typing import Callable, Iterable, Mapping, Sequence

import jax
import numpy as np
from jax.sharding import NamedSharding, PartitionSpec as P

from gans import parallel
from gans.metrics.checks import check_finite_entries, check_finite_rows


class FeatureStats:
  """Running count, sum and sum of outer products of feature vectors, in float64.

  ``update`` takes a batch [B, D] (NumPy or JAX; trailing axes are flattened), in any
  batch sizes: the result depends only on the multiset of rows, up to float64 rounding.
  With ``keep_samples=True`` the rows themselves are also kept (``samples()``), for
  metrics that need samples rather than moments (IS, KID, precision/recall).
  """

  def __init__(self, dim: int | None = None, keep_samples: bool = False):
    self.count = 0
    self.sum = None if dim is None else np.zeros([dim], np.float64)
    self.sum_outer = None if dim is None else np.zeros([dim, dim], np.float64)
    self.keep_samples = keep_samples
    self._samples: list[np.ndarray] = []

  @property
  def dim(self) -> int | None:
    return None if self.sum is None else self.sum.shape[0]

  def update(self, batch, name: str = 'the batch') -> 'FeatureStats':
    """Adds the rows of ``batch`` [B, ...] (flattened to [B, D]).

    Raises ValueError for a NaN/inf row (counted; ``name`` says whose rows), which
    would otherwise turn the mean and covariance into NaN for every later batch.
    """
    x = np.asarray(batch)
    if x.ndim < 2:
      raise ValueError(f'FeatureStats.update expects a batch [B, D], got shape {x.shape}')
    x = x.reshape(x.shape[0], -1)
    check_finite_rows(x, name)
    if self.keep_samples:
      self._samples.append(np.array(x))
    x = np.asarray(x, np.float64)
    if self.sum is None:
      self.sum = np.zeros([x.shape[1]], np.float64)
      self.sum_outer = np.zeros([x.shape[1]] * 2, np.float64)
    if x.shape[1] != self.dim:
      raise ValueError(f'FeatureStats of dimension {self.dim} got a batch of shape {x.shape}')
    self.count += x.shape[0]
    self.sum += x.sum(axis=0)
    self.sum_outer += x.T @ x
    return self

  def merge(self, other: 'FeatureStats') -> 'FeatureStats':
    """Adds the statistics (and kept samples) of ``other`` to ``self``; returns ``self``."""
    if other.count == 0:
      return self
    if self.sum is None:
      self.sum = np.zeros_like(other.sum)
      self.sum_outer = np.zeros_like(other.sum_outer)
    if other.dim != self.dim:
      raise ValueError(f'cannot merge FeatureStats of dimensions {self.dim} and {other.dim}')
    self.count += other.count
    self.sum += other.sum
    self.sum_outer += other.sum_outer
    if self.keep_samples:
      self._samples.extend(other._samples)
    return self

  def mean(self) -> np.ndarray:
    """Mean feature vector [D], float64."""
    self._check_count(1)
    return self.sum / self.count

  def cov(self) -> np.ndarray:
    """Unbiased covariance [D, D] (divides by N - 1, like ``np.cov``), float64."""
    self._check_count(2)
    mean = self.mean()
    cov = (self.sum_outer - self.count * np.outer(mean, mean)) / (self.count - 1)
    return (cov + cov.T) / 2

  def samples(self) -> np.ndarray:
    """The rows seen so far, [N, D] in their original dtype (needs ``keep_samples``)."""
    if not self.keep_samples:
      raise ValueError('samples were not kept; create FeatureStats(keep_samples=True)')
    if not self._samples:
      return np.zeros([0, self.dim or 0], np.float32)
    return np.concatenate(self._samples)

  def save(self, path: str | os.PathLike) -> None:
    """Writes count, sum and sum_outer to an ``.npz`` file (kept samples are not saved)."""
    self._check_count(1)
    with open(path, 'wb') as f:  # a file object keeps np.savez from appending ".npz"
      np.savez(f, count=np.int64(self.count), sum=self.sum, sum_outer=self.sum_outer)

  @classmethod
  def load(cls, path: str | os.PathLike) -> 'FeatureStats':
    """Reads statistics written by ``save``.

    Raises ValueError naming the file when an array is missing, the shapes do not fit
    ([D] and [D, D]), the count is below 1, or an entry is NaN/inf.
    """
    with np.load(path) as data:
      missing = sorted({'count', 'sum', 'sum_outer'} - set(data.files))
      if missing:
        raise ValueError(f'{os.fspath(path)}: not FeatureStats (no {", ".join(missing)} array)')
      stats = cls()
      stats.count = int(data['count'])
      stats.sum = np.asarray(data['sum'], np.float64)
      stats.sum_outer = np.asarray(data['sum_outer'], np.float64)
    d = stats.sum.shape[0] if stats.sum.ndim == 1 else -1
    if stats.sum_outer.shape != (d, d) or stats.count < 1:
      raise ValueError(
        f'{os.fspath(path)}: FeatureStats needs count >= 1, sum [D] and sum_outer [D, D]; '
        f'got count {stats.count}, sum {stats.sum.shape}, sum_outer {stats.sum_outer.shape}'
      )
    for name in ('sum', 'sum_outer'):
      check_finite_entries(getattr(stats, name), f"{os.fspath(path)}: '{name}'")
    return stats

  def _check_count(self, minimum: int) -> None:
    if self.count < minimum:
      raise ValueError(f'FeatureStats needs at least {minimum} samples, has {self.count}')

  def __repr__(self) -> str:
    return f'FeatureStats(count={self.count}, dim={self.dim})'


def data_mesh() -> jax.sharding.Mesh:
  """A 1-D mesh over all devices with axis ``'data'``.

  The axis type is Auto so that any ``feature_fn`` compiles with propagated shardings;
  explicit-sharding mode would require every op in it to have a sharding rule.
  """
  return parallel.make_mesh()


def sharded_outputs(fn, batches, mesh, *args):
  """Yields (host outputs, n) of the jitted `fn(*args, x)` for each host batch x.

  The one sharded feature loop of the project: each batch [n, ...] is padded to a
  multiple of the mesh's 'data' axis by repeating its last row, placed with
  NamedSharding(mesh, P('data')), and run; the outputs (a dict of arrays [n + pad, ...])
  are fetched for batch i - 1 while batch i runs, and yielded with n (the caller drops
  the padded rows). Empty batches are skipped. `args` (e.g. network variables, already
  on the devices) come before the batch. Single-process only.
  """
  sharding = NamedSharding(mesh, P('data'))
  num_shards = mesh.shape['data']
  pending = None
  for batch in batches:
    x = np.asarray(batch)
    n = x.shape[0]
    if n == 0:
      continue
    pad = -n % num_shards
    if pad:
      x = np.concatenate([x, np.repeat(x[-1:], pad, axis=0)])
    outputs = fn(*args, jax.device_put(x, sharding))  # dispatched asynchronously
    if pending is not None:  # the host takes batch i-1 while batch i runs
      yield jax.device_get(pending[0]), pending[1]
    pending = (outputs, n)
  if pending is not None:
    yield jax.device_get(pending[0]), pending[1]


def accumulate_features(
  feature_fn: Callable[[jax.Array], Mapping[str, jax.Array]],
  batches: Iterable,
  mesh: jax.sharding.Mesh | None = None,
  keep: Sequence[str] = (),
) -> dict[str, FeatureStats]:
  """Runs ``feature_fn`` over host batches sharded on the batch axis; returns statistics.

  Args:
    feature_fn: maps an NHWC batch [B, H, W, C] to a dict of named features, each
      [B, ...] (e.g. ``{'pool3': [B, 2048], 'logits': [B, 1008]}``). It is jitted here.
    batches: iterable of host (NumPy) batches of any sizes.
    mesh: mesh with a ``'data'`` axis; default: all devices (``data_mesh()``). Each
      batch is placed with ``NamedSharding(mesh, P('data'))``; a batch whose size is
      not a multiple of the axis size is padded by repeating its last row, and the
      padded rows are dropped from the outputs. Single-process only.
    keep: names of features whose rows are also kept (``stats[name].samples()``).

  ``feature_fn`` is wrapped in ``jax.jit`` on each call; pass the same function object
  across calls so that its compilation is reused.

  Returns:
    dict name -> ``FeatureStats``; the result does not depend on the batch sizes or
    the number of devices beyond float32 rounding inside ``feature_fn``.

  Raises:
    ValueError: a NaN/inf output row (counted, naming the output).
  """
  mesh = data_mesh() if mesh is None else mesh
  stats: dict[str, FeatureStats] = {}
  for outputs, n in sharded_outputs(jax.jit(feature_fn), batches, mesh):
    for name, value in outputs.items():
      if name not in stats:
        stats[name] = FeatureStats(keep_samples=name in keep)
      stats[name].update(np.asarray(value)[:n], f'the {name!r} outputs of feature_fn')
  missing = set(keep) - set(stats)
  if stats and missing:
    raise KeyError(f'keep names {sorted(missing)} are not outputs of feature_fn ({sorted(stats)})')
  return stats
