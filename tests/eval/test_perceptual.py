"""The perceptual evaluators (gans.eval.perceptual): 'ppl' and 'diversity', end to end.

Tiny untrained experiments (runlocal configs at 16x16, initial state): the evaluators
need a latent path and a distance, not a good generator. The offline distance uses a
small classifier trained here in a second on 600 digits.
"""

import copy
import os
import types

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from gans import configs
from gans import data
from gans import errors
from gans import eval as eval_lib
from gans.eval import features as features_lib
from gans.eval import perceptual
from gans.eval import reference as reference_lib
from gans.eval import samples as samples_lib
from gans.metrics import classifier as classifier_lib
from gans.metrics import lpips
from gans.metrics import vgg16
from gans.train import experiment

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _config(name, arg='runlocal'):
  return configs.load_config_file(os.path.join(ROOT, 'experiments', name) + ':' + arg)


@pytest.fixture(scope='module')
def classifier_path(tmp_path_factory):
  """A one-epoch digit classifier at 16x16 (features only need to be a fixed network)."""
  ds = data.load(_config('dcgan.py', 'image_size=16,runlocal'))
  x, y = ds.get(np.arange(600))
  recipe = classifier_lib.recipe(image_size=16, epochs=1)
  clf = classifier_lib.train(recipe, dataset=(np.asarray(x), np.asarray(y), 10))
  path = str(tmp_path_factory.mktemp('classifier') / 'clf16.msgpack')
  classifier_lib.save(clf, path)
  return path


def _built(name, arg, **evals):
  config = _config(name, arg)
  config.evals = ml_collections.ConfigDict(evals)
  exp = experiment.build(config)
  return config, exp, exp.init()


@pytest.fixture(scope='module')
def gan(classifier_path):
  return _built('dcgan.py', 'image_size=16,runlocal')


@pytest.fixture(scope='module')
def stylegan2(classifier_path):
  return _built('stylegan2.py', 'runlocal')


def test_ppl_of_a_gan_in_z_with_the_classifier_distance(gan, classifier_path):
  config, exp, state = gan
  config = copy.deepcopy(config)
  config.evals.ppl = configs.ppl_eval(
    num_samples=40, batch_size=16, classifier_path=classifier_path
  )
  out = eval_lib.evaluate(config, exp, state)['ppl']
  assert set(out) == {'ppl_classifier', 'protocol'}  # Never 'ppl': that is LPIPS.
  assert np.isfinite(out['ppl_classifier']) and out['ppl_classifier'] > 0
  p = out['protocol']
  assert p['distance'] == 'classifier_features_squared_l2'
  assert p['classifier_path'] == os.path.abspath(classifier_path)
  assert (p['space'], p['interpolation'], p['sampling']) == ('z', 'slerp', 'full')
  assert (p['num_samples'], p['epsilon'], p['step']) == (40, 1e-4, 0)
  # Percentile 1 ('lower') of 40 lengths is the smallest, 99 ('higher') the largest.
  assert p['num_kept'] == 40
  # Deterministic given the seed; another seed draws other paths.
  again = eval_lib.evaluate(config, exp, state)['ppl']['ppl_classifier']
  assert again == out['ppl_classifier']
  config.evals.ppl.seed = 1
  assert eval_lib.evaluate(config, exp, state)['ppl']['ppl_classifier'] != again


def test_ppl_of_stylegan2_in_w_and_z(stylegan2, classifier_path):
  config, exp, state = stylegan2
  config = copy.deepcopy(config)
  common = dict(num_samples=16, batch_size=8, classifier_path=classifier_path)
  config.evals.ppl_w = configs.ppl_eval(space='w', sampling='end', **common)
  config.evals.ppl_z = configs.ppl_eval(space='z', **common)
  out = eval_lib.evaluate(config, exp, state)
  for name, space in (('ppl_w', 'w'), ('ppl_z', 'z')):
    assert np.isfinite(out[name]['ppl_classifier']) and out[name]['ppl_classifier'] > 0
    assert out[name]['protocol']['space'] == space
    assert out[name]['protocol']['ema'] and out[name]['protocol']['truncation_psi'] == 1.0
  assert out['ppl_w']['protocol']['interpolation'] == 'lerp'
  assert out['ppl_w']['protocol']['sampling'] == 'end'


