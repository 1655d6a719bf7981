r"""Forgetting to draw an object: drop the generator's feature maps that draw it
(Radford et al. 2015, Sec. 6.2 and Fig. 6).

  python -m gans.analysis.forgetting --config experiments/dcgan.py --workdir runs/dcgan \
      [--layer -1 --region top|bottom|left|right|Y0,Y1,X0,X1 --threshold 0.5] \
      [--num_fit 400 --num_eval 400 --max_drop 0 --random_draws 5 --where all|region] \
      [--masks MASKS.npz|DIR] [--annotate DIR] [--seed 0]

The paper hand-drew window boxes on 150 samples, fitted a logistic regression on the
generator's "second highest convolution layer features" that predicts whether an
activation lies on a window (activations inside the boxes positive, random ones of the
same images negative), zeroed every feature map whose weight was > 0, and generated
again: the windows vanished or became other objects. Here:

Feature maps. The generator's convolutional layers (flax Conv and ConvTranspose, the
project's SNConv) are numbered in call order; `--layer L` (negative: from the end)
takes the feature maps that layer L receives, its input [N, h, w, C]. The default -1
is the input of the last convolution, the one that draws the image: in the DCGAN G the
output of the second-highest convolution layer after its batch norm and ReLU (32 x 32
images: 16 x 16 x 64), the paper's choice. Dropping a map zeroes that channel of the
same tensor, so the layer takes 0 where the map was (in the DCGAN G, as if the ReLU
had never fired). A tensor is read and edited through a flax method interceptor around
the generator's un-jitted apply (`common.LatentGenerator.apply_fn`).

Masks. The offline default is "the strokes in a region": pixels of a sample whose
brightness ((x + 1) / 2, averaged over colour channels) exceeds `threshold` inside the
rectangle `--region` (top, bottom, left, right halves, or Y0,Y1,X0,X1 in pixels,
half-open). User masks: a .npz with `z` [N, d] (the latents), `mask` [N, H, W] (nonzero
= on the object) and optionally `y` [N] (classes), or a directory with z.npy (y.npy)
and mask_0000.png, mask_0001.png, ... (nonzero pixels = on the object); `--annotate
DIR` writes such a directory's z.npy and the samples sample_0000.png, ... to paint
masks on. From Python, any `mask_fn(images) -> bool [N, H, W]` works. A mask is
brought to the layer's grid by area: a cell is positive when more than
`cell_fraction` of its pixels are in the mask (0: any pixel, i.e. max-pooling).

Fit. scikit-learn's LogisticRegression (L2, C = 1, class_weight='balanced': the
positives and the negatives weigh the same, like the paper's equal number of random
negatives but using every location) on standardised per-location feature vectors
[N h w, C] of `num_fit` samples. Accuracy, balanced accuracy and ROC AUC
(sklearn.metrics) on those and on held-out samples (the `num_eval` evaluation samples;
with user masks the last quarter of them).

Drop. The maps with weight > 0 (the `max_drop` largest when > 0) are zeroed while the
evaluation samples are generated again from the same latents: at every location
(`--where all`, the paper), or only at the grid cells of the region (`--where region`,
by the `cell_fraction` rule; the unit ablation of GAN Dissection, Bau et al. 2019). A
channel of a convolutional layer draws the same thing wherever it fires, so a global
drop removes what the maps draw everywhere, in the region or not; the regional drop
asks whether these maps, rather than any, draw the region's content. The control
zeroes as many maps, at the same locations, drawn at random among the live ones (maps
not zero everywhere on the fit samples), `random_draws` times.

Numbers per variant (learned; random: the mean over the draws), pooled over the pixels
of the region (the rectangle; with user masks each held-out sample's mask) and outside
it: ink (mean brightness in [0, 1]), stroke fraction (pixels brighter than
`threshold`), and change (mean |brightness after - before|). `forgetting` sums it up:
  region_vs_outside   ink retained in the region / ink retained outside (below 1: the
                      region lost more of its ink than the rest of the image);
  region_vs_random    ink retained in the region with the learned maps dropped / with
                      random maps dropped (below 1: the learned maps draw the region's
                      strokes more than maps in general);
  forgotten_fraction  of the samples with strokes in the region (at least 2% of its
                      pixels), those that kept at most half of them (and the same for
                      the random control).

Writes WORKDIR/analysis/forgetting.png (rows: the evaluation samples with the region
outlined in red; the same latents with the learned maps dropped; with random maps
dropped (first draw); the ink removed by the learned drop, white = removed) and
forgetting.json (the numbers, the layers, the weights and dropped maps, the protocol).
Families: `gan` (the generators of `stylegan2` and `vae_gan` run inside jitted
functions, which method interceptors cannot reach reliably; they are refused).
Conditional generators draw class i mod K for sample i, the same with and without the
drop.
"""

import functools
import glob
import os

from absl import app
from absl import flags
from absl import logging
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from PIL import Image
from sklearn import linear_model
from sklearn import metrics
from sklearn import pipeline
from sklearn import preprocessing

from gans import errors
from gans.analysis import common
from gans.data import images as image_lib
from gans.nets import layers
from gans.train import loop

# Module types read as convolutional layers (fast_conv's Conv/ConvTranspose subclass flax's).
CONV_TYPES = (nn.Conv, nn.ConvTranspose, layers.SNConv)
REGIONS = ('top', 'bottom', 'left', 'right')
WHERE = ('all', 'region')
# A sample "has strokes in the region" when at least this fraction of its pixels are.
MIN_STROKE_FRACTION = 0.02


