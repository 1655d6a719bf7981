"""What the analysis commands share: a generator as a function of its latent, features,
outputs, and the command-line frame.

`latent_generator(exp, state)` turns a restored run of a family with an explicit latent
(`gan`: G(z, y); `stylegan2`: synthesis of mapping(z, y) with fixed noise; `vae_gan`:
the decoder) into a `LatentGenerator`: `draw(key, n)` gives latents from the family's
prior and `decode(z, y)` the images. Class-conditional generators can also be decoded
at a mixture of two classes (`decode(z, y, y_to, t)`), which interpolation between
classes uses.

`feature_network(config, dataset)` is the feature space of the run's sample evaluator
(`config.evals.samples.features`: the offline digit classifier's 128-d penultimate
layer, or the FID Inception's pool3 when its weights are given), the space in which
the analyses measure distances between images.
"""

import dataclasses
import json
import os
import sys
from typing import Any, Callable

from absl import flags
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from ml_collections import config_flags
from PIL import Image

from gans import errors
from gans import files
from gans.data import images as image_lib
from gans.eval import features as features_lib
from gans.eval import samples as samples_lib
from gans.families.gan import step as gan_step
from gans.nets import cgan
from gans.nets import layers

# Families whose generator is an explicit function of a latent z (and a label y).
LATENT_FAMILIES = ('gan', 'stylegan2', 'vae_gan')


@dataclasses.dataclass
class LatentGenerator:
  """A trained generator as a function of its latent.

  latent_dim:   size d of z.
  num_classes:  K of a class-conditional generator, 0 otherwise.
  draw:         (key, n) -> z float32 [n, d] from the family's prior (N(0, I), truncated
                where the config truncates).
  decode_fn:    (z [n, d], y int32 [n] or None, y_to int32 [n] or None, t float32 [n]
                or None) -> images float32 [n, H, W, C] in [-1, 1] (jitted).
  apply_fn:     (z [n, d] jax array, y int32 [n] or None) -> images [n, H, W, C], not
                jitted: traceable and differentiable in z. For the `gan` family it
                applies the generator module directly, so flax method interceptors
                reach its layers (the analyses that read or edit them); stylegan2 and
                vae_gan go through the family's jitted functions, which a cached trace
                keeps out of an interceptor's reach.
  """

  family: str
  latent_dim: int
  num_classes: int
  draw: Callable
  decode_fn: Callable
  protocol: dict = dataclasses.field(default_factory=dict)
  apply_fn: Callable | None = None

  def decode(self, z, y=None, y_to=None, t=None, batch_size=256):
    """Images of latents `z` [n, d] (float32), as NumPy float32 [n, H, W, C] in [-1, 1].

    `y` int [n]: the classes of a conditional generator (default class 0). With `y_to`
    int [n] and `t` float [n] in [0, 1], decodes at the class mixture (1 - t) y + t y_to
    (see `mix_labels`). Decodes in batches of `batch_size`.

    Raises:
      UserInputError: y_to given for an unconditional generator, or a conditional
        generator whose class input `mix_labels` cannot reach.
    """
    z = np.asarray(z, np.float32)
    n = len(z)
    if self.num_classes:
      y = np.zeros(n, np.int32) if y is None else np.asarray(y, np.int32)
    elif y_to is not None:
      raise errors.UserInputError('Interpolation between classes needs a conditional generator.')
    else:
      y = None
    out = []
    for i in range(0, n, batch_size):
      s = slice(i, min(n, i + batch_size))
      if y_to is None:
        args = (z[s], None if y is None else y[s], None, None)
      else:
        args = (z[s], y[s], np.asarray(y_to, np.int32)[s], np.asarray(t, np.float32)[s])
      out.append(np.asarray(jax.device_get(self.decode_fn(*args)), np.float32))
    return np.concatenate(out) if out else np.zeros((0,), np.float32)


