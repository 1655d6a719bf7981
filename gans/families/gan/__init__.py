"""The `gan` family: one generator, one discriminator, one composed adversarial step.

Every adversarial model of the zoo trains here (GAN, DCGAN, cGAN, ACGAN, WGAN,
WGAN-GP, LSGAN, SNGAN, BigGAN): the objective, regularizers and tricks are composed
from the config into one step (gans/families/gan/step.py), not forked per paper.
State: models 'generator' and 'discriminator'; EMA of the generator when
`config.ema_decay` > 0. One phase, 'main': `n_critic` D updates then one G update.
"""

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import NamedSharding, PartitionSpec as P

from gans import configs
from gans import nets
from gans import parallel
from gans.augment import policy as augment_lib
from gans.data import images as image_lib
from gans.families.gan import step as step_lib
from gans.families.gan import tricks as tricks_lib
from gans.objectives import losses
from gans.train import health as health_lib
from gans.train import state as state_lib
from gans.train import writer as writer_lib
from gans.train.experiment import Experiment


def validate(config):
  """Checks the objective, regularizer and trick switches; ValueError names the key."""
  if config.n_critic <= 0:
    raise ValueError(f'config.n_critic must be positive, got {config.n_critic!r}.')
  if config.gradient_penalty < 0:
    raise ValueError(f'config.gradient_penalty must be >= 0, got {config.gradient_penalty!r}.')
  if not 0.0 <= config.ema_decay < 1.0:
    raise ValueError(f'config.ema_decay must be in [0, 1), got {config.ema_decay!r}.')
  augment_lib.validate(config)
  name = config.loss
  if name not in losses.LOSSES:
    raise ValueError(f'config.loss={name!r} is not a loss; known: {", ".join(losses.LOSSES)}.')
  if name == 'least_squares':
    losses.parse_coding(config.ls_coding)
  for field in (
    'weight_clip',
    'dragan',
    'r1',
    'g_ortho_reg',
    'd_ortho_reg',
    'instance_noise',
    'instance_noise_anneal_steps',
    'aux_weight',
    'truncation',
  ):
    if config[field] < 0:
      raise ValueError(f'config.{field} must be >= 0, got {config[field]!r}.')
  if not 0.0 <= config.label_smoothing < 1.0:
    raise ValueError(f'config.label_smoothing must be in [0, 1), got {config.label_smoothing!r}.')
  if not 0.0 <= config.label_flip <= 0.5:
    raise ValueError(f'config.label_flip must be in [0, 0.5], got {config.label_flip!r}.')
  uses_labels = config.label_smoothing > 0 or config.noisy_labels or config.label_flip > 0
  if uses_labels and name not in losses.LABEL_LOSSES:
    raise ValueError(
      f'config.label_smoothing/noisy_labels/label_flip need a loss with '
      f'targets ({", ".join(losses.LABEL_LOSSES)}), not config.loss={name!r}.'
    )
  pack = config.pack
  if int(pack) < 1 or config.batch_size % int(pack):
    raise ValueError(
      f'config.pack={pack!r} must be >= 1 and divide config.batch_size={config.batch_size}.'
    )
  if config.conditional and int(pack) > 1:
    raise ValueError('config.pack > 1 is not supported with config.conditional.')


def init_state(config, generator, discriminator, example_shape, g_tx, d_tx, seed=None):
  """Initializes every part of the state from `config.seed` (pure; jit it).

  `seed` (optional, may be traced) replaces config.seed, so several runs can be
  initialized under `jax.vmap` (gans.sweep.vectorised). With `config.pack` = m, D is
  initialized on m samples concatenated (tricks.pack).
  """
  seed = config.seed if seed is None else seed
  init_key, key = jax.random.split(jax.random.PRNGKey(seed))
  g_key, d_key = jax.random.split(init_key)
  z = jnp.zeros((2, config.latent_dim), jnp.float32)
  y = jnp.zeros((2,), jnp.int32)
  g = state_lib.init_model(generator, g_key, z, y, tx=g_tx)
  m = int(config.pack)
  x = tricks_lib.pack(jnp.zeros((2 * m,) + tuple(example_shape), jnp.float32), m)
  d = state_lib.init_model(discriminator, d_key, x, y, tx=d_tx)
  ema = {'generator': state_lib.ema_copy(g)} if config.ema_decay > 0 else {}
  return state_lib.TrainState(
    step=jnp.zeros((), jnp.int32),
    key=key,
    models=dict(generator=g, discriminator=d),
    ema=ema,
    extras=augment_lib.Augmentation(config).init_extras(),
  )


