r"""Inversion: the latent that makes the generator draw a given image.

  python -m gans.analysis.inversion --config experiments/dcgan.py --workdir runs/dcgan \
      [--space z|w|w+ --num_images 16 --steps 500 --restarts 2 --encoder_steps 2000 \
       --vgg_weights vgg16-397923af.pth --lpips_weights vgg.pth]

Three ways to find a latent v with G(v) close to an image x, each run on `num_images`
held-out real images (`heldout_split`, default data.default_heldout_split) and on as
many of the generator's own samples, whose latents are known:
  optimisation  Adam on v from a random draw of the prior (`restarts` draws, the best
                kept per image), minimising per image
                  mean_pixels (G(v) - x)^2 + feature_weight * d(G(v), x)
                  [+ prior_weight * mean(z^2) in Z];
                d is LPIPS-VGG v0.1 when both weight files are given (Zhang et al.
                2018; the StyleGAN2 projector's distance, Karras et al. 2020, Sec. 5),
                else the squared L2 distance of the offline classifier's features
                divided by their dimension (Creswell & Bharath 2018 invert with pixels;
                Zhu et al. 2016, iGAN, add a feature loss). Cosine-decayed learning rate.
  encoder       a network E trained here on the generator's own samples, x = G(v),
                v from the prior: loss |E(x) - v|^2 + encoder_pixel_weight
                |G(E(x)) - x|^2 (iGAN's encoder, Zhu et al. 2016, Sec. 3.2); one
                forward pass inverts.
  hybrid        optimisation started from E(x) instead of the prior (iGAN's hybrid).
Spaces: 'z' (every family with a latent: gan, vae_gan, stylegan2 through its mapping
network); 'w' (stylegan2: one w for every layer, optimisation starting from the mean w)
and 'w+' (a w per layer; Abdal et al. 2019, Image2StyleGAN). Conditional generators are
inverted given the image's label (real images: the dataset's; samples: their class).

Writes WORKDIR/analysis/inversion.png (per image set, rows: targets, then each method's
reconstruction) and inversion.json: per set and method the mean and median pixel MSE
(images in [-1, 1]), the feature distance, and for the samples the relative latent error
|v_hat - v| / |v|; `real_over_samples` divides the real images' pixel MSE by the samples'
(near 1: real images are as reachable as the generator's own; well above 1: part of the
data lies outside the generator's range, the mode-dropping reading of Metz et al. 2017
and Webster et al. 2019).
"""

import dataclasses
import time
from typing import Any, Callable

from absl import app
from absl import flags
from absl import logging
import jax
import jax.numpy as jnp
import numpy as np
import optax

from gans import data
from gans import errors
from gans.analysis import common
from gans.data import images as image_lib
from gans.families.gan import step as gan_step
from gans.metrics import lpips
from gans.nets import autoencoder
from gans.train import loop

SPACES = ('z', 'w', 'w+')
METHODS = ('encoder', 'optimisation', 'hybrid')


@dataclasses.dataclass
class LatentSpace:
  """A generator as a differentiable function of one latent space.

  name:       'z', 'w' or 'w+'.
  variables:  the pytree `synthesize` takes (generator variables, or the train state).
  synthesize: (variables, v [n, *shape], y int32 [n] or None) -> images float32
              [n, H, W, C] in [-1, 1]; traceable (jit, grad).
  prior:      (key, n) -> (z [n, d], v [n, *shape]): a latent of the family's prior and
              its image in this space.
  start:      (key, n, restart) -> initial v [n, *shape] for optimisation.
  shape:      the latent's shape per image.
  """

  name: str
  variables: Any
  synthesize: Callable
  prior: Callable
  start: Callable
  shape: tuple
  num_classes: int = 0


