import math

import numpy as np
import pytest

from gans.metrics import inception_score, mode_score


def reference_inception_score(logits, splits, seed):
  """Improved-GAN style IS with explicit loops, on the documented shuffle and split."""
  n = len(logits)
  order = np.random.default_rng(seed).permutation(n)
  probs = np.exp(logits - logits.max(1, keepdims=True))
  probs /= probs.sum(1, keepdims=True)
  probs = probs[order]
  scores = []
  for i in range(splits):
    part = probs[i * n // splits : (i + 1) * n // splits]
    py = part.mean(0)
    kls = [sum(p[c] * (math.log(p[c]) - math.log(py[c])) for c in range(len(p))) for p in part]
    scores.append(math.exp(sum(kls) / len(kls)))
  return np.mean(scores), np.std(scores)


def test_two_class_hand_worked():
  logits = np.log([[0.9, 0.1], [0.1, 0.9]])
  expected = math.exp(0.9 * math.log(1.8) + 0.1 * math.log(0.2))
  mean, std = inception_score(logits, splits=1)
  assert mean == pytest.approx(expected, rel=1e-12)
  assert std == 0.0


def test_extremes():
  # Identical predictions: p(y|x) = p(y), score 1.
  same = np.tile(np.array([[1.0, 2.0, 3.0]]), (50, 1))
  assert inception_score(same, splits=5)[0] == pytest.approx(1.0, abs=1e-12)
  # Confident and balanced over 10 classes: score = number of classes.
  confident = np.tile(100.0 * np.eye(10), (20, 1))
  assert inception_score(confident, splits=1)[0] == pytest.approx(10.0, rel=1e-10)


def test_matches_reference_on_random_logits():
  rng = np.random.default_rng(0)
  logits = rng.normal(scale=3.0, size=(503, 20)).astype(np.float32)
  expected = reference_inception_score(logits.astype(np.float64), splits=10, seed=7)
  got = inception_score(logits, splits=10, seed=7)
  np.testing.assert_allclose(got, expected, rtol=1e-4)
  # A different seed gives different splits (hence a different std) but splits=1 does not care.
  assert inception_score(logits, splits=10, seed=8)[1] != pytest.approx(got[1], rel=1e-6)
  assert inception_score(logits, splits=1, seed=1)[0] == pytest.approx(
    inception_score(logits, splits=1, seed=2)[0], rel=1e-12
  )


def test_large_logits_stay_finite():
  logits = np.array([[1000.0, 0.0, -1000.0], [-1000.0, 1000.0, 0.0]])
  mean, _ = inception_score(logits, splits=1)
  assert mean == pytest.approx(2.0, rel=1e-10)


def xu_mode_score(x, y, eps=1e-20):
  """GAN-Metrics' formula (with its epsilon), written out directly."""
  px, py = x.mean(0), y.mean(0)
  kl1 = (x * (np.log(x + eps) - np.log(px + eps))).sum(1).mean()
  kl2 = (px * (np.log(px + eps) - np.log(py + eps))).sum()
  return math.exp(kl1 - kl2)


def test_mode_score_hand_worked():
  fake = np.array([[1.0, 0, 0, 0], [0, 1.0, 0, 0]])
  # Fake covers 2 classes evenly: E KL = log 2. Against uniform real labels KL(p(y)||p*) = log 2.
  assert mode_score(fake, np.full((4, 4), 0.25)) == pytest.approx(1.0, rel=1e-12)
  # Against real labels on the same 2 classes the penalty vanishes: score 2.
  real = np.array([[0.5, 0.5, 0, 0]])
  assert mode_score(fake, real) == pytest.approx(2.0, rel=1e-12)
  # Generated mass on a class the real data never has: score 0.
  assert mode_score(fake, np.array([[1.0, 0, 0, 0]])) == 0.0


def test_mode_score_matches_gan_metrics_formula():
  rng = np.random.default_rng(1)
  fake = rng.dirichlet(np.full(10, 0.3), size=400)
  real = rng.dirichlet(np.full(10, 0.5), size=300)
  assert mode_score(fake, real) == pytest.approx(xu_mode_score(fake, real), rel=1e-4)
