"""Every paper table end to end at a tiny size (runlocal-like networks and step counts).

The losses and stacked_mnist runs take about a minute each: `pytest -m slow` runs them.
"""

import json
import math
import os

import numpy as np
import pytest

from gans import tables
from gans.metrics import stacked_mnist as stacked_lib
from gans.tables import __main__ as tables_main
from gans.tables import losses
from gans.tables import parzen
from gans.tables import stacked_mnist


def _tiny_gan(config):
  config.generator.width = config.discriminator.width = 4
  config.batch_size = 16 * int(config.get('pack', 1))
  config.log_every = 2
  return config


def test_registry_and_command_errors(capsys):
  assert set(tables.TABLES) == {'toy2d', 'stacked_mnist', 'losses', 'parzen'}
  for name in tables.TABLES:
    module = tables.module(name)
    assert callable(module.run) and set(module.BUDGETS) == {'cpu', 'paper'}
  with pytest.raises(KeyError, match='known: toy2d'):
    tables.module('nope')
  with pytest.raises(SystemExit):
    tables_main.main(['run', 'nope'])
  assert tables_main.main(['list']) == 0
  out = capsys.readouterr().out
  assert 'losses: Lucic et al. 2018' in out and '(gans.tables.losses; docs/tables.md)' in out


def test_random_search_is_fixed_and_in_range():
  a = losses.search(5, (1e-4, 2e-3), (0.0, 0.9), (0.1, 100.0))
  assert a == losses.search(5, (1e-4, 2e-3), (0.0, 0.9), (0.1, 100.0))
  for s in a:
    assert 1e-4 <= s['lr'] <= 2e-3 and 0 <= s['b1'] <= 0.9 and 0.1 <= s['penalty'] <= 100
  members = losses.member_overrides('wgan_gp', a[:2], 3)
  assert len(members) == 6 and members[0]['gradient_penalty'] == a[0]['penalty']
  assert [m['seed'] for m in members] == [0, 1, 2, 0, 1, 2]
  assert 'gradient_penalty' not in losses.member_overrides('minimax', a[:1], 1)[0]
  assert losses.spearman([1, 2, 3], [10, 20, 30]) == pytest.approx(1.0)
  assert losses.spearman([1, 2, 3], [30, 20, 10]) == pytest.approx(-1.0)


@pytest.mark.slow  # About 50 s on the 2-core CPU.
def test_losses_table_tiny(tmp_path):
  budget = dict(
    losses.BUDGETS['cpu'], width=4, steps=4, settings=2, seeds=1, num_samples=64, vectorise=True
  )
  text, rows = losses.run(
    str(tmp_path), budget, losses=('non_saturating', 'dragan'), shrink=_tiny_gan, log=lambda _: None
  )
  assert [r['loss'] for r in rows] == ['non_saturating', 'dragan']
  for r in rows:
    assert len(r['runs']) == 2 and all(math.isfinite(x['fid']) and x['fid'] > 0 for x in r['runs'])
    # The best setting is the one with the lowest mean (one seed: its run).
    assert r['best'][0] == min(x['fid'] for x in r['runs'])
  assert json.load(open(tmp_path / 'dragan' / 'sweep.json'))['groups'][0]['vectorised']
  assert '| NS GAN |' in text and '6.8 +- 0.5' in text and 'Spearman' in text
  assert (tmp_path / 'fid_box.png').exists() and (tmp_path / 'results.json').exists()


@pytest.mark.slow  # About 70 s on the 2-core CPU.
def test_stacked_mnist_table_tiny(tmp_path):
  ds = stacked_lib.dataset(image_size=32, num_examples=256)
  budget = dict(
    cells=(('table2', 'dcgan'), ('table3_half', 'pacdcgan3')),
    width=8,
    batch=16,
    steps=4,
    seeds=2,
    num_samples=200,
    lr=2e-4,
  )
  text, rows = stacked_mnist.run(
    str(tmp_path), budget, dataset=ds, shrink=_tiny_gan, log=lambda _: None
  )
  assert [(r['table'], r['method']) for r in rows] == list(budget['cells'])
  for r in rows:
    assert len(r['runs']) == 2
    for x in r['runs']:
      assert 1 <= x['modes'] <= 200 and x['kl'] >= 0
  config = json.load(
    open(os.path.join(tmp_path, 'table3_half_pacdcgan3', '001_seed=1', 'config.json'))
  )
  assert (
    config['pack'] == 3 and config['batch_size'] == 48 and config['discriminator']['width'] == 4
  )
  assert '| Table 2 (D = G) | DCGAN |' in text and '78.9 +- 6.5' in text
  assert '866.6 +- 12.1' in text


def test_parzen_table_tiny(tmp_path):
  def shrink(config):
    config.total_steps = 4
    config.checkpoint_every = config.sample_every = 4
    config.generator.hidden, config.discriminator.hidden = (16,), 8  # experiments/gan.py's MLPs.
    config.batch_size = 16
    return config

  budget = dict(families=('gan',), seeds=2, steps=4, num_parzen=50, vectorise=('gan',))
  text, rows = parzen.run(str(tmp_path), budget, shrink=shrink, log=lambda _: None)
  (row,) = rows
  assert len(row['runs']) == 2 and row['steps'] == 4
  assert json.load(open(tmp_path / 'gan' / 'sweep.json'))['groups'][0]['vectorised']
  assert 'one vectorised program: gan;' in text
  means = [r['mean_01'] for r in row['runs']]
  np.testing.assert_allclose(row['parzen_01'][0], np.mean(means))
  np.testing.assert_allclose(
    [r['mean_01'] - r['mean'] for r in row['runs']], 1024 * np.log(2.0), rtol=1e-6
  )
  assert '225 +- 2' in text and '| gan (Goodfellow et al. 2014) | 4 |' in text
