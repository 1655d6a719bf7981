"""End-to-end runs of the spine: every experiment, TFDS, devices, resume, failures."""

import glob
import json
import os
import shutil
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
from gans import eval as eval_lib
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


def _final_params(workdir, spec='wgan_gp.py', overrides=()):
  config = _config(f'{spec}:runlocal')
  config.total_steps = 8
  for item in overrides:
    key, value = item[len('--config.') :].split('=')
    parent, _, leaf = key.rpartition('.')
    target = config
    for part in parent.split('.') if parent else ():
      target = target[part]
    target[leaf] = type(target[leaf])(value)
  exp = experiment.build(config, mesh=parallel.make_mesh(jax.devices()[:1]))
  state, _ = checkpoint_lib.Checkpoints(str(workdir)).restore(exp.init())
  return state


# The loop and checkpoints are family-agnostic: the GAN, one likelihood family and
# StyleGAN2's phases.
# StyleGAN2's runlocal run has both lazy regularizers on even steps: the resumed steps
# 3..7 cross the lazy steps 4 and 6. ADA's p (adjusted every 2 steps, fast enough to
# move) is part of the state that must survive.
_ADA = (
  '--config.ada.mode=adaptive',
  '--config.ada.p=0.25',
  '--config.ada.kimg=1.0',
  '--config.ada.interval=2',
)


@pytest.mark.parametrize(
  'spec, extra',
  [
    ('wgan_gp.py', ()),
    pytest.param('wgan_gp.py', _ADA, id='wgan_gp.py-ada'),
    pytest.param('vae.py', (), marks=pytest.mark.slow),
    pytest.param('stylegan2.py', (), marks=pytest.mark.slow),
  ],
)
def test_sigkill_and_resume_equals_uninterrupted_run(spec, extra, tmp_path):
  straight = _launch(tmp_path / 'straight', *extra, spec=spec)
  killed = _launch(tmp_path / 'killed', *extra, spec=spec)
  # Kill as soon as the step-3 checkpoint is complete (steps 4.. are in flight).
  deadline = time.time() + 300
  while not os.path.exists(tmp_path / 'killed/checkpoints/3/commit_success.txt'):
    assert killed.poll() is None, killed.stdout.read()
    assert time.time() < deadline
    time.sleep(0.05)
  killed.send_signal(signal.SIGKILL)
  killed.wait()
  assert straight.wait(timeout=300) == 0, straight.stdout.read()
  resumed = _launch(tmp_path / 'killed', *extra, spec=spec)
  out = resumed.communicate(timeout=300)[0]
  assert resumed.returncode == 0, out
  assert 'Resumed from step' in out
  # Rows the killed run logged after its checkpoint were dropped and logged again.
  for name in ('straight', 'killed'):
    steps = [json.loads(l)['step'] for l in open(tmp_path / name / 'metrics.jsonl')]
    assert steps == list(range(1, 9)), name
  a = _final_params(tmp_path / 'straight', spec, extra)
  b = _final_params(tmp_path / 'killed', spec, extra)
  assert int(a.step) == int(b.step) == 8
  if extra:
    assert float(a.extras['ada_p']) == float(b.extras['ada_p']) != 0.25
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


def _event_steps(logdir):
  """{tag: [step, ...]} of the scalars TensorBoard shows from the event files in `logdir`.

  Read with tensorboardX's protos (TFRecord framing: length, crc, data, crc). As in
  TensorBoard, a session-log START event at step s hides the events of the earlier
  files at steps >= s (the purge of a resumed run).
  """
  from tensorboardX.proto import event_pb2  # pylint: disable=g-import-not-at-top

  shown = {}
  for path in sorted(glob.glob(os.path.join(logdir, 'events.*'))):  # By time, as TensorBoard.
    data = open(path, 'rb').read()
    offset = 0
    while offset < len(data):
      length = int.from_bytes(data[offset : offset + 8], 'little')
      event = event_pb2.Event.FromString(data[offset + 12 : offset + 12 + length])
      offset += 12 + length + 4
      if event.HasField('session_log') and event.session_log.status == event.session_log.START:
        shown = {tag: [s for s in steps if s < event.step] for tag, steps in shown.items()}
      for value in event.summary.value:
        shown.setdefault(value.tag, []).append(event.step)
  return shown


