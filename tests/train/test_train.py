"""End-to-end runs of the spine: every experiment, TFDS, devices, resume, failures."""

import glob
import json
import os
import signal
import subprocess
import sys
import time

import jax
import ml_collections
import numpy as np
import pytest
import tensorflow_datasets as tfds

from gans import configs
from gans import data
from gans import parallel
from gans import run
from gans.train import checkpoint as checkpoint_lib
from gans.train import experiment
from gans.train import loop

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# Every GAN experiment; classifier.py is the offline feature network's recipe
# (tested in tests/metrics/test_classifier.py).
EXPERIMENTS = sorted(
  p
  for p in glob.glob(os.path.join(ROOT, 'experiments', '*.py'))
  if os.path.basename(p) != 'classifier.py'
)


def _config(spec):
  return configs.load_config_file(os.path.join(ROOT, 'experiments', spec))


def _leaves(tree):
  return [np.asarray(x) for x in jax.tree.leaves(jax.device_get(tree))]


@pytest.mark.parametrize('path', EXPERIMENTS, ids=os.path.basename)
def test_every_experiment_runs_under_runlocal(path, tmp_path):
  config = configs.load_config_file(path + ':runlocal')
  state = loop.train(config, str(tmp_path))
  assert int(state.step) == config.total_steps
  records = [json.loads(l) for l in open(tmp_path / 'metrics.jsonl')]
  assert [r['step'] for r in records] == list(range(1, config.total_steps + 1))
  assert all(np.isfinite(v) for r in records for v in r.values())
  if config.get('family', 'gan') in ('gan', 'vae_gan'):
    assert all('d_loss' in r for r in records)
  assert glob.glob(str(tmp_path / 'samples' / '*.png'))
  assert glob.glob(str(tmp_path / 'tensorboard' / 'events.*'))
  assert json.load(open(tmp_path / 'config.json'))['dataset'] == config.dataset
  assert checkpoint_lib.Checkpoints(str(tmp_path)).latest_step() == config.total_steps


def test_tfds_run_under_mock_data(tmp_path):
  config = _config('wgan_gp.py:dataset=cifar10,runlocal')
  with tfds.testing.mock_data(num_examples=40):
    state = loop.train(config, str(tmp_path))
  assert int(state.step) == config.total_steps
  # A 3-channel generator was built for the CIFAR-10 images (kernel H, W, in, out).
  assert state.models['generator'].params['out']['kernel'].shape == (4, 4, 8, 3)


def _run_steps(config, mesh, batches):
  exp = experiment.build(config, mesh=mesh)
  state = exp.init()
  for batch in batches:
    state, _ = exp.train_step(state, parallel.to_global(batch, mesh, 1))
  return state


@pytest.mark.parametrize('spec', ['wgan_gp.py:runlocal', 'dcgan.py:runlocal'])
def test_one_device_and_eight_devices_agree(spec):
  assert jax.device_count() == 8, 'tests/conftest.py forces 8 CPU devices'
  config = _config(spec)
  ds = data.load(config)
  it = data.Batches(ds, config.batch_size, config.seed, group=config.n_critic)
  batches = [next(it)[1] for _ in range(3)]
  it.close()
  one = _run_steps(config, parallel.make_mesh(jax.devices()[:1]), batches)
  eight = _run_steps(config, parallel.make_mesh(jax.devices()), batches)
  # Parameters and collections agree to float32 reduction-order noise. Adam's moments
  # are compared relative to their scale: batch norm in D amplifies that noise there.
  for name in one.models:
    for part in ('params', 'collections'):
      for a, b in zip(
        _leaves(getattr(one.models[name], part)), _leaves(getattr(eight.models[name], part))
      ):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5, err_msg=f'{name} {part}')
    for a, b in zip(_leaves(one.models[name].opt_state), _leaves(eight.models[name].opt_state)):
      assert np.abs(a - b).max() <= 5e-3 * max(np.abs(a).max(), 1e-3)
  for a, b in zip(_leaves(one.ema), _leaves(eight.ema)):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5, err_msg='ema')
  # The steps changed the parameters, so agreement is not trivial.
  initial = _run_steps(config, parallel.make_mesh(jax.devices()[:1]), [])
  assert not np.allclose(
    _leaves(one.models['generator'].params)[0], _leaves(initial.models['generator'].params)[0]
  )


def _launch(workdir, *extra, spec='wgan_gp.py', **popen):
  cmd = [
    sys.executable,
    os.path.join(ROOT, 'launch.py'),
    '--config',
    os.path.join(ROOT, f'experiments/{spec}:runlocal'),
    '--workdir',
    str(workdir),
    '--config.total_steps=8',
    '--config.checkpoint_every=3',
    '--config.sample_every=100',
    *extra,
  ]
  env = dict(os.environ, XLA_FLAGS='', JAX_PLATFORMS='cpu')
  return subprocess.Popen(
    cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **popen
  )


def _final_params(workdir, spec='wgan_gp.py'):
  config = _config(f'{spec}:runlocal')
  config.total_steps = 8
  exp = experiment.build(config, mesh=parallel.make_mesh(jax.devices()[:1]))
  state, _ = checkpoint_lib.Checkpoints(str(workdir)).restore(exp.init())
  return state