def mix_labels(y, y_to, t):
  """A flax method interceptor that conditions a generator on the class mixture
  (1 - t) y + t y_to instead of the classes `y` it is called with.

  y, y_to: int32 [B]; t: float32 [B]. It rewrites the two ways the project's generators
  take a class: an embedding table looked up with the labels (`nn.Embed`,
  `layers.SNEmbed`: BigGAN's shared embedding and conditional batch norm, the
  autoencoder decoders) returns (1 - t) E[y] + t E[y_to]; the one-hot label
  concatenated to z (`cgan.Generator`, also ACGAN's) becomes (1 - t) onehot(y) +
  t onehot(y_to). Both are the linear interpolation of the one-hot class vector at the
  layer where it enters the network. Use as `with nn.intercept_methods(mix_labels(...))`
  around `apply`; the returned function's `count` says how many calls it rewrote (0:
  this generator takes its class some other way).
  """

  def interceptor(next_fun, args, kwargs, context):
    module = context.module
    if context.method_name != '__call__' or not args:
      return next_fun(*args, **kwargs)
    if isinstance(module, (nn.Embed, layers.SNEmbed)) and args[0] is y:
      interceptor.count += 1
      start = next_fun(*args, **kwargs)
      end = next_fun(y_to, *args[1:], **kwargs)
      w = t.reshape(t.shape + (1,) * (start.ndim - 1)).astype(start.dtype)
      return (1.0 - w) * start + w * end
    if isinstance(module.parent, cgan.Generator):
      k = module.parent.num_classes
      zy = args[0]
      w = t[:, None].astype(zy.dtype)
      mixed = (1.0 - w) * jax.nn.one_hot(y, k, dtype=zy.dtype) + w * jax.nn.one_hot(
        y_to, k, dtype=zy.dtype
      )
      interceptor.count += 1
      return next_fun(jnp.concatenate([zy[..., :-k], mixed], -1), *args[1:], **kwargs)
    return next_fun(*args, **kwargs)

  interceptor.count = 0
  return interceptor


def _mixing_apply(apply_fn, who):
  """jit of (z, y, y_to, t) -> apply_fn(z, y) with `mix_labels` when y_to is given."""

  @jax.jit
  def decode(z, y, y_to, t):
    if y_to is None:
      return apply_fn(z, y)
    interceptor = mix_labels(y, y_to, t)
    with nn.intercept_methods(interceptor):
      out = apply_fn(z, y)
    if not interceptor.count:
      raise errors.UserInputError(
        f'{who} takes its class through no embedding table or one-hot input that '
        'interpolation between classes can reach.'
      )
    return out

  return decode


def latent_generator(exp, state, use_ema=True, noise_seed=0):
  """The `LatentGenerator` of a restored run (`exp`, `state` from loop.restore_latest).

  Families: `gan` (G(z, y), EMA weights when kept and `use_ema`), `stylegan2` (z through
  the mapping network with the config's truncation_psi, then synthesis with noise from
  PRNGKey(noise_seed), the same for every image), `vae_gan` (the decoder).

  Raises:
    UserInputError: for a family without an explicit latent (ae, vae, pixelcnn, ...).
  """
  config = exp.config
  family = config.get('family', 'gan')
  k = exp.num_classes
  if family == 'gan':
    generator = exp.modules['generator']
    params, collections = state.sampling_variables('generator', use_ema)
    variables = {'params': params, **collections}
    apply_fn = lambda z, y: generator.apply(variables, z, y, train=False)
    draw = lambda key, n: gan_step.sample_latent(
      key, n, config.latent_dim, config.get('truncation', 0.0)
    )
    latent_dim = int(config.latent_dim)
    protocol = dict(ema=bool(use_ema and state.ema), truncation=float(config.truncation))
  elif family == 'stylegan2':
    generator = exp.modules['generator']
    params, collections = state.sampling_variables('generator', use_ema)
    variables = {'params': params, **collections}
    noise = jax.random.PRNGKey(noise_seed)

    def apply_fn(z, y):
      w = exp.functions['map'](variables, z, y)
      ws = jnp.broadcast_to(w[:, None], (w.shape[0], generator.num_ws, w.shape[-1]))
      return exp.functions['synthesize'](variables, ws, noise)

    latent_dim = int(generator.latent_dim)
    draw = lambda key, n: jax.random.normal(key, (n, latent_dim), jnp.float32)
    protocol = dict(
      ema=bool(use_ema and state.ema),
      truncation_psi=float(config.truncation_psi),
      noise_seed=noise_seed,
    )
  elif family == 'vae_gan':
    apply_fn = lambda z, y: exp.functions['decode'](state, z, y)
    latent_dim = int(config.latent_dim)
    draw = lambda key, n: jax.random.normal(key, (n, latent_dim), jnp.float32)
    protocol = dict(ema=False)
  else:
    raise errors.UserInputError(
      f'config.family={family!r} has no generator of an explicit latent; the latent '
      f'analyses take a run of {", ".join(LATENT_FAMILIES)}.'
    )
  if not exp.dataset.is_image:
    raise errors.UserInputError(
      f'The analyses take image generators; dataset {exp.dataset.name!r} holds 2-D points.'
    )
  net = exp.modules.get('generator', exp.modules.get('decoder'))
  return LatentGenerator(
    family,
    latent_dim,
    k,
    draw,
    _mixing_apply(apply_fn, f'The {family} generator {type(net).__name__}'),
    protocol,
    apply_fn,
  )


