"""gans.tables.toy2d through the sweep runner, and the gans.toy_table command kept."""

import json

import numpy as np

from gans import toy_table
from gans.tables import toy2d

TINY = dict(
  toy=dict(setup='pacgan', size='tiny', steps=6, lr=1e-3, b1=0.5, decay='linear'),
  datasets=('ring8',),
  methods=('gan', 'pacgan2'),
  seeds=2,
)


def _shrink(config):
  """One-layer networks and a batch of 16 packed examples (it splits over 8 test devices)."""
  config.generator.hidden = (16,)
  config.discriminator.hidden = 8
  config.discriminator.layers = 1
  config.batch_size = 16 * config.pack
  config.log_every = 3
  return config


def test_tiny_table_end_to_end_and_resume(tmp_path):
  text, rows = toy2d.run(str(tmp_path), TINY, shrink=_shrink, log=lambda _: None)
  assert [r['method'] for r in rows] == ['gan', 'pacgan2']
  for r in rows:
    modes, hq = r['ours']['modes'][0], r['ours']['high_quality'][0]
    assert 0 <= modes <= 8 and 0 <= hq <= 100 and r['steps'] == 6 and len(r['per_run']) == 2
  lines = text.splitlines()
  assert lines[2].startswith('| data | method | modes (ours) | (paper) | verdict |')
  assert '| ring8 | GAN |' in lines[4] and '6.3 +- 0.5' in lines[4] and '98.2 +- 0.2' in lines[4]
  assert '| ring8 | PacGAN2 |' in lines[5] and '7.9 +- 0.1' in lines[5]
  assert (tmp_path / 'table.md').read_text() == text
  assert json.load(open(tmp_path / 'results.json'))[1]['paper']['modes'] == [7.9, 0.1]
  assert (tmp_path / 'ring8_pacgan2.png').exists()
  sweep = json.load(open(tmp_path / 'ring8_gan' / 'sweep.json'))
  assert sweep['groups'] == [dict(index=0, vectorised=True, members=[0, 1])]
  # A second invocation reuses the finished members: the same numbers.
  _, again = toy2d.run(str(tmp_path), TINY, shrink=_shrink, log=lambda _: None)
  assert [r['per_run'] for r in again] == [r['per_run'] for r in rows]


def test_vectorised_cell_scores_as_the_runs_alone(tmp_path):
  """The seeds as one vmapped program against each seed trained alone (the per-run path).

  They agree up to float rounding, which can move a sample across the 3-sigma line: the
  check is the mode histograms within 2% of the samples and the summary within one mode.
  """
  budget = dict(TINY, methods=('gan',))
  _, vec = toy2d.run(str(tmp_path / 'vec'), budget, shrink=_shrink, log=lambda _: None)
  _, seq = toy2d.run(
    str(tmp_path / 'seq'), budget, vectorise=False, shrink=_shrink, log=lambda _: None
  )
  for a, b in zip(vec[0]['per_run'], seq[0]['per_run']):
    assert a['seed'] == b['seed']
    assert np.abs(np.subtract(a['counts'], b['counts'])).sum() <= 0.02 * toy2d.EVAL_SAMPLES
    assert abs(a['modes'] - b['modes']) <= 1
    assert abs(a['high_quality'] - b['high_quality']) <= 0.02


def test_toy_table_command_runs_the_table(tmp_path, monkeypatch, capsys):
  monkeypatch.setattr(toy2d, 'BUDGETS', dict(cpu=dict(TINY, seeds=1)))
  real = toy2d.run
  monkeypatch.setattr(
    toy2d, 'run', lambda out, budget: real(out, budget, shrink=_shrink, log=lambda _: None)
  )
  out = tmp_path / 'out'
  assert (
    toy_table.main(['--datasets', 'ring8', '--methods', 'gan', '--steps', '4', '--out', str(out)])
    == 0
  )
  rows = json.load(open(out / 'results.json'))
  assert len(rows) == 1 and rows[0]['steps'] == 4 and rows[0]['runs'] == 1
  assert '| ring8 | GAN |' in capsys.readouterr().out
