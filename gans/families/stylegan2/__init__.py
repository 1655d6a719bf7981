"""The `stylegan2` family: Karras et al. 2020, "Analyzing and Improving the Image
Quality of StyleGAN", as stylegan2-ada-pytorch trains it.

Models 'generator' (gans.nets.stylegan2.Generator: mapping + synthesis; collection
'stats' holds the tracked mean of w) with its EMA, and 'discriminator'. Extras:
'pl_mean', the running mean of the path lengths, and under ADA its p and r_t
statistics (gans.augment.policy). Phases (chosen on the host from the
step, each compiled once): 'main', 'g_reg' (path-length regularization every
`pl_interval` steps), 'd_reg' (R1 every `r1_interval` steps), 'both_reg'; see
gans/families/stylegan2/step.py for the losses. Under lazy regularization each
network's Adam learning rate is multiplied by c = interval / (interval + 1) and its
betas raised to the power c (the paper, Appendix B), as stylegan2-ada-pytorch does
(also for G when pl_weight is 0). Samples and evaluations use the EMA generator with
`truncation_psi` (1: none) and random noise inputs.
"""

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from gans import configs
from gans import nets
from gans.augment import policy as augment_lib
from gans.families import common
from gans.families.stylegan2 import step as step_lib
from gans.train import state as state_lib
from gans.train.experiment import Experiment
from gans.nets import stylegan2 as sg_nets


def stylegan2_config():
  """The `stylegan2` family's fields over gans.configs.run_config() (paper config F
  losses and schedules; the networks' widths are the experiment's)."""
  c = configs.run_config()
  c.family = 'stylegan2'
  c.generator = configs.net('stylegan2', latent_dim=512, w_dim=512, mapping_layers=8)
  c.discriminator = configs.net('stylegan2', mbstd_group_size=4)
  # One optimizer fragment for both networks (stylegan2-ada: Adam, betas (0, 0.99)).
  c.optimizer = configs.optimizer('adam', lr=0.002, b1=0.0, b2=0.99, eps=1e-8)
  # D's learning rate is optimizer.lr times this (1 in the paper; > 1 is the two
  # time-scale update rule of Heusel et al. 2017).
  c.d_lr_scale = 1.0
  c.r1_gamma = 10.0
  c.r1_interval = 16  # D steps between R1 updates (lazy regularization).
  c.pl_weight = 2.0
  c.pl_interval = 4  # G steps between path-length updates.
  c.pl_decay = 0.01
  c.pl_batch_shrink = 2
  c.style_mixing_prob = 0.9
  c.ema_kimg = 10.0  # Half-life of the generator EMA in thousands of images.
  c.ema_rampup = 0.0  # > 0: half-life at most ema_rampup * images seen (cifar: 0.05).
  c.truncation_psi = 1.0  # Sampling and evaluation: w_avg + psi (w - w_avg).
  # DiffAugment policy for every image D sees: '' or a subset of
  # 'color,translation,cutout' (gans.augment.diffaugment; Zhao et al. 2020).
  c.augment = ''
  c.ada = configs.ada()  # ADA (gans.augment.ada); at most one of augment / ada.
  c.evals = ml_collections.ConfigDict({'samples': configs.sample_eval()})
  return c


def validate(config):
  """Checks the family's fields; ValueError names the key."""
  if config.d_lr_scale <= 0:
    raise ValueError(f'config.d_lr_scale must be positive, got {config.d_lr_scale!r}.')
  augment_lib.validate(config)
  for field in ('r1_gamma', 'pl_weight', 'pl_decay', 'style_mixing_prob', 'ema_kimg', 'ema_rampup'):
    if config[field] < 0:
      raise ValueError(f'config.{field} must be >= 0, got {config[field]!r}.')
  for field in ('r1_interval', 'pl_interval', 'pl_batch_shrink'):
    if int(config[field]) < 1:
      raise ValueError(f'config.{field} must be a positive integer, got {config[field]!r}.')
  if config.style_mixing_prob > 1 or config.pl_decay > 1:
    raise ValueError('config.style_mixing_prob and config.pl_decay must be <= 1.')
  sg_nets.resolutions(config.image_size)
  group = config.discriminator.get('mbstd_group_size', 4)
  if config.batch_size % min(group, config.batch_size):
    raise ValueError(
      f'config.batch_size={config.batch_size} is not a multiple of '
      f'config.discriminator.mbstd_group_size={group} (minibatch standard deviation groups).'
    )


def lazy_optimizer(cfg, interval):
  """The optimizer fragment with lr * c and betas ** c, c = interval / (interval + 1)."""
  cfg = ml_collections.ConfigDict(cfg.to_dict())
  c = step_lib.lazy_ratio(interval)
  cfg.lr = cfg.lr * c
  for beta in ('b1', 'b2'):
    if beta in cfg:
      cfg[beta] = cfg[beta] ** c
  return cfg


