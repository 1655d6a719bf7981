"""Evaluation in runs: feature networks, cached references, metrics, hook, --mode eval.

A "replay" experiment whose generator returns given samples stands in for a GAN where
the expected numbers are known: real data against its own reference gives FID ~ 0,
uniform noise a large FID.
"""

import copy
import glob
import json
import os
import types
import warnings

import jax.numpy as jnp
import numpy as np
import pytest

from gans import configs
from gans import data
from gans import eval as eval_lib
from gans import run
from gans.metrics import inception
from gans.train import loop
from gans.eval import features as features_lib
from gans.eval import reference as reference_lib
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
  return configs.load_config_file(os.path.join(ROOT, 'experiments', spec))


@pytest.fixture(scope='module')
def mnist():
  return data.load(_config())


def replay(config, samples, num_classes=0):
  """(exp, state) whose generator returns `samples` (model space) in order, cyclically.

  `num_classes` > 0 makes it a conditional experiment (sample i is asked for i mod K).
  """
  samples = np.asarray(samples)
  position = [0]

  def sample(state, key, start, n, use_ema=True):
    del state, key, start, use_ema
    idx = (position[0] + np.arange(n)) % len(samples)
    position[0] += n
    return jnp.asarray(samples[idx])

  exp = types.SimpleNamespace(config=config, sample=sample, num_classes=num_classes)
  state = types.SimpleNamespace(ema={}, step=7)
  return exp, state


def test_real_data_scores_fid_zero_and_noise_scores_large(mnist):
  config = _config()
  config.evals.samples.metrics = (
    'fid,is,kid',
    'precision_recall',
    'density_coverage',
    'mode_score',
    'mode_count',
  )
  config.evals.samples.num_samples = config.evals.samples.num_reference = 2000
  config.evals.samples.kid_subsets = 10
  evaluator = samples_lib.SampleEvaluator(config, mnist, config.evals.samples)
  x, _ = mnist.get(np.arange(mnist.num_examples))
  in_reference = reference_lib.reference_indices(evaluator.opts, mnist)
  others = np.setdiff1d(np.arange(mnist.num_examples), in_reference)  # mnist5k is sorted by label.

  same = evaluator(*replay(config, x[in_reference]))  # The reference set itself.
  assert abs(same['fid_classifier']) < 1e-3
  assert same['precision_classifier'] == 1.0 and same['recall_classifier'] == 1.0
  assert same['coverage_classifier'] == 1.0
  assert same['modes_classifier'] == 10 and same['modes_kl_classifier'] < 0.01
  # A confident classifier on balanced classes: IS and mode score near 10.
  assert 8 < same['is_classifier'] <= 10 and 8 < same['mode_score_classifier'] <= 10

  evaluator.opts.metrics = ('fid', 'kid', 'precision_recall')
  rng = np.random.default_rng(0)
  other = evaluator(*replay(config, x[rng.permutation(others)[:1000]]), num_samples=1000)
  noise = evaluator(*replay(config, rng.uniform(-1, 1, (1000,) + x.shape[1:])), num_samples=1000)
  assert 0 < other['fid_classifier'] < 20
  assert noise['fid_classifier'] > 50 * other['fid_classifier']
  assert noise['kid_classifier'] > 50 * abs(other['kid_classifier'])
  assert noise['precision_classifier'] < 0.05 < 0.8 < other['precision_classifier']

  protocol = noise['protocol']
  assert protocol['feature_network'] == 'classifier'
  assert protocol['num_fake'] == 1000 and protocol['num_real'] == 2000
  assert protocol['dataset'] == 'mnist5k' and protocol['reference_split'] == 'train'
  assert protocol['classifier_heldout_accuracy'] > 0.95
  assert os.path.isfile(protocol['classifier_path'])
  assert protocol['kid_subsets'] == 10 and protocol['step'] == 7 and not protocol['ema']
  # Only the classifier-space names: nobody can mistake them for Inception numbers.
  assert not {'fid', 'is', 'kid'} & set(noise)


def test_reference_statistics_are_computed_once_and_cached(mnist):
  config = _config()
  config.evals.samples.num_reference = 1500
  first = samples_lib.SampleEvaluator(config, mnist, config.evals.samples).reference
  path = first.protocol['reference_cache']
  name = os.path.basename(path)
  assert os.path.isfile(path) and reference_lib.reference_computations[name] == 1
  assert first.features.shape == (1500, 128) and first.protocol['num_real'] == 1500
  mtime = os.path.getmtime(path)
  second = samples_lib.SampleEvaluator(config, mnist, config.evals.samples).reference
  assert reference_lib.reference_computations[name] == 1 and os.path.getmtime(path) == mtime
  np.testing.assert_array_equal(first.features, second.features)
  np.testing.assert_array_equal(first.sigma, second.sigma)
  # Another number of reference samples is another entry.
  config.evals.samples.num_reference = 1000
  other = samples_lib.SampleEvaluator(config, mnist, config.evals.samples).reference
  assert other.protocol['reference_cache'] != path