def _is_conv(context):
  return context.method_name == '__call__' and isinstance(context.module, CONV_TYPES)


def conv_layers(apply_fn, z, y=None):
  """The convolutional layers of a generator, in call order.

  Args:
    apply_fn: (z, y) -> images, the un-jitted generator (`LatentGenerator.apply_fn`).
    z: float32 [n, d] latents (only their shape is used: `jax.eval_shape`).
    y: int32 [n] classes of a conditional generator, or None.
  Returns:
    list of dicts: index, name (the module path, '/'-joined), kind (the module type),
    input_shape and output_shape (tuples, batch first).
  """
  found = []

  def interceptor(next_fun, args, kwargs, context):
    out = next_fun(*args, **kwargs)
    if _is_conv(context) and args:
      found.append(
        dict(
          index=len(found),
          name='/'.join(context.module.scope.path),
          kind=type(context.module).__name__,
          input_shape=tuple(args[0].shape),
          output_shape=tuple(out.shape),
        )
      )
    return out

  with nn.intercept_methods(interceptor):
    # A new function each time: eval_shape caches traces by function, and a cached trace
    # would skip the interceptor.
    jax.eval_shape(lambda z, y: apply_fn(z, y), z, y)
  return found


def tap(layer, keep=None):
  """A flax method interceptor on the input of convolutional layer `layer` (>= 0, call
  order among `CONV_TYPES` modules).

  It records that input [B, h, w, C] as `interceptor.features` (before any drop) and,
  with `keep` bool [C] (or [h, w, C], per location), passes the layer
  jnp.where(keep, x, 0) instead: channels (locations) with keep False are zeroed, the
  others are passed bit for bit. `interceptor.count` counts the convolutional layers
  called. Use a fresh one per call of the generator, as
  `with nn.intercept_methods(tap(...))`, inside the traced function (a jitted function
  that calls the generator keeps what its first trace saw).
  """

  def interceptor(next_fun, args, kwargs, context):
    if not (_is_conv(context) and args):
      return next_fun(*args, **kwargs)
    index = interceptor.count
    interceptor.count += 1
    if index != layer:
      return next_fun(*args, **kwargs)
    x = args[0]
    interceptor.features = x
    if keep is not None:
      x = jnp.where(jnp.asarray(keep, bool), x, jnp.zeros((), x.dtype))
    return next_fun(x, *args[1:], **kwargs)

  interceptor.count = 0
  interceptor.features = None
  return interceptor


def generate(apply_fn, z, y, layer, keep=None):
  """(images [n, H, W, C], features [n, h, w, C']) of the generator `apply_fn` (traceable).

  features is the input of convolutional layer `layer` (>= 0) as the generator computed
  it; the images are drawn with it zeroed where `keep` (bool [C'] or [h, w, C'], see
  `tap`) is False (all kept when None). Raises UserInputError when the generator calls
  fewer than layer + 1 convolutional layers.
  """
  interceptor = tap(layer, keep)
  with nn.intercept_methods(interceptor):
    images = apply_fn(z, y)
  if interceptor.features is None:
    raise errors.UserInputError(
      f'The generator calls {interceptor.count} convolutional layers; there is no layer {layer}.'
    )
  return images, interceptor.features


def resolve_layer(layer_list, layer):
  """Index >= 0 of `layer` (negative from the end) among `conv_layers` output.

  Raises UserInputError for a generator without convolutional layers, an index out of
  range or a layer whose input is not [N, h, w, C].
  """
  n = len(layer_list)
  if not n:
    raise errors.UserInputError(
      'The generator has no convolutional layers (flax Conv, ConvTranspose, SNConv) whose '
      'feature maps could be dropped.'
    )
  if not -n <= layer < n:
    listed = ', '.join(
      f'{d["index"]}: {d["name"]} {list(d["input_shape"][1:])}' for d in layer_list
    )
    raise errors.UserInputError(
      f'--layer={layer}: the generator has {n} convolutional layers; use -{n} to {n - 1} '
      f'(inputs: {listed}).'
    )
  index = layer % n
  chosen = layer_list[index]
  if len(chosen['input_shape']) != 4:
    raise errors.UserInputError(
      f'Layer {layer} ({chosen["name"]}) takes {chosen["input_shape"]}, not feature maps '
      '[N, h, w, C].'
    )
  return index


def brightness(images):
  """Per-pixel brightness in [0, 1]: (x + 1) / 2 averaged over the colour channels of float
  images [N, H, W, C] in [-1, 1] -> float32 [N, H, W]."""
  return ((np.asarray(images, np.float32) + 1.0) / 2.0).mean(-1)


def region_spec(spec):
  """A region spec -> 'top' / 'bottom' / 'left' / 'right' or (y0, y1, x0, x1) ints.

  `spec` is one of the four names, 'Y0,Y1,X0,X1' (pixels, half-open: rows y0..y1-1) or a
  4-sequence of ints. Raises UserInputError for anything else or an empty rectangle.
  """
  if isinstance(spec, str) and spec.strip() in REGIONS:
    return spec.strip()
  parts = spec.split(',') if isinstance(spec, str) else spec
  try:
    box = tuple(int(str(p).strip()) for p in parts)
  except (TypeError, ValueError):
    box = ()
  if len(box) != 4 or min(box) < 0 or box[0] >= box[1] or box[2] >= box[3]:
    raise errors.UserInputError(
      f'--region={spec!r}: use {", ".join(REGIONS)} (halves of the image) or Y0,Y1,X0,X1 '
      'in pixels with Y0 < Y1 and X0 < X1 (half-open, from the top left), e.g. 0,16,0,32.'
    )
  return box


