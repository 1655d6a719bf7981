"""The ProGAN family: the resolution schedule, the losses, one compilation per
resolution, frozen layers before their phase, Adam resets, and an exact resume in the
middle of a fade-in (stopped, and SIGKILLed)."""

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
from gans import parallel
from gans.families import progan
from gans.families.progan import schedule as schedule_lib
from gans.families.progan import step as step_lib
from gans.nets import progan as progan_nets
from gans.train import checkpoint as checkpoint_lib
from gans.train import experiment
from gans.train import loop

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _config(arg='runlocal'):
  return configs.load_config_file(os.path.join(ROOT, 'experiments', 'progan.py') + ':' + arg)


def _leaves(tree):
  return [np.asarray(x) for x in jax.tree.leaves(jax.device_get(tree))]


def test_offline_schedule_hits_its_boundaries_at_the_stated_image_counts():
  c = _config('')
  s = progan.schedule_of(c)
  assert (s.batch_size, s.stabilize_images, s.fade_images) == (16, 8_000, 8_000)
  # Segment starts in images: stabilize 4 at 0, fade-in 8 at 8k, stabilize 8 at 16k...
  assert s.boundaries() == [
    (0, 4, 'stabilize'),
    (8_000, 8, 'fade'),
    (16_000, 8, 'stabilize'),
    (24_000, 16, 'fade'),
    (32_000, 16, 'stabilize'),
    (40_000, 32, 'fade'),
    (48_000, 32, 'stabilize'),
  ]
  # 16 images a step: step 500 is the first at 8k images, and so on (the docstring).
  want = {0: (4, 1.0), 499: (4, 1.0), 500: (8, 0.0), 750: (8, 0.5), 999: (8, 499 / 500)}
  want.update({1000: (8, 1.0), 1500: (16, 0.0), 2500: (32, 0.0), 3000: (32, 1.0)})
  want.update({3499: (32, 1.0), 10**6: (32, 1.0)})
  for step, (r, alpha) in want.items():
    assert s.at_step(step) == (r, pytest.approx(alpha, abs=1e-7)), step
  assert [s.phase(t) for t in (499, 500, 1499, 1500, 2499, 2500)] == [
    'res4',
    'res8',
    'res8',
    'res16',
    'res16',
    'res32',
  ]
  assert s.growth_images == 48_000 and s.first_step_at(s.growth_images) == 3000


def test_schedule_boundaries_between_steps_and_the_paper_setting():
  # 100 images per stabilize phase, 50 per fade-in, 16 per step: the fade-in of 8 starts
  # at image 100, i.e. with step 7 (images 112 before it: alpha 12 / 50).
  s = schedule_lib.Schedule(start=4, final=16, stabilize_images=100, fade_images=50, batch_size=16)
  assert [s.at_step(t)[0] for t in range(6, 10)] == [4, 8, 8, 8]
  assert s.at_step(7)[1] == pytest.approx(12 / 50) and s.at_step(9)[1] == pytest.approx(44 / 50)
  assert s.at_step(10) == (8, 1.0)  # 160 images: past the fade-in's 150.
  assert s.first_step_at(s.fade_start(16)) == 16  # 250 images: step 16 (256).
  assert s.at_step(16) == (16, pytest.approx(6 / 50))
  # The paper's CelebA-HQ schedule: 800k + 800k, 4 -> 1024; 1024 is fully in at 12.8M.
  paper = schedule_lib.Schedule(4, 1024, 800_000, 800_000, 16)
  assert paper.fade_start(8) == 800_000 and paper.stabilize_start(8) == 1_600_000
  assert paper.fade_start(1024) == 12_000_000 and paper.growth_images == 12_800_000
  assert paper.resolution_at(11_999_999) == 512 and paper.resolution_at(12_000_000) == 1024
  # The segment index (Adam resets) changes exactly at the boundaries.
  segs = [paper.segment(i) for i in (0, 799_999, 800_000, 1_599_999, 1_600_000, 10**9)]
  assert segs == [0, 0, 1, 1, 2, 16]
  # The traced alpha and segment equal the host's.
  for images in (0, 799_984, 800_000, 1_234_560, 1_599_984, 2_400_000):
    r = paper.resolution_at(images)
    assert float(paper.fade_alpha(jnp.int32(images), r)) == paper.fade_alpha(images, r)
    assert int(paper.segment(jnp.int32(images))) == paper.segment(images)


def test_schedule_refuses_bad_settings():
  c = _config('')
  c.fade_kimg = 0.0
  with pytest.raises(ValueError, match='fade_kimg'):
    progan.validate(c)
  c = _config('')
  c.start_resolution = 64
  with pytest.raises(ValueError, match='start resolution'):
    progan.validate(c)
  c = _config('')
  c.conditional, c.num_classes = True, 10
  with pytest.raises(ValueError, match='unconditional'):
    progan.validate(c)


