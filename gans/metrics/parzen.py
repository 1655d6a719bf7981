"""Gaussian Parzen-window log-likelihood of held-out data under generated samples.

The protocol of Goodfellow et al. 2014 ("Generative Adversarial Nets", Table 1),
which follows Breuleux, Bengio and Vincent 2011 ("Quickly generating representative
samples from an RBM-derived process"): fit an isotropic Gaussian kernel density
estimate to N generated samples, choose its bandwidth sigma by the mean
log-likelihood of a validation set over a grid (``select_parzen_sigma``), then
report the mean log-likelihood of the test set and its standard error
(``parzen_log_likelihood``). The reference code is ``parzen_ll.py`` of
github.com/goodfeli/adversarial (10,000 samples; sigma grid
``numpy.logspace(-1, 0, 10)`` for MNIST in [0, 1], cross-validated on 1,000
validation digits by default; standard error ``ll.std() / sqrt(M)``, ddof=0).

Units and scale: log-likelihoods are in nats and depend on the data's scale. For
images in [-1, 1] (this project's convention) the density of y = 2 x - 1 is
p_y = p_x / 2^D, so log p_[0,1] = log p_[-1,1] + D log 2 (543.4 nats for D = 784):
add D log 2 before comparing with numbers reported for [0, 1] pixels (Goodfellow et
al.: MNIST 225 +- 2). The estimate is known to be a poor proxy for likelihood in high
dimensions (Theis et al. 2016, "A note on the evaluation of generative models").
"""

from __future__ import annotations

import math
import warnings

import jax
import jax.numpy as jnp
import numpy as np

from gans.metrics.checks import check_finite_rows

try:
  _enable_x64 = jax.enable_x64  # A context manager in recent JAX (0.10 here).
except AttributeError:  # Older JAX.
  from jax.experimental import enable_x64 as _enable_x64  # pylint: disable=g-import-not-at-top

# Goodfellow et al.'s grid for [0, 1] pixels, doubled for data in [-1, 1]: 0.2 .. 2.
DEFAULT_SIGMAS = tuple(float(s) for s in 2.0 * np.logspace(-1, 0, 10))
DEFAULT_CHUNK_SIZE = 1024


def _as_matrix(x, name):
  """Validated 2-D real array, in its own dtype (converted to float64 chunk-wise)."""
  x = np.asarray(x)
  if x.dtype.kind not in 'biuf':
    raise ValueError(f'{name} must be a real numeric array; got dtype {x.dtype} (shape {x.shape})')
  if x.ndim != 2:
    raise ValueError(
      f'{name} must be a 2-D array [num, D] (flatten images with '
      f'x.reshape(len(x), -1)); got shape {x.shape}'
    )
  if x.shape[0] == 0 or x.shape[1] == 0:
    raise ValueError(f'{name} must be non-empty; got shape {x.shape}')
  check_finite_rows(x, name, 'rows')
  return x


def _check_inputs(samples, points, samples_name, points_name, chunk_size):
  samples = _as_matrix(samples, samples_name)
  points = _as_matrix(points, points_name)
  if samples.shape[1] != points.shape[1]:
    raise ValueError(
      f'{samples_name} and {points_name} must have the same dimension D; got '
      f'{samples_name} shape {samples.shape} and {points_name} shape '
      f'{points.shape}'
    )
  if (
    isinstance(chunk_size, bool) or not isinstance(chunk_size, (int, np.integer)) or chunk_size < 1
  ):
    raise ValueError(f'chunk_size must be a positive int; got {chunk_size!r}')
  return samples, points


def _check_sigma(sigma, name='sigma'):
  try:
    value = float(sigma)
  except (TypeError, ValueError):
    raise ValueError(f'{name} must be a positive finite scalar; got {sigma!r}') from None
  if not (math.isfinite(value) and value > 0):
    raise ValueError(f'{name} must be a positive finite scalar; got {sigma!r}')
  return value


@jax.jit
def _block_log_sum_exp(points, sample_blocks, valid, neg_inv_two_var):
  """log sum_i exp(-||x - s_i||^2 / (2 sigma^2)) for one chunk of points.

  Args:
    points: [C, D] float64, a chunk of (centred) points.
    sample_blocks: [B, C, D] float64, the (centred, zero-padded) samples.
    valid: [B, C] bool, False on padding rows of ``sample_blocks``.
    neg_inv_two_var: [S] float64, -1 / (2 sigma^2) for each bandwidth.

  Returns:
    [S, C] float64. The sum over samples is an online (streaming) log-sum-exp
    over the B blocks: a running maximum and a running sum of exp(e - max).
  """
  points_sq = jnp.sum(points * points, axis=1)

  def body(carry, block):
    running_max, running_sum = carry
    samples, mask = block
    sq = points_sq[:, None] + jnp.sum(samples * samples, axis=1)[None, :] - 2.0 * points @ samples.T
    sq = jnp.maximum(sq, 0.0)  # The expansion can round slightly below 0.
    e = neg_inv_two_var[:, None, None] * sq[None]  # [S, C, C]
    e = jnp.where(mask[None, None, :], e, -jnp.inf)
    new_max = jnp.maximum(running_max, jnp.max(e, axis=2))
    running_sum = running_sum * jnp.exp(running_max - new_max) + jnp.sum(
      jnp.exp(e - new_max[..., None]), axis=2
    )
    return (new_max, running_sum), None

  shape = (neg_inv_two_var.shape[0], points.shape[0])
  init = (jnp.full(shape, -jnp.inf, points.dtype), jnp.zeros(shape, points.dtype))
  (running_max, running_sum), _ = jax.lax.scan(body, init, (sample_blocks, valid))
  return running_max + jnp.log(running_sum)