def test_unknown_metric_or_split_fails_with_its_name(mnist):
  config = _config()
  config.evals.samples.metrics = ('fid', 'fidd')
  with pytest.raises(ValueError, match='fidd'):
    samples_lib.SampleEvaluator(config, mnist, config.evals.samples)
  config = _config()
  config.evals.samples.reference_split = 'test'
  with pytest.raises(ValueError, match="only the split 'train'"):
    samples_lib.SampleEvaluator(config, mnist, config.evals.samples)


def test_class_accuracy_of_conditional_generators(mnist):
  """Real digits replayed in label order i mod 10 score the classifier's accuracy;
  the same digits in random order score chance."""
  config = _config('cgan.py')
  config.evals.samples.num_samples = 500
  evaluator = samples_lib.SampleEvaluator(config, mnist, config.evals.samples)
  x, y = mnist.get(np.arange(mnist.num_examples))
  ordered = np.concatenate([x[y == k][:50, None] for k in range(10)], 1).reshape(
    (500,) + x.shape[1:]
  )  # Sample i has digit i mod 10.
  good = evaluator(*replay(config, ordered, num_classes=10))
  assert good['class_accuracy_classifier'] > 0.9
  assert good['protocol']['class_balanced'] is True
  shuffled = np.random.default_rng(0).permutation(ordered)
  bad = evaluator(*replay(config, shuffled, num_classes=10))
  assert bad['class_accuracy_classifier'] < 0.25
  unconditional = evaluator(*replay(config, ordered))
  assert 'class_accuracy_classifier' not in unconditional


def test_toy_datasets_count_modes_on_raw_points():
  config = configs.base_config()
  config.dataset = 'ring8'
  config.evals.samples.metrics = ('mode_coverage', 'fid')
  config.evals.samples.num_samples = 2000
  ds = data.load(config)
  x, _ = ds.get(np.arange(2000))
  evaluator = samples_lib.SampleEvaluator(config, ds, config.evals.samples)
  real = evaluator(*replay(config, x))
  # Within 3 sigma of a 2-D Gaussian: 1 - exp(-9/2) = 98.9% of the samples.
  assert real['modes'] == 8 and real['high_quality'] > 0.98 and real['reverse_kl'] < 0.01
  assert real['fid_points'] < 1e-3
  assert real['protocol']['feature_network'] == 'points'
  collapsed = evaluator(*replay(config, np.repeat(ds.extra['means'][:1], 10, axis=0)))
  assert collapsed['modes'] == 1
  assert collapsed['reverse_kl'] == pytest.approx(np.log(8))
  config.evals.samples.metrics = ('mode_coverage', 'is')
  with pytest.raises(ValueError, match="'is'.*2-D points"):
    samples_lib.SampleEvaluator(config, ds, config.evals.samples)


# ----------------------------------------------------------------------- Inception path


def test_missing_inception_weights_fail_with_a_clear_message(mnist, tmp_path):
  config = _config()
  config.evals.samples.features = 'inception'
  config.evals.samples.inception_weights = str(tmp_path / 'nope.pth')
  with pytest.raises(FileNotFoundError, match='nope.pth') as error:
    samples_lib.SampleEvaluator(config, mnist, config.evals.samples)
  assert 'GANS_INCEPTION_WEIGHTS' in str(error.value)
  assert inception.FID_WEIGHTS_URL in str(error.value)
  config.evals.samples.inception_weights = ''
  with pytest.raises(FileNotFoundError, match='GANS_INCEPTION_WEIGHTS is not set'):
    samples_lib.SampleEvaluator(config, mnist, config.evals.samples)
  # A run fails at the start, before it writes a checkpoint.
  config = _config('wgan_gp.py:runlocal')
  config.evals.samples.every = 1
  config.evals.samples.features = 'inception'
  with pytest.raises(FileNotFoundError, match='GANS_INCEPTION_WEIGHTS'):
    run.main(config, str(tmp_path / 'run'))
  assert not os.path.exists(tmp_path / 'run' / 'checkpoints')


def _small_inception(monkeypatch, seen):
  """Replaces the Inception weights reader and network by a small random projection.

  Everything else is the real path: the weights file is found through the config or
  $GANS_INCEPTION_WEIGHTS by `inception.load`, hashed, and its variables used.
  """
  rng = np.random.default_rng(0)
  variables = {
    'proj': rng.normal(size=(32 * 32, 24)).astype(np.float32),
    'cls': rng.normal(size=(24, 12)).astype(np.float32),
  }

  def read_state_dict(path):
    seen.append(path)
    return {}

  def apply(v, images):
    x = images.reshape(images.shape[0], -1).astype(jnp.float32) / 255.0
    features = jnp.tanh(x @ v['proj'])
    return {'features': features, 'logits': features @ v['cls']}

  monkeypatch.setattr(inception.pth, 'read_state_dict', read_state_dict)
  monkeypatch.setattr(inception, 'variables_from_state_dict', lambda sd, source: variables)
  monkeypatch.setattr(features_lib, '_inception_apply', apply)


