r"""Inpainting: fill a hidden region of an image with a trained generator (Yeh et al. 2017).

  python -m gans.analysis.inpainting --config experiments/dcgan.py --workdir runs/dcgan \
      [--mask centre|blocks|top|bottom|left|right|Y0,Y1,X0,X1|PATH --size 0.5 --blocks 4] \
      [--num_images 16 --steps 500 --lr 0.1 --restarts 4 --window 7 \
       --perceptual_weight 0.003 --blend poisson|none --space z --seed 0]

Semantic image inpainting (Yeh, Chen, Lim, Schwing, Hasegawa-Johnson and Do 2017,
"Semantic Image Inpainting with Deep Generative Models", CVPR; Sec. 3):
  1. find the latent whose image agrees with the visible pixels y of an image,
       z_hat = argmin_z  L_c(z) + lambda L_p(z),
     the contextual loss L_c(z) = sum_i W_i |G(z)_i - y_i| (Eq. 3: an L1 distance on the
     known pixels, pixel i weighted by the fraction of hidden pixels in the `window` x
     `window` square around it, so the known pixels near the hole count most and those
     more than window // 2 pixels from it not at all; `window` 0: W_i = 1 on every
     known pixel, which on 32 x 32 digits, where a 3-pixel band leaves the latent
     underdetermined, gave the lower hidden-region error with every mask tried) summed over
     pixels and channels of images in [-1, 1], and the prior (the paper's "perceptual")
     loss L_p(z) = log(1 - D(G(z))) = -softplus(logit) of the run's discriminator in
     eval mode (lambda = `perceptual_weight`, the paper's 0.003; 0 turns it off, and
     must where the run has no usable D). Adam with a cosine-decayed learning rate from
     `lr` over `steps`, from `restarts` draws of the prior; per image the start of the
     lowest final loss is kept.
  2. blend: Poisson blending (Perez, Gangnet and Blake 2003; the paper's Eq. 5) of
     G(z_hat) into the image over the hidden region: the hidden pixels x solve the
     discrete Poisson equation  Laplacian(x) = Laplacian(G(z_hat))  on the hidden
     pixels (4-neighbourhood, in-image neighbours only) with the known pixels as the
     Dirichlet boundary, a sparse system solved exactly (scipy.sparse.linalg.splu) per
     image and channel, then clipped to [-1, 1]. Known pixels are copied: bit for bit
     unchanged. `--blend none` pastes G(z_hat) into the hole instead (also reported).

Masks (True / nonzero = hidden): `centre`, a square of side `size` (a fraction of the
image side when below 1, else pixels; default 0.5, the central quarter of the area, as
the paper's centre mask); `blocks`, `blocks` squares of side `size` (default 0.25) at
uniform random positions per image (overlaps allowed; seed `seed`); `top`, `bottom`,
`left`, `right` (halves: the paper's half masks) or a rectangle Y0,Y1,X0,X1 in pixels
(half-open); or PATH, a PNG of the image size (one mask for every image) or a directory
of PNGs (sorted by name; image i takes mask i mod their count); a pixel with any
nonzero colour channel (alpha aside) is hidden.

Baselines on the same masks: `known_mean`, each channel's mean of the image's own known
pixels; `train_mean`, the mean training image (pixelwise, over the run's training
split); `nearest`, the training image nearest to the image on its known pixels (squared
L2), its pixels pasted into the hole. The training images are the run's training split
(at most `nearest_pool` of them, a seeded random subset when larger).

Run on `num_images` held-out real images (`heldout_split`, default
data.default_heldout_split) and on as many of the generator's own samples (drawn from
the prior with `seed`; their hidden region is within the generator's range, so G should
beat the baselines there). Conditional generators are inverted given the image's label
(real images: the dataset's; samples: class i mod K). Writes
WORKDIR/analysis/inpainting.png (RGB; per set, rows: original, masked input (hidden
pixels blue), each baseline's fill, G(z_hat) whole, G(z_hat) pasted into the hole,
Poisson-blended) and inpainting.json: per set and method the hidden-region MSE (mean
over hidden pixels and channels of images in [-1, 1]; mean and median over images) and
PSNR (10 log10(2^2 / MSE), the mean over images of the per-image value, MSE floored at
1e-10), the GAN's fit on the known pixels, and the ratio of the GAN's hidden MSE to
the best baseline's.
"""

import glob
import os
import time

from absl import app
from absl import flags
from absl import logging
import jax
import jax.numpy as jnp
import numpy as np
import optax
from PIL import Image
from scipy import sparse
from scipy.sparse import linalg as sparse_linalg

