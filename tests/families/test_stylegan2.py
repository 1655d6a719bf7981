"""The StyleGAN2 family: lazy phases, path length, R1, mixing, EMA, truncation, resume."""

import json
import os

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from gans import configs
from gans import data
from gans import parallel
from gans.analysis import style_mixing as style_mixing_cli
from gans.families import stylegan2
from gans.families.stylegan2 import step as step_lib
from gans.train import experiment
from gans.train import loop

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _config(arg='runlocal'):
  return configs.load_config_file(os.path.join(ROOT, 'experiments', 'stylegan2.py') + ':' + arg)


def test_lazy_phases_run_on_the_right_steps():
  c = _config('')
  assert (c.pl_interval, c.r1_interval) == (4, 16)
  phases = [step_lib.phase_name(s, c) for s in range(33)]
  for s, p in enumerate(phases):
    want = 'both_reg' if s % 16 == 0 else 'g_reg' if s % 4 == 0 else 'main'
    assert p == want, s
  c.pl_weight = 0.0  # stylegan2-ada's cifar: no path-length phase at all.
  assert {step_lib.phase_name(s, c) for s in range(33)} == {'main', 'd_reg'}
  assert [s for s in range(33) if step_lib.phase_name(s, c) == 'd_reg'] == [0, 16, 32]
  c.r1_gamma = 0.0
  assert {step_lib.phase_name(s, c) for s in range(33)} == {'main'}


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
  """A runlocal run of 5 steps (phases both_reg, main, both_reg, main, both_reg)."""
  workdir = tmp_path_factory.mktemp('stylegan2_run')
  c = _config()
  c.total_steps = 5
  loop.train(c, str(workdir))
  return c, workdir


def test_training_logs_each_regularizer_on_its_steps(trained):
  c, workdir = trained
  rows = [json.loads(l) for l in open(workdir / 'metrics.jsonl')]
  assert [r['step'] for r in rows] == list(range(1, 6))
  # The row of step s + 1 holds step s's metrics; runlocal: both regularizers every 2.
  assert [r['step'] - 1 for r in rows if 'pl_penalty' in r] == [0, 2, 4]
  assert [r['step'] - 1 for r in rows if 'r1' in r] == [0, 2, 4]
  assert all(np.isfinite(v) for r in rows for v in r.values())


def test_lazy_regularization_adjusts_lr_and_betas():
  cfg = configs.optimizer('adam', lr=0.002, b1=0.0, b2=0.99, eps=1e-8)
  lazy = stylegan2.lazy_optimizer(cfg, 16)
  assert lazy.lr == pytest.approx(0.002 * 16 / 17)
  assert lazy.b2 == pytest.approx(0.99 ** (16 / 17))
  assert lazy.b1 == 0.0 and lazy.eps == 1e-8
  assert cfg.lr == 0.002  # The config itself is untouched.


def test_path_lengths_of_a_linear_synthesis():
  rng = np.random.default_rng(0)
  a = jnp.asarray(rng.normal(size=(3, 5, 4, 4, 2)), jnp.float32)  # [layers, w, H, W, C]
  synth = lambda ws: jnp.einsum('nlw,lwhxc->nhxc', ws, a)
  ws = jnp.asarray(rng.normal(size=(6, 3, 5)), jnp.float32)
  key = jax.random.PRNGKey(7)
  lengths, images = step_lib.path_lengths(synth, ws, key)
  y = np.asarray(jax.random.normal(key, images.shape)) / np.sqrt(4 * 4)
  jt_y = np.einsum('nhxc,lwhxc->nlw', y, np.asarray(a))  # J^T y per layer.
  want = np.sqrt(np.mean(np.sum(jt_y**2, axis=2), axis=1))
  np.testing.assert_allclose(lengths, want, rtol=1e-5)


def test_r1_penalty_is_the_squared_input_gradient():
  w = jnp.asarray(np.random.default_rng(0).normal(size=(4, 4, 1)), jnp.float32)
  d = lambda x: jnp.sum(x * w, axis=(1, 2, 3)) + jnp.sum(x**2, axis=(1, 2, 3))
  x = jnp.asarray(np.random.default_rng(1).normal(size=(3, 4, 4, 1)), jnp.float32)
  want = np.sum((np.asarray(w) + 2 * np.asarray(x)) ** 2, axis=(1, 2, 3))
  np.testing.assert_allclose(step_lib.r1_penalty(d, x), want, rtol=1e-5)


def test_mixing_replaces_only_the_layers_from_the_cutoff():
  ws = jnp.zeros((2, 8, 3))
  ws2 = jnp.ones((2, 8, 3))
  mixed = np.asarray(step_lib.mix_styles(ws, ws2, 5))
  np.testing.assert_array_equal(mixed[:, :5], 0.0)
  np.testing.assert_array_equal(mixed[:, 5:], 1.0)
  np.testing.assert_array_equal(step_lib.mix_styles(ws, ws2, 8), ws)  # No mixing.