def optimizers(config):
  """(G's, D's) optax transformations; D's schedule counts its n_critic updates."""
  g_tx = state_lib.make_optimizer(config.g_optimizer, config.total_steps)
  d_tx = state_lib.make_optimizer(config.d_optimizer, config.total_steps * config.n_critic)
  return g_tx, d_tx


def latents(config, key, n):
  """Latents for sampling and evaluation (truncated when config.truncation > 0)."""
  return step_lib.sample_latent(key, n, config.latent_dim, config.truncation)


def grid_inputs(config, key, n):
  """Latents and labels for a sample grid: conditional grids hold one class per row."""
  z = latents(config, key, n)
  k = configs.class_count(config)
  if not k:
    return z, None
  cols = -(-n // k)
  return z, jnp.arange(n, dtype=jnp.int32) // cols


def build(config, mesh, dataset):
  """The GAN `Experiment` for `config` on `mesh` and `dataset` (validated by the caller)."""
  augment_lib.check_dataset(config, dataset)
  generator, discriminator = nets.build(config, dataset.example_shape)
  g_tx, d_tx = optimizers(config)
  replicated = parallel.replicated(mesh)
  init = jax.jit(
    lambda: init_state(config, generator, discriminator, dataset.example_shape, g_tx, d_tx),
    out_shardings=replicated,
  )
  data_axis = NamedSharding(mesh, P('data'))
  constrain = lambda x: jax.lax.with_sharding_constraint(x, data_axis)
  step_fn = step_lib.make_train_step(
    config, generator, discriminator, g_tx, d_tx, constrain=constrain
  )
  batch_sharding = parallel.batch_sharding(mesh, batch_axis=1)
  train_step = jax.jit(
    step_fn,
    in_shardings=(replicated, batch_sharding),
    out_shardings=(replicated, replicated),
    donate_argnums=0,
  )
  apply_g = step_lib.make_sample_fn(generator)
  num_classes = configs.class_count(config)

  def sample(state, key, start, n, use_ema=True):
    params, collections = state.sampling_variables('generator', use_ema)
    y = None if not num_classes else jnp.arange(start, start + n, dtype=jnp.int32) % num_classes
    return apply_g(params, collections, latents(config, key, n), y)

  fixed_z, fixed_y = grid_inputs(
    config, jax.random.PRNGKey(config.seed + 1), config.num_grid_samples
  )

  def grids(state):
    params, collections = state.sampling_variables('generator')
    samples = np.asarray(jax.device_get(apply_g(params, collections, fixed_z, fixed_y)))
    if dataset.is_image:
      return {'samples': image_lib.grid(image_lib.to_uint8(samples), rows=num_classes or None)}
    means = dataset.extra.get('means')
    lim = 1.25 * np.abs(means).max() + 0.5 if means is not None else None
    return {'samples': writer_lib.scatter_image(samples, reference=means, lim=lim)}

  monitor = health_lib.from_config(config)

  def health(step, means, state):
    g = state.models['generator']
    return monitor.update(step, means, lambda: apply_g(g.params, g.collections, fixed_z, fixed_y))

  return Experiment(
    config=config,
    mesh=mesh,
    dataset=dataset,
    init=init,
    steps={'main': train_step},
    grids=grids,
    batch_group=int(config.n_critic),
    sample=sample,
    health=health if monitor is not None else None,
    modules=dict(generator=generator, discriminator=discriminator),
    # The latent path of the perceptual evaluators (gans.eval.perceptual):
    # generate(params, collections, z, y) -> samples; latents(key, n) -> z.
    functions=dict(generate=apply_g, latents=lambda key, n: latents(config, key, n)),
  )
