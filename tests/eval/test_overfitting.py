"""The discriminator-overfitting monitor (gans.eval.overfitting), on untrained 16x16 runs."""

import os

import jax
import ml_collections
import numpy as np
import pytest

from gans import configs
from gans import errors
from gans import eval as eval_lib
from gans import parallel
from gans.eval import overfitting
from gans.families.gan import tricks
from gans.train import experiment

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _config(name, arg='image_size=16,runlocal', **fragment):
  config = configs.load_config_file(os.path.join(ROOT, 'experiments', name) + ':' + arg)
  config.train_split = 'train[:4000]'
  config.evals = ml_collections.ConfigDict(
    dict(overfitting=configs.overfitting_eval(**{'num_examples': 40, **fragment}))
  )
  return config


def _evaluator(config, mesh=None):
  exp = experiment.build(config, mesh=mesh)
  return exp, exp.init(), eval_lib.build(config, exp)['overfitting']


@pytest.fixture(scope='module')
def dcgan():
  return _evaluator(_config('dcgan.py'))


def test_pack_is_the_gan_steps_packing():
  x = np.arange(6 * 2 * 2 * 3, dtype=np.float32).reshape(6, 2, 2, 3)
  np.testing.assert_array_equal(overfitting._pack(x, 3), tricks.pack(x, 3))
  v = np.arange(8 * 2, dtype=np.float32).reshape(8, 2)
  np.testing.assert_array_equal(overfitting._pack(v, 2), tricks.pack(v, 2))


def test_scores_are_d_of_the_chosen_images(dcgan):
  exp, state, ev = dcgan
  out = ev(exp, state)
  protocol = out.pop('protocol')
  assert protocol['heldout_split'] == 'train[4500:]' and protocol['num_examples'] == 40
  d = exp.modules['discriminator']
  variables = state.models['discriminator'].variables()
  x_train, _ = exp.dataset.get(ev.train_idx)
  x_held, _ = ev.heldout.get(np.arange(40))
  want_train = np.asarray(d.apply(variables, x_train, None, train=False), np.float64)
  want_held = np.asarray(d.apply(variables, x_held, None, train=False), np.float64)
  np.testing.assert_allclose(out['d_train'], want_train.mean(), rtol=1e-5)
  np.testing.assert_allclose(out['d_heldout'], want_held.mean(), rtol=1e-5)
  np.testing.assert_allclose(out['rt_heldout'], np.mean(np.sign(want_held)), atol=1e-12)
  assert out['d_gap'] == pytest.approx(out['d_train'] - out['d_heldout'])
  assert out['d_overfit'] == pytest.approx(
    out['d_gap'] / (out['d_train'] - out['d_generated'])
  ) or np.isnan(out['d_overfit'])
  # The training images are a fixed draw of the training split, the same every time.
  assert len(set(ev.train_idx)) == 40 and ev.train_idx.max() < 4000


def test_the_same_images_in_both_sets_give_no_gap(dcgan):
  exp, state, ev = dcgan
  saved = ev.heldout, ev.heldout_idx
  ev.heldout, ev.heldout_idx = ev.train, ev.train_idx
  try:
    out = ev(exp, state)
  finally:
    ev.heldout, ev.heldout_idx = saved
  assert out['d_gap'] == 0.0 and out['d_overfit'] in (0.0, -0.0) or np.isnan(out['d_overfit'])
  assert out['rt_train'] == out['rt_heldout']


def test_one_device_equals_eight():
  config = _config('dcgan.py')
  one = _evaluator(config, parallel.make_mesh(jax.devices()[:1]))
  eight = _evaluator(config)
  a = one[2](*one[:2])
  b = eight[2](*eight[:2])
  for k in ('d_train', 'd_heldout', 'd_generated', 'rt_train'):
    np.testing.assert_allclose(a[k], b[k], rtol=1e-4, atol=1e-6)


def test_a_packed_d_scores_packs():
  config = _config('dcgan.py')
  config.pack = 2
  exp, state, ev = _evaluator(config)
  out = ev(exp, state)
  assert out['protocol']['pack'] == 2
  assert np.isfinite(out['d_train']) and np.isfinite(out['d_generated'])


def test_conditional_and_stylegan2_runs():
  for name, arg in (('acgan.py', 'runlocal'), ('stylegan2.py', 'runlocal')):
    config = _config(name, arg)
    exp, state, ev = _evaluator(config)
    out = ev(exp, state)
    assert all(np.isfinite(out[k]) for k in ('d_train', 'd_heldout', 'd_generated')), name


@pytest.mark.parametrize(
  'arg, fragment, message',
  [
    ('image_size=16,runlocal', dict(heldout_split='train[3000:]'), 'overlaps the training split'),
    ('image_size=16,runlocal', dict(num_examples=0), 'num_examples=0'),
  ],
)
def test_bad_fragments_name_the_key(arg, fragment, message):
  config = _config('dcgan.py', arg, **fragment)
  exp = experiment.build(config)
  with pytest.raises(errors.UserInputError, match=message):
    eval_lib.build(config, exp)


def test_unknown_field_and_a_family_without_d():
  with pytest.raises(errors.UserInputError, match="Unknown field 'every_n'"):
    overfitting.options(dict(every_n=3))
  config = _config('ae.py', 'runlocal')
  exp = experiment.build(config)
  with pytest.raises(errors.UserInputError, match='has no discriminator'):
    eval_lib.build(config, exp)
