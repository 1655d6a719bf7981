"""Trains, samples from or evaluates an experiment (any family: GAN, VAE, PixelCNN, ...).

  python launch.py --config experiments/wgan_gp.py --workdir runs/wgan_gp
  python launch.py --config experiments/wgan_gp.py:dataset=cifar10,arch=resnet \
      --workdir runs/wgan_gp_cifar --config.g_optimizer.lr=2e-4
  python launch.py --config experiments/wgan_gp.py --workdir runs/wgan_gp \
      --mode sample --num_samples 10000 --output runs/wgan_gp/samples.npz
  python launch.py --config experiments/cyclegan.py --workdir runs/cyclegan \
      --mode sample --input digits.npz --direction b2a   (translates; also a PNG folder)
  python launch.py --config experiments/wgan_gp.py --workdir runs/wgan_gp --mode eval
      (every evaluator of config.evals on the latest checkpoint -> runs/wgan_gp/eval_<step>.json)
  python launch.py --config experiments/toy.py --workdir runs/toy_sweep --sweep
      (the members of the file's get_sweep, each in runs/toy_sweep/<member>/; docs/sweeps.md)

A bad input (an unknown config key or dataset, a missing file, a damaged checkpoint...)
stops the command before it creates anything, with one line `error: ...` naming it on
stderr and exit status 2.

Multi-host: start the same command on every host. On TPU pods and SLURM / Open MPI
clusters `--distributed` is enough; elsewhere also give the coordinator's host:port,
the number of processes and each one's index (flags or the environment variables
JAX_COORDINATOR_ADDRESS, JAX_NUM_PROCESSES, JAX_PROCESS_ID; see gans/run.py):

  python launch.py ... --coordinator_address=host0:1234 --num_processes=2 --process_id=0
"""

import difflib
import os
import sys

from absl import app
from absl import flags
import ml_collections
from ml_collections import config_flags

from gans import configs
from gans import errors

_CONFIG = config_flags.DEFINE_config_file(
  'config', None, 'Experiment file, optionally with arguments: path.py[:k=v,...].', lock_config=True
)  # --config.<typo>=... fails instead of adding a field.
_WORKDIR = flags.DEFINE_string('workdir', None, 'Directory for checkpoints, logs, samples.')
# gans.run.MODES: gans.run (JAX, orbax, TFDS: ~2 s) is imported once the flags are
# parsed, so that a misspelt flag or config key is reported at once.
_MODE = flags.DEFINE_enum('mode', 'train', ['train', 'sample', 'eval'], 'What to do.')
_NUM_SAMPLES = flags.DEFINE_integer(
  'num_samples',
  None,
  '--mode sample: how many (default 1000); --mode eval: generated '
  'samples of the sample evaluators (default their num_samples).',
)
_EVALS = flags.DEFINE_list(
  'evals',
  None,
  '--mode eval: the evaluators of config.evals to run, by name (default all), e.g. samples,ppl_w.',
)
_OUTPUT = flags.DEFINE_string(
  'output', None, '--mode sample: .npz path (default WORKDIR/samples.npz; .npz is added).'
)
_INPUT = flags.DEFINE_string(
  'input',
  None,
  '--mode sample of a translating family (cyclegan, paired): a directory of PNGs or an '
  '.npz of uint8 images to translate (default output WORKDIR/translations_<direction>.npz).',
)
_DIRECTION = flags.DEFINE_enum(
  'direction', 'a2b', ['a2b', 'b2a'], '--mode sample --input: which way to translate.'
)
_RESUME_FROM = flags.DEFINE_integer(
  'resume_from',
  None,
  'Checkpoint step to start from instead of the latest (e.g. the newest intact one when '
  'the latest is damaged): train resumes from it, setting the newer checkpoints aside in '
  'WORKDIR/checkpoints_set_aside/; sample and eval read it.',
)
_DISTRIBUTED = flags.DEFINE_bool(
  'distributed',
  False,
  'Call jax.distributed.initialize() (multi-host runs; implied by the three flags below).',
)
_COORDINATOR = flags.DEFINE_string(
  'coordinator_address',
  None,
  'Multi-host: host:port of process 0 (default $JAX_COORDINATOR_ADDRESS).',
)
_NUM_PROCESSES = flags.DEFINE_integer(
  'num_processes', None, 'Multi-host: number of processes (default $JAX_NUM_PROCESSES).'
)
_PROCESS_ID = flags.DEFINE_integer(
  'process_id', None, 'Multi-host: index of this process (default $JAX_PROCESS_ID).'
)
_SWEEP = flags.DEFINE_bool(
  'sweep',
  False,
  "Train the members of the experiment file's get_sweep(arg), each in WORKDIR/<member>/ "
  '(docs/sweeps.md).',
)
_SWEEP_INDEX = flags.DEFINE_integer(
  'sweep_index',
  None,
  'Run only this group of the sweep (implies --sweep; default $SLURM_ARRAY_TASK_ID when '
  '--sweep is given, else every group).',
)
_SWEEP_DEVICES = flags.DEFINE_integer(
  'sweep_devices', 0, "--sweep: devices of the mesh's 'sweep' axis (0: gcd(members, devices))."
)
_SWEEP_SEQUENTIAL = flags.DEFINE_bool(
  'sweep_sequential', False, '--sweep: train every member as its own run (no vectorisation).'
)
flags.mark_flags_as_required(['config', 'workdir'])


