"""Damaged checkpoints: refused naming the step, the file and the intact steps; nothing
deleted; --resume_from reads an intact one and reproduces the run exactly.

One 6-step run (checkpoints 2, 4, 6) is trained once; each test damages a copy.
"""

import glob
import json
import os
import shutil
import subprocess
import sys

import jax
import numpy as np
import pytest

from gans import configs
from gans import errors
from gans import run
from gans.train import checkpoint as checkpoint_lib
from gans.train import experiment
from gans.train import loop

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SPEC = os.path.join(ROOT, 'experiments', 'wgan_gp.py') + ':runlocal'


def _config():
  config = configs.load_config_file(SPEC)
  config.total_steps, config.checkpoint_every, config.sample_every = 6, 2, 100
  return config


@pytest.fixture(scope='module')
def finished_run(tmp_path_factory):
  workdir = tmp_path_factory.mktemp('finished') / 'run'
  loop.train(_config(), str(workdir))
  return workdir


@pytest.fixture(scope='module')
def exp():
  return experiment.build(_config())


@pytest.fixture
def workdir(finished_run, tmp_path):
  copy = tmp_path / 'run'
  shutil.copytree(finished_run, copy)
  return copy


def _leaves(tree):
  return [np.asarray(x) for x in jax.tree.leaves(jax.device_get(tree))]


def _restore(exp, workdir, step):
  ckpts = checkpoint_lib.Checkpoints(str(workdir))
  try:
    return ckpts.restore(exp.init(), step=step)[0]
  finally:
    ckpts.close()


def _largest_data_file(workdir, step):
  files = glob.glob(str(workdir / 'checkpoints' / str(step) / 'state' / '**' / 'd' / '*'))
  return max(files, key=os.path.getsize)


def _listing(workdir):
  return sorted(
    (os.path.relpath(p, workdir), os.path.getsize(p))
    for p in glob.glob(str(workdir / '**'), recursive=True)
    if os.path.isfile(p)
  )