def test_discriminator_loss_and_penalty_by_hand():
  real = jnp.array([1.0, 3.0])
  fake = jnp.array([-1.0, 0.5])
  # mean(fake) - mean(real) = -0.25 - 2 = -2.25; drift 0.001 * (1 + 9) / 2 = 0.005.
  loss = step_lib.discriminator_loss(real, fake, 0.3, 10.0, 0.001)
  assert float(loss) == pytest.approx(-2.25 + 3.0 + 0.005)
  # A linear critic <w, x> has gradient w everywhere: penalty (||w|| - t)^2 / t^2.
  w = jnp.array([[3.0, 4.0]])  # ||w|| = 5.
  critic = lambda v: jnp.sum(v.reshape(v.shape[0], -1) * w.reshape(1, -1), axis=1)
  x = jnp.ones((4, 1, 2))
  key = jax.random.PRNGKey(0)
  assert float(step_lib.gradient_penalty(critic, x, -x, key)) == pytest.approx(16.0)
  assert float(step_lib.gradient_penalty(critic, x, -x, key, 10.0)) == pytest.approx(0.25)


def test_real_images_are_pooled_to_the_resolution_and_faded():
  s = schedule_lib.Schedule(4, 16, 100, 100, 4)
  x = jax.random.normal(jax.random.PRNGKey(0), (2, 16, 16, 1))
  x8 = np.asarray(x).reshape(2, 8, 2, 8, 2, 1).mean(axis=(2, 4))
  np.testing.assert_allclose(step_lib.real_images(x, 8, 1.0, s), x8, rtol=1e-5, atol=1e-6)
  x4 = x8.reshape(2, 4, 2, 4, 2, 1).mean(axis=(2, 4)).repeat(2, 1).repeat(2, 2)
  np.testing.assert_allclose(step_lib.real_images(x, 8, 0.0, s), x4, rtol=1e-5, atol=1e-6)
  # The start resolution has no fade-in: alpha is ignored.
  np.testing.assert_allclose(
    step_lib.real_images(x, 4, 0.0, s), x4[:, ::2, ::2], rtol=1e-5, atol=1e-6
  )


class _StopAt:
  """A loop hook that sends SIGTERM to this process at step `every` (a stopped run)."""

  def __init__(self, every):
    self.every = every

  def __call__(self, state):
    del state
    os.kill(os.getpid(), signal.SIGTERM)
    return {}


@pytest.fixture(scope='module')
def manual(monkeypatch_module):
  """runlocal's 4 steps taken by hand (res4, fade-in at 0.25 and 0.75, res8 at 1), the
  states after each (host copies), and the number of traces of each phase's step."""
  traces = {}
  make = step_lib.make_train_step

  def counting(config, generator, discriminator, tx, schedule, resolution):
    step = make(config, generator, discriminator, tx, schedule, resolution)

    def traced(state, batch):
      traces[resolution] = traces.get(resolution, 0) + 1
      return step(state, batch)

    return traced

  monkeypatch_module.setattr(step_lib, 'make_train_step', counting)
  c = _config()
  exp = experiment.build(c)
  it = data.Batches(exp.dataset, c.batch_size, c.seed)
  state = exp.init()
  states = [jax.device_get(state)]
  phases = []
  for i in range(c.total_steps):
    phases.append(exp.phase(i))
    state, _ = exp.steps[exp.phase(i)](state, parallel.to_global(next(it)[1], exp.mesh, 1))
    states.append(jax.device_get(state))
  it.close()
  return c, exp, states, phases, traces


@pytest.fixture(scope='module')
def monkeypatch_module():
  mp = pytest.MonkeyPatch()
  yield mp
  mp.undo()


def test_one_compilation_per_resolution(manual):
  _, exp, _, phases, traces = manual
  assert phases == ['res4', 'res8', 'res8', 'res8']  # alpha 1, 0.25, 0.75, 1.
  assert sorted(exp.steps) == ['res4', 'res8']
  assert traces == {4: 1, 8: 1}


def _changed(a, b):
  return any(np.any(x != y) for x, y in zip(_leaves(a), _leaves(b)))


def test_layers_train_only_from_their_phase_and_adam_resets(manual):
  _, _, states, _, _ = manual
  g = [s.models['generator'].params for s in states]
  d = [s.models['discriminator'].params for s in states]
  # Step 0 (4x4): the 8x8 layers get zero gradients and Adam leaves them as they were.
  for name in ('b8_conv0', 'b8_conv1', 'torgb8'):
    assert not _changed(g[0][name], g[1][name]), name
  for name in ('b8_conv0', 'b8_conv1', 'fromrgb8'):
    assert not _changed(d[0][name], d[1][name]), name
  for name in ('b4_conv', 'torgb4'):
    assert _changed(g[0][name], g[1][name]), name
  # Fade-in steps train both the new block and the old toRGB / fromRGB.
  for name in ('b8_conv0', 'torgb8', 'torgb4'):
    assert _changed(g[1][name], g[2][name]), name
  for name in ('b8_conv0', 'fromrgb8', 'fromrgb4'):
    assert _changed(d[1][name], d[2][name]), name
  # At alpha 1 (step 3) the old toRGB / fromRGB are out of the network.
  assert not _changed(g[3]['torgb4'], g[4]['torgb4'])
  assert not _changed(d[3]['fromrgb4'], d[4]['fromrgb4'])
  # Adam's moments restart at the fade-in (step 1) and at the stabilize phase (step 3).
  counts = [int(jax.tree.leaves(s.models['generator'].opt_state)[0]) for s in states[1:]]
  assert counts == [1, 1, 2, 1]
  # The EMA of G moved towards G (decay 0.999).
  ema, now, before = states[4].ema['generator']['params'], g[4], g[3]
  assert _changed(ema, g[0]) and _changed(ema, now)
  del before


