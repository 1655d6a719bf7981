"""`python -m gans.tools.family_table`: bad input gives one line and exit status 2."""

import os

import pytest

from gans.tools import family_table


def test_unknown_runs_and_counts_are_refused_by_name(tmp_path, capsys):
  with pytest.raises(SystemExit) as info:
    family_table.main(['--workdir', str(tmp_path), '--only', 'gan,stylegan9'])
  assert info.value.code == 2
  assert "argument --only: unknown run 'stylegan9'; known: gan, wgan_gp" in capsys.readouterr().err
  with pytest.raises(SystemExit) as info:
    family_table.main(['--workdir', str(tmp_path), '--num_samples', '1'])
  assert info.value.code == 2
  assert 'argument --num_samples: 1 is below 2' in capsys.readouterr().err
  assert os.listdir(tmp_path) == []  # Nothing created.


def test_a_workdir_it_cannot_use_is_one_error_line(tmp_path, capsys):
  workdir = tmp_path / 'a_file'
  workdir.write_text('not a folder')
  assert family_table.main(['--workdir', str(workdir), '--only', 'gan']) == 2
  captured = capsys.readouterr()
  assert captured.err.count('\n') == 1
  assert captured.err.startswith('error: ') and str(workdir) in captured.err


def test_a_refused_run_leaves_the_table_files_as_they_were(tmp_path, monkeypatch, capsys):
  (tmp_path / 'families.md').write_text('the previous table\n')

  def trained(config, workdir):
    raise ValueError(f'Checkpoint 12 in {workdir} is damaged (a data file is cut);\n  intact: 8, 4')

  monkeypatch.setattr(family_table, 'trained', trained)
  assert family_table.main(['--workdir', str(tmp_path), '--only', 'vae']) == 2
  captured = capsys.readouterr()
  assert captured.err == (
    f'error: Checkpoint 12 in {tmp_path / "vae"} is damaged (a data file is cut); intact: 8, 4\n'
  )
  assert (tmp_path / 'families.md').read_text() == 'the previous table\n'
  assert not (tmp_path / 'families.json').exists()