def test_a_generator_that_ignores_its_latent_has_ppl_and_diversity_zero(gan, classifier_path):
  config, exp, state = gan
  config = copy.deepcopy(config)
  params, collections = state.sampling_variables('generator')
  fixed = exp.functions['generate'](params, collections, jnp.zeros((1, config.latent_dim)), None)
  constant = dict(exp.functions, generate=lambda p, c, z, y: jnp.repeat(fixed, len(z), 0))
  frozen = types.SimpleNamespace(**{**vars(exp), 'functions': constant})
  frozen.num_classes = 0
  frozen.sample = lambda state, key, start, n, use_ema=True: jnp.repeat(fixed, n, 0)
  ev = perceptual.PathLengthEvaluator(
    config, exp.dataset, dict(num_samples=8, batch_size=8, classifier_path=classifier_path)
  )
  assert ev(frozen, state)['ppl_classifier'] == 0.0
  div = perceptual.DiversityEvaluator(
    config, exp.dataset, dict(num_pairs=8, classifier_path=classifier_path)
  )
  assert div(frozen, state)['diversity_classifier'] == 0.0
  # The real generator: independent samples differ.
  out = div(exp, state)
  assert out['diversity_classifier'] > 0
  assert out['protocol']['num_pairs'] == 8 and out['protocol']['images'] == 'quantized to uint8'


def test_lpips_distance_when_both_weight_files_are_given(gan, tmp_path, monkeypatch):
  config, exp, state = gan
  config = copy.deepcopy(config)
  # Random LPIPS weights stand in for the released files (the wiring is under test).
  vgg_file, lin_file = tmp_path / 'vgg16.pth', tmp_path / 'lin.pth'
  vgg_file.write_bytes(b'x')
  lin_file.write_bytes(b'x')
  shapes = jax.eval_shape(
    vgg16.VGG16Features().init, jax.random.PRNGKey(0), jnp.zeros((1, 16, 16, 3))
  )
  rng = np.random.default_rng(0)
  he = lambda s: rng.normal(0, np.sqrt(2 / np.prod(s.shape[:-1])), s.shape).astype(np.float32)
  features = jax.tree.map(he, shapes['params'])  # He-initialised kernels and biases.
  lin = {f'lin{k}': np.full([c], 0.1, np.float32) for k, c in enumerate((64, 128, 256, 512, 512))}
  fake = lpips.from_variables({'params': {'features': features}}, lin)
  monkeypatch.setattr(lpips, 'load', lambda vgg, lin_path: fake)
  opts = dict(num_samples=4, batch_size=4, vgg_weights=str(vgg_file), lpips_weights=str(lin_file))
  ev = perceptual.PathLengthEvaluator(config, exp.dataset, opts, exp=exp)
  out = ev(exp, state)
  assert set(out) == {'ppl', 'protocol'} and out['ppl'] > 0
  assert out['protocol']['distance'] == 'lpips'
  assert out['protocol']['vgg_weights'] == str(vgg_file)
  # PPL's unrounded path equals lpips' own uint8 distance on integer-valued images
  # (4 images: the shape PPL compiled for).
  a, b = rng.integers(0, 256, (2, 4, 16, 16, 1), dtype=np.uint8)
  want = fake(a, b)
  np.testing.assert_allclose(
    ev.distance(a.astype(np.float32), b.astype(np.float32)), want, rtol=1e-5
  )