from gans import data
from gans import errors
from gans.analysis import common
from gans.analysis import forgetting
from gans.analysis import inversion
from gans.data import images as image_lib
from gans.families.gan import step as gan_step
from gans.train import loop

BASELINES = ('known_mean', 'train_mean', 'nearest')
METHODS = BASELINES + ('gan', 'gan_blended')
BLENDS = ('poisson', 'none')
SHAPES = ('centre', 'blocks')
DEFAULT_SIZE = dict(centre=0.5, blocks=0.25)
HIDDEN_COLOUR = (60, 110, 220)  # Hidden pixels of the masked input in the figure (RGB).
MSE_FLOOR = 1e-10  # PSNR of a perfect fill: 10 log10(4 / 1e-10) = 106 dB.
_BAD_MASK = (
  '--mask={spec!r}: use centre, blocks, top, bottom, left, right, Y0,Y1,X0,X1 (a rectangle '
  'in pixels, half-open) or the path of a PNG mask (or a directory of them).'
)


# Masks.


def side_pixels(size, length):
  """The side in pixels of a square of `size`: a fraction of `length` when 0 < size < 1
  (rounded, at least 1), else a whole number of pixels. Raises UserInputError for a
  size <= 0, a non-integral size >= 1, or one larger than `length`."""
  size = float(size)
  if 0 < size < 1:
    return max(1, int(round(size * length)))
  if size < 1 or size != int(size) or size > length:
    raise errors.UserInputError(
      f'--size={size:g}: give a fraction of the image side in (0, 1) or a whole number of '
      f'pixels from 1 to {length}.'
    )
  return int(size)


def centre_mask(height, width, size=0.5):
  """bool [H, W], True on the centred square of side `side_pixels(size, min(H, W))`
  (rows and columns [(H - s) // 2, (H - s) // 2 + s))."""
  s = side_pixels(size, min(height, width))
  y0, x0 = (height - s) // 2, (width - s) // 2
  return forgetting.box_mask((y0, y0 + s, x0, x0 + s), height, width)


def block_masks(n, height, width, size=0.25, count=4, seed=0):
  """bool [n, H, W]: per image `count` squares of side `side_pixels(size, min(H, W))` at
  uniform random top-left corners (np.random.default_rng(seed); overlaps allowed).
  Raises UserInputError for count < 1 or a bad size."""
  if count < 1:
    raise errors.UserInputError(f'--blocks={count}: give at least 1 block.')
  s = side_pixels(size, min(height, width))
  rng = np.random.default_rng(seed)
  ys = rng.integers(0, height - s + 1, (n, count))
  xs = rng.integers(0, width - s + 1, (n, count))
  masks = np.zeros((n, height, width), bool)
  for i in range(n):
    for y, x in zip(ys[i], xs[i]):
      masks[i, y : y + s, x : x + s] = True
  return masks


def _read_png(path):
  image = np.asarray(Image.open(path))
  if image.ndim == 3:  # Colour: any colour channel (not alpha) nonzero.
    image = image[..., : 3 if image.shape[-1] >= 3 else 1].any(-1)
  return image != 0


def load_png_masks(path, image_hw):
  """bool [k, H, W] masks (nonzero = hidden) from a PNG file (k = 1) or a directory of
  PNGs (sorted by name).

  Raises MissingInputError for a missing path or a directory without PNGs,
  UserInputError for a mask that is not H x W = `image_hw`.
  """
  if not os.path.exists(path):
    raise errors.MissingInputError(f'--mask={path}: no such file or directory.')
  names = sorted(glob.glob(os.path.join(path, '*.png'))) if os.path.isdir(path) else [path]
  if not names:
    raise errors.MissingInputError(f'--mask={path}: the directory holds no .png masks.')
  masks = []
  for name in names:
    try:
      m = _read_png(name)
    except OSError as e:
      raise errors.UserInputError(f'--mask={name}: not a readable image ({e}).') from e
    if m.shape != tuple(image_hw):
      raise errors.UserInputError(
        f'--mask={name}: the mask is {m.shape[0]} x {m.shape[1]}; the images are '
        f'{image_hw[0]} x {image_hw[1]}.'
      )
    masks.append(m)
  return np.stack(masks)


