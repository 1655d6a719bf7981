import glob
import json
import os
import subprocess
import sys

import pytest

from gans import benchmark
from gans import configs

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_harness_tiny_mode_writes_well_formed_json(tmp_path):
  cmd = [
    sys.executable,
    '-m',
    'gans.benchmark',
    '--config',
    os.path.join(ROOT, 'experiments/wgan_gp.py:runlocal'),
    '--tiny',
    '--json',
  ]
  env = dict(os.environ, XLA_FLAGS='', JAX_PLATFORMS='cpu')
  tracked = {p: open(p, 'rb').read() for p in glob.glob(os.path.join(ROOT, 'benchmarks/results/*'))}
  # No --out: the results go to runs/benchmarks/ (git-ignored) under the working directory.
  out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600, cwd=tmp_path)
  assert {p: open(p, 'rb').read() for p in tracked} == tracked  # The reference figures stay.
  assert out.returncode == 0, out.stderr[-3000:]
  results = json.loads(out.stdout.strip().splitlines()[-1])
  assert results['hardware']['platform'] == 'cpu' and results['hardware']['device_count'] == 1
  assert 0 < results['seconds_per_step'] < 60 and results['compile_seconds'] > 0
  assert results['step_seconds_min'] <= results['seconds_per_step'] <= results['step_seconds_max']
  assert results['batch_size'] == 16 and results['example_shape'] == [32, 32, 1]
  assert results['sample_images_per_second'] > 0 and results['fid_samples'] == 100
  assert json.load(open(tmp_path / 'runs/benchmarks/wgan_gp.json')) == results
  assert '| seconds_per_step |' in (tmp_path / 'runs/benchmarks/wgan_gp.md').read_text()


def test_compare_torch_refuses_a_different_step():
  config = configs.load_config_file(os.path.join(ROOT, 'experiments/wgan_gp.py'))
  with pytest.raises(ValueError, match='config.generator.width is 32, the reference has 64'):
    benchmark.check_torch_comparable(config)
  config = configs.load_config_file(os.path.join(ROOT, 'experiments/wgan_gp.py:dataset=cifar10'))
  config.n_critic = 1
  benchmark.check_torch_comparable(config)  # The reference step: no error.


def test_sweep_speed_tiny(tmp_path):
  config = configs.load_config_file(os.path.join(ROOT, 'experiments/toy.py:size=tiny,runlocal'))
  spec = os.path.join(ROOT, 'experiments/toy.py:size=tiny,runlocal')
  results = benchmark.time_sweep(config, spec, members=2, steps=4, workdir=str(tmp_path))
  assert results['vectorised_groups'] == 1 and results['sweep_members'] == 2
  for mode in ('vectorised', 'sequential'):
    assert results[f'{mode}_wall_seconds'] > 0
    assert results[f'{mode}_steady_member_steps_per_second'] > 0
    assert len(os.listdir(tmp_path / mode)) == 3  # sweep.json and 2 member folders.
  expected = results['sequential_wall_seconds'] / results['vectorised_wall_seconds']
  assert results['ratio_wall'] == pytest.approx(expected)