def _fail(message):
  """Prints `error: message` as one line and exits with status 2 (bad user input)."""
  print(f'error: {message}', file=sys.stderr)
  sys.exit(errors.EXIT_STATUS)


def _config_spec(argv):
  """The value of --config in `argv` (path[:args]), or None."""
  for i, arg in enumerate(argv):
    name, has_value, value = arg.lstrip('-').partition('=')
    if arg.startswith('-') and name == 'config':
      return value if has_value else (argv[i + 1] if i + 1 < len(argv) else None)
  return None


def _unknown_override(argv):
  """'--config.a.b: ...' for the first override naming no field of the config, or None."""
  spec = _config_spec(argv)
  if spec is None:
    return None
  config = configs.load_config_file(spec)
  for arg in argv:
    name = arg.lstrip('-').partition('=')[0]
    if not (arg.startswith('-') and name.startswith('config.')):
      continue
    node, parts = config, name.split('.')[1:]
    for depth, part in enumerate(parts):
      if isinstance(node, (dict, ml_collections.ConfigDict)) and part in node:
        node = node[part]
        continue
      owner = '.'.join(['config', *parts[:depth]])
      if not isinstance(node, (dict, ml_collections.ConfigDict)):
        return f'--{name}: {owner} is a {type(node).__name__}, not a group of fields.'
      known = sorted(node.keys())
      close = difflib.get_close_matches(part, known, n=1)
      hint = f'did you mean --{owner}.{close[0]}?' if close else f'its fields: {", ".join(known)}.'
      return f'--{name}: {owner} has no field {part!r}; {hint}'
  return None


def _root_cause(error):
  """The innermost exception of the cause/context chain of `error`."""
  seen = set()
  while id(error) not in seen and (error.__cause__ or error.__context__) is not None:
    seen.add(id(error))
    error = error.__cause__ or error.__context__
  return error


def parse_flags(argv):
  """absl's flag parsing, with every bad flag, --config file or override as one line.

  ml_collections raises a bare AttributeError (its 'Did you mean' hint with a literal
  newline) for an override naming no field, and defers a missing config file until the
  config is first read: both are checked here, so that nothing is created either way.
  get_config(arg) refusing its argument with a ValueError is one line too; any other
  exception in it is a bug of the file: absl's report, with the traceback, is kept.
  """
  try:
    rest = flags.FLAGS(argv)
  except flags.Error as e:
    cause = _root_cause(e)
    if 'Error whilst parsing config file' in str(e):
      if not isinstance(cause, ValueError):  # A bug in the experiment file: its traceback.
        sys.stderr.write(f'FATAL Flags parsing error: {e}\n')
        sys.exit(1)
      # get_config(arg) refused its argument (configs.parse_arg, or the file's own check).
      _fail(f'--config={_config_spec(argv)}: {errors.one_line(cause)}')
    _fail(errors.one_line(e))
  except (AttributeError, KeyError):  # ml_collections: an override names no field.
    message = _unknown_override(argv)
    if message is None:
      raise
    _fail(message)
  config = _CONFIG.value
  if not isinstance(config, ml_collections.ConfigDict):  # ml_collections' deferred error.
    path = (_config_spec(argv) or '').partition(':')[0]
    if not os.path.isfile(path):
      _fail(f'--config: no such file {path!r}.')
    try:
      config.keys()
    except OSError as e:
      _fail(f'--config={_config_spec(argv)}: {errors.one_line(e.__cause__ or e)}')
  return rest


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {argv[1:]}')
  from gans import run  # pylint: disable=g-import-not-at-top

  run.setup_logging()
  try:
    run.maybe_initialize_distributed(
      _DISTRIBUTED.value,
      coordinator_address=_COORDINATOR.value,
      num_processes=_NUM_PROCESSES.value,
      process_id=_PROCESS_ID.value,
    )
    if _SWEEP.value or _SWEEP_INDEX.value is not None:
      from gans.sweep import runner  # pylint: disable=g-import-not-at-top

      if _MODE.value != 'train':
        raise errors.UserInputError(
          f'--sweep trains a sweep; for --mode {_MODE.value} give a member folder as --workdir.'
        )
      runner.run(
        _CONFIG.value,
        _config_spec(sys.argv),
        _WORKDIR.value,
        index=_SWEEP_INDEX.value,
        vectorise=not _SWEEP_SEQUENTIAL.value,
        sweep_devices=_SWEEP_DEVICES.value,
      )
      return
    from gans.sweep import definition  # pylint: disable=g-import-not-at-top

    run.main(
      definition.member_config(_CONFIG.value, _WORKDIR.value),  # A sweep member's own config.
      _WORKDIR.value,
      _MODE.value,
      num_samples=_NUM_SAMPLES.value,
      output=_OUTPUT.value,
      evals=_EVALS.value,
      resume_from=_RESUME_FROM.value,
      input_path=_INPUT.value,
      direction=_DIRECTION.value,
    )
  except errors.UserInputError as e:
    _fail(errors.one_line(e))


if __name__ == '__main__':
  app.run(main, flags_parser=parse_flags)