def region_box(spec, height, width):
  """(y0, y1, x0, x1) of a region spec (`region_spec`) in an image of height x width.

  Halves are rows [0, H // 2) (top), [H // 2, H) (bottom), columns [0, W // 2) (left),
  [W // 2, W) (right). Raises UserInputError for a rectangle outside the image.
  """
  spec = region_spec(spec)
  halves = dict(
    top=(0, height // 2, 0, width),
    bottom=(height // 2, height, 0, width),
    left=(0, height, 0, width // 2),
    right=(0, height, width // 2, width),
  )
  if isinstance(spec, str):
    return halves[spec]
  if spec[1] > height or spec[3] > width:
    raise errors.UserInputError(
      f'--region={",".join(map(str, spec))} leaves the {height} x {width} image.'
    )
  return spec


def box_mask(box, height, width):
  """bool [H, W], True inside the rectangle box = (y0, y1, x0, x1)."""
  mask = np.zeros((height, width), bool)
  mask[box[0] : box[1], box[2] : box[3]] = True
  return mask


def stroke_mask_fn(box, threshold=0.5):
  """The built-in mask: mask_fn(images float [N, H, W, C] in [-1, 1]) -> bool [N, H, W],
  the pixels brighter than `threshold` (`brightness`, in [0, 1]) inside box (y0, y1, x0,
  x1)."""

  def mask_fn(images):
    b = brightness(images)
    return (b > threshold) & box_mask(box, *b.shape[1:])

  return mask_fn


def _bins(n, g):
  return [(i * n // g, -(-(i + 1) * n // g)) for i in range(g)]


def resize_mask(mask, grid, cell_fraction=0.5):
  """A pixel mask brought to a feature grid by area.

  Args:
    mask: bool [N, H, W].
    grid: (h, w) with h <= H and w <= W.
    cell_fraction: a cell is True when more than this fraction of its pixels are (0:
      any pixel, i.e. max-pooling; 0.5: the majority).
  Returns:
    (cells bool [N, h, w], fraction float32 [N, h, w], the fraction of each cell's
    pixels in the mask). Cell i of an axis of length L covers pixels [floor(i L / g),
    ceil((i + 1) L / g)) (equal blocks when g divides L).
  Raises:
    ValueError: a grid finer than the mask, or a mask of another rank.
  """
  mask = np.asarray(mask, bool)
  if mask.ndim != 3:
    raise ValueError(f'mask must be [N, H, W]; got shape {mask.shape}.')
  n, height, width = mask.shape
  h, w = grid
  if h > height or w > width:
    raise ValueError(f'The feature grid {h} x {w} is finer than the {height} x {width} mask.')
  m = mask.astype(np.float32)
  if height % h == 0 and width % w == 0:
    frac = m.reshape(n, h, height // h, w, width // w).mean((2, 4))
  else:
    frac = np.stack(
      [
        np.stack([m[:, r0:r1, c0:c1].mean((1, 2)) for c0, c1 in _bins(width, w)], -1)
        for r0, r1 in _bins(height, h)
      ],
      1,
    )
  return frac > cell_fraction, frac


def _scores(model, x, labels):
  labels = np.asarray(labels, bool)
  predicted = model.predict(x).astype(bool)
  both = labels.any() and not labels.all()
  return dict(
    accuracy=float(np.mean(predicted == labels)),
    balanced_accuracy=float(metrics.balanced_accuracy_score(labels, predicted)) if both else None,
    auc=float(metrics.roc_auc_score(labels, model.decision_function(x))) if both else None,
    locations=int(labels.size),
    positives=int(labels.sum()),
  )


def fit_probe(features, labels, heldout=None, C=1.0):
  """The logistic regression of a mask on per-location feature vectors.

  Args:
    features: float [..., C] feature maps (e.g. [N, h, w, C]); every location is one
      example.
    labels: bool [...] (e.g. [N, h, w]), the mask on the same grid.
    heldout: optional (features, labels) of other samples, scored but not fitted.
    C: inverse L2 strength of LogisticRegression.
  Returns:
    dict: weights float64 [C] (per standardised feature, so their signs are those of the
    weights on the raw features), raw_weights [C] (per unit of the raw feature),
    intercept, model (the scikit-learn pipeline), train and heldout (accuracy,
    balanced_accuracy, auc, locations, positives; heldout None when not given; auc None
    when the labels have one class), converged.
  Raises:
    UserInputError: labels with no positive or no negative location.
  """
  c = np.asarray(features).shape[-1]
  x = np.asarray(features, np.float32).reshape(-1, c)
  t = np.asarray(labels, bool).reshape(-1)
  if len(t) != len(x):
    raise ValueError(f'{len(x)} feature vectors but {len(t)} labels.')
  if t.all() or not t.any():
    raise errors.UserInputError(
      f'The masks mark {"every" if t.all() else "no"} location of the {len(t)} on the '
      'layer grid; the regression needs both. Choose another region, threshold or '
      'cell_fraction (or masks).'
    )
  lr = linear_model.LogisticRegression(C=C, class_weight='balanced', max_iter=2000)
  model = pipeline.make_pipeline(preprocessing.StandardScaler(), lr).fit(x, t)
  weights = lr.coef_[0].astype(np.float64)
  scale = model[0].scale_
  out = dict(
    weights=weights,
    raw_weights=weights / scale,
    intercept=float(lr.intercept_[0]),
    model=model,
    train=_scores(model, x, t),
    heldout=None,
    converged=bool(lr.n_iter_[0] < lr.max_iter),
  )
  if heldout is not None:
    hx = np.asarray(heldout[0], np.float32).reshape(-1, c)
    out['heldout'] = _scores(model, hx, np.asarray(heldout[1], bool).reshape(-1))
  return out


def maps_to_drop(weights, max_drop=0):
  """Indices int64 [k] of the maps with weight > 0, the largest weight first; only the
  `max_drop` largest when max_drop > 0."""
  w = np.asarray(weights, np.float64)
  idx = np.flatnonzero(w > 0)
  idx = idx[np.argsort(-w[idx], kind='stable')]
  return idx[:max_drop] if max_drop > 0 else idx


def keep_mask(channels, dropped, cells=None):
  """What `tap` keeps: bool [channels], False at the `dropped` indices; with `cells` (bool
  [h, w], the grid locations to drop at) bool [h, w, channels], False only there."""
  dropped = np.asarray(dropped, np.int64)
  if cells is None:
    keep = np.ones(channels, bool)
    keep[dropped] = False
    return keep
  cells = np.asarray(cells, bool)
  keep = np.ones(cells.shape + (channels,), bool)
  keep[..., dropped] = ~cells[..., None]
  return keep


def ink(images, regions, threshold=0.5, reference=None):
  """Ink in a region and outside it, pooled over the samples' pixels.

  Args:
    images: float [N, H, W, C] in [-1, 1].
    regions: bool [N, H, W] or [H, W] (one region for every sample).
    threshold: brightness (in [0, 1]) above which a pixel is a stroke.
    reference: optional float [N, H, W, C], the same latents' images before a drop.
  Returns:
    dict of floats: region_ink, outside_ink (mean brightness in [0, 1]), region_strokes,
    outside_strokes (fraction of pixels brighter than threshold); with `reference`
    also region_change, outside_change (mean |brightness - reference brightness|).
    NaN where a part has no pixels.
  """
  b = brightness(images)
  r = np.broadcast_to(np.asarray(regions, bool), b.shape)
  mean = lambda v, m: float(v[m].mean()) if m.any() else float('nan')
  out = dict(
    region_ink=mean(b, r),
    outside_ink=mean(b, ~r),
    region_strokes=mean(b > threshold, r),
    outside_strokes=mean(b > threshold, ~r),
  )
  if reference is not None:
    d = np.abs(b - brightness(reference))
    out.update(region_change=mean(d, r), outside_change=mean(d, ~r))
  return out


def forgotten_fraction(before, after, regions, threshold=0.5):
  """How many samples forgot to draw in their region.

  Args:
    before, after: float [N, H, W, C] in [-1, 1], the same latents' images without and
      with a drop.
    regions: bool [N, H, W] or [H, W].
    threshold: stroke brightness in [0, 1].
  Returns:
    (fraction, count): count = the samples with strokes in their region in `before` (at
    least MIN_STROKE_FRACTION of its pixels, and one); fraction = those of them whose
    region has at most half as many stroke pixels in `after` (NaN when count is 0).
  """
  r = np.broadcast_to(np.asarray(regions, bool), (len(before),) + before.shape[1:3])
  count = lambda x: ((brightness(x) > threshold) & r).sum((1, 2))
  n0, n1 = count(before), count(after)
  has = n0 >= np.maximum(1, MIN_STROKE_FRACTION * r.sum((1, 2)))
  return (float(np.mean(n1[has] <= 0.5 * n0[has])) if has.any() else float('nan')), int(has.sum())


def _ratio(a, b):
  return a / b if b and np.isfinite(b) else float('nan')


class _Runner:
  """Jitted batches of `generate` for one generator and layer (fixed batch shape)."""

  def __init__(self, gen, layer, batch_size):
    self.gen, self.batch_size = gen, batch_size
    self.read = jax.jit(functools.partial(generate, gen.apply_fn, layer=layer))
    self.draw = jax.jit(lambda z, y, keep: generate(gen.apply_fn, z, y, layer, keep)[0])

  def _labels(self, n, y):
    if not self.gen.num_classes:
      return None
    return np.arange(n, dtype=np.int32) % self.gen.num_classes if y is None else y

  def _batches(self, fn, z, y, *extra):
    z = np.asarray(z, np.float32)
    y = self._labels(len(z), y)
    out = []
    for i in range(0, len(z), self.batch_size):
      zb = z[i : i + self.batch_size]
      n = len(zb)
      pad = self.batch_size - n
      zb = np.concatenate([zb, np.zeros((pad,) + zb.shape[1:], np.float32)])
      yb = None if y is None else np.concatenate([y[i : i + n], np.zeros(pad, np.int32)])
      res = jax.device_get(fn(zb, yb, *extra))
      out.append(jax.tree_util.tree_map(lambda a: np.asarray(a, np.float32)[:n], res))
    return jax.tree_util.tree_map(lambda *a: np.concatenate(a), *out)

  def images_and_features(self, z, y=None):
    """(images [n, H, W, C], features [n, h, w, C']) float32 NumPy."""
    return self._batches(self.read, z, y)

  def images(self, z, y, keep):
    """Images [n, H, W, C] with the maps where keep is False zeroed."""
    return self._batches(self.draw, z, y, np.asarray(keep, bool))


def load_masks(path, image_hw):
  """User masks aligned to latents: dict(z float32 [N, d], mask bool [N, H, W], y int32 [N]
  or None).

  `path`: a .npz with arrays z, mask (nonzero = on the object) and optionally y; or a
  directory with z.npy (optionally y.npy) and mask_0000.png, mask_0001.png, ... (one per
  latent in order; a pixel with any nonzero colour channel, alpha aside, is on the
  object). Raises
  MissingInputError for a missing path or file, UserInputError for shapes that do not
  fit (masks not H x W = `image_hw`, counts that differ).
  """
  if not os.path.exists(path):
    raise errors.MissingInputError(f'--masks={path}: no such file or directory.')
  y = None
  if os.path.isdir(path):
    z_path = os.path.join(path, 'z.npy')
    if not os.path.exists(z_path):
      raise errors.MissingInputError(f'--masks={path}: no z.npy (the latents) in the directory.')
    z = np.load(z_path)
    if os.path.exists(os.path.join(path, 'y.npy')):
      y = np.load(os.path.join(path, 'y.npy'))
    names = sorted(glob.glob(os.path.join(path, 'mask_*.png')))
    if len(names) != len(z):
      raise errors.UserInputError(
        f'--masks={path}: {len(z)} latents in z.npy but {len(names)} mask_*.png files.'
      )
    mask = np.stack([np.asarray(Image.open(p)) for p in names]) if names else np.zeros((0,))
    if mask.ndim == 4:  # Colour: any colour channel (not alpha) nonzero.
      mask = mask[..., : 3 if mask.shape[-1] >= 3 else 1].any(-1)
  else:
    with np.load(path) as f:
      if 'z' not in f or 'mask' not in f:
        raise errors.UserInputError(f'--masks={path}: needs arrays z and mask; has {list(f)}.')
      z, mask = f['z'], f['mask']
      y = f['y'] if 'y' in f else None
  mask = np.asarray(mask) != 0
  if z.ndim != 2 or mask.shape != (len(z),) + tuple(image_hw):
    raise errors.UserInputError(
      f'--masks={path}: z {z.shape} and masks {mask.shape} must be [N, d] and '
      f'[N, {image_hw[0]}, {image_hw[1]}].'
    )
  if y is not None and np.shape(y) != (len(z),):
    raise errors.UserInputError(f'--masks={path}: y {np.shape(y)} must be [{len(z)}].')
  return dict(z=z.astype(np.float32), mask=mask, y=None if y is None else np.asarray(y, np.int32))


def write_annotation_set(gen, directory, n, seed=0):
  """Writes n samples to paint masks on: DIRECTORY/z.npy (float32 [n, d]), y.npy (class
  i mod K of a conditional generator) and sample_0000.png, ... (uint8, the image size).

  Paint mask_0000.png, ... (nonzero = on the object, same size) next to them and pass
  the directory as `masks`. Returns the directory.
  """
  os.makedirs(directory, exist_ok=True)
  z = np.asarray(gen.draw(jax.random.PRNGKey(seed), n), np.float32)
  y = np.arange(n, dtype=np.int32) % gen.num_classes if gen.num_classes else None
  np.save(os.path.join(directory, 'z.npy'), z)
  if y is not None:
    np.save(os.path.join(directory, 'y.npy'), y)
  for i, image in enumerate(image_lib.to_uint8(gen.decode(z, y))):
    common.write_png(os.path.join(directory, f'sample_{i:04d}.png'), image)
  return directory


def _check_options(where, user_masks):
  if where not in WHERE:
    raise errors.UserInputError(f'--where={where!r}: use {" or ".join(WHERE)}.')
  if where == 'region' and user_masks:
    raise errors.UserInputError(
      '--where=region drops the maps inside the --region rectangle; user masks give no '
      'rectangle (use --where=all).'
    )


def _check_family(family, apply_fn=True):
  if family != 'gan' or apply_fn is None:
    raise errors.UserInputError(
      f'config.family={family!r}: the forgetting analysis takes a run of the gan family. It '
      'reads and zeroes generator layers through flax method interceptors, which cannot '
      'reach the stylegan2 and vae_gan generators (they run inside jitted functions); '
      'other families have no generator of a latent.'
    )


def forget(
  gen,
  layer=-1,
  region='top',
  mask_fn=None,
  masks=None,
  threshold=0.5,
  cell_fraction=0.5,
  num_fit=400,
  num_eval=400,
  max_drop=0,
  random_draws=5,
  where='all',
  seed=0,
  heldout_fraction=0.25,
  batch_size=200,
):
  """Fits which feature maps draw the masked pixels, drops them and measures what goes.

  Args:
    gen: a `common.LatentGenerator` of the gan family (its `apply_fn`).
    layer: convolutional layer (call order, negative from the end) whose input holds
      the feature maps (module docstring).
    region: where the ink is measured and the built-in mask looks (`region_spec`);
      ignored with `masks`.
    mask_fn: images float [N, H, W, C] in [-1, 1] -> bool [N, H, W], the object's
      pixels (default: `stroke_mask_fn(region, threshold)`).
    masks: user masks from `load_masks` (dict z, mask, y): the first 1 -
      heldout_fraction of them fit, the rest are held out; the held-out masks are also
      the regions of the numbers. Excludes mask_fn.
    threshold: stroke brightness in [0, 1].
    cell_fraction: `resize_mask`'s rule.
    num_fit, num_eval: latents fitted on and evaluated on (drawn with seed; without
      `masks`).
    max_drop: drop only the max_drop largest positive weights (0: all positive).
    random_draws: random drops of as many maps (the control).
    where: 'all' (the paper: the maps are zeroed at every location) or 'region' (only at
      the grid cells of the rectangle, by `cell_fraction`, as GAN Dissection (Bau et
      al. 2019) ablates units in a region; not with `masks`). The random control is
      dropped at the same locations.
    seed: seed of the latents (PRNGKey(seed)) and of the random maps
      (numpy default_rng(seed)).
    heldout_fraction: the share of user masks held out.
    batch_size: latents per generator call.
  Returns:
    dict: numbers (JSON-ready, the keys of forgetting.json but step and figure),
    original, learned, random (float32 [n_eval, H, W, C]: the evaluation images, with
    the learned maps dropped, with the first random drop), regions (bool [n_eval, H,
    W]), fit (`fit_probe`'s dict).
  Raises:
    UserInputError: a family other than gan, a bad layer, region or `where`, masks
      that mark no or every location, too few user masks or latents of another size;
      ValueError for num_fit, num_eval < 1 or both mask_fn and masks.
  """
  _check_family(gen.family, gen.apply_fn)
  if masks is not None and mask_fn is not None:
    raise ValueError('Give mask_fn or masks, not both.')
  _check_options(where, masks is not None)
  if masks is None and min(num_fit, num_eval) < 1:
    raise ValueError(f'num_fit={num_fit} and num_eval={num_eval} must be at least 1.')
  probe_z = np.zeros((1, gen.latent_dim), np.float32)
  probe_y = np.zeros(1, np.int32) if gen.num_classes else None
  layer_list = conv_layers(gen.apply_fn, probe_z, probe_y)
  index = resolve_layer(layer_list, layer)
  runner = _Runner(gen, index, batch_size)
  if masks is not None:
    sets = _user_sets(runner, masks, heldout_fraction)
  else:
    sets = _drawn_sets(runner, region, mask_fn, threshold, num_fit, num_eval, seed)
  fit_features, eval_images = sets['fit_features'], sets['eval_images']
  grid = fit_features.shape[1:3]
  fit_labels, _ = resize_mask(sets['fit_mask'], grid, cell_fraction)
  eval_labels, _ = resize_mask(sets['eval_mask'], grid, cell_fraction)
  fit = fit_probe(fit_features, fit_labels, (sets['eval_features'], eval_labels))
  channels = fit_features.shape[-1]
  dropped = maps_to_drop(fit['weights'], max_drop)
  cells = None
  if where == 'region':
    cells = resize_mask(sets['regions'][None], grid, cell_fraction)[0][0]
  z_eval, y_eval = sets['z_eval'], sets['y_eval']
  learned = runner.images(z_eval, y_eval, keep_mask(channels, dropped, cells))
  live = np.flatnonzero(np.abs(fit_features).reshape(-1, channels).max(0) > 0)
  pool = live if len(live) >= len(dropped) else np.arange(channels)
  rng = np.random.default_rng(seed)
  random_sets = [
    np.sort(rng.choice(pool, len(dropped), replace=False)) for _ in range(random_draws)
  ]
  randoms = [runner.images(z_eval, y_eval, keep_mask(channels, s, cells)) for s in random_sets]
  chosen = layer_list[index]
  numbers = dict(
    layer=dict(
      index=index,
      requested=layer,
      name=chosen['name'],
      kind=chosen['kind'],
      feature_shape=[int(s) for s in fit_features.shape[1:]],
    ),
    layers=[
      dict(
        index=d['index'],
        name=d['name'],
        kind=d['kind'],
        input_shape=list(d['input_shape'][1:]),
        output_shape=list(d['output_shape'][1:]),
      )
      for d in layer_list
    ],
    region=None if sets['box'] is None else [int(v) for v in sets['box']],
    mask=sets['mask_name'],
    threshold=threshold,
    cell_fraction=cell_fraction,
    num_fit=len(fit_features),
    num_eval=len(eval_images),
    seed=seed,
    fit=dict(
      train=fit['train'],
      heldout=fit['heldout'],
      intercept=fit['intercept'],
      converged=fit['converged'],
      weights=fit['weights'].tolist(),
    ),
    channels=int(channels),
    live_channels=int(len(live)),
    positive_weights=int(np.sum(fit['weights'] > 0)),
    dropped=dict(
      count=len(dropped),
      of=int(channels),
      maps=dropped.tolist(),
      max_drop=max_drop,
      where=where,
      cells=None if cells is None else int(cells.sum()),
    ),
    random_maps=[r.tolist() for r in random_sets],
    **forgetting_numbers(eval_images, learned, randoms, sets['regions'], threshold),
    protocol=dict(
      gen.protocol,
      regression='sklearn LogisticRegression(C=1, L2, class_weight=balanced) on '
      'standardised per-location features',
      features=f'the input of convolutional layer {index} ({chosen["name"]})',
      drop='channels zeroed in that input (jnp.where), '
      + ('at every location' if cells is None else "at the region's grid cells"),
      random_control='as many maps drawn without replacement among the live ones',
      mask_to_grid=f'cell positive when more than {cell_fraction} of its pixels are masked',
      classes='i mod K' if gen.num_classes else None,
    ),
  )
  return dict(
    numbers=numbers,
    original=eval_images,
    learned=learned,
    random=randoms[0] if randoms else eval_images,
    regions=np.broadcast_to(sets['regions'], eval_images.shape[:3]),
    fit=fit,
  )


def _drawn_sets(runner, region, mask_fn, threshold, num_fit, num_eval, seed):
  """Fit and evaluation samples drawn from the prior, their masks and the rectangle."""
  key_fit, key_eval = jax.random.split(jax.random.PRNGKey(seed))
  gen = runner.gen
  z_fit = np.asarray(gen.draw(key_fit, num_fit), np.float32)
  z_eval = np.asarray(gen.draw(key_eval, num_eval), np.float32)
  fit_images, fit_features = runner.images_and_features(z_fit)
  eval_images, eval_features = runner.images_and_features(z_eval)
  box = region_box(region, *fit_images.shape[1:3])
  fn = mask_fn or stroke_mask_fn(box, threshold)
  return dict(
    fit_features=fit_features,
    fit_mask=np.asarray(fn(fit_images), bool),
    z_eval=z_eval,
    y_eval=None,
    eval_images=eval_images,
    eval_features=eval_features,
    eval_mask=np.asarray(fn(eval_images), bool),
    regions=box_mask(box, *fit_images.shape[1:3]),
    box=box,
    mask_name='mask_fn' if mask_fn else f'stroke pixels (brightness > {threshold}) in the region',
  )


def _user_sets(runner, masks, heldout_fraction):
  """The user's latents split into fit and held-out samples; the held-out masks are the
  regions."""
  n = len(masks['z'])
  if masks['z'].shape[1] != runner.gen.latent_dim:
    raise errors.UserInputError(
      f'The user latents have {masks["z"].shape[1]} dimensions; the generator takes '
      f'{runner.gen.latent_dim}.'
    )
  n_eval = int(round(heldout_fraction * n))
  if n - n_eval < 1 or n_eval < 1:
    raise errors.UserInputError(
      f'{n} user masks: need at least one to fit and one held out (heldout_fraction '
      f'{heldout_fraction}).'
    )
  k = runner.gen.num_classes
  y = None
  if k:
    y = masks['y'] if masks.get('y') is not None else np.arange(n, dtype=np.int32) % k
  split = n - n_eval
  part = lambda a, s: None if a is None else a[s]
  head, tail = slice(0, split), slice(split, n)
  _, fit_features = runner.images_and_features(masks['z'][head], part(y, head))
  eval_images, eval_features = runner.images_and_features(masks['z'][tail], part(y, tail))
  return dict(
    fit_features=fit_features,
    fit_mask=np.asarray(masks['mask'][head], bool),
    z_eval=masks['z'][tail],
    y_eval=part(y, tail),
    eval_images=eval_images,
    eval_features=eval_features,
    eval_mask=np.asarray(masks['mask'][tail], bool),
    regions=np.asarray(masks['mask'][tail], bool),
    box=None,
    mask_name='user masks',
  )


def forgetting_numbers(original, learned, randoms, regions, threshold=0.5):
  """The numbers of a drop (module docstring).

  Args:
    original: float [N, H, W, C] in [-1, 1], the evaluation images.
    learned: the same latents' images with the learned maps dropped.
    randoms: list of such images with random maps dropped (the control).
    regions: bool [N, H, W] or [H, W].
    threshold: stroke brightness in [0, 1].
  Returns:
    dict: original, learned (`ink`; learned with the change), random (the mean over the
    draws, `*_std` their standard deviations, draws), forgetting (ink retained in and
    outside the region for both, their ratios region_vs_outside, region_vs_random,
    random_region_vs_outside, change_region_vs_outside (and random_), forgotten_fraction
    (and random_), samples_with_strokes_in_region). NaN where undefined (no random
    draws, a part without ink).
  """
  before = ink(original, regions, threshold)
  after = ink(learned, regions, threshold, original)
  controls = [ink(r, regions, threshold, original) for r in randoms]
  over = lambda f: {
    k: float(f([c[k] for c in controls])) if controls else float('nan') for k in after
  }
  control = over(np.mean)
  kept = lambda v, part: _ratio(v[f'{part}_ink'], before[f'{part}_ink'])
  forgot, with_strokes = forgotten_fraction(original, learned, regions, threshold)
  forgot_random = [forgotten_fraction(original, r, regions, threshold)[0] for r in randoms]
  s = dict(
    region_ink_retained=kept(after, 'region'),
    outside_ink_retained=kept(after, 'outside'),
    random_region_ink_retained=kept(control, 'region'),
    random_outside_ink_retained=kept(control, 'outside'),
  )
  s.update(
    region_vs_outside=_ratio(s['region_ink_retained'], s['outside_ink_retained']),
    region_vs_random=_ratio(s['region_ink_retained'], s['random_region_ink_retained']),
    random_region_vs_outside=_ratio(
      s['random_region_ink_retained'], s['random_outside_ink_retained']
    ),
    change_region_vs_outside=_ratio(after['region_change'], after['outside_change']),
    random_change_region_vs_outside=_ratio(control['region_change'], control['outside_change']),
    forgotten_fraction=forgot,
    random_forgotten_fraction=float(np.mean(forgot_random)) if forgot_random else float('nan'),
    samples_with_strokes_in_region=with_strokes,
  )
  std = {f'{k}_std': v for k, v in over(np.std).items()}
  return dict(
    original=before,
    learned=after,
    random=dict(control, draws=len(randoms), **std),
    forgetting=s,
  )


def _outline(regions):
  """bool [N, H, W]: region pixels with a 4-neighbour outside the region (edge-padded)."""
  r = np.asarray(regions, bool)
  p = np.pad(r, ((0, 0), (1, 1), (1, 1)), mode='edge')
  inner = p[:, :-2, 1:-1] & p[:, 2:, 1:-1] & p[:, 1:-1, :-2] & p[:, 1:-1, 2:]
  return r & ~inner


def figure(out, show=10):
  """The uint8 RGB figure of a `forget` result (rows in the module docstring)."""
  n = min(show, len(out['original']))
  rgb = lambda x: np.repeat(x, 3, -1) if x.shape[-1] == 1 else x[..., :3]
  original = rgb(image_lib.to_uint8(out['original'][:n])).astype(np.float32)
  edge = _outline(out['regions'][:n])[..., None]
  red = np.array([255.0, 0.0, 0.0])
  original = np.where(edge, 0.5 * original + 0.5 * red, original)
  removed = np.clip(brightness(out['original'][:n]) - brightness(out['learned'][:n]), 0, 1)
  rows = [
    np.round(original).astype(np.uint8),
    rgb(image_lib.to_uint8(out['learned'][:n])),
    rgb(image_lib.to_uint8(out['random'][:n])),
    rgb(image_lib.to_uint8(removed[..., None] * 2.0 - 1.0)),
  ]
  return common.framed(rows)


def write_figure(
  config,
  workdir,
  layer=-1,
  region='top',
  threshold=0.5,
  cell_fraction=0.5,
  num_fit=400,
  num_eval=400,
  max_drop=0,
  random_draws=5,
  where='all',
  show=10,
  masks=None,
  annotate=None,
  seed=0,
  use_ema=True,
):
  """Restores the latest checkpoint of `workdir`, runs `forget` and writes
  analysis/forgetting.png and forgetting.json; returns the numbers.

  `masks`: a path for `load_masks` (user masks); `annotate`: a directory to write
  `num_fit` samples to paint masks on (`write_annotation_set`) instead, returning
  {'annotate': directory}. Raises MissingInputError without a checkpoint or masks;
  UserInputError as `forget` (a bad region or layer, a family other than gan, ...).
  """
  # Bad options fail before restoring.
  _check_options(where, masks is not None)
  if masks is None:
    region_spec(region)
  _check_family(config.get('family', 'gan'))
  exp, state = loop.restore_latest(config, workdir)
  gen = common.latent_generator(exp, state, use_ema)
  _check_family(gen.family, gen.apply_fn)
  if annotate:
    write_annotation_set(gen, annotate, num_fit, seed)
    logging.info('Wrote %d samples to annotate into %s', num_fit, annotate)
    return dict(annotate=annotate)
  user = load_masks(masks, tuple(exp.dataset.example_shape[:2])) if masks else None
  out = forget(
    gen,
    layer=layer,
    region=region,
    masks=user,
    threshold=threshold,
    cell_fraction=cell_fraction,
    num_fit=num_fit,
    num_eval=num_eval,
    max_drop=max_drop,
    random_draws=random_draws,
    where=where,
    seed=seed,
  )
  numbers = dict(step=int(state.step), **out['numbers'])
  if masks:
    numbers['masks'] = masks
  out_dir = common.output_dir(workdir)
  numbers['figure'] = f'{out_dir}/forgetting.png'
  common.write_png(numbers['figure'], figure(out, show))
  common.write_json(f'{out_dir}/forgetting.json', numbers)
  f = numbers['forgetting']
  auc = numbers['fit']['heldout']['auc']
  logging.info(
    'Wrote %s (step %d): dropped %d of %d maps (%s); ink retained in the region %.3f '
    '(random maps %.3f), outside %.3f (random %.3f); held-out AUC %s',
    numbers['figure'],
    numbers['step'],
    numbers['dropped']['count'],
    numbers['channels'],
    where,
    f['region_ink_retained'],
    f['random_region_ink_retained'],
    f['outside_ink_retained'],
    f['random_outside_ink_retained'],
    'n/a' if auc is None else f'{auc:.3f}',
  )
  return numbers


def define_flags():
  """The command's flags and main (defined only when run as a command)."""
  config, workdir = common.define_common_flags()
  layer = flags.DEFINE_integer(
    'layer',
    -1,
    'Convolutional layer (call order, negative from the end) whose input holds the maps.',
  )
  region = flags.DEFINE_string('region', 'top', 'top, bottom, left, right or Y0,Y1,X0,X1 (pixels).')
  threshold = flags.DEFINE_float('threshold', 0.5, 'Stroke brightness in [0, 1].')
  cell_fraction = flags.DEFINE_float(
    'cell_fraction', 0.5, 'A grid cell is positive above this masked fraction (0: any pixel).'
  )
  num_fit = flags.DEFINE_integer('num_fit', 400, 'Samples the regression is fitted on.')
  num_eval = flags.DEFINE_integer('num_eval', 400, 'Held-out samples scored and redrawn.')
  max_drop = flags.DEFINE_integer('max_drop', 0, 'Drop at most this many maps (0: all positive).')
  random_draws = flags.DEFINE_integer('random_draws', 5, 'Random drops of as many maps.')
  where = flags.DEFINE_enum(
    'where', 'all', list(WHERE), 'Drop the maps everywhere or in the region.'
  )
  show = flags.DEFINE_integer('show', 10, 'Samples in the figure.')
  masks = flags.DEFINE_string('masks', None, 'User masks: MASKS.npz (z, mask[, y]) or a directory.')
  annotate = flags.DEFINE_string('annotate', None, 'Write num_fit samples to paint masks on here.')
  seed = flags.DEFINE_integer('seed', 0, 'Seed of the latents and of the random maps.')
  ema = flags.DEFINE_bool('ema', True, "Use the generator's EMA weights when the run keeps them.")

  def main(argv):
    del argv
    common.run_command(
      lambda: write_figure(
        config=config.value,
        workdir=workdir.value,
        layer=layer.value,
        region=region.value,
        threshold=threshold.value,
        cell_fraction=cell_fraction.value,
        num_fit=num_fit.value,
        num_eval=num_eval.value,
        max_drop=max_drop.value,
        random_draws=random_draws.value,
        where=where.value,
        show=show.value,
        masks=masks.value,
        annotate=annotate.value,
        seed=seed.value,
        use_ema=ema.value,
      )
    )

  return main


if __name__ == '__main__':
  app.run(define_flags())