def test_inception_path_reads_weights_from_env_or_config(mnist, tmp_path, monkeypatch):
  seen = []
  _small_inception(monkeypatch, seen)
  env_weights, config_weights = tmp_path / 'env.pth', tmp_path / 'config.pth'
  env_weights.write_bytes(b'env')
  config_weights.write_bytes(b'config')
  monkeypatch.setenv('GANS_INCEPTION_WEIGHTS', str(env_weights))
  config = _config()
  config.evals.samples.features = 'inception'
  config.evals.samples.num_samples = 500
  config.evals.samples.num_reference = 500
  with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter('always')
    evaluator = samples_lib.SampleEvaluator(config, mnist, config.evals.samples)
  assert seen == [str(env_weights)]
  assert any('not pytorch-fid' in str(w.message) for w in caught)
  x, _ = mnist.get(reference_lib.reference_indices(evaluator.opts, mnist))
  result = evaluator(*replay(config, x), num_samples=500)
  # Inception numbers carry the standard names.
  assert {'fid', 'is', 'is_std', 'kid', 'kid_std'} <= set(result)
  assert not any(k.endswith('_classifier') for k in result)
  assert abs(result['fid']) < 1e-3  # The reference is these 500 images.
  protocol = result['protocol']
  assert protocol['feature_network'] == 'inception'
  assert protocol['inception_weights'] == str(env_weights)
  assert protocol['official_weights'] is False and len(protocol['inception_sha256']) == 64
  # config.evals.samples.inception_weights wins over the environment variable.
  config.evals.samples.inception_weights = str(config_weights)
  with warnings.catch_warnings():
    warnings.simplefilter('ignore')
    other = samples_lib.SampleEvaluator(config, mnist, config.evals.samples)
  assert seen[-1] == str(config_weights)
  assert (
    other.reference.protocol['reference_cache'] != evaluator.reference.protocol['reference_cache']
  )


# --------------------------------------------------------------------- runs and --mode eval


@pytest.fixture(scope='module')
def trained_run(tmp_path_factory, cache_dir):
  config = _config('wgan_gp.py:runlocal')
  config.evals.samples.every = 2
  config.evals.samples.num_samples = 64
  config.evals.samples.cache_dir = cache_dir
  workdir = str(tmp_path_factory.mktemp('run'))
  loop.train(config, workdir, hooks=eval_lib.hooks(config))
  return config, workdir


def test_eval_hook_writes_eval_scalars_during_training(trained_run):
  config, workdir = trained_run
  records = [json.loads(l) for l in open(os.path.join(workdir, 'metrics.jsonl'))]
  evals = [r for r in records if 'eval/samples/fid_classifier' in r]
  assert [r['step'] for r in evals] == [2, 3]  # Every `every` steps and at the end.
  for r in evals:
    assert {
      'eval/samples/is_classifier',
      'eval/samples/kid_classifier',
      'eval/samples/kid_classifier_std',
    } <= set(r)
    assert np.isfinite(r['eval/samples/fid_classifier']) and r['eval/samples/fid_classifier'] > 0
  lines = [json.loads(l) for l in open(os.path.join(workdir, 'eval.jsonl'))]
  assert [l['step'] for l in lines] == [2, 3]
  assert lines[-1]['metrics']['fid_classifier'] == evals[-1]['eval/samples/fid_classifier']
  protocol = lines[-1]['protocol']
  assert protocol['num_fake'] == 64 and protocol['num_real'] == 5000
  assert protocol['feature_network'] == 'classifier'
  # The scalars also went to TensorBoard.
  events = glob.glob(os.path.join(workdir, 'tensorboard', 'events.*'))
  assert any(b'eval/samples/fid_classifier' in open(e, 'rb').read() for e in events)


def test_mode_eval_runs_only_the_named_evaluators(trained_run, capsys):
  config, workdir = trained_run
  config = copy.deepcopy(config)
  config.evals.diversity = configs.diversity_eval(
    num_pairs=16, batch_size=16, cache_dir=config.evals.samples.cache_dir
  )
  results = run.main(config, workdir, mode='eval', evals=['diversity'])
  assert list(results) == ['diversity'] and results['diversity']['diversity_classifier'] > 0
  capsys.readouterr()


def test_mode_eval_writes_json_with_protocol(trained_run, capsys):
  config, workdir = trained_run
  results = run.main(config, workdir, mode='eval')['samples']
  path = os.path.join(workdir, 'eval_3.json')
  everything = json.load(open(path))
  assert everything == json.loads(capsys.readouterr().out)
  written = everything['samples']
  assert written['fid_classifier'] == results['fid_classifier']
  protocol = written['protocol']
  assert protocol['step'] == 3 and protocol['num_fake'] == 64 and protocol['num_real'] == 5000
  assert protocol['reference_split'] == 'train' and protocol['dataset'] == 'mnist5k'
  assert protocol['feature_network'] == 'classifier' and protocol['classifier_sha256']
  # The restored generator gives the numbers the hook computed at the last step.
  last = json.loads(open(os.path.join(workdir, 'eval.jsonl')).readlines()[-1])
  for k, v in last['metrics'].items():
    assert written[k] == pytest.approx(v, rel=1e-6, abs=1e-9), k