def latent_space(exp, state, space='z', use_ema=True, noise_seed=0):
  """The `LatentSpace` of a restored run (`exp`, `state` from loop.restore_latest).

  Families: gan (G(z, y); EMA weights when kept and `use_ema`), vae_gan (the decoder),
  stylegan2 ('z' through the mapping network with the config's truncation_psi, 'w',
  'w+'; noise inputs from PRNGKey(noise_seed)). Raises UserInputError for another
  family, an unknown space, or 'w'/'w+' without a mapping network.
  """
  config = exp.config
  family = config.get('family', 'gan')
  if space not in SPACES:
    raise errors.UserInputError(f'--space={space!r}: use one of {", ".join(SPACES)}.')
  if family not in common.LATENT_FAMILIES:
    raise errors.UserInputError(
      f'config.family={family!r} has no generator of an explicit latent; inversion takes '
      f'a run of {", ".join(common.LATENT_FAMILIES)}.'
    )
  if space != 'z' and family != 'stylegan2':
    raise errors.UserInputError(
      f'--space={space!r} needs a mapping network (stylegan2); {family} inverts in z.'
    )
  if not exp.dataset.is_image:
    raise errors.UserInputError(f'Inversion takes images; {exp.dataset.name!r} holds points.')
  k = exp.num_classes
  normal = lambda key, n, d: jax.random.normal(key, (n, d), jnp.float32)
  if family == 'gan':
    generator = exp.modules['generator']
    params, collections = state.sampling_variables('generator', use_ema)
    d = int(config.latent_dim)
    draw = lambda key, n: gan_step.sample_latent(key, n, d, config.get('truncation', 0.0))
    return LatentSpace(
      'z',
      {'params': params, **collections},
      lambda v, z, y: generator.apply(v, z, y, train=False),
      lambda key, n: (draw(key, n),) * 2,
      lambda key, n, r: draw(key, n),
      (d,),
      k,
    )
  if family == 'vae_gan':
    d = int(config.latent_dim)
    decode = exp.functions['decode']
    return LatentSpace(
      'z',
      state,
      lambda s, z, y: decode(s, z, y),
      lambda key, n: (normal(key, n, d),) * 2,
      lambda key, n, r: normal(key, n, d),
      (d,),
      k,
    )
  generator = exp.modules['generator']
  params, collections = state.sampling_variables('generator', use_ema)
  variables = {'params': params, **collections}
  num_ws, d = int(generator.num_ws), int(generator.latent_dim)
  map_fn, synth = exp.functions['map'], exp.functions['synthesize']
  noise = jax.random.PRNGKey(noise_seed)
  labels = lambda n: jnp.zeros((n,), jnp.int32) if k else None
  ws = lambda w: jnp.broadcast_to(w[:, None], (w.shape[0], num_ws, w.shape[-1]))
  if space == 'z':
    return LatentSpace(
      'z',
      variables,
      lambda v, z, y: synth(v, ws(map_fn(v, z, y)), noise),
      lambda key, n: (normal(key, n, d),) * 2,
      lambda key, n, r: normal(key, n, d),
      (d,),
      k,
    )
  w_avg = jnp.mean(map_fn(variables, normal(jax.random.PRNGKey(1), 2000, d), labels(2000)), 0)
  w_dim = int(w_avg.shape[-1])

  def prior(key, n):
    z = normal(key, n, d)
    w = map_fn(variables, z, labels(n))
    return z, (w if space == 'w' else ws(w))

  def start(key, n, restart):
    # The first start is the mean w (the StyleGAN2 projector's); others a mapped draw.
    w = jnp.broadcast_to(w_avg, (n, w_dim)) if restart == 0 else prior(key, n)[1]
    if w.ndim == 3:
      return w
    return w if space == 'w' else ws(w)

  if space == 'w':
    fn = lambda v, w, y: synth(v, ws(w), noise)
    shape = (w_dim,)
  else:
    fn = lambda v, w, y: synth(v, w, noise)
    shape = (num_ws, w_dim)
  return LatentSpace(space, variables, fn, prior, start, shape, k)


