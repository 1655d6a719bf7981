"""`python -m gans.tools.synthetic_data`: pairing of the conditions, a tiny end-to-end run,
and bad input as one line with exit status 2."""

import json
import os
import types

import numpy as np
import pytest

from gans import configs
from gans import data
from gans.eval import cas
from gans.tools import synthetic_data
from gans.train import loop

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CGAN = os.path.join(ROOT, 'experiments', 'cgan.py') + ':runlocal'
SPLIT = '--config.train_split=train[:4000]'


@pytest.fixture(scope='module')
def cgan_run(tmp_path_factory):
  """The workdir of a 3-step runlocal cgan (32x32, width 8) on mnist5k's train[:4000]."""
  workdir = str(tmp_path_factory.mktemp('cgan_run'))
  config = configs.load_config_file(CGAN)
  config.train_split = 'train[:4000]'
  loop.train(config, workdir)
  return workdir


def test_plan_lists_every_condition_once():
  out = synthetic_data.plan(4000, [100, 'all', 100], [0.0, 0.5, 2.0], [5000, 'all'])
  got = [(c['condition'], c['real'], c['generated']) for c in out]
  assert got == [
    ('real', 100, 0),
    ('mixed', 100, 50),
    ('mixed', 100, 200),
    ('real', 4000, 0),
    ('mixed', 4000, 2000),
    ('mixed', 4000, 8000),
    ('generated', 0, 100),
    ('generated', 0, 4000),
    ('generated', 0, 5000),
  ]
  with pytest.raises(ValueError, match='--real 4001'):
    synthetic_data.plan(4000, [4001], [0.0], [10])


def test_conditions_of_a_seed_share_the_real_subset_and_the_generated_stream(monkeypatch):
  """measure() with the classifier replaced by a recorder of what it is trained on."""
  config = configs.load_config_file(CGAN)
  config.train_split = 'train[:4000]'
  config.image_size = 8
  pool = data.load(config, split=config.train_split)
  stream = np.linspace(-1, 1, 300 * 64, dtype=np.float32).reshape(300, 8, 8, 1)
  exp = types.SimpleNamespace(
    config=config,
    dataset=pool,
    labels=lambda start, n: np.arange(start, start + n) % 10,
    sample=lambda state, key, start, n, use_ema: stream[start : start + n],
  )
  seen = []

  def record(config, x, y, k, heldout, steps, seed):
    seen.append((x, y, seed))
    return dict(accuracy=0.5 + 0.01 * seed, per_class=[0.5] * k, steps=steps, seconds=0.0)

  monkeypatch.setattr(cas, 'train_and_score', record)
  conditions = synthetic_data.plan(pool.num_examples, [20], [0.0, 2.0], [30])
  lines = []
  results = synthetic_data.measure(
    exp, types.SimpleNamespace(step=1), conditions, [0, 1], 7, None, progress=lines.append
  )
  assert len(seen) == 2 * 4 and lines[-1].startswith('[8/8] seed 1 30 generated only')
  real0, mixed0, gen20, gen30 = seen[:4]
  assert real0[0].shape == (20, 8, 8, 1) and np.bincount(real0[1]).tolist() == [2] * 10
  np.testing.assert_array_equal(mixed0[0][:20], real0[0])  # The same real subset...
  np.testing.assert_array_equal(mixed0[0][20:], cas.quantize(stream[:40]))  # ...plus 2 n.
  np.testing.assert_array_equal(gen20[0], gen30[0][:20])  # Prefixes of one stream.
  np.testing.assert_array_equal(gen30[1], np.arange(30) % 10)
  assert not np.array_equal(seen[4][0], real0[0])  # Seed 1 draws another subset.
  mixed = results[1]
  assert mixed['accuracy'] == [0.5, 0.51] and mixed['gain_mean'] == 0.0
  assert mixed['mean'] == pytest.approx(0.505) and mixed['stderr'] == pytest.approx(0.005)
  assert results[2]['cas_ratio'] == pytest.approx(1.0)  # 20 generated vs 20 real.


