r"""What the discriminator's features respond to: guided backpropagation (DCGAN Fig. 5)
and activation maximisation.

  python -m gans.analysis.feature_viz --config experiments/dcgan.py --workdir runs/dcgan \
      [--layers -1 --channels 3,17 | --top_k 4] [--images 6 --num_real 1000 --saliency] \
      [--restarts 4 --steps 200 --lr 0.05 --l2 0.01 --seed 0]

Units. A unit is (layer, channel) of D's convolutional layers, the representations of
`d_features.layer_representations` (what the next layer takes: in the DCGAN D the
convolution's output after batch norm and LeakyReLU(0.2); layer 0 is the first
convolution). Its activation for an image is the channel's maximum over the spatial
positions (so it is where the feature fires most). By default the units are, for each
layer (`layers`, default all), the `top_k` channels with the highest mean activation
over `num_real` random images of the run's training split; `channels` names them
instead (the same channels in every chosen layer). For each unit the `images` real
images (of those `num_real`) that activate it most are shown. DCGAN's Fig. 5 (D's last
convolutional layer) is `--layers -1`.

Guided backpropagation (Springenberg et al. 2015, "Striving for simplicity: the all
convolutional net"; the DCGAN paper's Fig. 5 shows it for D's last layer):
the gradient of the unit with respect to the image, except that at every rectifier the
backward signal is kept only where the rectifier's forward input was positive (its
derivative) and the signal arriving from above is positive. Here D's activations are
plain functions that flax cannot intercept, so the second mask is placed at the input of
every convolution and dense layer except the first (the one given the image, and any
other layer given the image itself): an identity whose backward pass is max(g, 0). In a
conv -> norm -> rectifier stack (DCGAN, SNGAN's cnn, the MLPs) that input is a
rectifier's output, and the rectifier's own derivative then supplies the forward mask,
so for ReLU this is the rule exactly. Guided backpropagation was defined for ReLU; with
LeakyReLU(a) (DCGAN: a = 0.2) the "forward mask" is the derivative, 1 where the input
was positive and a where it was negative: at each rectifier the clamped signal max(g, 0)
passes whole where the unit was on and damped to a times where it was off, instead of
being cut (per rectifier: (1 - a) times the ReLU rule plus a times the clamped signal).
In residual D's (resnet, sngan resnet) the shortcut convolutions take un-rectified
inputs, whose clamping has no rectifier behind it: an approximation there. `--saliency`
adds the plain gradient (Simonyan et al. 2014, "Deep inside convolutional networks",
Sec. 3) beside each guided map for comparison. D runs in eval mode (batch norm with its
running statistics), so each image's map depends on that image alone. Below its own
layer's rectifier a layer-0 unit has no clamp, so its guided map is its plain gradient.
Display: a map is divided by its largest absolute value and shown as sign(m) |m|^0.5
(the square root lifts its weak parts), zero as mid grey and positive brighter, i.e.
where brighter pixels would raise the unit; beside it the same map over the image, red
where positive and blue where negative. Caveat: guided maps are known to look like the
input image whatever the unit or the weights (Nie et al. 2018, "A theoretical
explanation for perplexing behaviors of backpropagation-based visualizations"; Adebayo
et al. 2018, "Sanity checks for saliency maps"): a digit-shaped map says less about the
unit than its location and sign do.

Activation maximisation (Erhan et al. 2009, "Visualizing higher-layer features of a
deep network"; Simonyan et al. 2014, Sec. 2): `restarts` images per unit start from
N(0, init_scale^2) noise (model space, 0 is mid grey) and take `steps` steps of Adam
(optax.adam, learning rate `lr`) on -(activation - l2 ||x||^2) (the squared L2 norm
summed over the pixels, model units), each step followed by clipping to [-1, 1]. The
plain gradient is followed (not the guided one). Since a unit is a spatial maximum,
only the pixels of the receptive field at one position change. The JSON reports the
activation reached against the unit's mean over the real images and its top real image.
Unregularised beyond L2 the results are saturated high-frequency patterns (Nguyen et
al. 2015's "fooling images" for a D) that exceed every real image's activation; a
stronger l2 or blurring between steps (Yosinski et al. 2015) smooths them but, on the
offline DCGAN D, leaves most units below their top real image.

Writes into WORKDIR/analysis/:
  feature_viz_guided.png        one row per unit (the JSON's `units` order): for each of
                                its top real images, the image, its guided map and the
                                map over the image (then the same two for the plain
                                gradient with --saliency); RGB;
  feature_viz_maximisation.png  one row per unit: its top real image, then the
                                `restarts` maximising images (both grids drawn at
                                ZOOM = 2 pixels per image pixel);
  feature_viz.json              the units, their activations (real and maximised), the
                                maps' statistics, the protocol.
Takes a run of the `gan` family with an unconditional D of single images (not
class-conditional, not packed).
"""