def feature_distance(config, dataset, vgg_weights='', lpips_weights=''):
  """(name, fn(params, a, b) -> [n] float32, params, protocol) for float images in [-1, 1].

  LPIPS-VGG v0.1 when both weight files are given (grayscale repeated to RGB; images
  of at least 16x16), else the offline classifier's features: squared L2 distance over
  the feature dimension. Differentiable in both images. Raises MissingInputError for a
  missing file, UserInputError for a single weight file.
  """
  if bool(vgg_weights) != bool(lpips_weights):
    raise errors.UserInputError(
      'LPIPS needs both --vgg_weights and --lpips_weights (or neither: classifier features).'
    )
  if vgg_weights:
    loaded = lpips.load(vgg_weights, lpips_weights)
    module = lpips.LPIPS()

    def lpips_fn(params, a, b):
      if a.shape[-1] == 1:
        a, b = jnp.repeat(a, 3, axis=-1), jnp.repeat(b, 3, axis=-1)
      return module.apply(params, a, b)

    protocol = dict(
      distance='lpips', vgg_weights=loaded.vgg_weights_path, lpips_weights=loaded.lin_weights_path
    )
    return 'lpips', lpips_fn, loaded.variables, protocol
  net = common.feature_network(config, dataset)
  if net.apply is None or net.name != 'classifier':
    raise errors.UserInputError(
      f'The feature loss without LPIPS weights is the offline classifier; the run measures '
      f'with {net.name!r} (config.evals.samples.features). Give --vgg_weights and '
      '--lpips_weights.'
    )
  net.check_input(dataset.example_shape)
  apply = net.apply

  def classifier_fn(params, a, b):
    fa, fb = apply(params, a)['features'], apply(params, b)['features']
    return jnp.mean(jnp.square(fa - fb), axis=-1)

  return 'classifier', classifier_fn, net.variables, dict(distance='classifier', **net.protocol)


def _per_image_loss(space, distance, pixel_weight, feature_weight, prior_weight):
  """(gen variables, feature params, v, target, y) -> [n] losses (module docstring)."""

  def losses(gen_vars, feat_params, v, target, y):
    x = space.synthesize(gen_vars, v, y)
    out = pixel_weight * jnp.mean(jnp.square(x - target), axis=(1, 2, 3))
    if feature_weight and distance is not None:
      out = out + feature_weight * distance(feat_params, x, target)
    if prior_weight and space.name == 'z':
      out = out + prior_weight * jnp.mean(jnp.square(v), axis=tuple(range(1, v.ndim)))
    return out

  return losses


def make_optimiser(
  space, distance=None, steps=500, lr=0.1, pixel_weight=1.0, feature_weight=1.0, prior_weight=0.0
):
  """jit of (gen vars, feature params, v0 [n, *shape], target [n, H, W, C], y) ->
  (v [n, *shape], final losses [n], loss trace [steps] (sum over images)).

  Adam (optax) with a cosine-decayed learning rate from `lr` over `steps`; each image's
  loss depends on its own latent only, so a batch optimises every image independently.
  `distance` is the `fn` of `feature_distance` (None: pixels only).
  """
  if steps < 1:
    raise errors.UserInputError(f'--steps={steps}: give at least 1 optimisation step.')
  losses = _per_image_loss(space, distance, pixel_weight, feature_weight, prior_weight)
  tx = optax.adam(optax.cosine_decay_schedule(lr, steps))

  @jax.jit
  def run(gen_vars, feat_params, v0, target, y):
    total = lambda v: jnp.sum(losses(gen_vars, feat_params, v, target, y))

    def step(carry, _):
      v, opt_state = carry
      loss, grad = jax.value_and_grad(total)(v)
      updates, opt_state = tx.update(grad, opt_state, v)
      return (optax.apply_updates(v, updates), opt_state), loss

    (v, _), trace = jax.lax.scan(step, (v0, tx.init(v0)), None, length=steps)
    return v, losses(gen_vars, feat_params, v, target, y), trace

  return run


def invert(space, optimiser, feat_params, target, y=None, restarts=1, key=None, init=None):
  """Optimisation from `restarts` starts (or from `init`), the best kept per image.

  Args:
    space: a `LatentSpace`; optimiser: `make_optimiser(space, ...)`.
    target: float32 [n, H, W, C] in [-1, 1]; y: int32 [n] labels or None.
    init: float32 [n, *space.shape] start (then `restarts` is ignored), e.g. E(x).
  Returns:
    (v [n, *shape] float32 NumPy, final per-image losses [n]).
  """
  key = jax.random.PRNGKey(0) if key is None else key
  target = jnp.asarray(target, jnp.float32)
  n = target.shape[0]
  starts = (
    [jnp.asarray(init, jnp.float32)]
    if init is not None
    else [space.start(jax.random.fold_in(key, r), n, r) for r in range(restarts)]
  )
  best_v, best_loss = None, None
  for v0 in starts:
    v, loss, _ = optimiser(space.variables, feat_params, v0, target, y)
    v, loss = np.array(v), np.array(loss)
    if best_v is None:
      best_v, best_loss = v, loss
    else:
      better = loss < best_loss
      best_v[better], best_loss[better] = v[better], loss[better]
  return best_v, best_loss


