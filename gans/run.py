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


def maybe_initialize_distributed(flag_value=False):
  """Calls jax.distributed.initialize() when asked by flag or GANS_DISTRIBUTED=1.

  On TPU pods and SLURM/Open MPI clusters JAX finds the coordinator itself; elsewhere
  set JAX_COORDINATOR_ADDRESS, JAX_NUM_PROCESSES and JAX_PROCESS_ID.
  """
  if flag_value or os.environ.get('GANS_DISTRIBUTED', '') == '1':
    jax.distributed.initialize()
    logging.info(
      'Process %d of %d, %d local / %d global devices',
      jax.process_index(),
      jax.process_count(),
      jax.local_device_count(),
      jax.device_count(),
    )


def main(config, workdir, mode='train', num_samples=None, output=None, resume_from=None):
  """Runs `mode` on `workdir`; `resume_from`: the checkpoint step to start from / read."""
  if mode not in MODES:
    raise errors.UserInputError(f'--mode={mode!r} is not one of {MODES}.')
  if mode == 'train':
    return loop.train(config, workdir, hooks=eval_lib.hooks(config), resume_from=resume_from)
  if mode == 'sample':
    output = output or os.path.join(workdir, 'samples.npz')
    return loop.sample(config, workdir, num_samples or 1000, output, step=resume_from)
  if mode == 'eval':  # Latest checkpoint -> workdir/eval_<step>.json (and stdout).
    return evaluate_checkpoint(config, workdir, num_samples, step=resume_from)


def evaluate_checkpoint(config, workdir, num_samples=None, step=None):
  """--mode eval: every evaluator of config.evals on the latest checkpoint (or `step`).

  Writes WORKDIR/eval_<step>.json ({evaluator name: metrics and protocol}) and prints
  it. `num_samples` overrides the sample evaluators' num_samples. Raises
  MissingInputError (a FileNotFoundError) when the workdir has no checkpoint.
  """
  exp, state = loop.restore_latest(config, workdir, step=step)
  results = eval_lib.evaluate(config, exp, state, num_samples)
  step = int(state.step)
  text = json.dumps(results, indent=2, sort_keys=True)
  if jax.process_index() == 0:
    with files.atomic_open(os.path.join(workdir, f'eval_{step}.json'), 'w') as f:
      f.write(text + '\n')
  print(text)
  return results
