"""The `paired` family: image-to-image translation from paired examples.

Two recipes (`config.model`; `paired_config(model)` sets the paper's defaults, the step
reads only the fields):

  'pix2pix'  Isola et al. 2017, "Image-to-Image Translation with Conditional
             Adversarial Networks": U-Net generator (gans.nets.unet), PatchGAN
             discriminator (gans.nets.patchgan) conditioned on the input (it judges
             concat(input, image) on the channel axis), objective
             L_cGAN(G, D) + lambda * L1(G) with lambda = 100; D's loss is halved; Adam
             2e-4, beta1 0.5.
  'srgan'    Ledig et al. 2017, "Photo-Realistic Single Image Super-Resolution Using a
             Generative Adversarial Network": SRResNet generator with pixel-shuffle
             upsampling and the SRGAN discriminator (gans.nets.srgan, unconditional),
             perceptual loss = content loss (MSE of feature maps: VGG16 when
             `config.vgg_weights` is given, else the offline classifier; see
             gans/families/paired/content.py) + 1e-3 * adversarial loss; Adam 1e-4,
             beta1 0.9; optionally `pretrain_steps` of SRResNet training on pixel MSE
             first (the paper initialises SRGAN from SRResNet-MSE).

Pairs (gans.data.paired): the batch holds the targets (the dataset's images) and the
input of each is computed from it inside the step (`config.pairs`: 'sr', the target
box-downsampled by `config.scale` and rounded to 8 bits; 'edges', its binary Sobel
edge map), so the shared data pipeline, its order and exact resume are unchanged.

Models 'generator' and 'discriminator', each with its own optimizer state from
`config.optimizer`. Per step ('main'), on targets y with inputs x and fakes G(x):
  D <- grad of d_loss_weight * D_loss(D(c, y), D(c, G(x))) (G(x) held fixed), then
  G <- grad of adv_weight * G_loss(D'(c, G(x))) + l1_weight * |G(x) - y|_1
       + mse_weight * |G(x) - y|^2 + content_weight * |phi(G(x)) - phi(y)|^2,
where D' is the discriminator after its update (as the reference code orders them),
c the input nearest-upsampled to the target size when `conditional_d` (else D sees
the image alone), D_loss / G_loss the pair `config.loss` names in
gans.objectives.losses ('non_saturating' or 'least_squares', pix2pix's 'vanilla' and
'lsgan' modes), and every norm a mean (over pixels and channels; patches for the
PatchGAN's logits; feature-map entries for phi). A generator that keeps the size
(the U-Net) gets 'sr' inputs nearest-upsampled to the target size. Phase 'pretrain'
(the first `pretrain_steps` steps) updates G alone on mse. Dropout (U-Net) draws from
fold_in(key, step).

The family does not sample; it translates. `exp.functions`: 'make_input' (targets ->
inputs) and 'translate' (state, inputs -> outputs, evaluation mode); the 'paired'
evaluator (gans.eval.paired) reports PSNR, SSIM and fid_classifier of the
translations of held-out targets beside bicubic upsampling. Grids: 'translations'
(held-out examples; rows: input, bicubic (sr), output, target) and, with
`unpaired_dataset`, 'unpaired' (that dataset's images as inputs; no targets).
"""

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from gans import configs
from gans import data
from gans import errors
from gans import nets
from gans.data import images as image_lib
from gans.data import paired as pairs_lib
from gans.families import common
from gans.families.paired import content as content_lib
from gans.objectives import losses
from gans.train import state as state_lib
from gans.train.experiment import Experiment

MODELS = ('pix2pix', 'srgan')
GAN_LOSSES = ('non_saturating', 'least_squares')
TEST_MODES = ('eval', 'paper')