# The loop and checkpoints are family-agnostic: the GAN and one likelihood family.
@pytest.mark.parametrize('spec', ['wgan_gp.py', pytest.param('vae.py', marks=pytest.mark.slow)])
def test_sigkill_and_resume_equals_uninterrupted_run(spec, tmp_path):
  straight = _launch(tmp_path / 'straight', spec=spec)
  killed = _launch(tmp_path / 'killed', spec=spec)
  # Kill as soon as the step-3 checkpoint is complete (steps 4.. are in flight).
  deadline = time.time() + 300
  while not os.path.exists(tmp_path / 'killed/checkpoints/3/commit_success.txt'):
    assert killed.poll() is None, killed.stdout.read()
    assert time.time() < deadline
    time.sleep(0.05)
  killed.send_signal(signal.SIGKILL)
  killed.wait()
  assert straight.wait(timeout=300) == 0, straight.stdout.read()
  resumed = _launch(tmp_path / 'killed', spec=spec)
  out = resumed.communicate(timeout=300)[0]
  assert resumed.returncode == 0, out
  assert 'Resumed from step' in out
  a = _final_params(tmp_path / 'straight', spec)
  b = _final_params(tmp_path / 'killed', spec)
  assert int(a.step) == int(b.step) == 8
  for x, y in zip(_leaves(a), _leaves(b)):
    np.testing.assert_array_equal(x, y)


def test_sigterm_saves_a_checkpoint_and_resume_finishes(tmp_path):
  proc = _launch(tmp_path, '--config.total_steps=100000', '--config.checkpoint_every=100000')
  deadline = time.time() + 300
  while not os.path.exists(tmp_path / 'metrics.jsonl'):
    assert proc.poll() is None and time.time() < deadline
    time.sleep(0.05)
  proc.send_signal(signal.SIGTERM)
  out = proc.communicate(timeout=120)[0]
  assert proc.returncode == 0, out
  assert 'Stopped by signal' in out
  step = checkpoint_lib.Checkpoints(str(tmp_path)).latest_step()
  assert step is not None and step >= 1


def test_mismatched_checkpoint_is_refused_and_kept(tmp_path):
  config = _config('wgan_gp.py:runlocal')
  loop.train(config, str(tmp_path))
  before = sorted(os.listdir(tmp_path / 'checkpoints'))
  other = _config('wgan_gp.py:runlocal')
  other.generator.width = 16
  with pytest.raises(
    checkpoint_lib.CheckpointMismatchError,
    match=r'models/generator/params/out/kernel has shape \(4, 4, 8, 1\) in the checkpoint '
    r'but \(4, 4, 16, 1\)',
  ):
    loop.train(other, str(tmp_path))
  assert sorted(os.listdir(tmp_path / 'checkpoints')) == before


class _PoisonedRing:
  """ring8 whose batches turn to NaN from the `after`-th batch on."""

  def __init__(self, after):
    base = data.load(ml_collections.ConfigDict(dict(dataset='ring8', image_size=32)))
    self.base, self.after, self.calls = base, after, 0
    self.dataset = data.Dataset(
      'ring8', base.num_examples, base.example_shape, 8, self.get, base.extra
    )

  def get(self, indices):
    x, y = self.base.get(indices)
    self.calls += 1
    return (x * np.nan if self.calls > self.after else x), y


def test_non_finite_loss_stops_and_keeps_last_good_checkpoint(tmp_path):
  config = _config('wgan_gp.py:runlocal')
  config.dataset = 'ring8'
  config.generator = configs.net('mlp', hidden=(16,))
  config.discriminator = configs.net('mlp', hidden=(16,))
  config.total_steps, config.checkpoint_every, config.log_every = 6, 2, 1
  poisoned = _PoisonedRing(after=2 * config.n_critic)  # Steps 1-2 clean, 3 is NaN.
  with pytest.raises(loop.NonFiniteLossError, match=r'is nan at step 3'):
    loop.train(config, str(tmp_path), dataset=poisoned.dataset)
  ckpts = checkpoint_lib.Checkpoints(str(tmp_path))
  assert ckpts.latest_step() == 2


def test_bad_override_key_fails_naming_it(tmp_path):
  proc = _launch(tmp_path, '--config.no_such_key=3')
  out = proc.communicate(timeout=120)[0]
  assert proc.returncode != 0 and 'no_such_key' in out


def test_sample_mode_writes_uint8_images_deterministically(tmp_path):
  config = _config('dcgan.py:runlocal')
  loop.train(config, str(tmp_path))
  a = run.main(config, str(tmp_path), 'sample', num_samples=10, output=str(tmp_path / 'a.npz'))[
    'images'
  ]
  b = np.load(tmp_path / 'a.npz')['images']
  assert a.dtype == np.uint8 and a.shape == (10, 32, 32, 1)
  np.testing.assert_array_equal(a, b)
  c = run.main(config, str(tmp_path), 'sample', num_samples=10, output=str(tmp_path / 'c.npz'))[
    'images'
  ]
  np.testing.assert_array_equal(a, c)
  assert a.std() > 0
