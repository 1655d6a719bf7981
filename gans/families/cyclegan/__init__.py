"""The `cyclegan` family: unpaired image-to-image translation with cycle consistency.

Zhu et al. 2017, "Unpaired Image-to-Image Translation using Cycle-Consistent
Adversarial Networks" (ICCV), as the authors' code trains it
(junyanz/pytorch-CycleGAN-and-pix2pix, models/cycle_gan_model.py):

  models      'generator_ab' G: A -> B and 'generator_ba' F: B -> A (the ResNet
              generator, gans.nets.cyclegan: reflection padding, instance norm);
              'discriminator_a' D_A (real A vs F(b)) and 'discriminator_b' D_B (real B
              vs G(a)), 70x70 PatchGANs with instance norm (gans.nets.patchgan). The
              paper's D_X, D_Y; the reference code's netD_B and netD_A respectively.
  objective   least-squares GAN: G minimises (D_B(G(a)) - 1)^2 + (D_A(F(b)) - 1)^2,
              each D minimises 0.5 [(D(real) - 1)^2 + D(fake)^2] (means over patches
              and batch); cycle loss lambda (|F(G(a)) - a|_1 + |G(F(b)) - b|_1) with
              lambda = `cycle_weight` (10); identity loss lambda * `identity_weight`
              (0.5) * (|G(b) - b|_1 + |F(a) - a|_1) (Taigman et al.; Sec. 5.2 of the
              paper); every L1 a mean over pixels and channels.
  history     each D sees its fakes through an image pool of `pool_size` (50) images
              (gans.families.cyclegan.pool): buffers and fill counts are
              `state.extras['pool_a']` / `['pool_b']`, so they are checkpointed and
              resume is exact.
  optimizer   Adam 2e-4, beta1 0.5 (config.optimizer, one per model: the same as one
              Adam over both generators, since Adam is element-wise), learning rate
              constant for `lr_decay_start` steps, then linear to 0 at `total_steps`
              (the paper: 100 epochs + 100 epochs of decay, expressed in steps).

One step ('main'), on a batch of A images a ('x') and B images b ('x_b'), after the
optional random crop / flip (`crop_size`, `flip`; the paper's 286 -> 256 jitter; key
fold_in(state.key, step)): fakes G(a), F(b) and reconstructions F(G(a)), G(F(b)); G
and F updated together on the objective above (D fixed); then each D updated on its
real batch and the pool's answer to the fakes of this step (computed before G's
update, as in the reference code).

The family does not sample; it translates. `exp.functions`: 'translate_a2b',
'translate_b2a' ((state, images [B, H, W, C] model space) -> translations) and
'translate' (= 'translate_a2b'). Grids 'a2b' and 'b2a': 8 held-out images per
direction, rows input / translation / reconstruction (two blocks of rows). The
'translation' evaluator (gans.eval.translation) reports per direction FID in
classifier or Inception features, label preservation and cycle error.
"""

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from gans import configs
from gans import data
from gans import errors
from gans import nets
from gans.data import images as image_lib
from gans.families import common
from gans.families.cyclegan import pool as pool_lib
from gans.train import state as state_lib
from gans.train.experiment import Experiment

DIRECTIONS = ('a2b', 'b2a')
GENERATORS = {'a2b': 'generator_ab', 'b2a': 'generator_ba'}


def cyclegan_config():
  """The `cyclegan` family's fields over gans.configs.run_config(), the paper's values.

  Paper (Sec. 4 and appendix 7): ResNet generator with 9 blocks (256x256), 70x70
  PatchGAN, instance norm, LSGAN, lambda 10, identity 0.5 lambda, pool 50, Adam 2e-4
  (beta1 0.5), batch 1. Experiment files set the data, steps and sizes.
  """
  c = configs.run_config()
  c.family = 'cyclegan'
  c.dataset = 'digits2mnist'  # gans.data.unpaired: two domains, A in 'x', B in 'x_b'.
  c.train_split = 'train'
  c.heldout_split = 'test'  # Grids and the evaluator's default.
  c.batch_size = 1
  c.cycle_weight = 10.0  # lambda (lambda_A = lambda_B).
  c.identity_weight = 0.5  # Identity loss weight, in units of lambda.
  c.pool_size = 50  # Images in each discriminator's history; 0: no history.
  c.lr_decay_start = 0  # Steps at the constant rate; then linear to 0 at total_steps.
  c.crop_size = 0  # Random crop side in training (the paper: 256 of 286); 0: none.
  c.flip = False  # Random horizontal flips in training (the paper: yes).
  c.generator = configs.net('cyclegan', width=64, num_blocks=9, num_downs=2, norm='instance')
  c.discriminator = configs.net('patchgan', width=64, n_layers=3, norm='instance')
  c.optimizer = configs.optimizer('adam', lr=2e-4, b1=0.5, b2=0.999)
  c.evals = ml_collections.ConfigDict({'translation': configs.translation_eval()})
  return c