def paired_config(model='srgan'):
  """The `paired` family's fields over gans.configs.run_config(), with `model`'s defaults.

  Raises ValueError for a model other than 'pix2pix' or 'srgan'.
  """
  if model not in MODELS:
    raise ValueError(f'model={model!r}: the paired family has {", ".join(MODELS)}.')
  c = configs.run_config()
  c.family = 'paired'
  c.model = model
  c.train_split = 'train[:4000]'
  c.pairs = 'sr' if model == 'srgan' else 'edges'  # gans.data.paired.PAIRS
  c.scale = 4  # 'sr': low-res side = target side / scale.
  c.edge_threshold = 0.4  # 'edges': threshold of the normalised Sobel magnitude.
  c.loss = 'non_saturating'  # Or 'least_squares' (the pix2pix code's 'lsgan').
  c.d_loss_weight = 0.5 if model == 'pix2pix' else 1.0  # pix2pix halves D's objective.
  c.adv_weight = 1.0 if model == 'pix2pix' else 1e-3
  c.l1_weight = 100.0 if model == 'pix2pix' else 0.0
  c.mse_weight = 0.0
  c.content_weight = 0.0 if model == 'pix2pix' else 1.0
  c.content_layer = 'conv1'  # Classifier: conv0..conv2, features; VGG16: relu1_2..relu5_3.
  c.vgg_weights = ''  # torchvision's vgg16-397923af.pth: VGG16 content features.
  c.classifier_path = ''  # Offline content features; '': the default recipe, seed below.
  c.content_classifier_seed = 1  # Not fid_classifier's 0: not evaluated in its own features.
  c.cache_dir = ''
  c.pretrain_steps = 0  # SRResNet steps on pixel MSE before the adversarial ones.
  c.conditional_d = model == 'pix2pix'
  # Translation (grids, evaluation, --mode sample): 'eval' uses batch norm's running
  # statistics and no dropout; 'paper' keeps training behaviour as pix2pix's code does
  # at test time (statistics of the translated batch, dropout on, a fixed key).
  c.test_mode = 'eval'
  if model == 'pix2pix':
    c.generator = configs.net('unet', num_downs=5, width=64)
    c.discriminator = configs.net('patchgan', n_layers=1, width=64)
    c.optimizer = configs.optimizer('adam', lr=2e-4, b1=0.5, b2=0.999)
  else:
    c.generator = configs.net('srgan', width=64, num_blocks=16)
    c.discriminator = configs.net('srgan', width=64)
    c.optimizer = configs.optimizer('adam', lr=1e-4, b1=0.9, b2=0.999)
  c.heldout_split = ''  # Grid examples; '': data.default_heldout_split.
  c.unpaired_dataset = ''  # A dataset of inputs without targets for the 'unpaired' grid.
  c.evals = ml_collections.ConfigDict({'paired': configs.paired_eval()})
  return c


def validate(config):
  """Checks the family's fields; ValueError names the key."""
  if config.get('model') not in MODELS:
    raise ValueError(f'config.model={config.get("model")!r}: use one of {", ".join(MODELS)}.')
  if config.pairs not in pairs_lib.PAIRS:
    raise ValueError(f'config.pairs={config.pairs!r}: use one of {", ".join(pairs_lib.PAIRS)}.')
  if int(config.scale) < 1:
    raise ValueError(f'config.scale must be >= 1, got {config.scale!r}.')
  if config.loss not in GAN_LOSSES:
    raise ValueError(f'config.loss={config.loss!r}: use one of {", ".join(GAN_LOSSES)}.')
  for name in ('d_loss_weight', 'adv_weight', 'l1_weight', 'mse_weight', 'content_weight'):
    if float(config[name]) < 0:
      raise ValueError(f'config.{name} must be >= 0, got {config[name]!r}.')
  if not 0 <= int(config.pretrain_steps) < int(config.total_steps):
    raise ValueError(
      f'config.pretrain_steps={config.pretrain_steps!r} must be in [0, total_steps).'
    )
  for section in ('generator', 'discriminator'):
    for field in ('out_channels', 'scale'):
      if field in config[section]:
        raise ValueError(
          f'config.{section}.{field}: set by the family from the data '
          f'(config.scale, the target channels).'
        )
  if config.conditional:
    raise ValueError('config.conditional: the paired family conditions on images, not labels.')
  if config.get('test_mode', 'eval') not in TEST_MODES:
    raise ValueError(f'config.test_mode={config.test_mode!r}: use one of {", ".join(TEST_MODES)}.')


def _grid_rows(rows):
  """uint8 grid of equally long rows of uint8 images [n, H, W, C] (C broadcast to 3
  when the rows differ in channels)."""
  channels = max(r.shape[-1] for r in rows)
  rows = [np.repeat(r, channels, axis=-1) if r.shape[-1] != channels else r for r in rows]
  return image_lib.grid(np.concatenate(rows), rows=len(rows))