def build(config, mesh, dataset):
  """The StyleGAN2 `Experiment` (validated by the caller)."""
  k = configs.class_count(config)
  shape = tuple(dataset.example_shape)
  if shape[0] != shape[1]:
    raise ValueError(f'StyleGAN2 needs square images; the dataset gives {shape}.')
  generator = nets.build_module(config.generator, 'Generator', k, key='generator', out_shape=shape)
  discriminator = nets.build_module(config.discriminator, 'Discriminator', k, key='discriminator')
  g_tx = state_lib.make_optimizer(
    lazy_optimizer(config.optimizer, config.pl_interval), config.total_steps
  )
  d_opt = lazy_optimizer(config.optimizer, config.r1_interval)
  d_opt.lr = d_opt.lr * config.d_lr_scale
  d_tx = state_lib.make_optimizer(d_opt, config.total_steps)
  init = common.jit_init(
    lambda: step_lib.init_state(config, generator, discriminator, shape, g_tx, d_tx), mesh
  )
  steps = {
    name: common.jit_step(
      step_lib.make_train_step(config, generator, discriminator, g_tx, d_tx, name), mesh
    )
    for name in step_lib.PHASES
  }
  psi = float(config.truncation_psi)

  @jax.jit
  def generate(variables, z, y, key):
    return generator.apply(variables, z, y, truncation_psi=psi, rngs={'noise': key})

  def labels(start, n):
    return None if not k else jnp.arange(start, start + n, dtype=jnp.int32) % k

  def sample(state, key, start, n, use_ema=True):
    params, collections = state.sampling_variables('generator', use_ema)
    z_key, noise_key = jax.random.split(key)
    z = jax.random.normal(z_key, (n, generator.latent_dim))
    return generate({'params': params, **collections}, z, labels(start, n), noise_key)

  grid_key = jax.random.PRNGKey(config.seed + 1)

  def grids(state):
    rows = k or None
    n = config.num_grid_samples
    if k:
      cols = -(-n // k)
      y = jnp.arange(n, dtype=jnp.int32) // cols
    else:
      y = None
    z_key, noise_key = jax.random.split(grid_key)
    z = jax.random.normal(z_key, (n, generator.latent_dim))
    params, collections = state.sampling_variables('generator')
    images = generate({'params': params, **collections}, z, y, noise_key)
    return {'samples': common.image_grid(images, rows=rows)}

  @jax.jit
  def map_fn(variables, z, y):
    return generator.apply(variables, z, y, psi, method='map')

  @jax.jit
  def synthesize_fn(variables, ws, key):
    return generator.apply(variables, ws, method='synthesize', rngs={'noise': key})

  return Experiment(
    config=config,
    mesh=mesh,
    dataset=dataset,
    init=init,
    steps=steps,
    phase=lambda s: step_lib.phase_name(s, config),
    grids=grids,
    sample=sample,
    modules=dict(generator=generator, discriminator=discriminator),
    functions=dict(map=map_fn, synthesize=synthesize_fn),
    protocol=dict(
      samples=f'EMA generator, truncation_psi={psi}, random noise inputs',
    ),
  )


def style_mixing(exp, state, row_seeds, col_seeds, cutoff, key=None):
  """The StyleGAN style-mixing figure (Karras et al. 2019, Fig. 3) as an array.

  Row i takes its styles before layer `cutoff` from w(row_seeds[i]) and column j its
  styles from layer `cutoff` on from w(col_seeds[j]) (coarse styles from rows, fine
  from columns). The first row holds the column sources, the first column the row
  sources. Uses the EMA generator, truncation_psi of the config, noise from `key`.

  Returns:
    uint8 grid [(R + 1) h, (C + 1) w, channels] (top-left cell blank).
  Raises:
    ValueError: if cutoff is not in [1, num_ws).
  """
  generator = exp.modules['generator']
  num_ws = generator.num_ws
  if not 1 <= cutoff < num_ws:
    raise ValueError(f'cutoff={cutoff} must be in [1, {num_ws}) (the generator has {num_ws} ws).')
  params, collections = state.sampling_variables('generator')
  variables = {'params': params, **collections}
  key = jax.random.PRNGKey(0) if key is None else key

  def ws_of(seeds):
    z = jnp.stack(
      [jax.random.normal(jax.random.PRNGKey(s), (generator.latent_dim,)) for s in seeds]
    )
    y = None if not configs.class_count(exp.config) else jnp.zeros(len(seeds), jnp.int32)
    w = exp.functions['map'](variables, z, y)
    return jnp.broadcast_to(w[:, None], (len(seeds), num_ws, w.shape[-1]))

  rows, cols = ws_of(row_seeds), ws_of(col_seeds)
  r, c = len(row_seeds), len(col_seeds)
  mixed = step_lib.mix_styles(jnp.repeat(rows, c, axis=0), jnp.tile(cols, (r, 1, 1)), cutoff)
  synth = lambda ws: np.asarray(exp.functions['synthesize'](variables, ws, key))
  row_img, col_img, mix_img = synth(rows), synth(cols), synth(mixed)
  blank = np.full_like(row_img[:1], -1.0)
  cells = [blank, col_img]
  for i in range(r):
    cells += [row_img[i : i + 1], mix_img[i * c : (i + 1) * c]]
  return common.image_grid(np.concatenate(cells), rows=r + 1)