def train_encoder(space, image_shape, steps=2000, batch_size=64, lr=1e-3, pixel_weight=1.0, seed=0):
  """Trains E: image -> latent of `space` on the generator's own samples (module docstring).

  E is the project's DCGAN-style convolutional encoder (gans.nets.autoencoder.Encoder,
  deterministic code, no batch norm) with the latent's size as output (for 'w+' it
  predicts one w, repeated per layer). Fresh prior draws every step; Adam at `lr`.
  Returns (encode: float images [n, H, W, C] -> v [n, *shape] (jitted), final loss).
  """
  out_dim = int(np.prod(space.shape[-1:]))
  net = autoencoder.Encoder(
    arch='conv', width=32, latent_dim=out_dim, kind='deterministic', norm='none'
  )
  key = jax.random.PRNGKey(seed)
  params = net.init(key, jnp.zeros((1,) + tuple(image_shape)), train=False)
  tx = optax.adam(lr)

  def to_space(code):
    if len(space.shape) == 2:
      return jnp.broadcast_to(code[:, None], (code.shape[0],) + space.shape)
    return code

  def labels(key, n):
    return jax.random.randint(key, (n,), 0, space.num_classes) if space.num_classes else None

  @jax.jit
  def step(params, opt_state, gen_vars, key):
    z_key, y_key = jax.random.split(key)
    _, v = space.prior(z_key, batch_size)
    y = labels(y_key, batch_size)
    x = jax.lax.stop_gradient(space.synthesize(gen_vars, v, y))
    target = v[:, 0] if len(space.shape) == 2 else v

    def loss_fn(p):
      code = net.apply(p, x, train=False)
      loss = jnp.mean(jnp.square(code - target))
      if pixel_weight:
        loss += pixel_weight * jnp.mean(
          jnp.square(space.synthesize(gen_vars, to_space(code), y) - x)
        )
      return loss

    loss, grads = jax.value_and_grad(loss_fn)(params)
    updates, opt_state = tx.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state, loss

  opt_state = tx.init(params)
  loss = float('nan')
  for i in range(steps):
    params, opt_state, loss = step(params, opt_state, space.variables, jax.random.fold_in(key, i))
    if i % 500 == 0 or i == steps - 1:
      logging.info('encoder step %d of %d: loss %.4f', i + 1, steps, float(loss))
  encode = jax.jit(lambda x: to_space(net.apply(params, x, train=False)))
  return encode, float(loss)


def _errors(recon, target, feats, v_hat=None, v_true=None):
  """Mean and median pixel MSE, mean feature distance, relative latent error (known v)."""
  pixel = np.mean(np.square(recon - target), axis=(1, 2, 3))
  out = dict(
    pixel_mse=float(pixel.mean()),
    pixel_mse_median=float(np.median(pixel)),
    feature_distance=float(np.mean(feats)),
  )
  if v_true is not None:
    flat = lambda v: np.asarray(v, np.float64).reshape(len(v_true), -1)
    rel = np.linalg.norm(flat(v_hat) - flat(v_true), axis=1) / np.linalg.norm(flat(v_true), axis=1)
    out['latent_relative_error'] = float(rel.mean())
    out['latent_relative_error_median'] = float(np.median(rel))
  return out