from typing import NamedTuple

from absl import app
from absl import flags
from absl import logging
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from gans import configs
from gans import errors
from gans.analysis import common
from gans.analysis import d_features
from gans.data import images as image_lib
from gans.nets import layers as layers_lib
from gans.train import loop

MODES = ('guided', 'plain')
_POSITIVE = np.array([1.0, 0.15, 0.1], np.float32)  # Overlay colours (RGB in [0, 1]).
_NEGATIVE = np.array([0.1, 0.5, 1.0], np.float32)
ZOOM = 2  # The figures' pixels per image pixel (nearest neighbour): 32 x 32 maps are small.
_LAYERS = (nn.Conv, nn.Dense, layers_lib.SNConv, layers_lib.SNDense)


class Unit(NamedTuple):
  """A feature of D: `channel` of the representation of conv layer `layer` (0-based)."""

  layer: int
  channel: int


@jax.custom_vjp
def rectified_gradient(x):
  """The identity whose backward pass keeps only positive gradients: max(g, 0).

  x: any float array. Placed after a rectifier it gives guided backpropagation's
  backward-positive mask (Springenberg et al. 2015: the factor (R^{l+1} > 0) of their
  guided backpropagation rule).
  """
  return x


def _rectified_fwd(x):
  return x, None


def _rectified_bwd(_, g):
  return (jnp.maximum(g, 0.0),)


rectified_gradient.defvjp(_rectified_fwd, _rectified_bwd)


def guided_interceptor(image):
  """A flax method interceptor for guided backpropagation through a network given `image`.

  Wraps the input of every convolution and dense layer (nn.Conv, nn.Dense and
  subclasses, layers.SNConv, layers.SNDense) in `rectified_gradient`, except the first
  one called and any whose input is `image` itself (the image's layer has no rectifier
  before it). Use as `with nn.intercept_methods(guided_interceptor(x))` around the
  network's `apply(..., x, ...)`; the returned function's `count` says how many layer
  inputs it wrapped.
  """

  def interceptor(next_fun, args, kwargs, context):
    if context.method_name != '__call__' or not args or not isinstance(context.module, _LAYERS):
      return next_fun(*args, **kwargs)
    first = not interceptor.seen
    interceptor.seen += 1
    if first or args[0] is image:
      return next_fun(*args, **kwargs)
    interceptor.count += 1
    return next_fun(rectified_gradient(args[0]), *args[1:], **kwargs)

  interceptor.seen = 0
  interceptor.count = 0
  return interceptor


def layer_shapes(module, variables, image_shape):
  """(h, w, c) of each conv layer's representation (d_features.layer_representations)
  for images of shape `image_shape` (H, W, C). Raises UserInputError for a D without
  convolutions."""
  x = jax.ShapeDtypeStruct((1,) + tuple(image_shape), jnp.float32)
  reps = jax.eval_shape(lambda v, x: d_features.layer_representations(module, v, x), variables, x)
  return [tuple(int(d) for d in r.shape[1:]) for r in reps]