def make_masks(spec, n, image_hw, size=None, blocks=4, seed=0):
  """bool [n, H, W] masks (True = hidden) of `spec` (module docstring) for n images.

  Args:
    spec: 'centre' (or 'center'), 'blocks', a region of forgetting.region_spec ('top',
      'bottom', 'left', 'right', 'Y0,Y1,X0,X1'), or the path of a PNG or a directory of
      PNGs.
    n: images; image_hw: (H, W).
    size: side of the centre square or of each block (`side_pixels`; None: 0.5 for the
      centre, 0.25 for blocks); blocks: their count; seed: of the block positions.
  Raises:
    UserInputError: an unknown spec, a bad size, a mask that hides every pixel or none
      of an image; MissingInputError: a PNG path that does not exist.
  """
  h, w = image_hw
  name = spec.strip() if isinstance(spec, str) else spec
  if name == 'center':
    name = 'centre'
  if name in SHAPES:
    size = DEFAULT_SIZE[name] if size is None else size
    if name == 'centre':
      masks = np.broadcast_to(centre_mask(h, w, size), (n, h, w)).copy()
    else:
      masks = block_masks(n, h, w, size, blocks, seed)
  elif isinstance(name, str) and (name.lower().endswith('.png') or os.path.isdir(name)):
    png = load_png_masks(name, image_hw)
    masks = png[np.arange(n) % len(png)]
  else:
    try:
      box = forgetting.region_box(name, h, w)
    except errors.UserInputError as e:
      if 'leaves the' in str(e):
        raise
      raise errors.UserInputError(_BAD_MASK.format(spec=spec)) from None
    masks = np.broadcast_to(forgetting.box_mask(box, h, w), (n, h, w)).copy()
  hidden = masks.reshape(n, -1).sum(1)
  if n and (hidden.min() == 0 or hidden.max() == h * w):
    which = 'none' if hidden.min() == 0 else 'every pixel'
    raise errors.UserInputError(
      f'--mask={spec}: a mask hides {which} of an image; inpainting needs both hidden and '
      'known pixels.'
    )
  return masks


def check_mask_spec(spec, size=None, blocks=4):
  """Raises what `make_masks` would for `spec` before any image is known: UserInputError
  for an unknown spec, a bad size or block count; MissingInputError for a missing PNG."""
  name = spec.strip() if isinstance(spec, str) else spec
  if name in SHAPES + ('center',):
    side_pixels(DEFAULT_SIZE.get(name, 0.5) if size is None else size, 1 << 30)
    if name == 'blocks' and blocks < 1:
      raise errors.UserInputError(f'--blocks={blocks}: give at least 1 block.')
  elif isinstance(name, str) and (name.lower().endswith('.png') or os.path.isdir(name)):
    if not os.path.exists(name):
      raise errors.MissingInputError(f'--mask={name}: no such file or directory.')
  else:
    try:
      forgetting.region_spec(name)
    except errors.UserInputError:
      raise errors.UserInputError(_BAD_MASK.format(spec=spec)) from None


def contextual_weights(hidden, window=7):
  """Yeh et al.'s importance weights of the contextual loss (Eq. 3).

  Args:
    hidden: bool [n, H, W], True = hidden (the paper's M = 1 - hidden).
    window: odd side of the square neighbourhood N(i); 0 gives weight 1 to every known
      pixel (the plain masked L1).
  Returns:
    float32 [n, H, W]: W_i = (hidden pixels in the window centred on i) / window^2 for a
    known pixel i, 0 for a hidden one. Pixels beyond the border count as known, and
    |N(i)| is window^2 everywhere.
  Raises:
    UserInputError: an even or negative window.
  """
  hidden = np.asarray(hidden, bool)
  if window == 0:
    return (~hidden).astype(np.float32)
  if window < 0 or window % 2 == 0:
    raise errors.UserInputError(f'--window={window}: give an odd window side, or 0.')
  r = window // 2
  h, w = hidden.shape[1:]
  padded = np.pad(hidden.astype(np.float64), ((0, 0), (r, r), (r, r)))
  count = np.zeros(hidden.shape, np.float64)
  for dy in range(window):
    for dx in range(window):
      count += padded[:, dy : dy + h, dx : dx + w]
  return np.where(hidden, 0.0, count / window**2).astype(np.float32)


# Blending and baselines.