def test_samples_are_the_current_resolution_upsampled(manual):
  c, exp, states, _, _ = manual
  key = jax.random.PRNGKey(0)
  at0 = np.asarray(exp.sample(states[0], key, 0, 4))
  assert at0.shape == (4, 8, 8, 1)
  np.testing.assert_array_equal(at0, progan_nets.upsample(at0[:, ::2, ::2]))
  # At the start of the fade-in (step 1: alpha 0.25) the image is not blocky.
  mid = np.asarray(exp.sample(states[2], key, 0, 4))
  assert np.abs(mid - np.asarray(progan_nets.upsample(mid[:, ::2, ::2]))).max() > 1e-4
  assert exp.grids(states[4])['samples'].dtype == np.uint8
  del c


def test_resume_in_the_middle_of_a_fade_in_is_exact(manual, tmp_path):
  c, _, states, _, _ = manual
  workdir = str(tmp_path / 'run')
  # Stopped after step 1 of the fade-in (alpha 0.25); the next step has alpha 0.75.
  stopped = loop.train(c, workdir, hooks=lambda exp, w: [_StopAt(2)])
  assert int(stopped.step) == 2
  assert checkpoint_lib.Checkpoints(workdir).latest_step() == 2
  resumed = loop.train(c, workdir)
  assert int(resumed.step) == c.total_steps
  for a, b in zip(_leaves(states[-1]), _leaves(resumed)):
    np.testing.assert_array_equal(a, b)
  rows = [json.loads(line) for line in open(os.path.join(workdir, 'metrics.jsonl'))]
  rows = [r for r in rows if 'alpha' in r]  # Not the stop hook's empty row.
  # The logged alpha (computed in the compiled step) is the host schedule's.
  s = progan.schedule_of(c)
  assert [(r['step'], r['resolution'], r['alpha']) for r in rows] == [
    (t + 1, float(s.at_step(t)[0]), s.at_step(t)[1]) for t in range(c.total_steps)
  ]


def _launch(workdir):
  """launch.py on the runlocal ProGAN, checkpointing every step (a subprocess)."""
  cmd = [
    sys.executable,
    os.path.join(ROOT, 'launch.py'),
    '--config',
    os.path.join(ROOT, 'experiments/progan.py:runlocal'),
    '--workdir',
    str(workdir),
    '--config.checkpoint_every=1',
    '--config.sample_every=100',
  ]
  env = dict(os.environ, XLA_FLAGS='', JAX_PLATFORMS='cpu')
  return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


@pytest.mark.slow
def test_sigkill_in_the_middle_of_a_fade_in_and_resume_equals_uninterrupted_run(tmp_path):
  straight = _launch(tmp_path / 'straight')
  assert straight.wait(timeout=600) == 0, straight.stdout.read()
  killed = _launch(tmp_path / 'killed')
  # Killed once the step-2 checkpoint (after the fade-in step at alpha 0.25) is complete:
  # the resumed run takes the alpha 0.75 step from the restored state.
  deadline = time.time() + 600
  while not os.path.exists(tmp_path / 'killed/checkpoints/2/commit_success.txt'):
    assert killed.poll() is None, killed.stdout.read()
    assert time.time() < deadline
    time.sleep(0.05)
  killed.send_signal(signal.SIGKILL)
  killed.wait()
  # Killed before the 8x8 stabilize phase (its own compilation) could finish.
  assert checkpoint_lib.Checkpoints(str(tmp_path / 'killed')).latest_step() in (2, 3)
  resumed = _launch(tmp_path / 'killed')
  out = resumed.communicate(timeout=600)[0]
  assert resumed.returncode == 0, out
  assert 'Resumed from step' in out
  rows = [json.loads(line) for line in open(tmp_path / 'killed' / 'metrics.jsonl')]
  assert [r['step'] for r in rows if 'alpha' in r] == [1, 2, 3, 4]
  config = _config()
  exp = experiment.build(config, mesh=parallel.make_mesh(jax.devices()[:1]))
  a, _ = checkpoint_lib.Checkpoints(str(tmp_path / 'straight')).restore(exp.init())
  b, _ = checkpoint_lib.Checkpoints(str(tmp_path / 'killed')).restore(exp.init())
  assert int(a.step) == int(b.step) == config.total_steps
  for x, y in zip(_leaves(a), _leaves(b)):
    np.testing.assert_array_equal(x, y)