def unit_masks(units, shapes):
  """One-hot selectors of per-image units: for each layer l a float32 [N, c_l] array
  with a 1 at (i, units[i].channel) where units[i].layer == l. `shapes`: as
  `layer_shapes`; units' layers must be non-negative and in range."""
  masks = [np.zeros((len(units), s[-1]), np.float32) for s in shapes]
  for i, u in enumerate(units):
    masks[u.layer][i, u.channel] = 1.0
  return masks


def _unit_objective(module, variables, x, masks):
  """Activation [N] of unit i on image i (the spatial max of its channel) under the masks."""
  reps = d_features.layer_representations(module, variables, x)
  return sum((r.max((1, 2)) * m).sum(-1) for r, m in zip(reps, masks))


def _logit_objective(module, variables, x):
  """D's output [N] (summed over any trailing axes) on images x [N, H, W, C]."""
  out = module.apply(variables, x, None, train=False)
  return out.reshape(out.shape[0], -1).sum(-1)


def _check_units(units, shapes):
  """Units with non-negative layer indices; raises UserInputError for one out of range."""
  out = []
  for u in units:
    layer, channel = int(u[0]), int(u[1])
    if not -len(shapes) <= layer < len(shapes):
      raise errors.UserInputError(
        f'Layer {layer} is out of range: D has {len(shapes)} convolutional layers '
        f'(0..{len(shapes) - 1}, or -1 for the last).'
      )
    layer %= len(shapes)
    if not 0 <= channel < shapes[layer][-1]:
      raise errors.UserInputError(
        f'Channel {channel} is out of range: layer {layer} has {shapes[layer][-1]} channels.'
      )
    out.append(Unit(layer, channel))
  return out


def _per_image_units(units, n):
  """None (D's output), or a list of n units from one unit or n of them (ValueError else)."""
  if (
    units is None
    or isinstance(units, Unit)
    or (len(units) == 2 and all(isinstance(v, (int, np.integer)) for v in units))
  ):
    return None if units is None else [Unit(*units)] * n
  if len(units) != n:
    raise ValueError(f'{len(units)} units for {n} images: give one unit, or one per image.')
  return list(units)


def _batched(fn, arrays, batch_size):
  """fn over the leading axis of `arrays` (all [N, ...]) in equal padded batches ->
  NumPy [N, ...] (one compilation)."""
  n = len(arrays[0])
  size = max(1, min(batch_size, n))
  out = []
  for i in range(0, n, size):
    part = [a[i : i + size] for a in arrays]
    pad = size - len(part[0])
    part = [np.concatenate([p, np.zeros((pad,) + p.shape[1:], p.dtype)]) for p in part]
    out.append(np.asarray(fn(*part))[: size - pad])
  return np.concatenate(out)


def input_gradients(module, variables, images, units=None, mode='guided', batch_size=128):
  """Gradient maps of D's units (or its output) with respect to the input images.

  Args:
    module, variables: a discriminator (flax module called as module.apply(variables,
      x, None, train=False)) and its variables.
    images: float [N, H, W, C] in [-1, 1] (model space).
    units: None (D's output: the logit, summed over any trailing axes), one `Unit`
      (layer, channel) for every image, or a sequence of N units (unit i for image i).
      A unit's activation is its channel's spatial maximum in that layer's
      representation (d_features.layer_representations); negative layers count from
      the last.
    mode: 'guided' (guided backpropagation, `guided_interceptor`) or 'plain' (the plain
      gradient: the saliency map of Simonyan et al. 2014).
    batch_size: images per evaluation.
  Returns:
    float32 NumPy [N, H, W, C]: d activation_i / d image_i (D in eval mode, so images do
    not interact).
  Raises:
    ValueError: for an unknown mode, or a number of units that is neither 1 nor N.
    UserInputError: for a unit out of range, or units of a D without convolutions.
  """
  if mode not in MODES:
    raise ValueError(f'mode={mode!r}: use one of {", ".join(MODES)}.')
  images = np.asarray(images, np.float32)
  per_image = _per_image_units(units, len(images))

  def objective(x, masks):
    if per_image is None:
      return _logit_objective(module, variables, x)
    return _unit_objective(module, variables, x, masks)

  def total(x, masks):
    if mode == 'plain':
      return objective(x, masks).sum()
    with nn.intercept_methods(guided_interceptor(x)):
      return objective(x, masks).sum()

  def grad(x, *masks):
    return jax.grad(total)(x, masks)

  masks = []
  if per_image is not None:
    shapes = layer_shapes(module, variables, images.shape[1:])
    masks = unit_masks(_check_units(per_image, shapes), shapes)
  return _batched(jax.jit(grad), [images, *masks], batch_size)