def poisson_blend(image, fill, hidden, clip=(-1.0, 1.0)):
  """Poisson blending of `fill` into `image` over the hidden pixels (Perez et al. 2003).

  The hidden pixels x solve, for every hidden p with in-image 4-neighbours N_p,
    |N_p| x_p - sum_{q in N_p hidden} x_q = sum_{q in N_p known} image_q
                                           + sum_{q in N_p} (fill_p - fill_q),
  the discrete Laplacian(x) = Laplacian(fill) with image's known pixels as boundary;
  solved by sparse LU (scipy) in float64, each channel against the same matrix.

  Args:
    image, fill: float [H, W, C]; hidden: bool [H, W] (True = hidden).
    clip: (low, high) the solution is clipped to, or None.
  Returns:
    float32 [H, W, C]: `image` (as float32) with the hidden pixels replaced; the known
    pixels are copied unchanged.
  Raises:
    UserInputError: a mask hiding every pixel (nothing to take the boundary from).
  """
  out = np.array(image, np.float32)
  hidden = np.asarray(hidden, bool)
  height, width = hidden.shape
  if not hidden.any():
    return out
  if hidden.all():
    raise errors.UserInputError('Poisson blending needs known pixels; the mask hides all.')
  f = out.astype(np.float64)
  g = np.asarray(fill, np.float64)
  ys, xs = np.nonzero(hidden)
  m = len(ys)
  index = np.full((height, width), -1, np.int64)
  index[ys, xs] = np.arange(m)
  degree = np.zeros(m)
  b = np.zeros((m, f.shape[-1]))
  rows, cols = [], []
  for dy, dx in ((-1, 0), (1, 0), (0, -1), (0, 1)):
    ny, nx = ys + dy, xs + dx
    p = np.flatnonzero((ny >= 0) & (ny < height) & (nx >= 0) & (nx < width))
    qy, qx = ny[p], nx[p]
    degree[p] += 1
    b[p] += g[ys[p], xs[p]] - g[qy, qx]
    inner = hidden[qy, qx]
    rows.append(p[inner])
    cols.append(index[qy[inner], qx[inner]])
    b[p[~inner]] += f[qy[~inner], qx[~inner]]
  rows, cols = np.concatenate(rows), np.concatenate(cols)
  a = sparse.csc_matrix((-np.ones(len(rows)), (rows, cols)), shape=(m, m)) + sparse.diags(degree)
  x = sparse_linalg.splu(sparse.csc_matrix(a)).solve(b)
  if clip is not None:
    x = np.clip(x, *clip)
  out[ys, xs] = x.astype(np.float32)
  return out


def blend(images, fills, hidden, method='poisson'):
  """float32 [n, H, W, C]: `fills` blended into `images` over `hidden` (bool [n, H, W]):
  'poisson' (`poisson_blend`) or 'none' (the fill pasted into the hole). Known pixels
  are copied unchanged. Raises UserInputError for another method."""
  if method not in BLENDS:
    raise errors.UserInputError(f'--blend={method!r}: use {" or ".join(BLENDS)}.')
  images = np.asarray(images, np.float32)
  if method == 'none':
    return np.where(np.asarray(hidden, bool)[..., None], np.asarray(fills, np.float32), images)
  return np.stack([poisson_blend(x, g, m) for x, g, m in zip(images, fills, hidden)])


def baseline_fills(images, hidden, train, batch_size=1024):
  """The baselines' fills of `images` (module docstring), pasted into the hole.

  Args:
    images: float [n, H, W, C]; hidden: bool [n, H, W]; train: float [N, H, W, C]
      training images (the mean image and the nearest-neighbour pool).
  Returns:
    ({'known_mean', 'train_mean', 'nearest': float32 [n, H, W, C]}, nearest int64 [n],
    the index in `train` of each image's nearest training image).
  """
  images = np.asarray(images, np.float32)
  hidden = np.asarray(hidden, bool)
  n = len(images)
  known = (~hidden)[..., None].astype(np.float64)
  mean = (images * known).sum((1, 2)) / known.sum((1, 2))  # [n, C]
  paste = lambda f: np.where(hidden[..., None], f, images).astype(np.float32)
  fills = dict(
    known_mean=paste(np.broadcast_to(mean[:, None, None], images.shape)),
    train_mean=paste(np.broadcast_to(np.mean(train, 0, dtype=np.float64), images.shape)),
  )
  kx = (images * known).reshape(n, -1)
  kmask = np.broadcast_to(known, images.shape).reshape(n, -1)
  best = np.full(n, np.inf)
  nearest = np.zeros(n, np.int64)
  for start in range(0, len(train), batch_size):
    t = np.asarray(train[start : start + batch_size], np.float64).reshape(-1, kx.shape[1])
    # sum over known k of (x_k - t_k)^2, as matrix products.
    d = (kx * kx).sum(1)[:, None] - 2 * kx @ t.T + kmask @ (t * t).T
    j = d.argmin(1)
    closer = d[np.arange(n), j] < best
    best[closer] = d[np.arange(n), j][closer]
    nearest[closer] = start + j[closer]
  fills['nearest'] = paste(np.asarray(train)[nearest])
  return fills, nearest


