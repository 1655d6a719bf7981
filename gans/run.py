"""Entry point behind launch.py: `main(config, workdir, mode, **options)`."""

import json
import os

from absl import logging
import jax

from gans import errors
from gans import files
from gans import eval as eval_lib
from gans.train import loop

MODES = ('train', 'sample', 'eval')


class _QuietLibraries:
  """Drops INFO records of chatty libraries (orbax logs every file it writes)."""

  def filter(self, record):
    return record.levelno > 20 or (
      '/orbax/' not in record.pathname and '/tensorstore/' not in record.pathname
    )


def setup_logging():
  logging.set_verbosity(logging.INFO)
  logging.get_absl_handler().addFilter(_QuietLibraries())


# The variables the multi-host docs name; this JAX reads only the first itself.
DISTRIBUTED_ENV = dict(
  coordinator_address='JAX_COORDINATOR_ADDRESS',
  num_processes='JAX_NUM_PROCESSES',
  process_id='JAX_PROCESS_ID',
)


def distributed_arguments(
  coordinator_address=None, num_processes=None, process_id=None, environ=None
):
  """Keyword arguments for jax.distributed.initialize from flags, else the environment.

  Each of the three is the flag's value when given, else the variable of
  DISTRIBUTED_ENV when set, else left out (JAX then detects it on TPU pods and SLURM /
  Open MPI clusters). Raises UserInputError naming a variable that is not an integer.
  """
  environ = os.environ if environ is None else environ
  given = dict(
    coordinator_address=coordinator_address, num_processes=num_processes, process_id=process_id
  )
  kwargs = {}
  for name, variable in DISTRIBUTED_ENV.items():
    value = given[name]
    if value is None and environ.get(variable, '').strip():
      value = environ[variable].strip()
      if name != 'coordinator_address':
        try:
          value = int(value)
        except ValueError:
          raise errors.UserInputError(f'{variable}={value!r} is not an integer.') from None
    if value is not None:
      kwargs[name] = value
  return kwargs


def maybe_initialize_distributed(
  flag_value=False, coordinator_address=None, num_processes=None, process_id=None
):
  """Calls jax.distributed.initialize() for a multi-host run; returns whether it did.

  It does when asked by flag or GANS_DISTRIBUTED=1, or when any of the coordinator
  address, the number of processes and the process index is given (flags of launch.py,
  or JAX_COORDINATOR_ADDRESS, JAX_NUM_PROCESSES, JAX_PROCESS_ID). On TPU pods and
  SLURM/Open MPI clusters JAX finds all three itself; elsewhere give all three: every
  process the same address (host:port of process 0) and number, each its own index.
  """
  kwargs = distributed_arguments(coordinator_address, num_processes, process_id)
  if not (flag_value or os.environ.get('GANS_DISTRIBUTED', '') == '1' or kwargs):
    return False
  try:
    jax.distributed.initialize(**kwargs)
  except (ValueError, RuntimeError) as e:
    missing = [DISTRIBUTED_ENV[k] for k in DISTRIBUTED_ENV if k not in kwargs]
    if not missing:
      raise
    flags_missing = ', '.join('--' + k for k in DISTRIBUTED_ENV if k not in kwargs)
    raise errors.UserInputError(
      f'jax.distributed.initialize could not find {", ".join(missing)} ({errors.one_line(e)}); '
      f'outside TPU pods and SLURM / Open MPI clusters pass {flags_missing} (or set the '
      f'variables).'
    ) from e
  logging.info(
    'Process %d of %d, %d local / %d global devices',
    jax.process_index(),
    jax.process_count(),
    jax.local_device_count(),
    jax.device_count(),
  )
  return True


def main(
  config,
  workdir,
  mode='train',
  num_samples=None,
  output=None,
  resume_from=None,
  evals=None,
  input_path=None,
  direction='a2b',
):
  """Runs `mode` on `workdir`; `resume_from`: the checkpoint step to start from / read;
  `evals`: --mode eval's evaluator names (None: all of config.evals); `input_path`:
  --mode sample translates these images (gans.translate) in `direction` instead."""
  if mode not in MODES:
    raise errors.UserInputError(f'--mode={mode!r} is not one of {MODES}.')
  if mode == 'train':
    return loop.train(config, workdir, hooks=eval_lib.hooks(config), resume_from=resume_from)
  if input_path and mode != 'sample':
    raise errors.UserInputError(f'--input translates files with --mode sample, not --mode {mode}.')
  if mode == 'sample' and input_path:
    from gans import translate  # pylint: disable=g-import-not-at-top

    return translate.translate_files(
      config, workdir, input_path, direction, output, step=resume_from
    )
  if mode == 'sample':
    output = output or os.path.join(workdir, 'samples.npz')
    return loop.sample(config, workdir, num_samples or 1000, output, step=resume_from)
  if mode == 'eval':  # Latest checkpoint -> workdir/eval_<step>.json (and stdout).
    return evaluate_checkpoint(config, workdir, num_samples, step=resume_from, names=evals)


def evaluate_checkpoint(config, workdir, num_samples=None, step=None, names=None):
  """--mode eval: the evaluators of config.evals (all, or those in `names`) on the
  latest checkpoint (or `step`).

  Writes WORKDIR/eval_<step>.json ({evaluator name: metrics and protocol}) and prints
  it. `num_samples` overrides the evaluators' num_samples. Raises MissingInputError (a
  FileNotFoundError) when the workdir has no checkpoint, UserInputError for a name
  that is not in config.evals (before restoring anything).
  """
  known = list(config.get('evals', {}))
  unknown = [n for n in names or () if n not in known]
  if unknown:
    raise errors.UserInputError(
      f'--evals: {unknown[0]!r} is not an evaluator of config.evals; known: {", ".join(known)}.'
    )
  exp, state = loop.restore_latest(config, workdir, step=step)
  results = eval_lib.evaluate(config, exp, state, num_samples, names=names)
  step = int(state.step)
  text = json.dumps(results, indent=2, sort_keys=True)
  if jax.process_index() == 0:
    with files.atomic_open(os.path.join(workdir, f'eval_{step}.json'), 'w') as f:
      f.write(text + '\n')
  print(text)
  return results
