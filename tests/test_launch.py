"""launch.py on bad input: one line naming the culprit, exit status 2, nothing created.

Each case runs launch.py as a user would (a fresh process) with one bad input built
here, and checks the whole output: no traceback, one `error:` line that names the key,
dataset, file or step, and no workdir left behind. A bug (an exception that is not a
UserInputError) keeps its traceback.
"""

import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXPERIMENT = os.path.join(ROOT, 'experiments', 'wgan_gp.py')


def launch(*args, devices=1, cwd=None):
  """(exit status, output lines that are not absl INFO/WARNING records)."""
  env = dict(os.environ, JAX_PLATFORMS='cpu', XLA_FLAGS='')
  if devices > 1:
    env['XLA_FLAGS'] = f'--xla_force_host_platform_device_count={devices}'
  out = subprocess.run(
    [sys.executable, os.path.join(ROOT, 'launch.py'), *args],
    env=env,
    capture_output=True,
    text=True,
    timeout=300,
    cwd=cwd,
  )
  text = out.stdout + out.stderr
  lines = [l for l in text.splitlines() if l.strip() and not l.startswith(('I1', 'W1', 'I0', 'W0'))]
  return out.returncode, lines


def _case(tmp_path, *args, devices=1):
  workdir = tmp_path / 'run'
  code, lines = launch('--workdir', str(workdir), *args, devices=devices)
  assert code == 2, lines
  assert len(lines) == 1 and lines[0].startswith('error: '), lines
  assert not os.path.exists(workdir), 'a bad input must not create the workdir'
  return lines[0]


CASES = {
  # Override keys: ml_collections' own report is a 53-line AttributeError.
  'unknown_key': (
    ['--config.no_such_key=1'],
    "error: --config.no_such_key: config has no field 'no_such_key'; its fields: ",
  ),
  'typo_hint': (
    ['--config.n_critc=1'],
    "error: --config.n_critc: config has no field 'n_critc'; did you mean --config.n_critic?",
  ),
  'nested_typo': (
    ['--config.g_optimizer.lrr=2e-4'],
    'config.g_optimizer has no field ',
  ),
  'value_type': (['--config.n_critic=five'], 'error: flag --config.n_critic=five: invalid literal'),
  'unknown_flag': (['--wrkdir=x'], "Unknown command line flag 'wrkdir'. Did you mean: workdir"),
  'dataset': (
    ['--config.dataset=mnist5kk'],
    "error: config.dataset='mnist5kk' is not a dataset (did you mean 'mnist5k'?).",
  ),
  'family': (['--config.family=gann'], "config.family='gann' is not a family; available: "),
  'loss': (['--config.loss=hing'], "config.loss='hing' is not a loss"),
  'network': (['--config.generator.name=dcgann'], "config.generator.name='dcgann' is not a module"),
  'split': (['--config.train_split=train[:120%]'], "Split 'train[:120%]' of dataset 'mnist5k'"),
  'positive': (['--config.total_steps=0'], 'config.total_steps must be positive, got 0.'),
  'evaluator_field': (
    ['--config.evals.samples.metrics=fid,kidd'],
    "Unknown metric 'kidd' in config.evals.samples.metrics",
  ),
  'weights_file': (
    [
      '--config.evals.samples.every=1',
      '--config.evals.samples.features=inception',
      '--config.evals.samples.inception_weights=/nonexistent/pt_inception.pth',
    ],
    "error: config.evals.samples: FID Inception weights file '/nonexistent/pt_inception.pth'",
  ),
  # --mode sample / eval read a workdir: a missing one is an error and stays missing.
  'sample_without_run': (['--mode=sample'], 'error: No checkpoint in '),
  'eval_without_run': (['--mode=eval'], 'error: No checkpoint in '),
  'eval_unknown_evaluator': (
    ['--mode=eval', '--evals=samples,ppl'],
    "error: --evals: 'ppl' is not an evaluator of config.evals; known: samples.",
  ),
}


@pytest.mark.parametrize('name', sorted(CASES))
def test_bad_input_is_one_line_exit_2_nothing_created(name, tmp_path):
  args, expected = CASES[name]
  line = _case(tmp_path, '--config', f'{EXPERIMENT}:runlocal', *args)
  assert expected in line
  assert '\\n' not in line  # The 'Did you mean' hint of ml_collections printed a literal \n.


def test_experiment_argument_and_file(tmp_path):
  line = _case(tmp_path, '--config', f'{EXPERIMENT}:runlocal,datset=cifar10')
  assert line == (
    f"error: --config={EXPERIMENT}:runlocal,datset=cifar10: Unknown config argument 'datset' "
    "in 'runlocal,datset=cifar10'; known arguments: arch, dataset, runlocal."
  )
  missing = os.path.join(ROOT, 'experiments', 'wgan_gpp.py')
  line = _case(tmp_path, '--config', missing)
  assert line == f"error: --config: no such file '{missing}'."


def test_unprepared_tfds_dataset(tmp_path):
  data_dir = tmp_path / 'tfds'
  line = _case(
    tmp_path,
    '--config',
    f'{EXPERIMENT}:runlocal',
    '--config.dataset=cifar10',
    f'--config.data_dir={data_dir}',
  )
  assert (
    f"error: TFDS dataset 'cifar10' (config.dataset) is not prepared for reading in {data_dir}"
    in (line)
  )
  assert f'`tfds build cifar10 --file_format=array_record --data_dir={data_dir}`' in line


def test_batch_size_that_does_not_split_over_the_devices(tmp_path):
  line = _case(tmp_path, '--config', f'{EXPERIMENT}:runlocal', '--config.batch_size=12', devices=8)
  assert line == (
    'error: config.batch_size=12 does not split over the 8 devices (it must be a multiple '
    'of 8): use --config.batch_size=8 or 16.'
  )


def test_a_bug_keeps_its_traceback(tmp_path):
  """An exception that is not bad input (here a TypeError in get_config) is not hidden."""
  experiment = tmp_path / 'buggy.py'
  experiment.write_text('def get_config(arg=None):\n  return len(3)\n')
  code, lines = launch('--config', str(experiment), '--workdir', str(tmp_path / 'run'))
  assert code == 1
  text = '\n'.join(lines)
  assert 'Traceback' in text and "TypeError: object of type 'int' has no len()" in text