def hidden_errors(fill, truth, hidden):
  """Per image: (hidden-region MSE float64 [n] (mean over hidden pixels and channels),
  PSNR [n] in dB, 10 log10(2^2 / max(MSE, 1e-10)) for images in [-1, 1])."""
  sq = np.square(np.asarray(fill, np.float64) - np.asarray(truth, np.float64)).mean(-1)
  hidden = np.asarray(hidden, bool)
  mse = (sq * hidden).sum((1, 2)) / hidden.sum((1, 2))
  return mse, 10 * np.log10(4.0 / np.maximum(mse, MSE_FLOOR))


# The GAN's fill.


def discriminator_logit(exp, state):
  """(fn(d_variables, x [n, H, W, C], y int32 [n] or None) -> logits float32 [n],
  d_variables) of a run's discriminator in eval mode (ACGAN's class head dropped).

  Raises UserInputError for a family other than gan, a run without a discriminator, or
  a packed D (config.pack > 1).
  """
  family = exp.config.get('family', 'gan')
  module = exp.modules.get('discriminator')
  if family != 'gan' or module is None or 'discriminator' not in state.models:
    raise errors.UserInputError(
      f'config.family={family!r}: the prior term log(1 - D(G(z))) takes the discriminator '
      "of a 'gan'-family run; pass --perceptual_weight=0 to inpaint without it."
    )
  if int(exp.config.get('pack', 1)) > 1:
    raise errors.UserInputError(
      'A packed D (config.pack > 1) judges several images at once; pass '
      '--perceptual_weight=0 to inpaint without it.'
    )

  def logit(d_vars, x, y):
    out = gan_step.split_output(module.apply(d_vars, x, y, train=False))[0]
    return out.reshape(out.shape[0], -1).sum(-1)

  return logit, state.models['discriminator'].variables()


def make_inpainter(space, discriminator=None, steps=500, lr=0.1, perceptual_weight=0.003):
  """jit of (gen variables, d variables, v0 [n, *shape], images [n, H, W, C], weights
  [n, H, W], y) -> (v [n, *shape], final losses [n], loss trace [steps] (sum over images)).

  Per image the loss is sum_pixels,channels weights |G(v) - image| + perceptual_weight
  log(1 - sigmoid(D(G(v)))) (the second only with `discriminator`, the fn of
  `discriminator_logit`); each image's loss depends on its own latent only. Adam
  (optax) with a cosine-decayed learning rate from `lr` over `steps`.

  Raises:
    UserInputError: steps < 1, or a positive perceptual_weight without a discriminator.
  """
  if steps < 1:
    raise errors.UserInputError(f'--steps={steps}: give at least 1 optimisation step.')
  if perceptual_weight and discriminator is None:
    raise errors.UserInputError('A prior term needs the discriminator (perceptual_weight > 0).')
  tx = optax.adam(optax.cosine_decay_schedule(lr, steps))

  def losses(gen_vars, d_vars, v, images, weights, y):
    x = space.synthesize(gen_vars, v, y)
    out = jnp.sum(weights[..., None] * jnp.abs(x - images), axis=(1, 2, 3))
    if perceptual_weight:
      out = out - perceptual_weight * jax.nn.softplus(discriminator(d_vars, x, y))
    return out

  @jax.jit
  def run(gen_vars, d_vars, v0, images, weights, y):
    total = lambda v: jnp.sum(losses(gen_vars, d_vars, v, images, weights, y))

    def step(carry, _):
      v, opt_state = carry
      loss, grad = jax.value_and_grad(total)(v)
      updates, opt_state = tx.update(grad, opt_state, v)
      return (optax.apply_updates(v, updates), opt_state), loss

    (v, _), trace = jax.lax.scan(step, (v0, tx.init(v0)), None, length=steps)
    return v, losses(gen_vars, d_vars, v, images, weights, y), trace

  return run