def channel_activations(module, variables, images, batch_size=250):
  """Every unit's activation on every image: a list, one per conv layer, of float32
  NumPy [N, c_l] (the channel's spatial maximum of the layer's representation).

  images: float [N, H, W, C] in [-1, 1]. Raises UserInputError for a D without
  convolutions.
  """
  fn = jax.jit(
    lambda x: [r.max((1, 2)) for r in d_features.layer_representations(module, variables, x)]
  )
  images = np.asarray(images, np.float32)
  shapes = layer_shapes(module, variables, images.shape[1:])
  flat = _batched(lambda x: jnp.concatenate(fn(x), 1), [images], batch_size)
  return np.split(flat, np.cumsum([s[-1] for s in shapes])[:-1], axis=1)


def unit_activations(module, variables, images, units, batch_size=250):
  """Activation float32 NumPy [N] of `units` (one `Unit`, or one per image) on images
  float [N, H, W, C]. Raises as `input_gradients`."""
  images = np.asarray(images, np.float32)
  per_image = _per_image_units(units, len(images))
  shapes = layer_shapes(module, variables, images.shape[1:])
  masks = unit_masks(_check_units(per_image, shapes), shapes)
  fn = jax.jit(lambda x, *m: _unit_objective(module, variables, x, m))
  return _batched(fn, [images, *masks], batch_size)


def choose_units(activations, layers=None, channels=None, top_k=4):
  """The units to show.

  Args:
    activations: per conv layer, float [N, c_l] (`channel_activations` of real images).
    layers: layer indices (negative from the last); None: every layer.
    channels: channel indices taken in every chosen layer; None: per layer the `top_k`
      channels of highest mean activation over the N images (highest first).
    top_k: channels per layer when `channels` is None (all of a narrower layer).
  Returns:
    list of `Unit`, layer by layer in the order given.
  Raises:
    UserInputError: for a layer or channel out of range, top_k < 1, or no units.
  """
  shapes = [a.shape[1:] for a in activations]
  n = len(activations)
  layers = list(range(n)) if layers is None else [int(l) for l in layers]
  if channels is None and top_k < 1:
    raise errors.UserInputError(f'top_k={top_k} must be at least 1.')
  units = []
  for layer in layers:
    if channels is not None:
      units += [(layer, c) for c in channels]
    else:
      _check_units([(layer, 0)], shapes)
      order = np.argsort(-activations[layer % n].mean(0), kind='stable')[:top_k]
      units += [(layer, int(c)) for c in order]
  if not units:
    raise errors.UserInputError('No units chosen: give at least one layer and channel.')
  return _check_units(units, shapes)