def test_vgg16_features_give_precision_and_recall_vgg16(monkeypatch, classifier_path):
  # A cheap stand-in for the VGG16 network: the evaluator's wiring is under test.
  def fake_network(path):
    apply = lambda v, x: {'features': x.reshape(x.shape[0], -1).astype(jnp.float32) / 255}
    return features_lib.FeatureNetwork(
      'vgg16',
      apply,
      {},
      None,
      dict(feature_network='vgg16', vgg16_weights=path),
      'vgg16-test',
      False,
    )

  monkeypatch.setattr(features_lib, 'vgg16_network', fake_network)
  config = _config('dcgan.py', 'image_size=16,runlocal')
  ds = data.load(config)
  fragment = configs.sample_eval(
    features='vgg16', vgg_weights='/w/vgg16.pth', metrics=('precision_recall',), num_samples=60
  )
  fragment.update(num_reference=60, cache_dir=os.path.dirname(classifier_path))
  ev = samples_lib.SampleEvaluator(config, ds, fragment)
  x, _ = ds.get(reference_lib.reference_indices(ev.opts, ds))  # The reference set itself.
  exp = types.SimpleNamespace(
    config=config, num_classes=0, sample=lambda s, k, start, n, use_ema=True: x[start : start + n]
  )
  out = ev(exp, types.SimpleNamespace(ema={}, step=3))
  assert out['precision_vgg16'] == 1.0 and out['recall_vgg16'] == 1.0
  assert out['protocol']['feature_network'] == 'vgg16'
  assert out['protocol']['precision_recall_k'] == 3
  with pytest.raises(errors.UserInputError, match=r'config.evals.samples.vgg_weights'):
    samples_lib.SampleEvaluator(config, ds, configs.sample_eval(features='vgg16', metrics=('fid',)))
  with pytest.raises(errors.UserInputError, match=r'config.evals.samples.metrics: is need'):
    samples_lib.SampleEvaluator(
      config, ds, configs.sample_eval(features='vgg16', vgg_weights='/w/vgg16.pth')
    )


@pytest.mark.parametrize(
  'fragment, match',
  [
    (dict(space='u'), r'config.evals.bad.space=.u.'),
    (dict(sampling='mid'), r'config.evals.bad.sampling'),
    (dict(epsilon=-1e-4), r'config.evals.bad.epsilon must be a positive number'),
    (dict(epsilon=0), r'config.evals.bad.epsilon'),
    (dict(num_samples=0), r'config.evals.bad.num_samples must be >= 1'),
    (dict(batch_size=-1), r'config.evals.bad.batch_size'),
    (dict(vgg_weights='/a.pth'), r'config.evals.bad.vgg_weights is set but .*lpips_weights'),
    (dict(spaces='z'), r"Unknown field 'spaces' in config.evals.bad \(type ppl\)"),
  ],
)
def test_bad_ppl_options_name_the_key(fragment, match):
  config = ml_collections.ConfigDict(dict(evals={'bad': dict(type='ppl', **fragment)}))
  with pytest.raises(errors.UserInputError, match=match):
    eval_lib.check_options(config)


def test_bad_diversity_options_name_the_key():
  config = ml_collections.ConfigDict(dict(evals={'div': dict(type='diversity', num_pairs=0)}))
  with pytest.raises(errors.UserInputError, match=r'config.evals.div.num_pairs must be >= 1'):
    eval_lib.check_options(config)


def test_spaces_a_family_does_not_have_name_the_evaluator(gan, classifier_path):
  config, exp, _ = gan
  config = copy.deepcopy(config)
  config.evals.ppl_w = configs.ppl_eval(space='w', classifier_path=classifier_path)
  with pytest.raises(
    errors.UserInputError, match=r"config.evals.ppl_w.space='w'.*'gan' has no mapping"
  ):
    eval_lib.build(config, exp, names=['ppl_w'])
  latent_free = types.SimpleNamespace(**{**vars(exp), 'functions': {}})
  config.evals.ppl = configs.ppl_eval(classifier_path=classifier_path)
  config.family = 'ae'
  with pytest.raises(
    errors.UserInputError, match=r"config.evals.ppl \(type ppl\): family 'ae' has no latent"
  ):
    eval_lib.build(config, latent_free, names=['ppl'])
  config.family = 'gan'
  config.evals.ppl.crop = True
  with pytest.raises(errors.UserInputError, match=r'config.evals.ppl.crop=True needs LPIPS'):
    eval_lib.build(config, exp, names=['ppl'])