def inpaint(space, inpainter, d_vars, images, weights, y=None, restarts=4, key=None):
  """Optimises the latents of `images` from `restarts` prior starts at once (one batch of
  restarts x n), keeping per image the start of the lowest final loss.

  Args:
    space: an inversion.LatentSpace; inpainter: `make_inpainter(space, ...)`; d_vars:
      the discriminator's variables (None without one).
    images: float [n, H, W, C] in [-1, 1] (hidden pixels are never read: weight 0);
    weights: float [n, H, W] (`contextual_weights`); y: int32 [n] labels or None.
  Returns:
    (v float32 [n, *shape], G(v) float32 [n, H, W, C], final losses float32 [n]), NumPy.
  Raises:
    UserInputError: restarts < 1.
  """
  if restarts < 1:
    raise errors.UserInputError(f'--restarts={restarts}: give at least 1.')
  key = jax.random.PRNGKey(0) if key is None else key
  images = jnp.asarray(images, jnp.float32)
  n = images.shape[0]
  v0 = jnp.concatenate([space.start(jax.random.fold_in(key, r), n, r) for r in range(restarts)])
  tile = lambda a: None if a is None else jnp.concatenate([jnp.asarray(a)] * restarts)
  v, loss, _ = inpainter(
    space.variables, d_vars, v0, tile(images), tile(jnp.asarray(weights, jnp.float32)), tile(y)
  )
  v = np.asarray(v).reshape((restarts, n) + tuple(space.shape))
  loss = np.asarray(loss).reshape(restarts, n)
  best = loss.argmin(0)
  v_best = v[best, np.arange(n)]
  generated = np.asarray(space.synthesize(space.variables, jnp.asarray(v_best), y))
  return v_best, generated, loss[best, np.arange(n)]


# The analysis and the command.


def _numbers(fills, truth, hidden):
  out = {}
  for method, fill in fills.items():
    mse, psnr = hidden_errors(fill, truth, hidden)
    out[method] = dict(
      hidden_mse=float(mse.mean()),
      hidden_mse_median=float(np.median(mse)),
      psnr=float(psnr.mean()),
    )
  return out


