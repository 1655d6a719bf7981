"""The cyclegan family: its losses on hand-worked values, the image pool's rule and its
exact restore from a checkpoint, the learning-rate schedule, validation, translating
files with --mode sample --input, a brief training that beats an untrained model on
label preservation, and SIGKILL / resume with a full pool."""

import json
import os
import signal
import subprocess
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gans import configs
from gans import data
from gans import errors
from gans import parallel
from gans import translate
from gans.data import images as image_lib
from gans.eval import translation
from gans.families import cyclegan
from gans.families.cyclegan import pool as pool_lib
from gans.train import checkpoint as checkpoint_lib
from gans.train import experiment
from gans.train import loop

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _config(arg='runlocal'):
  return configs.load_config_file(os.path.join(ROOT, 'experiments', 'cyclegan.py') + ':' + arg)


def _one_device():
  return parallel.make_mesh(jax.devices()[:1])


def _leaves(tree):
  return [np.asarray(x) for x in jax.tree.leaves(jax.device_get(tree))]


def test_losses_on_hand_worked_values():
  assert float(cyclegan.lsgan_generator(jnp.array([[0.5, 1.5], [1.0, 3.0]]))) == pytest.approx(
    (0.25 + 0.25 + 0.0 + 4.0) / 4
  )
  # 0.5 * [mean((1-1)^2, (0-1)^2) + mean(0^2, 1^2)] = 0.5 * (0.5 + 0.5).
  assert float(cyclegan.lsgan_discriminator(jnp.array([1.0, 0.0]), jnp.array([0.0, 1.0]))) == (
    pytest.approx(0.5)
  )
  x = jnp.array([[[[1.0], [-1.0]], [[0.5], [0.0]]]])  # [1, 2, 2, 1]
  rec = jnp.array([[[[0.0], [-1.0]], [[0.0], [0.5]]]])
  assert float(cyclegan.cycle_loss(x, rec)) == pytest.approx((1.0 + 0.0 + 0.5 + 0.5) / 4)
  assert float(cyclegan.identity_loss(x, rec)) == pytest.approx(0.5)
  terms = dict(adv_ab=1.0, adv_ba=2.0, cycle_a=0.1, cycle_b=0.2, identity_a=0.3, identity_b=0.4)
  # 1 + 2 + 10 * (0.1 + 0.2) + 0.5 * 10 * (0.3 + 0.4) = 3 + 3 + 3.5.
  assert cyclegan.generator_loss(terms, 10.0, 0.5) == pytest.approx(9.5)
  assert cyclegan.generator_loss(terms, 10.0, 0.0) == pytest.approx(6.0)


def test_learning_rate_is_constant_then_linear_to_zero():
  lr = cyclegan.learning_rate(2e-4, 100, 200)
  assert float(lr(0)) == float(lr(100)) == pytest.approx(2e-4)
  assert float(lr(150)) == pytest.approx(1e-4)
  assert float(lr(200)) == 0.0


def test_a_step_logs_its_terms_and_g_loss_is_their_weighted_sum():
  config = _config()
  exp = experiment.build(config, mesh=_one_device())
  state = exp.init()
  assert set(state.models) == {'generator_ab', 'generator_ba', 'discriminator_a', 'discriminator_b'}
  it = data.Batches(exp.dataset, config.batch_size, config.seed)
  _, batch = next(it)
  it.close()
  state, metrics = exp.train_step(state, parallel.to_global(batch, exp.mesh, 1))
  m = {k: float(v) for k, v in jax.device_get(metrics).items()}
  assert all(np.isfinite(v) for v in m.values()), m
  assert m['g_loss'] == pytest.approx(cyclegan.generator_loss(m, 10.0, 0.5), rel=1e-5)
  assert int(state.extras['pool_a']['count']) == int(state.extras['pool_b']['count']) == 16
  grids = exp.grids(state)
  assert set(grids) == {'a2b', 'b2a'} and grids['a2b'].shape == (3 * 33 + 1, 8 * 33 + 1, 1)