def maximise(
  module,
  variables,
  units,
  image_shape,
  restarts=4,
  steps=200,
  lr=0.05,
  l2=0.01,
  init_scale=0.01,
  seed=0,
):
  """Activation maximisation (Erhan et al. 2009; Simonyan et al. 2014): images that
  maximise each unit.

  For each unit, `restarts` images x from N(0, init_scale^2) noise (PRNGKey(seed));
  `steps` steps of optax.adam(lr) on -(activation(x) - l2 * sum(x^2)) (plain
  gradient), each followed by clipping x to [-1, 1].

  Args:
    module, variables: the discriminator, as `input_gradients`.
    units: sequence of U `Unit`s (negative layers count from the last).
    image_shape: (H, W, C).
  Returns:
    dict of NumPy arrays: images float32 [U, restarts, H, W, C] in [-1, 1], start and
    reached float32 [U, restarts] (the unit's activation on the start noise and on the
    final image, without the penalty).
  Raises:
    UserInputError: for a unit out of range; ValueError for restarts or steps < 1.
  """
  if restarts < 1 or steps < 1:
    raise ValueError(f'restarts={restarts} and steps={steps} must be at least 1.')
  shapes = layer_shapes(module, variables, image_shape)
  units = _check_units(units, shapes)
  per_image = [u for u in units for _ in range(restarts)]
  masks = [jnp.asarray(m) for m in unit_masks(per_image, shapes)]
  x0 = init_scale * jax.random.normal(
    jax.random.PRNGKey(seed), (len(per_image),) + tuple(image_shape), jnp.float32
  )
  opt = optax.adam(lr)
  axes = tuple(range(1, len(image_shape) + 1))

  def loss(x):
    act = _unit_objective(module, variables, x, masks)
    return -(act - l2 * jnp.sum(x**2, axes)).sum()

  @jax.jit
  def run(x):
    def step(_, carry):
      x, state = carry
      updates, state = opt.update(jax.grad(loss)(x), state, x)
      return jnp.clip(optax.apply_updates(x, updates), -1.0, 1.0), state

    start = _unit_objective(module, variables, x, masks)
    x, _ = jax.lax.fori_loop(0, steps, step, (x, opt.init(x)))
    return x, start, _unit_objective(module, variables, x, masks)

  x, start, reached = (np.asarray(a) for a in run(x0))
  u = len(units)
  return dict(
    images=x.reshape((u, restarts) + tuple(image_shape)),
    start=start.reshape(u, restarts),
    reached=reached.reshape(u, restarts),
  )


def display_map(maps, gamma=0.5):
  """Maps float [N, H, W, C] for display: each divided by its largest absolute value, then
  sign(m) |m|^gamma (gamma < 1 lifts the weak parts of a map) -> float32 in [-1, 1]
  (an all-zero map stays 0); shown with image_lib.to_uint8, 0 is mid grey."""
  maps = np.asarray(maps, np.float32)
  scale = np.abs(maps).reshape(len(maps), -1).max(1)
  scale = np.where(scale > 0, scale, 1.0).reshape((-1,) + (1,) * (maps.ndim - 1))
  m = maps / scale
  return np.sign(m) * np.abs(m) ** gamma


def overlay(images, maps, gamma=0.5):
  """The maps over their images: uint8 RGB [N, H, W, 3].

  images: float [N, H, W, C] in [-1, 1], shown as grey (the mean over channels) at 60%
  brightness; maps: float [N, H, W, C], summed over channels and scaled as
  `display_map`; a pixel is blended towards red where the map is positive (more
  brightness there raises the unit) and towards blue where it is negative, by |map|.
  """
  m = display_map(np.asarray(maps, np.float32).sum(-1, keepdims=True), gamma)[..., 0]
  base = 0.6 * (np.clip(np.asarray(images, np.float32).mean(-1), -1.0, 1.0) + 1.0) / 2.0
  colour = np.where(m[..., None] > 0, _POSITIVE, _NEGATIVE)
  a = np.abs(m)[..., None]
  return np.round(255.0 * ((1.0 - a) * base[..., None] + a * colour)).astype(np.uint8)


def _rgb(images):
  """uint8 [N, H, W, C] -> [N, H, W, 3] (grey repeated)."""
  return np.repeat(images, 3, -1) if images.shape[-1] == 1 else images