def analyse(
  exp,
  state,
  real,
  real_y=None,
  mask='centre',
  size=None,
  blocks=4,
  steps=500,
  lr=0.1,
  restarts=4,
  window=7,
  perceptual_weight=0.003,
  blend_method='poisson',
  space='z',
  nearest_pool=10000,
  seed=0,
  use_ema=True,
):
  """Inpaints `real` images and as many of the generator's own samples (module docstring).

  Args:
    exp, state: a restored run (loop.restore_latest); real: float [n, H, W, C] in
      [-1, 1]; real_y: int [n] labels (conditional generators).
    mask, size, blocks: the masks (`make_masks`, block positions seeded by `seed`); the
      same n masks serve both sets.
    steps, lr, restarts, window, perceptual_weight: the optimisation (`make_inpainter`,
      `inpaint`, `contextual_weights`); blend_method: 'poisson' or 'none'.
    space: inversion.latent_space's space; nearest_pool: training images the baselines
      use at most; seed: of the samples, the starts, the blocks and the pool.
  Returns:
    (rows {set: {row name: float32 [n, H, W, C]}}, hidden bool [n, H, W], numbers).
  Raises:
    UserInputError: as `make_masks`, `inversion.latent_space`, `discriminator_logit`
      (with perceptual_weight > 0), `make_inpainter`; real images of another shape than
      the generator's; a conditional generator without real_y.
  """
  if blend_method not in BLENDS:
    raise errors.UserInputError(f'--blend={blend_method!r}: use {" or ".join(BLENDS)}.')
  real = np.asarray(real, np.float32)
  shape = tuple(exp.dataset.example_shape)
  if tuple(real.shape[1:]) != shape:
    raise errors.UserInputError(
      f'The images to inpaint are {tuple(real.shape[1:])}; the generator draws {shape}.'
    )
  n = len(real)
  hidden = make_masks(mask, n, shape[:2], size, blocks, seed)
  weights = contextual_weights(hidden, window)
  ls = inversion.latent_space(exp, state, space, use_ema)
  if ls.num_classes and real_y is None:
    raise errors.UserInputError('A conditional generator is inverted given labels: pass real_y.')
  real_y = None if not ls.num_classes else jnp.asarray(real_y, jnp.int32)
  d_fn, d_vars = discriminator_logit(exp, state) if perceptual_weight else (None, None)
  inpainter = make_inpainter(ls, d_fn, steps, lr, perceptual_weight)
  key = jax.random.PRNGKey(seed)
  _, v_true = ls.prior(jax.random.fold_in(key, 1), n)
  sample_y = jnp.arange(n, dtype=jnp.int32) % ls.num_classes if ls.num_classes else None
  samples = np.asarray(ls.synthesize(ls.variables, v_true, sample_y))
  pool = exp.dataset.num_examples
  index = np.arange(pool)
  if pool > nearest_pool > 0:
    index = np.sort(np.random.default_rng(seed).choice(pool, nearest_pool, replace=False))
  train = np.asarray(exp.dataset.get(index)[0], np.float32)
  rows, numbers, seconds = {}, {}, {}
  for s, x, y in (('real', real, real_y), ('samples', samples, sample_y)):
    start = time.time()
    fills, nearest = baseline_fills(x, hidden, train)
    _, generated, loss = inpaint(
      ls, inpainter, d_vars, x, weights, y, restarts, jax.random.fold_in(key, 2)
    )
    fills['gan'] = blend(x, generated, hidden, 'none')
    if blend_method == 'poisson':
      fills['gan_blended'] = blend(x, generated, hidden, 'poisson')
    masked = x.copy()
    masked[hidden] = 0.0
    rows[s] = dict(original=x, masked=masked, **{b: fills[b] for b in BASELINES})
    rows[s].update(
      generated=generated, **{m: fills[m] for m in ('gan', 'gan_blended') if m in fills}
    )
    numbers[s] = _numbers(fills, x, hidden)
    known = (~hidden)[..., None]
    fit = (np.square(generated - x) * known).sum((1, 2, 3)) / (known.sum((1, 2, 3)) * x.shape[-1])
    numbers[s]['gan']['known_mse'] = float(fit.mean())
    numbers[s]['gan']['final_loss'] = float(loss.mean())
    numbers[s]['nearest_train_index'] = [int(i) for i in index[nearest]]
    best = min(BASELINES, key=lambda b: numbers[s][b]['hidden_mse'])
    gan = 'gan_blended' if 'gan_blended' in fills else 'gan'
    numbers[s]['best_baseline'] = best
    numbers[s]['gan_over_best_baseline'] = numbers[s][gan]['hidden_mse'] / max(
      numbers[s][best]['hidden_mse'], MSE_FLOOR
    )
    seconds[s] = round(time.time() - start, 1)
  numbers.update(
    step=int(state.step),
    space=ls.name,
    num_images=n,
    methods=[m for m in METHODS if m in numbers['real']],
    hidden_fraction=float(hidden.mean()),
    seconds=seconds,
    protocol=dict(
      paper='Yeh et al. 2017, Semantic Image Inpainting with Deep Generative Models',
      mask=str(mask),
      size=DEFAULT_SIZE.get(str(mask).replace('center', 'centre'), size) if size is None else size,
      blocks=blocks,
      window=window,
      contextual_loss='sum over pixels and channels of W |G(z) - y| (images in [-1, 1])',
      perceptual_weight=perceptual_weight,
      perceptual_loss='log(1 - sigmoid(D logit)), D in eval mode',
      steps=steps,
      lr=lr,
      schedule='cosine decay to 0',
      restarts=restarts,
      blend=blend_method,
      train_mean='pixelwise mean of the training images',
      known_mean="per channel, the mean of the image's known pixels",
      nearest='nearest training image on the known pixels (squared L2), pasted',
      train_images=int(len(index)),
      hidden_mse='mean over hidden pixels and channels, images in [-1, 1]',
      psnr='10 log10(4 / hidden MSE) per image, mean over images',
      seed=seed,
      ema=bool(use_ema and state.ema),
    ),
  )
  return rows, hidden, numbers


def _rgb(images):
  u = image_lib.to_uint8(images)
  return np.repeat(u, 3, -1) if u.shape[-1] == 1 else u


def figure_rows(rows, hidden, show=8):
  """(uint8 RGB grid rows [show, H, W, 3] for common.framed, their names), per set the
  rows of `analyse` with the masked input's hidden pixels in HIDDEN_COLOUR."""
  out, names = [], []
  for s, set_rows in rows.items():
    for name, images in set_rows.items():
      cells = _rgb(images[:show])
      if name == 'masked':
        cells[hidden[:show]] = HIDDEN_COLOUR
      out.append(cells)
      names.append(f'{s}: {name}')
  return out, names