def test_pool_stores_and_returns_new_images_until_full():
  pool = pool_lib.init(5, (1, 1, 1))
  images = jnp.arange(1.0, 4.0).reshape(3, 1, 1, 1)
  pool, out = pool_lib.query(pool, images, jax.random.PRNGKey(0))
  np.testing.assert_array_equal(out, images)
  assert int(pool['count']) == 3
  np.testing.assert_array_equal(pool['images'][:3], images)
  pool, out = pool_lib.query(pool, images + 3, jax.random.PRNGKey(1))  # 4, 5 fill; 6 is drawn.
  np.testing.assert_array_equal(out[:2], images[:2] + 3)
  assert int(pool['count']) == 5
  # Image 6 met a full pool: it went out, or it took a stored image's place.
  everything = np.concatenate(
    [np.asarray(pool['images'])[:, 0, 0, 0], np.asarray(out)[2:, 0, 0, 0]]
  )
  np.testing.assert_array_equal(np.sort(everything), np.arange(1.0, 7.0))
  same, out = pool_lib.query(pool_lib.init(0, (1, 1, 1)), images, jax.random.PRNGKey(0))
  np.testing.assert_array_equal(out, images)


def test_full_pool_returns_a_stored_image_with_probability_one_half():
  size, n = 50, 4000
  pool = pool_lib.init(size, (1, 1, 1))
  pool, _ = pool_lib.query(
    pool, -jnp.arange(1.0, size + 1).reshape(size, 1, 1, 1), jax.random.PRNGKey(0)
  )
  new = jnp.arange(1.0, n + 1).reshape(n, 1, 1, 1)  # Positive: never in the pool before.
  before = np.asarray(pool['images'])
  pool, out = jax.jit(pool_lib.query)(pool, new, jax.random.PRNGKey(1))
  out = np.asarray(out)[:, 0, 0, 0]
  swapped = out != np.arange(1.0, n + 1)
  # Binomial(4000, 0.5): sd 0.0079; +-0.04 is 5 sd.
  assert abs(swapped.mean() - 0.5) < 0.04
  # A swapped image is one stored earlier (an initial one or an earlier new one), and
  # the pool keeps size images, each seen exactly once.
  seen = set(before[:, 0, 0, 0]) | set(range(1, n + 1))
  assert all(v in seen for v in out[swapped])
  stored = np.asarray(pool['images'])[:, 0, 0, 0]
  assert int(pool['count']) == size and len(set(stored)) == size
  # Every image went out once or stays stored: the multiset is conserved.
  everything = np.concatenate([out, stored])
  np.testing.assert_array_equal(
    np.sort(everything), np.sort(np.concatenate([before[:, 0, 0, 0], np.arange(1.0, n + 1)]))
  )


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
  """A runlocal run (3 steps of batch 16, pool 20: full after two) and its final state."""
  workdir = str(tmp_path_factory.mktemp('cyclegan'))
  config = _config()
  state = loop.train(config, workdir)
  return config, workdir, state


def test_pool_is_in_the_checkpoint_and_restored_exactly(trained):
  config, workdir, state = trained
  assert int(state.extras['pool_a']['count']) == config.pool_size == 20
  exp = experiment.build(config, mesh=_one_device())
  restored, position = checkpoint_lib.Checkpoints(workdir).restore(exp.init())
  assert position == config.total_steps
  for name in ('pool_a', 'pool_b'):
    for a, b in zip(_leaves(state.extras[name]), _leaves(restored.extras[name])):
      np.testing.assert_array_equal(a, b)
  assert np.abs(np.asarray(restored.extras['pool_b']['images'])).sum() > 0


def test_translate_files_from_npz_and_png_folder(trained, tmp_path):
  config, workdir, _ = trained
  digits = data.load(config, split='test')
  x = image_lib.to_uint8(digits.get(np.arange(5))[0])
  np.savez(tmp_path / 'in.npz', x=x)
  out = translate.translate_files(config, workdir, str(tmp_path / 'in.npz'), 'a2b')
  assert out['images'].shape == (5, 32, 32, 1) and out['images'].dtype == np.uint8
  with np.load(os.path.join(workdir, 'translations_a2b.npz')) as f:
    np.testing.assert_array_equal(f['images'], out['images'])
  assert len(os.listdir(os.path.join(workdir, 'translations_a2b'))) == 5
  folder = tmp_path / 'pngs'
  folder.mkdir()
  for i in range(3):  # 28x28 PNGs: resized to the model's 32x32.
    image_lib.save_png(folder / f'd{i}.png', np.full((28, 28, 1), 40 * i, np.uint8))
  out = translate.translate_files(
    config, workdir, str(folder), 'b2a', output=str(tmp_path / 'back')
  )
  assert out['images'].shape == (3, 32, 32, 1)
  assert sorted(os.listdir(tmp_path / 'back')) == ['d0.png', 'd1.png', 'd2.png']