def analyse(
  exp,
  state,
  real,
  real_y=None,
  space='z',
  steps=500,
  lr=0.1,
  restarts=2,
  pixel_weight=1.0,
  feature_weight=1.0,
  prior_weight=0.0,
  encoder_steps=2000,
  encoder_pixel_weight=1.0,
  vgg_weights='',
  lpips_weights='',
  seed=0,
  use_ema=True,
  methods=METHODS,
):
  """Inverts `real` images and as many of the generator's own samples (module docstring).

  Args:
    exp, state: a restored run; real: float32 [n, H, W, C] in [-1, 1]; real_y: int [n]
      labels (conditional generators).
  Returns:
    (rows {set: [targets, reconstruction per method] as float [n, H, W, C]}, numbers).
  Raises:
    UserInputError: unknown method or space, a family without a latent, real images of
      another shape than the generator's.
  """
  for m in methods:
    if m not in METHODS:
      raise errors.UserInputError(f'Unknown method {m!r}; known: {", ".join(METHODS)}.')
  if ('encoder' in methods or 'hybrid' in methods) and encoder_steps < 1:
    raise errors.UserInputError('The encoder and hybrid methods need --encoder_steps >= 1.')
  real = np.asarray(real, np.float32)
  if tuple(real.shape[1:]) != tuple(exp.dataset.example_shape):
    raise errors.UserInputError(
      f'The images to invert are {tuple(real.shape[1:])}; the generator draws '
      f'{tuple(exp.dataset.example_shape)}.'
    )
  ls = latent_space(exp, state, space, use_ema)
  n = len(real)
  if ls.num_classes and real_y is None:
    raise errors.UserInputError('A conditional generator is inverted given labels: pass real_y.')
  real_y = None if not ls.num_classes else jnp.asarray(real_y, jnp.int32)
  key = jax.random.PRNGKey(seed)
  _, v_true = ls.prior(jax.random.fold_in(key, 1), n)
  sample_y = jnp.arange(n, dtype=jnp.int32) % ls.num_classes if ls.num_classes else None
  samples = np.asarray(ls.synthesize(ls.variables, v_true, sample_y))
  name, dist, feat_params, dist_protocol = feature_distance(
    exp.config, exp.dataset, vgg_weights, lpips_weights
  )
  optimiser = make_optimiser(ls, dist, steps, lr, pixel_weight, feature_weight, prior_weight)
  dist_jit = jax.jit(dist)
  sets = dict(real=(real, real_y, None), samples=(samples, sample_y, np.asarray(v_true)))
  rows = {s: [x] for s, (x, _, _) in sets.items()}
  numbers = {s: {} for s in sets}
  seconds = {}
  encode = None
  if 'encoder' in methods or 'hybrid' in methods:
    start = time.time()
    encode, encoder_loss = train_encoder(
      ls, exp.dataset.example_shape, encoder_steps, pixel_weight=encoder_pixel_weight, seed=seed
    )
    seconds['encoder_training'] = round(time.time() - start, 1)
  for method in METHODS:
    if method not in methods:
      continue
    start = time.time()
    for s, (x, y, v) in sets.items():
      if method == 'encoder':
        v_hat = np.asarray(encode(jnp.asarray(x)))
      elif method == 'optimisation':
        v_hat, _ = invert(ls, optimiser, feat_params, x, y, restarts, jax.random.fold_in(key, 2))
      else:
        v_hat, _ = invert(ls, optimiser, feat_params, x, y, init=encode(jnp.asarray(x)))
      recon = np.asarray(ls.synthesize(ls.variables, jnp.asarray(v_hat), y))
      feats = np.asarray(dist_jit(feat_params, jnp.asarray(recon), jnp.asarray(x)))
      numbers[s][method] = _errors(recon, x, feats, v_hat, v)
      rows[s].append(recon)
    seconds[method] = round(time.time() - start, 1)
  for method in methods:
    numbers.setdefault('real_over_samples', {})[method] = numbers['real'][method][
      'pixel_mse'
    ] / max(numbers['samples'][method]['pixel_mse'], 1e-12)
  numbers.update(
    step=int(state.step),
    space=ls.name,
    num_images=n,
    methods=[m for m in METHODS if m in methods],
    feature_distance=name,
    seconds=seconds,
    protocol=dict(
      steps=steps,
      lr=lr,
      schedule='cosine decay to 0',
      restarts=restarts,
      pixel_weight=pixel_weight,
      feature_weight=feature_weight,
      prior_weight=prior_weight,
      encoder_steps=encoder_steps,
      encoder_pixel_weight=encoder_pixel_weight,
      pixel_mse='mean over pixels of images in [-1, 1]',
      seed=seed,
      ema=bool(use_ema and state.ema),
      **dist_protocol,
    ),
  )
  if encode is not None:
    numbers['encoder_final_loss'] = encoder_loss
  return rows, numbers