def write_figure(
  config,
  workdir,
  mask='centre',
  size=None,
  blocks=4,
  num_images=16,
  heldout_split=None,
  steps=500,
  lr=0.1,
  restarts=4,
  window=7,
  perceptual_weight=0.003,
  blend_method='poisson',
  space='z',
  nearest_pool=10000,
  seed=0,
  use_ema=True,
):
  """Restores the latest checkpoint of `workdir`, inpaints `num_images` images of
  `heldout_split` (default data.default_heldout_split) and as many samples, and writes
  analysis/inpainting.png and inpainting.json; returns the numbers.

  Raises MissingInputError without a checkpoint or a mask file; UserInputError as
  `analyse`, or for a bad count (checked before anything is restored).
  """
  if num_images < 1:
    raise errors.UserInputError(f'--num_images={num_images}: give at least 1.')
  if blend_method not in BLENDS:
    raise errors.UserInputError(f'--blend={blend_method!r}: use {" or ".join(BLENDS)}.')
  check_mask_spec(mask, size, blocks)
  contextual_weights(np.zeros((0, 1, 1), bool), window)
  for name, value in (('steps', steps), ('restarts', restarts)):
    if value < 1:
      raise errors.UserInputError(f'--{name}={value}: give at least 1.')
  heldout_split = heldout_split or data.default_heldout_split(config)
  exp, state = loop.restore_latest(config, workdir)
  heldout = data.load(exp.config, split=heldout_split)
  idx = np.arange(min(num_images, heldout.num_examples))
  x, y = heldout.get(idx)
  rows, hidden, numbers = analyse(
    exp,
    state,
    x,
    y,
    mask=mask,
    size=size,
    blocks=blocks,
    steps=steps,
    lr=lr,
    restarts=restarts,
    window=window,
    perceptual_weight=perceptual_weight,
    blend_method=blend_method,
    space=space,
    nearest_pool=nearest_pool,
    seed=seed,
    use_ema=use_ema,
  )
  numbers['heldout_split'] = heldout_split
  out = common.output_dir(workdir)
  grid_rows, names = figure_rows(rows, hidden)
  common.write_png(f'{out}/inpainting.png', common.framed(grid_rows))
  numbers['figure'] = f'{out}/inpainting.png'
  numbers['figure_rows'] = names
  common.write_json(f'{out}/inpainting.json', numbers)
  for s in ('real', 'samples'):
    logging.info(
      '%s: hidden MSE %s',
      s,
      ', '.join(f'{m} {numbers[s][m]["hidden_mse"]:.4f}' for m in numbers['methods']),
    )
  return numbers


def define_flags():
  """The command's flags and main (defined only when run as a command)."""
  config, workdir = common.define_common_flags()
  mask = flags.DEFINE_string(
    'mask', 'centre', 'centre, blocks, top/bottom/left/right, Y0,Y1,X0,X1, or a PNG (directory).'
  )
  size = flags.DEFINE_float(
    'size', None, 'Side of the centre square or of each block: a fraction (< 1) or pixels.'
  )
  blocks = flags.DEFINE_integer('blocks', 4, 'Number of random blocks per image (--mask blocks).')
  num_images = flags.DEFINE_integer('num_images', 16, 'Real images (and samples) inpainted.')
  heldout_split = flags.DEFINE_string('heldout_split', None, 'Real images to inpaint.')
  steps = flags.DEFINE_integer('steps', 500, 'Optimisation steps per start.')
  lr = flags.DEFINE_float('lr', 0.1, 'Initial Adam learning rate (cosine decay).')
  restarts = flags.DEFINE_integer('restarts', 4, 'Random starts of the optimisation.')
  window = flags.DEFINE_integer('window', 7, 'Window of the contextual weights (0: uniform).')
  perceptual_weight = flags.DEFINE_float(
    'perceptual_weight', 0.003, 'Weight lambda of log(1 - D(G(z))) (0: no discriminator).'
  )
  blend_method = flags.DEFINE_enum('blend', 'poisson', list(BLENDS), 'Blending at the border.')
  space = flags.DEFINE_enum('space', 'z', list(inversion.SPACES), 'Latent space optimised.')
  nearest_pool = flags.DEFINE_integer(
    'nearest_pool', 10000, 'Training images of the baselines, at most (0: all).'
  )
  seed = flags.DEFINE_integer('seed', 0, 'Seed of the samples, starts, blocks and pool.')
  ema = flags.DEFINE_bool('ema', True, "Use the generator's EMA weights when the run keeps them.")

  def main(argv):
    del argv
    common.run_command(
      lambda: write_figure(
        config=config.value,
        workdir=workdir.value,
        mask=mask.value,
        size=size.value,
        blocks=blocks.value,
        num_images=num_images.value,
        heldout_split=heldout_split.value,
        steps=steps.value,
        lr=lr.value,
        restarts=restarts.value,
        window=window.value,
        perceptual_weight=perceptual_weight.value,
        blend_method=blend_method.value,
        space=space.value,
        nearest_pool=nearest_pool.value,
        seed=seed.value,
        use_ema=ema.value,
      )
    )

  return main


if __name__ == '__main__':
  app.run(define_flags())
