"""Trains, samples from or evaluates an experiment (any family: GAN, VAE, PixelCNN, ...).

  python launch.py --config experiments/wgan_gp.py --workdir runs/wgan_gp
  python launch.py --config experiments/wgan_gp.py:dataset=cifar10,arch=resnet \
      --workdir runs/wgan_gp_cifar --config.g_optimizer.lr=2e-4
  python launch.py --config experiments/wgan_gp.py --workdir runs/wgan_gp \
      --mode sample --num_samples 10000 --output runs/wgan_gp/samples.npz
  python launch.py --config experiments/wgan_gp.py --workdir runs/wgan_gp --mode eval
      (every evaluator of config.evals on the latest checkpoint -> runs/wgan_gp/eval_<step>.json)
"""

from absl import app
from absl import flags
from ml_collections import config_flags

from gans import run

_CONFIG = config_flags.DEFINE_config_file(
  'config', None, 'Experiment file, optionally with arguments: path.py[:k=v,...].', lock_config=True
)  # --config.<typo>=... fails instead of adding a field.
_WORKDIR = flags.DEFINE_string('workdir', None, 'Directory for checkpoints, logs, samples.')
_MODE = flags.DEFINE_enum('mode', 'train', list(run.MODES), 'What to do.')
_NUM_SAMPLES = flags.DEFINE_integer(
  'num_samples',
  None,
  '--mode sample: how many (default 1000); --mode eval: generated '
  'samples of the sample evaluators (default their num_samples).',
)
_OUTPUT = flags.DEFINE_string(
  'output', None, '--mode sample: .npz path (default WORKDIR/samples.npz).'
)
_DISTRIBUTED = flags.DEFINE_bool(
  'distributed', False, 'Call jax.distributed.initialize() (multi-host runs).'
)
flags.mark_flags_as_required(['config', 'workdir'])


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {argv[1:]}')
  run.setup_logging()
  run.maybe_initialize_distributed(_DISTRIBUTED.value)
  run.main(
    _CONFIG.value, _WORKDIR.value, _MODE.value, num_samples=_NUM_SAMPLES.value, output=_OUTPUT.value
  )


if __name__ == '__main__':
  app.run(main)