def test_resume_drops_every_log_row_after_the_restored_step(tmp_path):
  """A run that logged steps 7-8 (and an eval at 8) after its last checkpoint at 6, then died.

  The kill is built by removing checkpoint 8 of a finished run and cutting a half-written
  row onto metrics.jsonl. Resumed, every log holds each step once, with the values of the
  uninterrupted run.
  """
  config = _config('toy.py:dataset=ring8,size=tiny,runlocal')
  config.total_steps, config.checkpoint_every, config.log_every = 8, 3, 1
  config.evals.samples.update(every=2, metrics=('fid',), num_samples=64, cache_dir=str(tmp_path))
  workdir = tmp_path / 'run'
  loop.train(config, str(workdir), hooks=eval_lib.hooks(config))
  straight = [json.loads(l) for l in open(workdir / 'metrics.jsonl')]
  straight_eval = [json.loads(l) for l in open(workdir / 'eval.jsonl')]
  assert [r['step'] for r in straight] == [1, 2, 2, 3, 4, 4, 5, 6, 6, 7, 8, 8]  # Losses, evals.
  shutil.rmtree(workdir / 'checkpoints' / '8')
  with open(workdir / 'metrics.jsonl', 'a') as f:
    f.write('{"step": 9, "d_lo')  # Killed while writing.
  time.sleep(1.1)  # Event file names hold the second they were created (and the pid).
  state = loop.train(config, str(workdir), hooks=eval_lib.hooks(config))
  assert int(state.step) == 8
  resumed = [json.loads(l) for l in open(workdir / 'metrics.jsonl')]
  assert [r['step'] for r in resumed] == [r['step'] for r in straight]
  for a, b in zip(resumed, straight):
    assert {k: v for k, v in a.items() if k != 'steps_per_second'} == {
      k: v for k, v in b.items() if k != 'steps_per_second'
    }
  evals = [json.loads(l) for l in open(workdir / 'eval.jsonl')]
  assert [r['step'] for r in evals] == [2, 4, 6, 8]
  assert evals[-1]['metrics'] == straight_eval[-1]['metrics']
  shown = _event_steps(workdir / 'tensorboard')
  assert shown['g_loss'] == list(range(1, 9))
  assert shown['eval/samples/fid_points'] == [2, 4, 6, 8]


def test_rerunning_a_finished_run_says_so_and_sample_output_gets_npz(tmp_path, caplog):
  config = _config('toy.py:dataset=ring8,size=tiny,runlocal')
  workdir = tmp_path / 'run'
  loop.train(config, str(workdir))
  files = lambda: sorted(
    (p, os.path.getmtime(p)) for p in glob.glob(str(workdir / '**'), recursive=True)
  )
  before = files()
  with caplog.at_level('INFO'):
    state = loop.train(config, str(workdir))
  assert int(state.step) == config.total_steps
  assert f'The run in {workdir} is finished: its checkpoint is at step 3 and' in caplog.text
  assert 'Resumed' not in caplog.text
  assert files() == before  # No new (empty) event file, no rewritten log.
  # --mode sample --output x/name writes x/name.npz and logs that path.
  caplog.clear()
  with caplog.at_level('INFO'):
    run.main(config, str(workdir), 'sample', num_samples=4, output=str(tmp_path / 'x/name'))
  written = tmp_path / 'x' / 'name.npz'
  assert np.load(written)['points'].shape == (4, 2)
  assert f'Wrote 4 samples from step 3 to {written}' in caplog.text
  assert os.listdir(tmp_path / 'x') == ['name.npz']


def test_sample_and_eval_on_a_missing_workdir_create_nothing(tmp_path):
  config = _config('dcgan.py:runlocal')
  for mode in ('sample', 'eval'):
    with pytest.raises(FileNotFoundError, match=f'No checkpoint in {tmp_path}/run/checkpoints; '):
      run.main(config, str(tmp_path / 'run'), mode, num_samples=4)
  assert os.listdir(tmp_path) == []