def _build(c):
  exp = experiment.build(c, mesh=parallel.make_mesh(jax.devices()[:1]))
  it = data.Batches(exp.dataset, c.batch_size, c.seed, group=exp.batch_group)
  batch = parallel.to_global(next(it)[1], exp.mesh, 1)
  it.close()
  return exp, exp.init(), batch


def test_path_length_mean_updates_as_defined():
  c = _config()
  exp, state, batch = _build(c)
  out = {}
  for m0 in (0.0, 5.0):
    s = state.replace(extras={'pl_mean': jnp.float32(m0)})
    s = jax.tree.map(jnp.copy, s)  # The step donates its state.
    out[m0] = float(exp.steps['both_reg'](s, batch)[1]['pl_mean'])
  # pl_mean' = m0 + decay (mean length - m0), the same mean length for both starts.
  decay = c.pl_decay
  assert out[5.0] - out[0.0] == pytest.approx((1 - decay) * 5.0, rel=1e-5)
  mean_length = out[0.0] / decay
  assert mean_length > 0


def test_ema_follows_the_kimg_half_life_with_ramp_up():
  c = _config('')
  c.ema_kimg, c.ema_rampup, c.batch_size = 10.0, 0.05, 32
  assert float(step_lib.ema_beta(c, jnp.int32(0))) == 0.0  # Ramp-up: EMA = G at first.
  # After 1000 steps (32k images) the half-life is capped at 0.05 * 32k = 1.6k images.
  assert float(step_lib.ema_beta(c, jnp.int32(1000))) == pytest.approx(0.5 ** (32 / 1600))
  assert float(step_lib.ema_beta(c, jnp.int32(10**6))) == pytest.approx(0.5 ** (32 / 10000))
  c.ema_rampup = 0.0
  assert float(step_lib.ema_beta(c, jnp.int32(0))) == pytest.approx(0.5 ** (32 / 10000))


def test_first_step_with_ramp_up_sets_the_ema_to_the_generator():
  c = _config()
  c.ema_rampup = 0.05
  exp, state, batch = _build(c)
  state, _ = exp.steps['both_reg'](state, batch)
  g = state.models['generator']
  for a, b in zip(jax.tree.leaves(g.params), jax.tree.leaves(state.ema['generator']['params'])):
    np.testing.assert_array_equal(a, b)
  w_avg = g.collections['stats']['mapping']['w_avg']
  assert np.abs(np.asarray(w_avg)).max() > 0  # Tracked during the step...
  np.testing.assert_array_equal(
    state.ema['generator']['collections']['stats']['mapping']['w_avg'], w_avg
  )


def test_sampling_honours_truncation_psi():
  c = _config()
  c.truncation_psi = 0.0
  exp, state, _ = _build(c)
  # Noise strengths start at 0, so psi = 0 maps every z to the image of w_avg.
  images = np.asarray(exp.sample(state, jax.random.PRNGKey(0), 0, 6))
  np.testing.assert_allclose(images, np.broadcast_to(images[:1], images.shape), atol=1e-6)
  c.truncation_psi = 1.0
  exp, state, _ = _build(c)
  images = np.asarray(exp.sample(state, jax.random.PRNGKey(0), 0, 6))
  assert images.std(axis=0).max() > 1e-3


def test_style_mixing_figure_is_written(trained):
  c, tmp_path = trained
  png = style_mixing_cli.write_figure(c, str(tmp_path), rows=2, cols=3, cutoff=2)
  from PIL import Image  # pylint: disable=g-import-not-at-top

  image = np.asarray(Image.open(png))
  assert image.shape == (1 + 3 * 17, 1 + 4 * 17)  # (rows + 1) x (cols + 1) cells of 16 + 1.
  info = json.load(open(tmp_path / 'analysis' / 'style_mixing.json'))
  assert info['cutoff'] == 2 and info['step'] == c.total_steps and info['num_ws'] == 6
  exp, state = loop.restore_latest(c, str(tmp_path))
  with pytest.raises(ValueError, match=r'cutoff=6 must be in \[1, 6\)'):
    stylegan2.style_mixing(exp, state, [0], [1], 6)
  other = ml_collections.ConfigDict(c.to_dict())
  other.family = 'gan'
  with pytest.raises(ValueError, match="config.family='gan'"):
    style_mixing_cli.write_figure(other, str(tmp_path))


def test_validate_names_the_bad_key():
  c = _config()
  c.batch_size = 18
  with pytest.raises(ValueError, match='mbstd_group_size=4'):
    experiment.validate(c)
  c = _config()
  c.image_size = 24
  with pytest.raises(ValueError, match='power-of-two image size'):
    experiment.validate(c)
  c = _config()
  c.r1_interval = 0
  with pytest.raises(ValueError, match='config.r1_interval'):
    experiment.validate(c)