def validate(config):
  """Checks the family's fields; ValueError names the key."""
  if not data.unpaired.is_two_domain(config.dataset):
    raise ValueError(
      f'config.dataset={config.dataset!r}: the cyclegan family needs a two-domain dataset '
      "('digits2mnist' or 'cycle_gan/<name>', e.g. 'cycle_gan/horse2zebra')."
    )
  for name in ('cycle_weight', 'identity_weight'):
    if float(config[name]) < 0:
      raise ValueError(f'config.{name} must be >= 0, got {config[name]!r}.')
  if int(config.pool_size) < 0:
    raise ValueError(f'config.pool_size must be >= 0, got {config.pool_size!r}.')
  if not 0 <= int(config.lr_decay_start) <= int(config.total_steps):
    raise ValueError(
      f'config.lr_decay_start={config.lr_decay_start!r} must be in [0, total_steps].'
    )
  if config.optimizer.get('decay', 'none') != 'none':
    raise ValueError(
      "config.optimizer.decay: the cyclegan family's decay is set by config.lr_decay_start "
      "(constant, then linear to 0); leave decay 'none'."
    )
  crop = int(config.crop_size)
  if crop < 0 or crop > int(config.image_size):
    raise ValueError(
      f'config.crop_size={crop} must be in [0, image_size={config.image_size}] (0: no crop).'
    )
  if 'out_channels' in config.generator:
    raise ValueError('config.generator.out_channels: set by the family from the data.')
  if config.conditional:
    raise ValueError('config.conditional: CycleGAN does not use labels.')


def learning_rate(lr, decay_start, total_steps):
  """optax schedule: `lr` for `decay_start` updates, then linear to 0 at `total_steps`.

  The reference code's 'linear' policy (constant for n_epochs, then linear decay over
  n_epochs_decay) in steps. Returns a callable count -> float32 learning rate.
  """
  decay_steps = max(int(total_steps) - int(decay_start), 1)
  return optax.join_schedules(
    [optax.constant_schedule(lr), optax.linear_schedule(lr, 0.0, decay_steps)],
    [int(decay_start)],
  )


def lsgan_generator(logits):
  """Least-squares generator loss mean((D(fake) - 1)^2) (the reference's MSELoss to 1).

  Args: logits float [B, h, w] of the discriminator on fakes. Returns a float32 scalar.
  """
  return jnp.mean(jnp.square(logits - 1.0))


def lsgan_discriminator(real_logits, fake_logits):
  """0.5 * (mean((D(real) - 1)^2) + mean(D(fake)^2)): the reference's halved D loss.

  Args: float [B, h, w] logits on reals and on (pooled) fakes. Returns a scalar.
  """
  return 0.5 * (jnp.mean(jnp.square(real_logits - 1.0)) + jnp.mean(jnp.square(fake_logits)))


def cycle_loss(images, reconstructions):
  """mean |F(G(x)) - x|: L1 cycle-consistency (Eq. 2 of the paper), a mean over all
  entries of float [B, H, W, C] arrays; a scalar."""
  return jnp.mean(jnp.abs(reconstructions - images))


def identity_loss(images, mapped):
  """mean |G(y) - y|: L1 identity loss (Sec. 5.2; Taigman et al. 2017), a mean over
  all entries of float [B, H, W, C] arrays; a scalar."""
  return jnp.mean(jnp.abs(mapped - images))


def generator_loss(terms, cycle_weight=10.0, identity_weight=0.5):
  """The full objective of G and F from its terms (module docstring).

  Args:
    terms: {'adv_ab', 'adv_ba', 'cycle_a', 'cycle_b', 'identity_a', 'identity_b'}:
      scalars (adv_ab = lsgan_generator(D_B(G(a))), cycle_a = |F(G(a)) - a|,
      identity_a = |F(a) - a|, and the mirror images).
    cycle_weight: lambda.
    identity_weight: the identity weight in units of lambda.

  Returns:
    adv_ab + adv_ba + lambda (cycle_a + cycle_b) + identity_weight lambda
    (identity_a + identity_b).
  """
  lam = cycle_weight
  return (
    terms['adv_ab']
    + terms['adv_ba']
    + lam * (terms['cycle_a'] + terms['cycle_b'])
    + identity_weight * lam * (terms['identity_a'] + terms['identity_b'])
  )


