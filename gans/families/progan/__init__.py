"""The `progan` family: Karras et al. 2018, "Progressive Growing of GANs for Improved
Quality, Stability, and Variation", as tkarras/progressive_growing_of_gans trains it.

Models 'generator' (gans.nets.progan.Generator) with its EMA (decay 0.999) and
'discriminator', each holding the layers of every resolution from init on, so the
train state never changes shape. The resolution schedule (gans/families/progan/
schedule.py) is in images shown: a stabilize phase of `stabilize_kimg` thousand images
per resolution and a fade-in of `fade_kimg` between resolutions (paper: 800 + 800 for
CelebA-HQ, 600 + 600 the official default, 400 + 400 for CIFAR-10). One phase per
resolution, 'res4', 'res8', ...: each is compiled once, on its first step, and the
fade-in weight alpha is computed inside the step from the step counter (see step.py).
Losses: WGAN-GP (lambda 10) with the drift term 0.001 E[D(x)^2]; Adam lr 0.001, betas
(0, 0.99), eps 1e-8, its moments reset at the start of every fade-in and stabilize
phase; one D step per G step. The batch size stays constant over resolutions (the
paper lowers it from 256x256 on).

Samples (grids, `--mode sample`, the sample evaluators) come from the EMA generator at
the resolution and alpha of the state's step, nearest-upsampled to image_size, so the
standard evaluators (fid_classifier, Inception FID/IS) work at every stage.
Unconditional only.
"""

import functools

import jax
import jax.numpy as jnp
import ml_collections

from gans import configs
from gans import nets
from gans.families import common
from gans.families.progan import schedule as schedule_lib
from gans.families.progan import step as step_lib
from gans.nets import progan as progan_nets
from gans.train import state as state_lib
from gans.train.experiment import Experiment


def progan_config():
  """The `progan` family's fields over gans.configs.run_config(): the paper's networks
  (Table 2), loss, optimizer and the official default schedule (600 + 600 kimg)."""
  c = configs.run_config()
  c.family = 'progan'
  c.generator = configs.net('progan', latent_dim=512, fmap_base=8192, fmap_max=512)
  c.discriminator = configs.net('progan', fmap_base=8192, fmap_max=512, mbstd_group_size=4)
  c.optimizer = configs.optimizer('adam', lr=0.001, b1=0.0, b2=0.99, eps=1e-8)
  c.gp_weight = 10.0  # WGAN-GP lambda.
  c.gp_target = 1.0  # Gradient norm target t: lambda (||g|| - t)^2 / t^2 (CIFAR-10: 750).
  c.drift = 0.001  # epsilon_drift: drift * E[D(x_real)^2].
  c.start_resolution = 4
  c.stabilize_kimg = 600.0  # Thousands of images per stabilize phase.
  c.fade_kimg = 600.0  # Thousands of images per fade-in.
  c.reset_optimizer = True  # Fresh Adam moments at every fade-in and stabilize start.
  c.ema_decay = 0.999
  c.evals = ml_collections.ConfigDict({'samples': configs.sample_eval()})
  return c


def validate(config):
  """Checks the family's fields; ValueError names the key."""
  if config.get('conditional', False):
    raise ValueError('config.conditional: the progan family is unconditional.')
  for field in ('gp_weight', 'drift'):
    if config[field] < 0:
      raise ValueError(f'config.{field} must be >= 0, got {config[field]!r}.')
  if config.gp_target <= 0:
    raise ValueError(f'config.gp_target must be positive, got {config.gp_target!r}.')
  if not 0.0 <= config.ema_decay < 1.0:
    raise ValueError(f'config.ema_decay must be in [0, 1), got {config.ema_decay!r}.')
  try:
    schedule_lib.Schedule.from_config(config)
  except ValueError as e:
    raise ValueError(f'config.start_resolution / image_size / stabilize_kimg / fade_kimg: {e}')
  group = config.discriminator.get('mbstd_group_size', 4)
  if group > 1 and config.batch_size % min(group, config.batch_size):
    raise ValueError(
      f'config.batch_size={config.batch_size} is not a multiple of '
      f'config.discriminator.mbstd_group_size={group} (minibatch standard deviation groups).'
    )


def schedule_of(config):
  """The run's gans.families.progan.schedule.Schedule."""
  return schedule_lib.Schedule.from_config(config)


def build(config, mesh, dataset):
  """The ProGAN `Experiment` (validated by the caller)."""
  shape = tuple(dataset.example_shape)
  if len(shape) != 3 or shape[0] != shape[1] or shape[0] != config.image_size:
    raise ValueError(
      f'ProGAN needs square images of config.image_size={config.image_size}; the dataset '
      f'gives {shape}.'
    )
  schedule = schedule_of(config)
  generator = nets.build_module(config.generator, 'Generator', 0, key='generator', out_shape=shape)
  discriminator = nets.build_module(config.discriminator, 'Discriminator', 0, key='discriminator')
  tx = state_lib.make_optimizer(config.optimizer, config.total_steps)
  init = common.jit_init(
    lambda: step_lib.init_state(config, generator, discriminator, shape, tx), mesh
  )
  steps = {
    schedule_lib.phase_name(r): common.jit_step(
      step_lib.make_train_step(config, generator, discriminator, tx, schedule, r), mesh
    )
    for r in schedule.resolutions
  }

  @functools.partial(jax.jit, static_argnums=0)
  def generate(resolution, params, z, alpha):
    images = generator.apply({'params': params}, z, resolution=resolution, alpha=alpha)
    return progan_nets.upsample(images, schedule.final // resolution)

  def sample_at(state, z, use_ema=True):
    resolution, alpha = schedule.at_step(int(state.step))
    params, _ = state.sampling_variables('generator', use_ema)
    return generate(resolution, params, z, jnp.float32(alpha))

  def sample(state, key, start, n, use_ema=True):
    del start  # Unconditional.
    return sample_at(state, jax.random.normal(key, (n, generator.latent_dim)), use_ema)

  grid_z = jax.random.normal(
    jax.random.PRNGKey(config.seed + 1), (config.num_grid_samples, generator.latent_dim)
  )

  def grids(state):
    return {'samples': common.image_grid(sample_at(state, grid_z))}

  return Experiment(
    config=config,
    mesh=mesh,
    dataset=dataset,
    init=init,
    steps=steps,
    phase=schedule.phase,
    grids=grids,
    sample=sample,
    modules=dict(generator=generator, discriminator=discriminator),
    functions=dict(generate=generate),
    protocol=dict(
      samples=(
        'EMA generator at the resolution and fade-in alpha of the state step, '
        f'nearest-upsampled to {schedule.final}x{schedule.final}'
      ),
    ),
  )