def _cosine(a, b):
  """Per row: the cosine similarity of maps a, b [N, ...] (NaN where one is all zero)."""
  a, b = a.reshape(len(a), -1).astype(np.float64), b.reshape(len(b), -1).astype(np.float64)
  den = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
  return np.where(den > 0, np.sum(a * b, 1) / np.where(den > 0, den, 1.0), np.nan)


def _positive_share(maps):
  """Per map: the share of its L1 mass on positive entries (NaN for an all-zero map)."""
  m = maps.reshape(len(maps), -1).astype(np.float64)
  total = np.abs(m).sum(1)
  return np.where(total > 0, np.maximum(m, 0).sum(1) / np.where(total > 0, total, 1.0), np.nan)


def check_run(config):
  """Raises UserInputError unless `config` is a gan-family run with an unconditional D of
  single images (before anything is restored)."""
  family = config.get('family', 'gan')
  if family != 'gan':
    raise errors.UserInputError(
      f'config.family={family!r}: feature visualisation takes the discriminator of a '
      "run of the 'gan' family."
    )
  if configs.class_count(config):
    raise errors.UserInputError(
      "A class-conditional run's D takes the label as input; feature visualisation "
      'needs an unconditional D.'
    )
  if int(config.get('pack', 1)) > 1:
    raise errors.UserInputError('A packed D (config.pack > 1) sees several images at once.')


