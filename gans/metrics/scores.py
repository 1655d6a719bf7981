"""Classifier-based scores: Inception Score and Mode Score; KL of a histogram to uniform."""

from __future__ import annotations

import numpy as np
from scipy.special import logsumexp, rel_entr

from gans.metrics.checks import check_finite_rows


def _mean_kl_to_marginal(log_p: np.ndarray) -> float:
  """E_x KL(p(y|x) || p(y)) with p(y) the mean of p(y|x) over the rows; log_p [N, C]."""
  log_marginal = logsumexp(log_p, axis=0) - np.log(log_p.shape[0])
  return float(np.mean(np.sum(np.exp(log_p) * (log_p - log_marginal), axis=1)))


def inception_score(logits, splits: int = 10, seed: int = 0) -> tuple[float, float]:
  """Inception Score (Salimans et al. 2016, "Improved techniques for training GANs").

  exp(E_x KL(p(y|x) || p(y))) on each of ``splits`` parts; returns (mean, std) over
  parts (std with ddof=0, as in the reference code). ``logits`` [N, C]: the softmax is
  taken here in float64 (for the FID Inception, pass the 1008 logits without the fc
  bias, as torch-fidelity and stylegan2-ada do). Rows are shuffled with
  ``np.random.default_rng(seed).permutation(N)`` before being cut into parts
  ``[i*N//splits, (i+1)*N//splits)``. Standard protocol: 50k samples, 10 splits.
  Raises ValueError for a NaN/inf logit row (counted; a NaN row made the score NaN).
  """
  logits = np.asarray(logits, np.float64)
  if logits.ndim != 2:
    raise ValueError(f'inception_score needs logits [N, C]; got shape {logits.shape}')
  check_finite_rows(logits, "'logits'", 'logit rows')
  n = logits.shape[0]
  if not 1 <= splits <= n:
    raise ValueError(f'inception_score needs 1 <= splits <= N; got splits={splits}, N={n}')
  log_p = logits - logsumexp(logits, axis=1, keepdims=True)
  log_p = log_p[np.random.default_rng(seed).permutation(n)]
  scores = [
    np.exp(_mean_kl_to_marginal(log_p[i * n // splits : (i + 1) * n // splits]))
    for i in range(splits)
  ]
  return float(np.mean(scores)), float(np.std(scores))


def mode_score(fake_probs, real_probs) -> float:
  """Mode Score (Che et al. 2017; the form of Xu et al. 2018, GAN-Metrics).

  exp(E_x KL(p(y|x) || p(y)) - KL(p(y) || p*(y))) where p(y|x) are the rows of
  ``fake_probs`` [N, C] (class probabilities of generated samples), p(y) their mean and
  p*(y) the mean of ``real_probs`` [M, C]. Computed in float64 with 0 log 0 = 0 (no
  epsilon); a class with p(y) > 0 but p*(y) = 0 gives a score of 0. Raises ValueError
  for a NaN/inf row of either input.
  """
  fake = np.asarray(fake_probs, np.float64)
  real = np.asarray(real_probs, np.float64)
  if fake.ndim != 2 or real.ndim != 2 or fake.shape[1] != real.shape[1]:
    raise ValueError(
      f'mode_score needs [N, C] and [M, C] probabilities; got {fake.shape} and {real.shape}'
    )
  check_finite_rows(fake, "'fake_probs'", 'probability rows')
  check_finite_rows(real, "'real_probs'", 'probability rows')
  marginal = fake.mean(0)
  expected_kl = np.mean(np.sum(rel_entr(fake, marginal), axis=1))
  marginal_kl = np.sum(rel_entr(marginal, real.mean(0)))
  return float(np.exp(expected_kl - marginal_kl))


def kl_to_uniform(counts) -> float:
  """KL(p || uniform(K)) in nats of the histogram p = counts / sum(counts).

  The "reverse KL" over modes of VEEGAN (Srivastava et al. 2017) and PacGAN (Lin et
  al. 2018, Tables 1 and 2): sum_k p_k log(K p_k), computed in float64 with
  ``scipy.special.rel_entr`` (so 0 log 0 = 0: empty bins contribute nothing). Ranges
  from 0 (uniform) to log K (all mass in one bin).

  Args:
      counts: [K] non-negative counts (ints or floats; need not be integers), K >= 1.

  Returns:
      float, in nats; ``inf`` when all counts are zero (no sample to histogram).

  Raises:
      ValueError: ``counts`` not 1-D, empty, negative or non-finite.
  """
  counts = np.asarray(counts, np.float64)
  if counts.ndim != 1 or counts.size == 0:
    raise ValueError(f'kl_to_uniform needs non-empty counts [K]; got shape {counts.shape}')
  if not np.all(np.isfinite(counts)) or np.any(counts < 0):
    raise ValueError(f'kl_to_uniform needs finite non-negative counts; got {counts}')
  total = counts.sum()
  if total == 0:
    return float('inf')
  return float(np.sum(rel_entr(counts / total, 1.0 / counts.size)))
