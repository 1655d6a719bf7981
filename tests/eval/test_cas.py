"""The Classification Accuracy Score evaluator (gans.eval.cas).

Fake experiments whose "generator" returns real training digits (16x16, to keep the
classifiers quick) pin the two ends of the score: real images give the real-data
accuracy, images of one class give chance.
"""

import os
import types

import ml_collections
import numpy as np
import pytest

from gans import configs
from gans import data
from gans import errors
from gans import eval as eval_lib
from gans.eval import cas
from gans.train import experiment

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _config(name='cgan.py', arg='runlocal', **fragment):
  config = configs.load_config_file(os.path.join(ROOT, 'experiments', name) + ':' + arg)
  config.train_split = 'train[:4000]'
  config.evals = ml_collections.ConfigDict(dict(cas=configs.cas_eval(**fragment)))
  return config


class FakeExperiment:
  """A conditional 'generator' of real training digits: sample i is the (i // K)-th image
  of class i mod K (per-class order drawn with `seed`), or with `only_class` an image of
  that class whatever was asked for."""

  def __init__(self, config, dataset, only_class=None, seed=1):
    self.config, self.dataset, self.protocol = config, dataset, {}
    self.images, labels = dataset.get(np.arange(dataset.num_examples))
    rng = np.random.default_rng(seed)
    self.members = [rng.permutation(np.flatnonzero(labels == k)) for k in range(10)]
    self.only_class = only_class
    self.calls = 0

  num_classes = 10

  def labels(self, start, n):
    return np.arange(start, start + n) % self.num_classes

  def sample(self, state, key, start, n, use_ema):
    del state, key, use_ema
    self.calls += 1
    i = np.arange(start, start + n)
    classes = i % 10 if self.only_class is None else np.full(n, self.only_class)
    idx = [self.members[k][j % len(self.members[k])] for k, j in zip(classes, i // 10)]
    return self.images[idx]


STATE = types.SimpleNamespace(step=7, ema=None)


@pytest.fixture(scope='module')
def fake_setup():
  """(config, evaluator) on 16x16 mnist5k: 500 generated vs 500 real training images,
  200 classifier steps, seeds 0 and 1; scored on the 500 digits of train[4500:]."""
  config = _config(num_samples=500, steps=200, seeds=(0, 1))
  config.image_size = 16
  dataset = data.load(config, split=config.train_split)
  evaluator = cas.CASEvaluator(config, dataset, config.evals.cas.to_dict(), 'cas')
  return config, evaluator


def test_real_images_as_samples_score_the_real_accuracy(fake_setup):
  config, ev = fake_setup
  out = ev(FakeExperiment(config, ev.train), STATE)
  protocol = out.pop('protocol')
  assert protocol['num_generated'] == protocol['num_real'] == 500
  assert protocol['heldout_split'] == 'train[4500:]' and protocol['num_heldout'] == 500
  assert protocol['step'] == 7 and protocol['seeds'] == [0, 1]
  assert set(out) == {
    'cas',
    'real_accuracy',
    'cas_ratio',
    'cas_worst_class',
    'cas_stderr',
    'real_accuracy_stderr',
  }
  # 500 real digits, 200 steps: about 0.88 held-out accuracy. Measured over 6 seeds, the
  # per-seed difference between the two has standard deviation 0.009 (mean 0.002), so a
  # two-seed mean differs by about 0.006: 0.035 is more than 5 of those.
  assert 0.8 < out['real_accuracy'] < 0.95
  assert abs(out['cas'] - out['real_accuracy']) < 0.035
  assert out['cas_ratio'] == pytest.approx(out['cas'] / out['real_accuracy'])
  assert out['cas'] == pytest.approx(np.mean(protocol['cas_per_seed']))
  assert out['cas_stderr'] == pytest.approx(np.std(protocol['cas_per_seed'], ddof=1) / np.sqrt(2))
  assert out['cas_worst_class'] == pytest.approx(min(protocol['cas_per_class']))
  assert out['cas_worst_class'] > 0.5


def test_samples_of_one_class_score_chance(fake_setup):
  config, ev = fake_setup
  real_before = dict(ev._real)
  out = ev(FakeExperiment(config, ev.train, only_class=3), STATE)
  # Every training image is a 3, its label uniform: the classifier learns nothing about
  # digits. Held-out class shares are 8.4% to 11.4%; measured 0.074 and 0.076.
  assert 0.02 < out['cas'] < 0.2
  assert out['cas_ratio'] < 0.25
  assert out['cas_worst_class'] < 0.05
  # The real baseline is computed once per evaluator, not again.
  assert len(real_before) == 1 and ev._real.keys() == real_before.keys()
  ((key, scores),) = real_before.items()
  assert ev._real[key] is scores
  assert out['real_accuracy'] == pytest.approx(np.mean([s['accuracy'] for s in scores]))


def test_stratified_indices_are_balanced_and_seeded():
  labels = np.repeat(np.arange(10), [50, 3] + [50] * 8)
  idx = cas.stratified_indices(labels, 100, 0)
  counts = np.bincount(labels[idx], minlength=10)
  # Class 1 has only 3: it gives them all, the others share its remaining 7.
  assert counts[1] == 3 and counts.sum() == 100 and counts.max() - counts[counts != 3].min() <= 1
  assert len(set(idx)) == 100
  np.testing.assert_array_equal(idx, cas.stratified_indices(labels, 100, 0))
  assert not np.array_equal(idx, cas.stratified_indices(labels, 100, 1))
  assert len(cas.stratified_indices(labels, len(labels), 3)) == len(labels)
  with pytest.raises(errors.UserInputError, match='give a count in'):
    cas.stratified_indices(labels, len(labels) + 1, 0)


@pytest.fixture(scope='module')
def cgan():
  """An untrained runlocal cgan (32x32, width 8) and its CAS evaluator: 60 samples,
  20 classifier steps, one seed."""
  config = _config(num_samples=60, steps=20)
  exp = experiment.build(config)
  return config, exp, exp.init(), eval_lib.build(config, exp)['cas']


def test_evaluator_on_a_cgan_run(cgan):
  config, exp, state, ev = cgan
  out = ev(exp, state)
  protocol = out.pop('protocol')
  assert set(out) == {'cas', 'real_accuracy', 'cas_ratio', 'cas_worst_class'}  # One seed.
  assert all(np.isfinite(v) and 0 <= v for v in out.values())
  assert 0 <= out['cas'] <= 1 and 0 <= out['real_accuracy'] <= 1
  assert protocol['num_generated'] == protocol['num_real'] == 60
  assert protocol['classifier']['steps_taken_cas'] == [20]
  assert protocol['dataset'] == 'mnist5k' and protocol['train_split'] == 'train[:4000]'
  assert len(protocol['cas_per_class']) == 10 and protocol['ema'] is False
  assert protocol['paper'].startswith('Ravuri & Vinyals 2019')
  # --mode eval --num_samples: the count of generated images (and of the real baseline).
  again = eval_lib.evaluate(config, exp, state, num_samples=30)['cas']
  assert again['protocol']['num_generated'] == 30 == again['protocol']['num_real']
  # The sampler is the experiment's: the same latents give the same images.
  x1, y1 = cas.generated(exp, state, 20, 0)
  x2, _ = cas.generated(exp, state, 20, 0)
  np.testing.assert_array_equal(x1, x2)
  np.testing.assert_array_equal(y1, np.arange(20) % 10)
  assert np.array_equal(x1, cas.quantize(x1)) and x1.dtype == np.float32


@pytest.mark.parametrize(
  'name, arg, fragment, message',
  [
    ('dcgan.py', 'runlocal', {}, r'needs a class-conditional run .*config\.conditional=False'),
    ('cgan.py', 'runlocal', dict(num_samplez=10), "Unknown field 'num_samplez'"),
    ('cgan.py', 'runlocal', dict(seeds=(0, 0)), 'distinct seeds'),
    ('cgan.py', 'runlocal', dict(steps=0), 'steps=0'),
    ('cgan.py', 'runlocal', dict(heldout_split='train[3000:]'), 'overlaps the training split'),
  ],
)
def test_bad_inputs_are_one_clear_line(name, arg, fragment, message):
  config = _config(name, arg, **fragment)
  dataset = types.SimpleNamespace(
    name='mnist5k', is_image=True, num_classes=10, example_shape=(32, 32, 1)
  )
  with pytest.raises(errors.UserInputError, match=message) as info:
    fields = {k: v for k, v in config.evals.cas.items() if k != 'type'}
    eval_lib.check_options(config)
    cas.CASEvaluator(config, dataset, fields, 'cas')
  assert '\n' not in str(info.value) and 'config.' in str(info.value)


def test_a_run_on_all_the_digits_has_no_default_heldout_split():
  config = _config()
  config.train_split = 'train'
  dataset = types.SimpleNamespace(
    name='mnist5k', is_image=True, num_classes=10, example_shape=(32, 32, 1)
  )
  with pytest.raises(errors.UserInputError, match=r'config\.evals\.cas\.heldout_split'):
    cas.CASEvaluator(config, dataset, {}, 'cas')


def test_samples_with_nan_pixels_are_refused(fake_setup):
  config, ev = fake_setup
  fake = FakeExperiment(config, ev.train)
  fake.sample = lambda state, key, start, n, use_ema: np.full((n, 16, 16, 1), np.nan, np.float32)
  with pytest.raises(ValueError, match='NaN/inf pixels'):
    cas.generated(fake, STATE, 10, 0)
