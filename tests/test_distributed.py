"""Multi-host: two real processes on this machine train as one process does.

Process 0 gets the coordinator, process count and index as launch.py flags, process 1
as the JAX_* variables gans/run.py documents (this JAX reads only the first of them
itself), each with 4 forced CPU devices and JAX's default CPU collectives (gloo). The
one-process run has 8 devices: the same global batch on the same 8-way mesh.
"""

import os
import socket
import subprocess
import sys

import jax
import numpy as np
import pytest

from gans import configs
from gans import errors
from gans import run
from gans.data import images as image_lib
from gans.train import checkpoint as checkpoint_lib
from gans.train import experiment

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SPEC = os.path.join(ROOT, 'experiments', 'wgan_gp.py') + ':runlocal'
STEPS = 4


def test_distributed_arguments_from_flags_then_documented_variables():
  environ = dict(JAX_COORDINATOR_ADDRESS='10.0.0.1:1234', JAX_NUM_PROCESSES='4', JAX_PROCESS_ID='3')
  assert run.distributed_arguments(environ=environ) == dict(
    coordinator_address='10.0.0.1:1234', num_processes=4, process_id=3
  )
  assert run.distributed_arguments('h:1', None, 0, environ=environ) == dict(
    coordinator_address='h:1', num_processes=4, process_id=0
  )
  assert run.distributed_arguments(environ={}) == {}  # TPU pods, SLURM: JAX detects them.
  with pytest.raises(errors.UserInputError, match=r"JAX_NUM_PROCESSES='two' is not an integer"):
    run.distributed_arguments(environ=dict(JAX_NUM_PROCESSES='two'))


def test_incomplete_multi_host_setup_is_one_line(tmp_path):
  """The issue's case: only JAX_COORDINATOR_ADDRESS set, outside any cluster JAX detects."""
  proc = _launch(tmp_path / 'run', 1, env=dict(JAX_COORDINATOR_ADDRESS='localhost:1'))
  out = proc.communicate(timeout=300)[0]
  lines = [l for l in out.splitlines() if l.strip() and not l.startswith(('I1', 'W1'))]
  assert proc.returncode == 2 and len(lines) == 1, out[-3000:]
  assert lines[0] == (
    'error: jax.distributed.initialize could not find JAX_NUM_PROCESSES, JAX_PROCESS_ID '
    '(Number of processes must be defined.); outside TPU pods and SLURM / Open MPI clusters '
    'pass --num_processes, --process_id (or set the variables).'
  )
  assert not os.path.exists(tmp_path / 'run')


def _free_port():
  with socket.socket() as s:
    s.bind(('localhost', 0))
    return s.getsockname()[1]


def _launch(workdir, devices, *extra, env=None):
  cmd = [
    sys.executable,
    os.path.join(ROOT, 'launch.py'),
    '--config',
    SPEC,
    '--workdir',
    str(workdir),
    f'--config.total_steps={STEPS}',
    f'--config.checkpoint_every={STEPS}',
    '--config.sample_every=100',
    *extra,
  ]
  given = env or {}
  env = {k: v for k, v in os.environ.items() if k not in run.DISTRIBUTED_ENV.values()}
  env.update(
    JAX_PLATFORMS='cpu', XLA_FLAGS=f'--xla_force_host_platform_device_count={devices}', **given
  )
  return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _samples(workdir):
  config = configs.load_config_file(SPEC)
  config.total_steps = STEPS
  exp = experiment.build(config)
  ckpts = checkpoint_lib.Checkpoints(str(workdir))
  state, _ = ckpts.restore(exp.init())
  ckpts.close()
  assert int(state.step) == STEPS
  images = image_lib.to_uint8(experiment.generate(exp, state, 64, seed=0))
  return images.astype(np.float64), state


@pytest.mark.slow
def test_two_processes_of_four_devices_equal_one_process_of_eight(tmp_path):
  assert jax.device_count() == 8, 'tests/conftest.py forces 8 CPU devices'
  address = f'localhost:{_free_port()}'
  two = tmp_path / 'two'
  procs = [
    _launch(two, 4, f'--coordinator_address={address}', '--num_processes=2', '--process_id=0'),
    _launch(
      two,
      4,
      env=dict(JAX_COORDINATOR_ADDRESS=address, JAX_NUM_PROCESSES='2', JAX_PROCESS_ID='1'),
    ),
    _launch(tmp_path / 'one', 8),
  ]
  outs = [p.communicate(timeout=600)[0] for p in procs]
  for p, out in zip(procs, outs):
    assert p.returncode == 0, out[-5000:]
  for i in (0, 1):
    assert f'Process {i} of 2, 4 local / 8 global devices' in outs[i]
  assert 'Process' not in outs[2]
  a, state_a = _samples(two)
  b, state_b = _samples(tmp_path / 'one')
  # The steps changed the generator (so agreement is not trivial) ...
  initial = experiment.build(configs.load_config_file(SPEC)).init()
  assert not np.allclose(
    jax.tree.leaves(state_a.models['generator'].params)[0],
    jax.tree.leaves(initial.models['generator'].params)[0],
  )
  # ... and both runs changed it alike: float reduction-order noise, a few pixels off by 1.
  assert np.abs(a - b).mean() <= 0.03, np.abs(a - b).mean()
  for name in state_a.models:
    for part in ('params', 'collections'):
      x = jax.tree.leaves(getattr(state_a.models[name], part))
      y = jax.tree.leaves(getattr(state_b.models[name], part))
      for u, v in zip(x, y):
        np.testing.assert_allclose(np.asarray(u), np.asarray(v), rtol=1e-4, atol=1e-5)
  # Process 0 alone wrote the logs.
  steps = [l.split(',')[0] for l in open(two / 'metrics.jsonl')]
  assert steps == [f'{{"step": {s}' for s in range(1, STEPS + 1)]