def write_figure(
  config,
  workdir,
  space='z',
  num_images=16,
  heldout_split=None,
  steps=500,
  lr=0.1,
  restarts=2,
  feature_weight=1.0,
  prior_weight=0.0,
  encoder_steps=2000,
  vgg_weights='',
  lpips_weights='',
  seed=0,
  use_ema=True,
  methods=METHODS,
):
  """Restores the latest checkpoint of `workdir`, inverts `num_images` images of
  `heldout_split` (default data.default_heldout_split) and as many samples, and writes
  analysis/inversion.png and inversion.json; returns the numbers.

  Raises MissingInputError without a checkpoint or weights file; UserInputError as
  `analyse`, or for a bad count.
  """
  if num_images < 1:
    raise errors.UserInputError(f'--num_images={num_images}: give at least 1.')
  heldout_split = heldout_split or data.default_heldout_split(config)
  exp, state = loop.restore_latest(config, workdir)
  heldout = data.load(exp.config, split=heldout_split)
  idx = np.arange(min(num_images, heldout.num_examples))
  x, y = heldout.get(idx)
  rows, numbers = analyse(
    exp,
    state,
    x,
    y,
    space=space,
    steps=steps,
    lr=lr,
    restarts=restarts,
    feature_weight=feature_weight,
    prior_weight=prior_weight,
    encoder_steps=encoder_steps,
    vgg_weights=vgg_weights,
    lpips_weights=lpips_weights,
    seed=seed,
    use_ema=use_ema,
    methods=methods,
  )
  numbers['heldout_split'] = heldout_split
  out = common.output_dir(workdir)
  show = min(len(idx), 8)
  grid_rows = []
  for s in ('real', 'samples'):
    grid_rows += [image_lib.to_uint8(r[:show]) for r in rows[s]]
  common.write_png(f'{out}/inversion.png', common.framed(grid_rows))
  numbers['figure'] = f'{out}/inversion.png'
  numbers['figure_rows'] = [
    f'{s}: {r}' for s in ('real', 'samples') for r in ('target', *numbers['methods'])
  ]
  common.write_json(f'{out}/inversion.json', numbers)
  for m in numbers['methods']:
    logging.info(
      '%s: pixel MSE real %.4f, samples %.4f (ratio %.2f)',
      m,
      numbers['real'][m]['pixel_mse'],
      numbers['samples'][m]['pixel_mse'],
      numbers['real_over_samples'][m],
    )
  return numbers


def define_flags():
  """The command's flags and main (defined only when run as a command)."""
  config, workdir = common.define_common_flags()
  space = flags.DEFINE_enum('space', 'z', list(SPACES), 'Latent space inverted.')
  num_images = flags.DEFINE_integer('num_images', 16, 'Real images (and samples) inverted.')
  heldout_split = flags.DEFINE_string('heldout_split', None, 'Real images to invert.')
  steps = flags.DEFINE_integer('steps', 500, 'Optimisation steps per start.')
  lr = flags.DEFINE_float('lr', 0.1, 'Initial Adam learning rate (cosine decay).')
  restarts = flags.DEFINE_integer('restarts', 2, 'Random starts of the optimisation.')
  feature_weight = flags.DEFINE_float('feature_weight', 1.0, 'Weight of the feature distance.')
  prior_weight = flags.DEFINE_float('prior_weight', 0.0, 'Weight of mean(z^2) in Z.')
  encoder_steps = flags.DEFINE_integer('encoder_steps', 2000, 'Training steps of the encoder.')
  vgg_weights = flags.DEFINE_string('vgg_weights', '', "torchvision's vgg16-397923af.pth (LPIPS).")
  lpips_weights = flags.DEFINE_string('lpips_weights', '', "lpips' weights/v0.1/vgg.pth (LPIPS).")
  seed = flags.DEFINE_integer('seed', 0, 'Seed of the samples, starts and encoder.')
  ema = flags.DEFINE_bool('ema', True, "Use the generator's EMA weights when the run keeps them.")
  methods = flags.DEFINE_list('methods', list(METHODS), 'Inversion methods run.')

  def main(argv):
    del argv
    common.run_command(
      lambda: write_figure(
        config=config.value,
        workdir=workdir.value,
        space=space.value,
        num_images=num_images.value,
        heldout_split=heldout_split.value,
        steps=steps.value,
        lr=lr.value,
        restarts=restarts.value,
        feature_weight=feature_weight.value,
        prior_weight=prior_weight.value,
        encoder_steps=encoder_steps.value,
        vgg_weights=vgg_weights.value,
        lpips_weights=lpips_weights.value,
        seed=seed.value,
        use_ema=ema.value,
        methods=tuple(methods.value),
      )
    )

  return main


if __name__ == '__main__':
  app.run(define_flags())
