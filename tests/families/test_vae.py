"""The VAE family's held-out bounds: nll_iwaeK <= neg_elbo per example, K = 1 is the
ELBO, and the bound tightens with K (Burda et al. 2016, Theorem 1)."""

import os

import jax
import numpy as np
import pytest

from gans import configs
from gans import data
from gans.eval import likelihood as likelihood_eval
from gans.train import experiment

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _bounds(k, chunk, decoder='bernoulli'):
  config = configs.load_config_file(
    os.path.join(ROOT, 'experiments', f'vae.py:runlocal,decoder={decoder}')
  )
  config.iwae_samples, config.iwae_chunk = k, chunk
  exp = experiment.build(config)
  state = exp.init()
  heldout = data.load(config, split='train[4500:]')
  x, y = heldout.get(np.arange(16))
  out = exp.likelihood(state, {'x': x, 'y': y}, jax.random.PRNGKey(3))
  return {name: np.asarray(v) for name, v in out.items()}, exp, state, x


def test_iwae_bound_is_below_the_negative_elbo_and_tightens_with_k():
  one, _, _, _ = _bounds(1, 1)
  np.testing.assert_allclose(one['nll_iwae1'], one['neg_elbo'], rtol=1e-6)
  many, _, _, _ = _bounds(50, 10)
  # Same K samples: log-mean-exp >= mean (Jensen), example by example.
  assert np.all(many['nll_iwae50'] <= many['neg_elbo'] + 1e-4)
  assert np.mean(many['nll_iwae50']) < np.mean(many['neg_elbo']) - 0.1
  # K = 50 is tighter than K = 1 on average over the examples.
  assert np.mean(many['nll_iwae50']) < np.mean(one['nll_iwae1'])


def test_discretized_gaussian_decoder_bounds_keep_their_order():
  out, _, _, x = _bounds(4, 2, decoder='gaussian')
  # The 256-level decoder: the same Jensen ordering, per example, on finite values.
  assert np.all(np.isfinite(out['neg_elbo'])) and np.all(np.isfinite(out['nll_iwae4']))
  assert np.all(out['nll_iwae4'] <= out['neg_elbo'] + 1e-3)
  assert np.mean(out['nll_iwae4']) < np.mean(out['neg_elbo'])
  # Probabilities of discrete levels: -log p(x) >= 0, unlike a continuous density.
  assert np.all(out['nll_iwae4'] > 0)


def test_likelihood_evaluator_refuses_a_split_that_overlaps_the_training_data():
  config = configs.load_config_file(os.path.join(ROOT, 'experiments', 'vae.py:runlocal'))
  exp = experiment.build(config)
  config.train_split = 'train[:4600]'  # Reaches into train[4500:].
  with pytest.raises(ValueError, match='overlaps the training split'):
    likelihood_eval.LikelihoodEvaluator(config, None, dict(split='train[4500:]'), exp=exp)
  config.train_split = 'train[:4500]'
  ev = likelihood_eval.LikelihoodEvaluator(config, None, dict(split='train[4500:]'), exp=exp)
  assert ev.num == 500
