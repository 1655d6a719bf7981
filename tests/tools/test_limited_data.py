"""`python -m gans.tools.limited_data`: a tiny end-to-end run, reuse, and bad input."""

import json
import types

import numpy as np
import pytest

from gans import data
from gans import tools
from gans.metrics import classifier as classifier_lib
from gans.tools import limited_data


@pytest.fixture(scope='module')
def classifier_path(tmp_path_factory):
  """A one-epoch 32x32 digit classifier (the features only need to be a fixed network)."""
  config = limited_data.run_config(500, 'none', 0, 4, 2, 16, 100.0)
  x, y = data.load(config).get(np.arange(500))
  clf = classifier_lib.train(
    classifier_lib.recipe(image_size=32, epochs=1), dataset=(np.asarray(x), np.asarray(y), 10)
  )
  path = str(tmp_path_factory.mktemp('classifier') / 'clf32.msgpack')
  classifier_lib.save(clf, path)
  return path


def test_tiny_experiment_writes_table_curves_and_plot_and_reuses_runs(
  tmp_path, monkeypatch, classifier_path, capsys
):
  original = limited_data.run_config

  def small(*args):
    config = original(*args)
    config.generator.width = config.discriminator.width = 8
    config.batch_size = 16
    config.evals.samples.classifier_path = classifier_path
    return config

  monkeypatch.setattr(limited_data, 'run_config', small)
  argv = ['--workdir', str(tmp_path), '--sizes', '40', '--methods', 'none,ada']
  argv += ['--steps', '4', '--eval_every', '2', '--num_samples', '16', '--ada_kimg', '0.01']
  assert limited_data.main(argv) == 0
  table = (tmp_path / 'limited_data.md').read_text()
  assert '| 40 | none |' in table and '| 40 | ada |' in table
  rows = json.loads((tmp_path / 'limited_data.json').read_text())
  assert [(r['size'], r['method']) for r in rows] == [(40, 'none'), (40, 'ada')]
  for r in rows:
    assert [s for s, _ in r['curves']['fid']] == [2, 4]
    assert r['curves']['r_t'] and all(-1 <= v <= 1 for _, v in r['curves']['r_t'])
  assert rows[0]['curves']['ada_p'] == [] and rows[1]['curves']['ada_p']
  # The discriminator-overfitting monitor runs with FID (40 digits leave train[4500:]).
  # d_overfit is null (NaN) while D does not yet score training above generated images.
  for r in rows:
    assert [s for s, _ in r['curves']['d_heldout']] == [2, 4]
    assert [s for s, _ in r['curves']['d_generated']] == [2, 4]
    overfit = r['curves']['d_overfit']
    assert {s for s, _ in overfit} <= {2, 4}
    assert r['summary']['d_overfit_final'] == dict(overfit).get(4)
  assert 'final d_overfit' in table
  assert (tmp_path / 'limited_data.png').stat().st_size > 1000
  config = json.loads((tmp_path / '40_ada_s0' / 'config.json').read_text())
  assert config['train_split'] == 'train[:40]' and config['ada']['mode'] == 'adaptive'
  # A second call reuses the finished runs.
  capsys.readouterr()
  assert limited_data.main(argv) == 0
  assert capsys.readouterr().out.count('reusing') == 2


def test_bad_arguments_are_one_line_exit_2(tmp_path, capsys):
  for argv, message in (
    (['--sizes', '500,6000'], 'argument --sizes: 6000 is not in [1, 5000]'),
    (['--methods', 'none,adda'], "argument --methods: unknown 'adda'"),
    (['--steps', '100,200,300'], 'argument --steps: one positive count'),
  ):
    with pytest.raises(SystemExit) as info:
      limited_data.main(['--workdir', str(tmp_path / 'w'), *argv])
    assert info.value.code == 2
    assert message in capsys.readouterr().err
  assert not (tmp_path / 'w').exists()


def test_a_run_stopped_by_a_signal_stops_the_command_without_a_table(tmp_path, monkeypatch, capsys):
  # loop.train returns early (at step 2 of 4) when SIGTERM arrives; the tool must not
  # measure that run or go on to the next one.
  monkeypatch.setattr(
    tools.loop, 'train', lambda config, workdir, hooks=None: types.SimpleNamespace(step=2)
  )
  argv = ['--workdir', str(tmp_path), '--sizes', '40', '--methods', 'none,ada', '--steps', '4']
  assert limited_data.main(argv) == 1
  err = capsys.readouterr().err
  assert err.startswith('stopped: ') and 'stopped at step 2 of 4' in err
  assert 'run the same command again to resume' in err
  assert not (tmp_path / 'limited_data.md').exists()