def random_crop_flip(images, key, crop_size, flip):
  """Training jitter of the paper: a random crop_size crop and a random horizontal flip
  per image. images float32 [B, H, W, C] -> [B, crop, crop, C] (crop_size 0: H)."""
  b, h, w, _ = images.shape
  k_top, k_left, k_flip = jax.random.split(key, 3)
  if crop_size and crop_size < min(h, w):
    tops = jax.random.randint(k_top, (b,), 0, h - crop_size + 1)
    lefts = jax.random.randint(k_left, (b,), 0, w - crop_size + 1)
    images = jax.vmap(
      lambda x, t, l: jax.lax.dynamic_slice(x, (t, l, 0), (crop_size, crop_size, x.shape[-1]))
    )(images, tops, lefts)
  if flip:
    flips = jax.random.bernoulli(k_flip, 0.5, (b,))
    images = jnp.where(flips[:, None, None, None], images[:, :, ::-1], images)
  return images


def center_crop(images, crop_size):
  """The central crop_size x crop_size of host or device images [B, H, W, C] (0: all)."""
  h, w = images.shape[1:3]
  if not crop_size or crop_size >= min(h, w):
    return images
  top, left = (h - crop_size) // 2, (w - crop_size) // 2
  return images[:, top : top + crop_size, left : left + crop_size]