def feature_network(config, dataset):
  """The feature space of the run's sample evaluator (a `gans.eval.features.FeatureNetwork`).

  `config.evals.samples.features`: 'classifier' (the offline digit classifier, trained
  on first use and cached) or 'inception' (its weights file from the config or
  $GANS_INCEPTION_WEIGHTS). Raises UserInputError / MissingInputError for an unknown
  name or a missing weights file.
  """
  fragment = config.get('evals', {}).get('samples')
  opts = samples_lib.options(fragment.to_dict() if fragment is not None else None)
  try:
    return features_lib.feature_network(opts, config, dataset)
  except FileNotFoundError as e:
    raise errors.MissingInputError(f'config.evals.samples: {e}') from e


def outputs(net, images, batch_size=256):
  """{'features': [N, D], 'logits': [N, K] where the network has them} (float32 NumPy) of
  float images [N, H, W, C] in [-1, 1] under the feature network `net`.

  Images are quantized to uint8 first (as when saved to PNG), as the sample evaluators
  do. Raises ValueError when a feature or logit row is non-finite.
  """
  images = np.asarray(images)
  batches = (
    image_lib.to_uint8(images[i : i + batch_size]) for i in range(0, len(images), batch_size)
  )
  out = net.features(batches)
  features_lib.check_features(out, 'the analysed images')
  return out


def features(net, images, batch_size=256):
  """Features [N, D] float32 of float images [N, H, W, C] in [-1, 1] (see `outputs`)."""
  return outputs(net, images, batch_size)['features']


def output_dir(workdir):
  """WORKDIR/analysis, created."""
  path = os.path.join(workdir, 'analysis')
  os.makedirs(path, exist_ok=True)
  return path


def write_png(path, image):
  """Writes a uint8 [H, W, C] image (C = 1 or 3) as PNG, atomically."""
  image = np.asarray(image)
  with files.atomic_open(path, 'wb') as f:
    Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image).save(f, format='PNG')


def write_json(path, value):
  """Writes `value` as indented strict JSON (NaN and inf as null), atomically."""
  with files.atomic_open(path, 'w') as f:
    json.dump(files.json_safe(value), f, indent=1)


def framed(rows, pad_value=255):
  """Grid of uint8 image rows: `rows` is a list of [n_i, H, W, C] arrays, one per grid
  row (shorter rows are padded with blank cells); returns [R (H + 1) + 1, C (W + 1) + 1, C]."""
  cols = max(len(r) for r in rows)
  h, w, c = rows[0].shape[1:]
  cells = []
  for r in rows:
    blank = np.full((cols - len(r), h, w, c), pad_value, np.uint8)
    cells.append(np.concatenate([np.asarray(r, np.uint8), blank]))
  return image_lib.grid(np.concatenate(cells), rows=len(rows))


def define_common_flags():
  """--config and --workdir of every analysis command (required)."""
  config = config_flags.DEFINE_config_file('config', None, "The run's experiment file.")
  workdir = flags.DEFINE_string('workdir', None, "The run's directory (its checkpoints).")
  flags.mark_flags_as_required(['config', 'workdir'])
  return config, workdir


def run_command(fn: Callable[[], Any]):
  """Runs a command's body: bad input (ValueError, UserInputError among them) is printed
  as one line `error: ...` and exits with status 2; other exceptions keep their traceback."""
  try:
    fn()
  except ValueError as e:
    print(f'error: {errors.one_line(e)}', file=sys.stderr)
    sys.exit(errors.EXIT_STATUS)
