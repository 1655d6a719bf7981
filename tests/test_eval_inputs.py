"""Hard inputs to the evaluators (gans/eval): non-finite or out-of-range generated samples,
damaged reference caches, non-finite likelihoods, and strict JSON in eval.jsonl.

The "replay" experiment of tests/test_evaluate.py stands in for a generator: it returns
given samples, so each test states exactly what the generator produced.
"""

import json
import logging
import os
import types

import jax.numpy as jnp
import numpy as np
import pytest

from gans import configs
from gans import data
from gans import eval as eval_lib
from gans import parallel
from gans.eval import features as features_lib
from gans.eval import likelihood as likelihood_lib
from gans.eval import samples as samples_lib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope='session')
def cache_dir(tmp_path_factory):
  # The directory tests/metrics/test_classifier.py trains the classifier into.
  return str(tmp_path_factory.getbasetemp() / 'gans-cache')


@pytest.fixture(autouse=True)
def _environment(cache_dir, monkeypatch):
  monkeypatch.setenv('GANS_CACHE_DIR', cache_dir)
  monkeypatch.delenv('GANS_INCEPTION_WEIGHTS', raising=False)


def _config(spec='wgan_gp.py'):
  config = configs.load_config_file(os.path.join(ROOT, 'experiments', spec))
  config.evals.samples.num_samples = 200
  config.evals.samples.num_reference = 300
  config.evals.samples.metrics = ('fid', 'kid', 'precision_recall')
  config.evals.samples.kid_subsets = 2
  return config


@pytest.fixture(scope='module')
def mnist():
  return data.load(_config())


def replay(config, samples):
  """(exp, state) whose generator returns `samples` (model space) in order, cyclically."""
  samples = np.asarray(samples)
  position = [0]

  def sample(state, key, start, n, use_ema=True):
    del state, key, start, use_ema
    idx = (position[0] + np.arange(n)) % len(samples)
    position[0] += n
    return jnp.asarray(samples[idx])

  exp = types.SimpleNamespace(config=config, sample=sample, num_classes=0)
  return exp, types.SimpleNamespace(ema={}, step=7)


@pytest.fixture(scope='module')
def evaluator(mnist):
  config = _config()
  return config, samples_lib.SampleEvaluator(config, mnist, config.evals.samples)


def test_clean_samples_score(evaluator, mnist):
  config, ev = evaluator
  x, _ = mnist.get(np.arange(200))
  assert np.isfinite(ev(*replay(config, x))['fid_classifier'])


@pytest.mark.parametrize('value', [np.nan, np.inf])
def test_non_finite_generated_samples_are_counted_not_scored(evaluator, mnist, value):
  # to_uint8 turned NaN into black pixels: the samples were scored as images.
  config, ev = evaluator
  x, _ = mnist.get(np.arange(200))
  x[[5, 17, 150], 3, 4, 0] = value
  with pytest.raises(
    ValueError,
    match=r'^3 of the 200 generated samples at step 7 are non-finite \(NaN/inf; first: sample 5\)',
  ):
    ev(*replay(config, x))


def test_samples_in_0_255_are_refused_and_0_1_warned(evaluator, mnist, caplog):
  config, ev = evaluator
  x, _ = mnist.get(np.arange(200))
  as_0_255 = (x + 1) * 127.5
  with pytest.raises(ValueError, match=r'step 7: values span 0\.\.255 where images in \[-1, 1\]'):
    ev(*replay(config, as_0_255))
  with caplog.at_level(logging.WARNING):
    ev(*replay(config, (x + 1) / 2))
  assert 'values span 0..1, none below 0, where images in [-1, 1] are expected' in caplog.text


def test_non_finite_features_name_their_source(evaluator):
  config, ev = evaluator
  del config
  fake = {'features': np.ones((10, 128)), 'logits': np.ones((10, 10))}
  fake['logits'][4, 2] = np.nan
  with pytest.raises(ValueError, match=r'^1 of 10 logit rows of the samples of x are non-finite'):
    samples_lib.compute_metrics(
      ('fid',), ev.net, ev.reference, fake, ev.opts, fake_source='the samples of x'
    )


def test_a_damaged_reference_cache_is_named(mnist):
  config = _config()
  config.evals.samples.num_reference = 250  # Its own cache file.
  reference = samples_lib.SampleEvaluator(config, mnist, config.evals.samples).reference
  path = reference.protocol['reference_cache']
  with np.load(path) as f:
    arrays = dict(f)
  arrays['features'][[3, 9]] = np.nan
  with open(path, 'wb') as f:
    np.savez(f, **arrays)
  with pytest.raises(
    ValueError,
    match=rf'^2 of 250 feature rows of the reference statistics file {path} are non-finite '
    r'.*; delete the file to recompute it\.$',
  ):
    samples_lib.SampleEvaluator(config, mnist, config.evals.samples)
  del arrays['sigma']
  with open(path, 'wb') as f:
    np.savez(f, **arrays)
  with pytest.raises(ValueError, match=rf'^Reference statistics file {path} has no sigma array'):
    samples_lib.SampleEvaluator(config, mnist, config.evals.samples)
  os.remove(path)


def test_non_finite_likelihoods_are_counted_not_averaged():
  config = _config('vae.py')
  mesh = parallel.make_mesh()

  def nll(state, batch, key, use_ema):
    del state, key, use_ema
    x = np.asarray(batch['x']).reshape(len(batch['x']), -1)
    values = np.where(x.max(axis=1) > 0.999, np.nan, 90.0)  # Some digits reach +1 exactly.
    return {'nll': jnp.asarray(values)}

  exp = types.SimpleNamespace(config=config, mesh=mesh, likelihood=nll, protocol={})
  state = types.SimpleNamespace(ema={}, step=3)
  ev = likelihood_lib.LikelihoodEvaluator(
    config, None, dict(split='train[4500:4600]', batch_size=40), exp=exp
  )
  x, _ = ev.heldout.get(np.arange(100))
  bad = np.flatnonzero(x.reshape(100, -1).max(axis=1) > 0.999)
  assert 0 < len(bad) < 100
  with pytest.raises(
    ValueError,
    match=rf'^{len(bad)} of the 100 held-out examples of mnist5k/train\[4500:4600\] have a '
    rf'non-finite nll \(NaN/inf; first: example {bad[0]}\) at step 3\.$',
  ):
    ev(exp, state)


def test_eval_jsonl_is_strict_json(tmp_path):
  class Infinite:
    every = 1

    def __call__(self, exp, state):
      return {'reverse_kl': float('inf'), 'modes': 1.0, 'protocol': {'step': 4, 'seconds': 0.1}}

  hook = eval_lib.Hook('toy', Infinite(), exp=None, workdir=str(tmp_path))
  assert hook(None)['eval/toy/reverse_kl'] == float('inf')  # The loop still gets the number.

  def refuse(constant):
    raise AssertionError(f'{constant} in eval.jsonl')

  row = json.loads((tmp_path / 'eval.jsonl').read_text(), parse_constant=refuse)
  assert row['metrics'] == {'reverse_kl': None, 'modes': 1.0}


def test_check_features_names_the_source():
  out = {'features': np.zeros((4, 3))}
  features_lib.check_features(out, 'x')
  out['features'][2, 1] = -np.inf
  with pytest.raises(ValueError, match=r'^1 of 4 feature rows of y are non-finite'):
    features_lib.check_features(out, 'y')