def analyse(
  exp,
  state,
  layers=None,
  channels=None,
  top_k=4,
  images=6,
  num_real=1000,
  saliency=False,
  restarts=4,
  steps=200,
  lr=0.05,
  l2=0.01,
  init_scale=0.01,
  seed=0,
):
  """Guided backpropagation and activation maximisation of D's units (module docstring).

  Args:
    exp, state: a restored run (loop.restore_latest) that `check_run` accepts.
    layers, channels, top_k: the units (`choose_units`).
    images: top real images shown per unit.
    num_real: training images that rank the channels and give each unit its top
      images: the indices np.sort(np.random.default_rng(seed).choice(N, num_real,
      replace=False)) of the N in the run's training split (all when N <= num_real).
    saliency: also compute the plain gradient of each top image.
    restarts, steps, lr, l2, init_scale: activation maximisation (`maximise`).
    seed: of the real images and of the maximisation's start noise.
  Returns:
    (figures, numbers): figures {'guided': float32 [U, images, H, W, C] maps,
    'plain': the same (only with saliency), 'top_images': float32 [U, images, H, W, C]
    in [-1, 1], 'maximised': float32 [U, restarts, H, W, C] in [-1, 1]}; numbers a
    JSON-ready dict (per unit: layer, channel, mean and top real activations, the top
    images' indices in the training split, the maps' positive share, the maximised
    activations; the layers' shapes; the protocol).
  Raises:
    UserInputError: as `check_run`, for an image-less dataset, a D without
      convolutions, or units out of range; ValueError for images, num_real, restarts or
      steps < 1.
  """
  check_run(exp.config)
  d = exp.modules.get('discriminator')
  if d is None or 'discriminator' not in state.models:
    raise errors.UserInputError(f'Family {exp.config.get("family", "gan")!r} has no discriminator.')
  if not exp.dataset.is_image:
    raise errors.UserInputError(
      f'Feature visualisation takes image D; dataset {exp.dataset.name!r} holds 2-D points.'
    )
  if images < 1 or num_real < 1:
    raise ValueError(f'images={images} and num_real={num_real} must be at least 1.')
  variables = state.models['discriminator'].variables()
  shape = tuple(exp.dataset.example_shape)
  rng = np.random.default_rng(seed)
  n = exp.dataset.num_examples
  index = np.sort(rng.choice(n, min(num_real, n), replace=False))
  real = np.asarray(exp.dataset.get(index)[0], np.float32)
  acts = channel_activations(d, variables, real)
  units = choose_units(acts, layers, channels, top_k)
  shown = min(images, len(real))
  top = [np.argsort(-acts[u.layer][:, u.channel], kind='stable')[:shown] for u in units]
  top_images = np.stack([real[t] for t in top])
  flat_units = [u for u in units for _ in range(shown)]
  flat_images = top_images.reshape((-1,) + shape)
  maps = {'guided': input_gradients(d, variables, flat_images, flat_units, 'guided')}
  if saliency:
    maps['plain'] = input_gradients(d, variables, flat_images, flat_units, 'plain')
  maps = {k: v.reshape(top_images.shape) for k, v in maps.items()}
  best = maximise(d, variables, units, shape, restarts, steps, lr, l2, init_scale, seed)
  reps = layer_shapes(d, variables, shape)
  per_unit = []
  for i, u in enumerate(units):
    real_u = acts[u.layer][:, u.channel]
    top_act = real_u[top[i]]
    entry = dict(
      layer=u.layer,
      channel=u.channel,
      mean_activation=float(real_u.mean()),
      top_activations=top_act.tolist(),
      top_indices=index[top[i]].tolist(),
      guided_positive_share=_positive_share(maps['guided'][i]).tolist(),
      maximised_start=best['start'][i].tolist(),
      maximised_activations=best['reached'][i].tolist(),
      maximised_over_top_real=float(best['reached'][i].mean() / top_act[0])
      if top_act[0] > 0
      else None,
      maximised_mean_abs_pixel=float(np.abs(best['images'][i]).mean()),
    )
    if saliency:
      entry['guided_plain_cosine'] = _cosine(maps['guided'][i], maps['plain'][i]).tolist()
      entry['plain_positive_share'] = _positive_share(maps['plain'][i]).tolist()
    per_unit.append(entry)
  beats = [max(e['maximised_activations']) > e['top_activations'][0] for e in per_unit]
  numbers = dict(
    step=int(state.step),
    layer_shapes=[list(s) for s in reps],
    units=per_unit,
    maximised_beats_top_real=int(sum(beats)),
    num_units=len(units),
    protocol=dict(
      unit='channel max over spatial positions of the layer representation '
      '(d_features.layer_representations)',
      choice='given channels' if channels is not None else f'top {top_k} by mean activation',
      layers=sorted({u.layer for u in units}),
      real_images=len(real),
      train_split=exp.dataset.split,
      images_per_unit=shown,
      guided='Springenberg et al. 2015: max(g, 0) at every conv/dense input but the '
      "image's; forward mask from the activation's derivative",
      saliency=bool(saliency),
      maximisation=dict(
        optimizer='optax.adam',
        lr=lr,
        steps=steps,
        l2=l2,
        penalty='l2 * sum of squared pixels (model space)',
        init='normal',
        init_scale=init_scale,
        clip=[-1.0, 1.0],
        restarts=restarts,
      ),
      seed=seed,
      d_mode='eval (batch norm running statistics)',
    ),
  )
  figures = dict(maps, top_images=top_images, maximised=best['images'])
  return figures, numbers


def guided_grid(figures):
  """uint8 RGB grid of the guided figure: one row per unit; for each of its top images the
  image, its guided map (`display_map`, grey) and the map over the image (`overlay`),
  then the same two for the plain gradient when the figures have it."""
  kinds = [k for k in ('guided', 'plain') if k in figures]
  rows = []
  for i, top in enumerate(figures['top_images']):
    cells = [_rgb(image_lib.to_uint8(top))]
    for k in kinds:
      cells += [_rgb(image_lib.to_uint8(display_map(figures[k][i]))), overlay(top, figures[k][i])]
    rows.append(np.stack(cells, 1).reshape((-1,) + cells[0].shape[1:]))
  return common.framed(rows)


def maximisation_grid(figures):
  """uint8 grid of the maximisation figure: one row per unit, its top real image then
  its maximising images."""
  rows = [
    image_lib.to_uint8(np.concatenate([t[:1], m]))
    for t, m in zip(figures['top_images'], figures['maximised'])
  ]
  return common.framed(rows)