def build(config, mesh, dataset):
  """The CycleGAN `Experiment` (validated by the caller).

  Raises UserInputError for a dataset without a second domain ('x_b') or whose image
  sizes do not suit the generator.
  """
  domain_b = dataset.extra.get('domain_b')
  if domain_b is None or not dataset.is_image:
    raise errors.UserInputError(
      f'The cyclegan family needs a two-domain image dataset; {dataset.name!r} is not one.'
    )
  crop = int(config.crop_size)
  shape_a, shape_b = tuple(dataset.example_shape), tuple(domain_b.example_shape)
  side = crop or shape_a[0]
  in_a, in_b = (side, side, shape_a[-1]), (side, side, shape_b[-1])
  gen_ab = nets.build_module(
    config.generator, 'Translator', 0, key='generator', out_channels=shape_b[-1]
  )
  gen_ba = gen_ab.clone(out_channels=shape_a[-1])
  disc = nets.build_module(config.discriminator, 'Discriminator', 0, key='discriminator')
  schedule = learning_rate(
    float(config.optimizer.lr), int(config.lr_decay_start), int(config.total_steps)
  )
  tx = state_lib.make_optimizer(dict(config.optimizer.to_dict(), lr=schedule), config.total_steps)
  lam, idt = float(config.cycle_weight), float(config.identity_weight)
  pool_size = int(config.pool_size)
  modules = dict(
    generator_ab=gen_ab, generator_ba=gen_ba, discriminator_a=disc, discriminator_b=disc
  )

  def init_fn():
    za, zb = jnp.zeros((2,) + in_a, jnp.float32), jnp.zeros((2,) + in_b, jnp.float32)
    state = common.init_state(
      config.seed,
      dict(
        generator_ab=(gen_ab, (za, None)),
        generator_ba=(gen_ba, (zb, None)),
        discriminator_a=(disc, (za, None)),
        discriminator_b=(disc, (zb, None)),
      ),
      tx,
    )
    extras = dict(pool_a=pool_lib.init(pool_size, in_a), pool_b=pool_lib.init(pool_size, in_b))
    return state.replace(extras=extras)

  def apply(state_models, name, x, train=True, params=None, collections=None):
    m = state_models[name]
    params = m.params if params is None else params
    collections = m.collections if collections is None else collections
    return common.apply_net(modules[name], params, collections, x, None, train)

  def main_step(state, batch):
    key = jax.random.fold_in(state.key, state.step)
    k_a, k_b, k_pool_a, k_pool_b = jax.random.split(key, 4)
    a = random_crop_flip(batch['x'][0], k_a, crop, bool(config.flip))
    b = random_crop_flip(batch['x_b'][0], k_b, crop, bool(config.flip))
    models = state.models

    def g_objective(params):
      coll = {n: models[n].collections for n in GENERATORS.values()}

      def g(name, x):
        out, coll[name] = apply(models, name, x, True, params[name], coll[name])
        return out

      fake_b = g('generator_ab', a)
      rec_a = g('generator_ba', fake_b)
      fake_a = g('generator_ba', b)
      rec_b = g('generator_ab', fake_a)
      terms = dict(
        adv_ab=lsgan_generator(apply(models, 'discriminator_b', fake_b)[0]),
        adv_ba=lsgan_generator(apply(models, 'discriminator_a', fake_a)[0]),
        cycle_a=cycle_loss(a, rec_a),
        cycle_b=cycle_loss(b, rec_b),
      )
      if idt > 0:
        terms['identity_b'] = identity_loss(b, g('generator_ab', b))
        terms['identity_a'] = identity_loss(a, g('generator_ba', a))
      else:
        terms['identity_a'] = terms['identity_b'] = jnp.zeros((), jnp.float32)
      loss = generator_loss(terms, lam, idt)
      return loss, (terms, coll, fake_a, fake_b)

    g_params = {n: models[n].params for n in GENERATORS.values()}
    (g_loss, (terms, g_coll, fake_a, fake_b)), g_grads = jax.value_and_grad(
      g_objective, has_aux=True
    )(g_params)
    state = common.apply_gradients(state, g_grads, tx, g_coll)

    pool_a, pooled_a = pool_lib.query(state.extras['pool_a'], fake_a, k_pool_a)
    pool_b, pooled_b = pool_lib.query(state.extras['pool_b'], fake_b, k_pool_b)
    d_grads, d_coll, d_losses = {}, {}, {}
    for name, real, fake in (('discriminator_a', a, pooled_a), ('discriminator_b', b, pooled_b)):

      def d_objective(params, name=name, real=real, fake=fake):
        real_logits, coll = apply(models, name, real, True, params)
        fake_logits, coll = apply(models, name, fake, True, params, coll)
        return lsgan_discriminator(real_logits, fake_logits), coll

      (d_losses[name], d_coll[name]), d_grads[name] = jax.value_and_grad(d_objective, has_aux=True)(
        models[name].params
      )
    state = common.apply_gradients(state, d_grads, tx, d_coll)
    state = state.replace(extras=dict(pool_a=pool_a, pool_b=pool_b), step=state.step + 1)
    metrics = dict(
      g_loss=g_loss,
      d_a_loss=d_losses['discriminator_a'],
      d_b_loss=d_losses['discriminator_b'],
      learning_rate=schedule(state.step - 1),
      **terms,
    )
    return state, metrics

  def make_translate(name):
    @jax.jit
    def translate(state, x):
      """Translations [B, H, W, C] (evaluation mode) of model-space images [B, H, W, C]."""
      return apply(state.models, name, x, False)[0]

    return translate

  translate = {d: make_translate(GENERATORS[d]) for d in DIRECTIONS}

  heldout = data.load(config, split=config.heldout_split or 'test')
  n_grid = 8
  sources = dict(a2b=heldout, b2a=heldout.extra['domain_b'])
  grid_inputs = {
    d: center_crop(ds.get(np.arange(min(n_grid, ds.num_examples)))[0], crop)
    for d, ds in sources.items()
  }

  def rows(state, direction):
    """[input, translation, reconstruction] model-space arrays of the grid inputs."""
    other = 'b2a' if direction == 'a2b' else 'a2b'
    x = grid_inputs[direction]
    out = translate[direction](state, x)
    return [x, np.asarray(out), np.asarray(translate[other](state, out))]

  def grids(state):
    result = {}
    for direction in DIRECTIONS:
      images = [image_lib.to_uint8(r) for r in rows(state, direction)]
      channels = max(r.shape[-1] for r in images)
      images = [np.repeat(r, channels, -1) if r.shape[-1] != channels else r for r in images]
      result[direction] = image_lib.grid(np.concatenate(images), rows=3)
    return result

  protocol = dict(
    dataset=dataset.name,
    domains=[list(d) for d in dataset.extra.get('domains', [])],
    pool_size=pool_size,
    cycle_weight=lam,
    identity_weight=idt,
    crop_size=crop,
    lr_decay_start=int(config.lr_decay_start),
  )
  return Experiment(
    config=config,
    mesh=mesh,
    dataset=dataset,
    init=common.jit_init(init_fn, mesh),
    steps={'main': common.jit_step(main_step, mesh)},
    grids=grids,
    modules=modules,
    functions=dict(
      translate=translate['a2b'],
      translate_a2b=translate['a2b'],
      translate_b2a=translate['b2a'],
      center_crop=lambda x: center_crop(x, crop),
    ),
    protocol=protocol,
  )