def test_translate_files_refuses_bad_inputs_naming_file_and_shape(trained, tmp_path):
  config, workdir, _ = trained
  np.savez(tmp_path / 'flat.npz', x=np.zeros((4, 32), np.uint8))
  with pytest.raises(errors.UserInputError, match=r'flat\.npz.*shape \(4, 32\)'):
    translate.translate_files(config, workdir, str(tmp_path / 'flat.npz'))
  np.savez(tmp_path / 'rgb.npz', x=np.zeros((2, 32, 32, 3), np.uint8))
  with pytest.raises(errors.UserInputError, match=r'rgb\.npz.*\(32, 32, 3\).*takes 1'):
    translate.translate_files(config, workdir, str(tmp_path / 'rgb.npz'))
  np.savez(tmp_path / 'float.npz', x=np.zeros((2, 32, 32), np.float32))
  with pytest.raises(errors.UserInputError, match='float32 and shape'):
    translate.translate_files(config, workdir, str(tmp_path / 'float.npz'))
  with pytest.raises(errors.MissingInputError, match='does not exist'):
    translate.translate_files(config, workdir, str(tmp_path / 'none.npz'))


@pytest.mark.parametrize(
  'field, value, message',
  [
    ('dataset', 'mnist5k', 'two-domain'),
    ('pool_size', -1, 'pool_size'),
    ('lr_decay_start', 10, 'lr_decay_start'),
    ('crop_size', 64, 'crop_size'),
    ('cycle_weight', -1.0, 'cycle_weight'),
  ],
)
def test_validation_names_the_field(field, value, message):
  config = _config()
  config[field] = value
  with pytest.raises(errors.UserInputError, match=message):
    experiment.validate(config)


def test_paper_settings_validate():
  config = _config('dataset=horse2zebra')
  experiment.validate(config)
  assert config.dataset == 'cycle_gan/horse2zebra' and config.batch_size == 1
  assert (config.image_size, config.crop_size, config.flip) == (286, 256, True)
  assert config.generator.num_blocks == 9 and config.discriminator.n_layers == 3
  assert config.total_steps == 200 * 1334 and config.lr_decay_start == 100 * 1334
  assert config.pool_size == 50 and config.cycle_weight == 10.0 and config.identity_weight == 0.5
  assert (config.optimizer.lr, config.optimizer.b1) == (2e-4, 0.5)


def test_random_crop_and_flip():
  x = jnp.arange(2 * 6 * 6, dtype=jnp.float32).reshape(2, 6, 6, 1)
  y = cyclegan.random_crop_flip(x, jax.random.PRNGKey(0), 4, True)
  assert y.shape == (2, 4, 4, 1)
  for i in range(2):  # Each crop is a window of its image, possibly mirrored.
    windows = [np.asarray(x[i, t : t + 4, l : l + 4]) for t in range(3) for l in range(3)]
    got = np.asarray(y[i])
    assert any(np.array_equal(got, w) or np.array_equal(got, w[:, ::-1]) for w in windows)
  np.testing.assert_array_equal(cyclegan.center_crop(np.asarray(x), 4), x[:, 1:5, 1:5])


def test_brief_training_preserves_labels_well_above_an_untrained_model():
  # The offline default for 200 steps (~1 min here). Measured on these 180 A and 180 B
  # held-out digits: label preservation 0.48 (a2b) and 0.42 (b2a) after 200 steps, 0.10
  # and 0.13 untrained; chance is 0.1.
  config = _config('steps=200')
  exp = experiment.build(config, mesh=_one_device())
  state = exp.init()
  evaluator = translation.TranslationEvaluator(config, exp.dataset, dict(num_examples=180), exp=exp)
  untrained = evaluator(exp, state)
  it = data.Batches(exp.dataset, config.batch_size, config.seed)
  for _ in range(config.total_steps):
    _, batch = next(it)
    state, _ = exp.train_step(state, parallel.to_global(batch, exp.mesh, 1))
  it.close()
  trained = evaluator(exp, state)
  for direction in ('a2b', 'b2a'):
    key = f'{direction}/label_preservation'
    assert untrained[key] < 0.2 < 0.25 < trained[key], (untrained[key], trained[key])
    assert trained[f'{direction}/cycle_error'] < untrained[f'{direction}/cycle_error']
    assert trained[f'{direction}/fid_classifier'] < untrained[f'{direction}/fid_classifier']


def _launch(workdir):
  cmd = [
    sys.executable,
    os.path.join(ROOT, 'launch.py'),
    '--config',
    os.path.join(ROOT, 'experiments/cyclegan.py:runlocal'),
    '--workdir',
    str(workdir),
    '--config.total_steps=8',
    '--config.checkpoint_every=3',
    '--config.sample_every=100',
  ]
  env = dict(os.environ, XLA_FLAGS='', JAX_PLATFORMS='cpu')
  return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