def _cut_in_half(path):
  size = os.path.getsize(path)
  os.truncate(path, size // 2)
  return size


def _flip_bytes(path):
  data = bytearray(open(path, 'rb').read())
  middle = len(data) // 2
  data[middle : middle + 64] = bytes(b ^ 0xFF for b in data[middle : middle + 64])
  open(path, 'wb').write(bytes(data))


def test_cut_data_file_names_step_file_and_intact_steps_in_every_mode(workdir):
  path = _largest_data_file(workdir, 6)
  size = _cut_in_half(path)
  name = os.path.relpath(path, workdir / 'checkpoints' / '6')
  expected = (
    f'Checkpoint step 6 in {workdir / "checkpoints"} is damaged: {name} has {size // 2:,} '
    f'bytes, {size:,} when saved. Intact: steps 2, 4; start from the newest of them with '
    '--resume_from=4. Nothing was deleted.'
  )
  before = _listing(workdir)
  config = _config()
  for mode in ('train', 'sample', 'eval'):
    with pytest.raises(checkpoint_lib.DamagedCheckpointError) as raised:
      run.main(config, str(workdir), mode, num_samples=8, output=str(workdir / 's.npz'))
    assert str(raised.value) == expected, mode
    assert isinstance(raised.value, errors.UserInputError)
  assert _listing(workdir) == before  # Nothing deleted, nothing added.


def test_resume_from_the_intact_step_reproduces_the_run_and_keeps_the_damaged_one(workdir, exp):
  straight = _restore(exp, workdir, 6)  # The run's own step 6, before the damage.
  path = _largest_data_file(workdir, 6)
  _cut_in_half(path)
  config = _config()
  # --mode sample reads the step asked for.
  arrays = run.main(
    config, str(workdir), 'sample', num_samples=8, output=str(workdir / 's'), resume_from=4
  )
  assert np.load(workdir / 's.npz')['step'] == 4 and arrays['images'].shape == (8, 32, 32, 1)
  # Training resumes from 4, sets the damaged 6 aside (whole) and redoes steps 5 and 6.
  state = run.main(config, str(workdir), 'train', resume_from=4)
  assert int(state.step) == 6
  for a, b in zip(_leaves(state), _leaves(straight)):
    np.testing.assert_array_equal(a, b)
  kept = workdir / checkpoint_lib.SET_ASIDE / '6'
  assert os.path.getsize(kept / os.path.relpath(path, workdir / 'checkpoints' / '6')) > 0
  assert checkpoint_lib.Checkpoints(str(workdir)).steps() == [2, 4, 6]
  for a, b in zip(_leaves(_restore(exp, workdir, 6)), _leaves(straight)):
    np.testing.assert_array_equal(a, b)
  rows = [json.loads(l)['step'] for l in open(workdir / 'metrics.jsonl')]
  assert rows == [1, 2, 3, 4, 5, 6]


def test_resume_from_a_step_that_is_not_there(workdir):
  with pytest.raises(errors.MissingInputError, match=r'No checkpoint at step 5 in .*checkpoints'):
    run.main(_config(), str(workdir), 'train', resume_from=5)


def _damage_missing_file(workdir):
  os.remove(_largest_data_file(workdir, 6))


def _damage_meta(workdir):
  _cut_in_half(str(workdir / 'checkpoints' / '6' / 'meta' / 'metadata'))


def _damage_flipped_bytes(workdir):
  _flip_bytes(_largest_data_file(workdir, 6))


@pytest.mark.parametrize(
  'damage, problem',
  [
    (_damage_missing_file, r'state/ocdbt\.process_0/d/[0-9a-f]+ is missing'),
    (_damage_meta, r'meta/metadata has [\d,]+ bytes, [\d,]+ when saved'),
    # Orbax restores these bytes without a word (wrong weights): only the checksums see it.
    (
      _damage_flipped_bytes,
      r'state/ocdbt\.process_0/d/[0-9a-f]+ has changed since it was saved \(SHA-256\)',
    ),
  ],
  ids=['missing_file', 'meta_cut', 'bytes_changed'],
)
def test_other_damage_is_named(workdir, exp, damage, problem):
  damage(workdir)
  with pytest.raises(
    checkpoint_lib.DamagedCheckpointError,
    match=rf'^Checkpoint step 6 in .* is damaged: {problem}\. Intact: steps 2, 4; .*'
    r'--resume_from=4\. Nothing was deleted\.$',
  ):
    loop.restore_latest(_config(), str(workdir), exp=exp)


def test_checkpoint_without_checksums_is_refused_by_what_orbax_reports(workdir, exp):
  """Checkpoints saved before the checksum file existed are read unverified."""
  for step in (2, 4, 6):
    os.remove(workdir / 'checkpoints' / str(step) / checkpoint_lib.CHECKSUMS)
  _cut_in_half(_largest_data_file(workdir, 6))
  _cut_in_half(_largest_data_file(workdir, 2))
  with pytest.raises(
    checkpoint_lib.DamagedCheckpointError,
    match=r'^Checkpoint step 6 .* is damaged: it cannot be read \(OUT_OF_RANGE: .*\)\. '
    r'Also damaged: step 2\. Intact: step 4; start from the newest of them with '
    r'--resume_from=4\.',
  ):
    loop.restore_latest(_config(), str(workdir), exp=exp)


def test_no_intact_checkpoint_left(workdir, exp):
  for step in (2, 4, 6):
    _cut_in_half(_largest_data_file(workdir, step))
  with pytest.raises(
    checkpoint_lib.DamagedCheckpointError,
    match=r'Also damaged: steps 2, 4\. No intact checkpoint is left: train again in a new '
    r'--workdir\. Nothing was deleted\.$',
  ):
    loop.restore_latest(_config(), str(workdir), exp=exp)


def test_launch_sample_on_a_cut_checkpoint_is_one_line(workdir):
  """The issue's case: 462 lines of event-loop noise before; one line, exit 2 now."""
  path = _largest_data_file(workdir, 6)
  _cut_in_half(path)
  before = _listing(workdir)
  out = subprocess.run(
    [
      sys.executable,
      os.path.join(ROOT, 'launch.py'),
      '--config',
      SPEC,
      '--workdir',
      str(workdir),
      '--mode=sample',
      '--num_samples=8',
    ],
    env=dict(os.environ, JAX_PLATFORMS='cpu', XLA_FLAGS=''),
    capture_output=True,
    text=True,
    timeout=300,
  )
  assert out.returncode == 2, out.stderr[-3000:]
  lines = [l for l in out.stderr.splitlines() if not l.startswith(('I1', 'W1', 'I0', 'W0'))]
  name = os.path.relpath(path, workdir / 'checkpoints' / '6')
  assert len(lines) == 1 and lines[0].startswith('error: Checkpoint step 6 in '), lines
  assert f'is damaged: {name} has ' in lines[0] and '--resume_from=4' in lines[0]
  assert _listing(workdir) == before