def _log_likelihoods(samples, points, sigmas, chunk_size):
  """Per-point log-likelihoods [S, M] float64 for validated real inputs."""
  n, dim = samples.shape
  chunk_n = min(chunk_size, n)
  chunk_m = min(chunk_size, len(points))
  num_blocks = -(-n // chunk_n)
  # Distances are translation invariant; centring on the samples' mean keeps the
  # norms in the expansion ||x||^2 + ||s||^2 - 2 x.s small.
  centre = samples.mean(axis=0, dtype=np.float64)
  padded = np.zeros((num_blocks * chunk_n, dim))
  np.subtract(samples, centre, out=padded[:n])
  valid = (np.arange(num_blocks * chunk_n) < n).reshape(num_blocks, chunk_n)
  sigmas = np.asarray(sigmas, np.float64)
  out = np.empty((len(sigmas), len(points)))
  with _enable_x64(True):
    sample_blocks = jnp.asarray(padded.reshape(num_blocks, chunk_n, dim))
    del padded
    valid = jnp.asarray(valid)
    neg_inv_two_var = jnp.asarray(-0.5 / sigmas**2)
    chunk = np.zeros((chunk_m, dim))
    for start in range(0, len(points), chunk_m):
      rows = points[start : start + chunk_m]
      chunk[: len(rows)] = rows - centre  # Padding rows (last chunk) are ignored.
      lse = _block_log_sum_exp(jnp.asarray(chunk), sample_blocks, valid, neg_inv_two_var)
      out[:, start : start + len(rows)] = np.asarray(lse)[:, : len(rows)]
  # log N and the Gaussian normaliser (D/2) log(2 pi sigma^2).
  return out - math.log(n) - 0.5 * dim * np.log(2 * np.pi * sigmas**2)[:, None]


def parzen_log_likelihood(samples, points, sigma, chunk_size=DEFAULT_CHUNK_SIZE):
  """Mean Parzen-window log-likelihood of ``points`` and its standard error.

  The protocol of Goodfellow et al. 2014 ("Generative Adversarial Nets", Table 1;
  Breuleux et al. 2011). Each row x of ``points`` is scored under the isotropic
  Gaussian kernel density estimate centred on the rows s_i of ``samples``:

      log p(x) = logsumexp_i(-||x - s_i||^2 / (2 sigma^2)) - log N
                 - (D / 2) log(2 pi sigma^2).

  Returns the mean of log p(x) over the M points and its standard error
  std(log p) / sqrt(M) with ddof=0 (``ll.std() / sqrt(M)`` as in Goodfellow's
  ``parzen_ll.py``; 0 when M = 1). Log-likelihoods are in nats, in the units of
  the data as given (see the module docstring for [-1, 1] vs [0, 1] pixels).

  Computation: float64 throughout, in JAX (jit) under ``jax.enable_x64``
  (scoped to this call). Points and samples are centred on the samples' mean,
  squared distances are formed as ||x||^2 + ||s||^2 - 2 x.s (clipped at 0) for
  [chunk_size, chunk_size] blocks, and the log-sum-exp over samples is
  accumulated block by block with a running maximum, so memory is
  O(chunk_size^2 + N D) whatever N and M are: for N = M = 10,000, D = 1024 at the
  default chunk size the peak RSS grew by 190 MB (float32 inputs) to 275 MB
  (float64 inputs), XLA compilation included (the samples are copied once,
  centred and padded to a multiple of ``chunk_size``, plus their device copy).
  Results do not depend on ``chunk_size`` beyond float64 rounding.

  Timing (2-core x86 CPU shared with other jobs, JAX 0.10.2, NumPy 2.4.6 +
  OpenBLAS; N = M = 10,000, D = 784, uniform data in [-1, 1]; timed after a
  warm-up call, compilation ~1 s per shape). Lightly loaded, one run each:
  this algorithm in JAX float64 2.8 s at chunk 1024 (its prototype; identical
  speed to this function when interleaved); the same chunked float64 algorithm
  in NumPy with ``scipy.special.logsumexp`` 5.4 s (chunk 2048; 5.8 s at 1024;
  its exp/sum run on one core); JAX float32 1.2 s. Interleaved under a load
  average of ~5, best of 2: this function 7.1 s, NumPy float64 11.3 s, JAX
  float32 2.6 s.
  Float32 is not used: on mnist5k at sigma = 0.1 it is off by up to 1.3e-2
  nats per point (3e-3 at 0.2; cancellation in the distance expansion, scaled
  by 1 / (2 sigma^2)), against 1e-10 for float64. Command for this function::

      python -c "import time, numpy as np; from gans.metrics import parzen_log_likelihood as f; s, x = np.random.default_rng(0).uniform(-1, 1, (2, 10000, 784)); f(s, x, 0.5); t = time.perf_counter(); f(s, x, 0.5); print(time.perf_counter() - t)"

  Args:
    samples: [N, D] real array (any float, int or bool dtype; converted to
      float64), the generated samples (the kernel centres). Flatten images with
      ``x.reshape(len(x), -1)``.
    points: [M, D] array, the held-out data to score.
    sigma: the kernel bandwidth, a positive finite scalar in the data's units.
    chunk_size: positive int, rows of points and of samples per block.

  Returns:
    (mean, standard_error): Python floats, in nats.

  Raises:
    ValueError: ``samples`` or ``points`` not 2-D, empty, not real-valued,
      non-finite, or with different D (the message names the argument and its shape); ``sigma`` not
      a positive finite scalar; ``chunk_size`` not a positive int.
  """
  samples, points = _check_inputs(samples, points, 'samples', 'points', chunk_size)
  sigma = _check_sigma(sigma)
  ll = _log_likelihoods(samples, points, [sigma], chunk_size)[0]
  return float(ll.mean()), float(ll.std() / math.sqrt(len(ll)))


def select_parzen_sigma(samples, validation_points, sigmas=None, chunk_size=DEFAULT_CHUNK_SIZE):
  """Chooses the Parzen bandwidth by mean log-likelihood on a validation set.

  As in Goodfellow et al. 2014 (``cross_validate_sigma`` in ``parzen_ll.py`` of
  github.com/goodfeli/adversarial): for each sigma of the grid, the mean over
  ``validation_points`` of the log-likelihood of ``parzen_log_likelihood``;
  the best sigma maximises it (ties: the first in grid order). All sigmas are
  evaluated in one pass over the distances (same cost as one sigma for the
  matrix products). Warns (``UserWarning``) when the best sigma is the
  smallest or largest of a grid of two or more, since the optimum may lie
  outside the grid.

  Args:
    samples: [N, D] array, the generated samples (kernel centres).
    validation_points: [M, D] array, held-out data disjoint from the test set
      (Goodfellow et al. used 1,000 MNIST validation digits for the choice).
    sigmas: 1-D sequence of positive finite bandwidths in the data's units.
      Default ``DEFAULT_SIGMAS = 2 * numpy.logspace(-1, 0, 10)`` (0.2 .. 2):
      Goodfellow's MNIST grid ``logspace(-1, 0, 10)`` for pixels in [0, 1],
      doubled for data in [-1, 1]. For data in [0, 1], pass
      ``numpy.logspace(-1, 0, 10)``.
    chunk_size: positive int, rows of points and of samples per block.

  Returns:
    (best_sigma, {sigma: mean log-likelihood in nats}): a Python float and a
    dict with one float key per grid value, in grid order.

  Raises:
    ValueError: as ``parzen_log_likelihood`` for the arrays (naming
      ``samples`` or ``validation_points``) and ``chunk_size``; ``sigmas``
      empty, not 1-D, or with a value that is not positive and finite.
  """
  samples, validation_points = _check_inputs(
    samples, validation_points, 'samples', 'validation_points', chunk_size
  )
  grid = DEFAULT_SIGMAS if sigmas is None else sigmas
  try:
    grid = (
      [float(s) for s in np.asarray(grid, np.float64).reshape(-1)] if (np.ndim(grid) == 1) else None
    )
  except (TypeError, ValueError):
    grid = None
  if not grid:
    raise ValueError(f'sigmas must be a non-empty 1-D sequence of positive values; got {sigmas!r}')
  for s in grid:
    _check_sigma(s, 'sigmas')
  ll = _log_likelihoods(samples, validation_points, grid, chunk_size)
  means = ll.mean(axis=1)
  best = int(np.argmax(means))
  if len(grid) > 1 and grid[best] in (min(grid), max(grid)):
    warnings.warn(
      f'select_parzen_sigma: the best sigma {grid[best]:g} is at the edge of '
      f'the grid [{min(grid):g}, {max(grid):g}]; the optimum may lie outside '
      f'it.',
      stacklevel=2,
    )
  return grid[best], {s: float(m) for s, m in zip(grid, means)}