def write_figure(
  config,
  workdir,
  layers=None,
  channels=None,
  top_k=4,
  images=6,
  num_real=1000,
  saliency=False,
  restarts=4,
  steps=200,
  lr=0.05,
  l2=0.01,
  seed=0,
):
  """Restores the latest checkpoint of `workdir` and writes analysis/feature_viz_guided.png,
  feature_viz_maximisation.png and feature_viz.json (module docstring); returns the
  numbers (as `analyse`, plus 'figures': the PNG paths).

  Raises MissingInputError without a checkpoint, UserInputError / ValueError as
  `analyse` (the run's kind is checked before restoring).
  """
  check_run(config)
  exp, state = loop.restore_latest(config, workdir)
  figures, numbers = analyse(
    exp,
    state,
    layers=layers,
    channels=channels,
    top_k=top_k,
    images=images,
    num_real=num_real,
    saliency=saliency,
    restarts=restarts,
    steps=steps,
    lr=lr,
    l2=l2,
    seed=seed,
  )
  out = common.output_dir(workdir)
  numbers['figures'] = dict(
    guided=f'{out}/feature_viz_guided.png', maximisation=f'{out}/feature_viz_maximisation.png'
  )
  zoom = lambda grid: np.repeat(np.repeat(grid, ZOOM, 0), ZOOM, 1)
  common.write_png(numbers['figures']['guided'], zoom(guided_grid(figures)))
  common.write_png(numbers['figures']['maximisation'], zoom(maximisation_grid(figures)))
  common.write_json(f'{out}/feature_viz.json', numbers)
  logging.info(
    'Wrote %s (step %d): %d units; maximisation beat the top real image for %d',
    out,
    numbers['step'],
    numbers['num_units'],
    numbers['maximised_beats_top_real'],
  )
  return numbers


def _ints(name, values):
  """The integers of a list flag; UserInputError naming --`name` otherwise."""
  try:
    return [int(v) for v in values]
  except ValueError as e:
    raise errors.UserInputError(f'--{name}={",".join(values)}: give integers.') from e


def define_flags():
  """The command's flags and main (defined only when run as a command)."""
  config, workdir = common.define_common_flags()
  layers = flags.DEFINE_list('layers', None, 'Conv layers (0-based, -1: the last); default all.')
  channels = flags.DEFINE_list('channels', None, 'Channels shown in each layer; default top_k.')
  top_k = flags.DEFINE_integer('top_k', 4, 'Channels per layer of highest mean activation.')
  images = flags.DEFINE_integer('images', 6, 'Top real images shown per unit.')
  num_real = flags.DEFINE_integer('num_real', 1000, 'Training images that rank the units.')
  saliency = flags.DEFINE_bool('saliency', False, 'Also show the plain gradient of each image.')
  restarts = flags.DEFINE_integer('restarts', 4, 'Maximising images per unit.')
  steps = flags.DEFINE_integer('steps', 200, 'Adam steps of activation maximisation.')
  lr = flags.DEFINE_float('lr', 0.05, 'Adam learning rate of activation maximisation.')
  l2 = flags.DEFINE_float('l2', 0.01, 'Weight of the squared L2 norm of the maximised image.')
  seed = flags.DEFINE_integer('seed', 0, 'Seed of the real images and of the start noise.')

  def main(argv):
    del argv
    common.run_command(
      lambda: write_figure(
        config=config.value,
        workdir=workdir.value,
        layers=None if layers.value is None else _ints('layers', layers.value),
        channels=None if channels.value is None else _ints('channels', channels.value),
        top_k=top_k.value,
        images=images.value,
        num_real=num_real.value,
        saliency=saliency.value,
        restarts=restarts.value,
        steps=steps.value,
        lr=lr.value,
        l2=l2.value,
        seed=seed.value,
      )
    )

  return main


if __name__ == '__main__':
  app.run(define_flags())