@pytest.mark.slow
def test_sigkill_and_resume_with_a_full_pool_equals_uninterrupted_run(tmp_path):
  straight = _launch(tmp_path / 'straight')
  assert straight.wait(timeout=300) == 0, straight.stdout.read()
  killed = _launch(tmp_path / 'killed')
  # Kill once the step-3 checkpoint is complete: the pools (20 images, batch 16) are
  # full from step 2, so the resumed steps 4..8 draw stored images from the restored pool.
  deadline = time.time() + 300
  while not os.path.exists(tmp_path / 'killed/checkpoints/3/commit_success.txt'):
    assert killed.poll() is None, killed.stdout.read()
    assert time.time() < deadline
    time.sleep(0.05)
  killed.send_signal(signal.SIGKILL)
  killed.wait()
  resumed = _launch(tmp_path / 'killed')
  out = resumed.communicate(timeout=300)[0]
  assert resumed.returncode == 0, out
  assert 'Resumed from step' in out
  steps = [json.loads(l)['step'] for l in open(tmp_path / 'killed' / 'metrics.jsonl')]
  assert steps == list(range(1, 9))
  config = _config()
  config.total_steps = 8
  exp = experiment.build(config, mesh=_one_device())
  a, _ = checkpoint_lib.Checkpoints(str(tmp_path / 'straight')).restore(exp.init())
  b, _ = checkpoint_lib.Checkpoints(str(tmp_path / 'killed')).restore(exp.init())
  assert int(a.step) == int(b.step) == 8
  assert int(a.extras['pool_a']['count']) == 20
  for x, y in zip(_leaves(a), _leaves(b)):
    np.testing.assert_array_equal(x, y)


def test_tfds_setting_with_crop_and_flip_trains_under_mock_data():
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top

  config = _config('dataset=horse2zebra,runlocal')  # Loaded at 36, cropped to 32.
  with tfds.testing.mock_data(num_examples=8):
    exp = experiment.build(config, mesh=_one_device())
    it = data.Batches(exp.dataset, config.batch_size, config.seed)
    _, batch = next(it)
    it.close()
    assert batch['x'].shape == batch['x_b'].shape == (1, 16, 36, 36, 3)
    state = exp.init()
    state, metrics = exp.train_step(state, parallel.to_global(batch, exp.mesh, 1))
    assert np.isfinite(float(metrics['g_loss']))
    assert state.extras['pool_a']['images'].shape == (20, 32, 32, 3)
    grids = exp.grids(state)
  assert grids['a2b'].shape == (3 * 33 + 1, 8 * 33 + 1, 3)


def _test_evaluate_module():
  """tests/test_evaluate.py (tests are not a package): its small Inception stand-in."""
  import importlib.util  # pylint: disable=g-import-not-at-top

  path = os.path.join(ROOT, 'tests', 'test_evaluate.py')
  spec = importlib.util.spec_from_file_location('_gans_tests_cyclegan_evaluate', path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def test_inception_features_give_fid_per_direction(tmp_path, monkeypatch):
  # The Inception path of the evaluator (the TFDS settings' FID) with the weights reader
  # and network replaced by a small random projection: the file named in the fragment is
  # read, the numbers carry the standard name 'fid', and label preservation (which needs
  # a digit classifier) is left out.
  seen = []
  _test_evaluate_module()._small_inception(monkeypatch, seen)
  weights = tmp_path / 'inception.pth'
  weights.write_bytes(b'weights')
  config = _config()
  exp = experiment.build(config, mesh=_one_device())
  opts = dict(num_examples=64, features='inception', inception_weights=str(weights))
  evaluator = translation.TranslationEvaluator(config, exp.dataset, opts, exp=exp)
  with pytest.warns(UserWarning, match='not pytorch-fid'):
    result = evaluator(exp, exp.init())
  assert seen == [str(weights)]
  for d in ('a2b', 'b2a'):
    assert {f'{d}/fid', f'{d}/identity_fid', f'{d}/cycle_error'} <= set(result)
    assert np.isfinite(result[f'{d}/fid']) and result[f'{d}/fid'] > 0
    assert f'{d}/label_preservation' not in result and f'{d}/fid_classifier' not in result
  assert result['protocol']['feature_networks']['a2b']['feature_network'] == 'inception'
