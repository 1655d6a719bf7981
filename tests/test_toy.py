"""The 2D mode-collapse table: data, vmapped runs, metrics, and a tiny end-to-end table."""

import json

import jax
import jax.numpy as jnp
import numpy as np

from gans import toy_table
from gans.data import builtin
from gans.metrics import mode_coverage
from gans.families import gan as gan_family
from gans.families.gan import step as step_lib

TINY = dict(setup='pacgan', size='tiny', steps=6, lr=1e-3, b1=0.5, decay='linear')
_toy_config = toy_table.toy_config


def _shrunk_config(*args, **kwargs):
  """The table's config with one-layer networks: the same code paths, less to compile."""
  config = _toy_config(*args, **kwargs)
  config.generator.hidden = (16,)
  config.discriminator.hidden = 8
  config.discriminator.layers = 1
  return config


def test_sample_mixture_matches_the_benchmark_data():
  means, sigma = builtin.grid_means(), 0.05
  x, modes = toy_table.sample_mixture(jax.random.PRNGKey(0), (2, 5000), means, sigma)
  assert x.shape == (2, 5000, 2) and modes.shape == (2, 5000)
  x, modes = np.asarray(x).reshape(-1, 2), np.asarray(modes).ravel()
  np.testing.assert_allclose(np.std(x - means[modes]), sigma, rtol=0.03)
  counts = np.bincount(modes, minlength=25)
  assert counts.min() > 300  # ~400 per mode.
  # Real data scores as the metric's ideal: all modes, P(r < 3 sigma) = 1 - e^-4.5 in 2-D.
  cov = mode_coverage(x[:2500], means, sigma)
  assert cov['modes'] == 25
  np.testing.assert_allclose(cov['high_quality'], 1 - np.exp(-4.5), atol=0.01)
  assert cov['reverse_kl'] < 0.03


def test_vmapped_scanned_runs_equal_the_generic_step_run_alone():
  config = _shrunk_config('ring8', 'pacgan2', **TINY)
  runs = toy_table.VmappedRuns(config, [0, 1])
  runs.train(4, chunk=2)
  # Seed 1 alone, one jitted generic train_step per batch (as gans.train.loop runs it),
  # on the batches the scan samples on device.
  g_tx, d_tx = gan_family.optimizers(config)
  g, d = runs.generator, runs.discriminator
  state = jax.jit(lambda: gan_family.init_state(config, g, d, (2,), g_tx, d_tx, seed=1))()
  step = jax.jit(step_lib.make_train_step(config, g, d, g_tx, d_tx))
  for _ in range(4):
    key = jax.random.fold_in(jax.random.fold_in(state.key, toy_table._DATA_KEY), state.step)
    x, y = toy_table.sample_mixture(
      key, (config.n_critic, config.batch_size), jnp.asarray(runs.means), runs.sigma
    )
    state, _ = step(state, {'x': x, 'y': y})
  for a, b in zip(jax.tree.leaves(runs.states), jax.tree.leaves(state)):
    np.testing.assert_allclose(np.asarray(a)[1], np.asarray(b), rtol=2e-5, atol=1e-6)
  assert int(state.step) == 4
  # Different seeds are different runs.
  first = np.asarray(jax.tree.leaves(runs.states.models['generator'].params)[0])
  assert np.abs(first[0] - first[1]).max() > 1e-3


def test_tiny_table_end_to_end(tmp_path, monkeypatch):
  monkeypatch.setattr(toy_table, 'toy_config', _shrunk_config)
  table, rows = toy_table.run_table(
    datasets=('ring8',),
    methods=('gan', 'pacgan2'),
    seeds=2,
    budget=TINY,
    chunk=3,
    out=str(tmp_path),
    log=lambda _: None,
  )
  assert [r['method'] for r in rows] == ['gan', 'pacgan2']
  for r in rows:
    modes, hq, kl = (r['ours'][k][0] for k in ('modes', 'high_quality', 'reverse_kl'))
    assert 0 <= modes <= 8 and 0 <= hq <= 100 and (kl >= 0 or np.isinf(kl))
    assert r['steps'] == 6 and len(r['per_run']) == 2
  lines = table.splitlines()
  assert lines[0].startswith('| data | method | modes (ours) | modes (paper)')
  assert '| ring8 | GAN |' in lines[2] and '6.3 ± 0.5' in lines[2] and '98.2 ± 0.2' in lines[2]
  assert '| ring8 | PacGAN2 |' in lines[3] and '7.9 ± 0.1' in lines[3]
  assert (tmp_path / 'table.md').read_text().strip() == table.strip()
  saved = json.load(open(tmp_path / 'results.json'))
  assert saved[1]['paper']['modes'] == [7.9, 0.1]
  assert (tmp_path / 'ring8_pacgan2.png').exists()


def test_summary_is_mean_and_standard_error():
  runs = [
    dict(modes=6, high_quality=0.9, reverse_kl=0.2),
    dict(modes=8, high_quality=0.8, reverse_kl=0.4),
  ]
  s = toy_table.summarize(runs)
  np.testing.assert_allclose(s['modes'], (7.0, 1.0))
  np.testing.assert_allclose(s['high_quality'], (85.0, 5.0))
  np.testing.assert_allclose(s['reverse_kl'], (0.3, 0.1))