def build(config, mesh, dataset):
  """The paired-translation `Experiment` (validated by the caller)."""
  if not dataset.is_image:
    raise errors.UserInputError(f'The paired family needs images; {dataset.name!r} has points.')
  pairs, scale = config.pairs, int(config.scale)
  target_shape = tuple(dataset.example_shape)
  if pairs == 'sr' and (target_shape[0] % scale or target_shape[1] % scale):
    raise errors.UserInputError(
      f'config.scale={scale} does not divide the image size {target_shape[:2]}.'
    )
  in_shape = pairs_lib.input_shape(pairs, target_shape, scale)
  up = scale if pairs == 'sr' else 1  # Input side * up = target side.

  def make_input(target):
    return pairs_lib.make_input(target, pairs, scale, float(config.edge_threshold))

  generator = nets.build_module(
    config.generator, 'Translator', 0, key='generator', out_channels=target_shape[-1]
  )
  if hasattr(generator, 'scale'):  # It upsamples by itself (SRResNet).
    generator, g_up = generator.clone(scale=up), 1
  else:  # It keeps the size (U-Net): its inputs are nearest-upsampled first.
    g_up = up
  discriminator = nets.build_module(config.discriminator, 'Discriminator', 0, key='discriminator')
  tx = state_lib.make_optimizer(config.optimizer, config.total_steps)
  d_loss_fn, g_adv_fn = losses.get(config.loss)
  weights = {name: float(config[f'{name}_weight']) for name in ('adv', 'l1', 'mse', 'content')}
  d_weight = float(config.d_loss_weight)
  features, content_protocol = (None, {})
  if weights['content'] > 0:
    features, content_protocol = content_lib.feature_fn(config, target_shape)
  conditional = bool(config.conditional_d)
  d_channels = target_shape[-1] + (in_shape[-1] if conditional else 0)

  def g_apply(params, collections, x, train, rng=None):
    x = pairs_lib.nearest_upsample(x, g_up)
    return common.apply_net(generator, params, collections, x, None, train, rng)

  def d_input(x, image):
    if not conditional:
      return image
    return jnp.concatenate([pairs_lib.nearest_upsample(x, up), image], axis=-1)

  def init_fn():
    x_in = jnp.zeros((2,) + tuple(in_shape), jnp.float32)
    x_in = pairs_lib.nearest_upsample(x_in, g_up)
    d_in = jnp.zeros((2,) + target_shape[:2] + (d_channels,), jnp.float32)
    return common.init_state(
      config.seed,
      dict(generator=(generator, (x_in, None)), discriminator=(discriminator, (d_in, None))),
      tx,
    )

  def pixel_terms(fake, target):
    terms = dict(l1=jnp.mean(jnp.abs(fake - target)), mse=jnp.mean(jnp.square(fake - target)))
    if features is not None:
      f_fake, f_real = features(fake), jax.lax.stop_gradient(features(target))
      terms['content'] = jnp.mean(jnp.square(f_fake - f_real))
    return terms

  def main_step(state, batch):
    target = batch['x'][0]
    x = make_input(target)
    drop_key = jax.random.fold_in(state.key, state.step)
    g, d = state.models['generator'], state.models['discriminator']
    fake, g_vjp, g_coll = jax.vjp(
      lambda p: g_apply(p, g.collections, x, True, drop_key), g.params, has_aux=True
    )

    def d_objective(params):
      real_logits, coll = common.apply_net(
        discriminator, params, d.collections, d_input(x, target), None, True
      )
      fake_logits, coll = common.apply_net(
        discriminator, params, coll, d_input(x, jax.lax.stop_gradient(fake)), None, True
      )
      loss = d_weight * d_loss_fn(real_logits, fake_logits)
      return loss, (coll, real_logits, fake_logits)

    (d_loss, (d_coll, real_logits, fake_logits)), d_grad = jax.value_and_grad(
      d_objective, has_aux=True
    )(d.params)
    state = common.apply_gradients(
      state, dict(discriminator=d_grad), tx, dict(discriminator=d_coll)
    )
    d_params = state.models['discriminator'].params

    def g_objective(image):
      # D in train mode (batch statistics) as in the reference; its statistics are
      # updated by D's own step only.
      logits, _ = common.apply_net(discriminator, d_params, d_coll, d_input(x, image), None, True)
      terms = dict(adv=g_adv_fn(logits), **pixel_terms(image, target))
      total = sum(weights[name] * terms[name] for name in terms)
      return total, terms

    (g_loss, terms), d_fake = jax.value_and_grad(g_objective, has_aux=True)(fake)
    (g_grad,) = g_vjp(d_fake)
    state = common.apply_gradients(state, dict(generator=g_grad), tx, dict(generator=g_coll))
    metrics = dict(
      d_loss=d_loss,
      g_loss=g_loss,
      d_real=jnp.mean(real_logits),
      d_fake=jnp.mean(fake_logits),
      **terms,
    )
    return state.replace(step=state.step + 1), metrics

  def pretrain_step(state, batch):
    target = batch['x'][0]
    x = make_input(target)
    drop_key = jax.random.fold_in(state.key, state.step)
    g = state.models['generator']

    def objective(params):
      fake, coll = g_apply(params, g.collections, x, True, drop_key)
      return jnp.mean(jnp.square(fake - target)), (coll, fake)

    (mse, (g_coll, fake)), grad = jax.value_and_grad(objective, has_aux=True)(g.params)
    state = common.apply_gradients(state, dict(generator=grad), tx, dict(generator=g_coll))
    metrics = dict(pretrain_mse=mse, l1=jnp.mean(jnp.abs(fake - target)))
    return state.replace(step=state.step + 1), metrics

  pretrain_steps = int(config.pretrain_steps)
  steps = {'main': common.jit_step(main_step, mesh)}
  if pretrain_steps:
    steps['pretrain'] = common.jit_step(pretrain_step, mesh)

  def phase(step):
    return 'pretrain' if step < pretrain_steps else 'main'

  make_input_jit = jax.jit(make_input)

  paper_test_mode = config.get('test_mode', 'eval') == 'paper'

  @jax.jit
  def translate(state, x):
    """Outputs [B, H, W, C] of model-space inputs [B, *in_shape] (`config.test_mode`)."""
    g = state.models['generator']
    if paper_test_mode:  # Batch statistics of x and dropout, as at training time.
      return g_apply(g.params, g.collections, x, True, jax.random.PRNGKey(0))[0]
    return g_apply(g.params, g.collections, x, False)[0]

  heldout_split = config.heldout_split or data.default_heldout_split(config)
  heldout = data.load(config, split=heldout_split)
  grid_targets = heldout.get(np.arange(min(16, heldout.num_examples)))[0]
  grid_inputs = np.asarray(make_input_jit(grid_targets))
  unpaired = None
  if config.unpaired_dataset:
    side = in_shape[0]
    unpaired_config = ml_collections.ConfigDict(
      dict(dataset=config.unpaired_dataset, image_size=side, data_dir=config.get('data_dir', ''))
    )
    unpaired = data.load(unpaired_config).get(np.arange(16))[0]
    if tuple(unpaired.shape[1:]) != tuple(in_shape):
      raise errors.UserInputError(
        f'config.unpaired_dataset={config.unpaired_dataset!r} gives inputs of shape '
        f'{unpaired.shape[1:]}; the model takes {tuple(in_shape)}.'
      )

  def input_rows(x):
    """uint8 rows shown for inputs x: nearest-upsampled, and bicubic for 'sr'."""
    u = image_lib.to_uint8(x)
    rows = [pairs_lib.nearest_upsample(u, up)]
    if pairs == 'sr':
      rows.append(pairs_lib.bicubic_upsample(u, target_shape[0]))
    return rows

  def grids(state):
    out_images = image_lib.to_uint8(np.asarray(translate(state, grid_inputs)))
    targets = image_lib.to_uint8(grid_targets)
    rows = []
    for i in range(0, len(targets), 8):
      part = slice(i, i + 8)
      rows += [r[part] for r in input_rows(grid_inputs)] + [out_images[part], targets[part]]
    result = {'translations': _grid_rows(rows)}
    if unpaired is not None:
      outs = image_lib.to_uint8(np.asarray(translate(state, unpaired)))
      rows = []
      for i in range(0, len(unpaired), 8):
        part = slice(i, i + 8)
        rows += [r[part] for r in input_rows(unpaired)] + [outs[part]]
      result['unpaired'] = _grid_rows(rows)
    return result

  protocol = dict(
    model=config.model,
    pairs=pairs,
    test_mode=config.get('test_mode', 'eval'),
    scale=scale if pairs == 'sr' else 1,
    input_shape=list(in_shape),
    downsampling='box (Pillow BOX, 8-bit levels)' if pairs == 'sr' else 'none',
    edge_threshold=float(config.edge_threshold) if pairs == 'edges' else None,
    **content_protocol,
  )
  return Experiment(
    config=config,
    mesh=mesh,
    dataset=dataset,
    init=common.jit_init(init_fn, mesh),
    steps=steps,
    phase=phase,
    grids=grids,
    modules=dict(generator=generator, discriminator=discriminator),
    functions=dict(make_input=make_input_jit, translate=translate),
    protocol=protocol,
  )