def test_tiny_run_writes_table_json_and_plot(cgan_run, capsys):
  argv = ['--config', CGAN, SPLIT, '--workdir', cgan_run, '--real', '20', '--ratios', '0,1']
  argv += ['--cas', '40', '--seeds', '0,1', '--steps', '5']
  assert synthetic_data.main(argv) == 0
  out = capsys.readouterr().out
  assert '[8/8] seed 1' in out and 'ETA' in out
  analysis = os.path.join(cgan_run, 'analysis')
  table = open(os.path.join(analysis, 'synthetic_data.md')).read()
  assert '| real images | real only | real + 1x generated |' in table
  assert table.count('\n| 20 |') == 2 and '\n| 40 |' in table
  assert 'over seeds 0, 1' in table and 'train[4500:]' in table
  saved = json.load(open(os.path.join(analysis, 'synthetic_data.json')))
  rows = [(c['condition'], c['real'], c['generated']) for c in saved['conditions']]
  assert rows == [('real', 20, 0), ('mixed', 20, 20), ('generated', 0, 20), ('generated', 0, 40)]
  for c in saved['conditions']:
    assert len(c['accuracy']) == 2 and all(0 <= a <= 1 for a in c['accuracy'])
    assert c['mean'] == pytest.approx(np.mean(c['accuracy']))
    assert all(s >= 5 for s in c['steps_taken'])
  p = saved['protocol']
  assert p['step'] == 3 and p['num_heldout'] == 500 and p['seeds'] == [0, 1] and p['steps'] == 5
  assert os.path.getsize(os.path.join(analysis, 'synthetic_data.png')) > 1000


@pytest.mark.parametrize(
  'flags, message',
  [
    (['--real', '0'], 'argument --real: 0 is below 1'),
    (['--real', '10,ten'], "argument --real: 'ten' is not an integer"),
    (['--ratios', '0,-1'], 'argument --ratios: -1.0 is not in [0, 100]'),
    (['--seeds', '1,1'], "argument --seeds: '1,1': give distinct integers"),
    (['--steps', '0'], 'argument --steps: 0 is below 1'),
    (['--sed', '1'], 'unrecognized arguments: --sed 1'),
  ],
)
def test_bad_flags_are_one_line_exit_2(tmp_path, capsys, flags, message):
  with pytest.raises(SystemExit) as info:
    synthetic_data.main(['--config', CGAN, '--workdir', str(tmp_path / 'w'), *flags])
  assert info.value.code == 2
  err = capsys.readouterr().err
  assert err.startswith('error: ') and err.count('\n') == 1 and message in err
  assert not (tmp_path / 'w').exists()


def test_bad_input_is_one_line_exit_2(tmp_path, capsys, cgan_run):
  dcgan = os.path.join(ROOT, 'experiments', 'dcgan.py') + ':runlocal'
  empty = str(tmp_path / 'empty')
  for argv, message in (
    (['--config', dcgan, SPLIT, '--workdir', empty], 'needs a class-conditional run'),
    (['--config', CGAN, SPLIT, '--workdir', empty], 'No checkpoint in'),
    (['--config', CGAN, '--workdir', cgan_run], "add --config.train_split='train[:4000]'"),
    (['--config', CGAN, '--config.train_splt=x', '--workdir', empty], "no field 'train_splt'"),
    (['--config', CGAN, '--config.batch_size=x', '--workdir', empty], 'type int'),
    (
      ['--config', CGAN, SPLIT, '--workdir', cgan_run, '--heldout_split', 'train[:10]'],
      'overlaps the training split',
    ),
  ):
    assert synthetic_data.main(argv) == 2, argv
    err = capsys.readouterr().err
    assert err.startswith('error: ') and err.count('\n') == 1 and message in err, err
