r"""Perceptual evaluators: path length (type 'ppl') and sample diversity (type 'diversity').

  config.evals.ppl = configs.ppl_eval(space='w', sampling='end', num_samples=50_000)
  config.evals.diversity = configs.diversity_eval(num_pairs=2000)

(or the same as a plain dict with `type='ppl'` / `type='diversity'`; unknown fields
fail naming the key.)

'ppl': the perceptual path length of Karras et al. 2019 (gans.metrics.ppl): the mean,
between the 1st and 99th percentiles, of d(G(p(t)), G(p(t + eps))) / eps^2 over
`num_samples` random latent paths p. Options (defaults in gans.configs.ppl_eval):
  space          'z' (slerp between prior draws; every family with a latent) or 'w'
                 (lerp between mapped latents; families with a mapping network).
  sampling       'full' (t ~ U(0, 1)) or 'end' (t = 0).
  epsilon        the step (1e-4, the paper's).
  num_samples    paths (100,000 in the paper; stylegan2-ada-pytorch uses 50,000).
  crop           the FFHQ face crop (off: it only makes sense for aligned faces).
  batch_size     paths per generator call (0: config.batch_size), rounded up to a
                 multiple of the devices (the paths are split over them).
  seed, use_ema  latents, times and noise from PRNGKey(seed); the EMA generator if kept.

'diversity': the mean distance between `num_pairs` pairs of independent samples (the
LPIPS diversity of BicycleGAN, Zhu et al. 2017, and MSGAN, Mao et al. 2019). Sample i
of one stream (seed `seed`) is paired with sample i of a second (seed `seed + 1`);
both come from the family's sampler (its truncation, EMA), so a conditional model's
pair shares its class (i mod K). Images are quantized to uint8 as saved samples are.

Distance (both): LPIPS (VGG16 variant) when `vgg_weights` and `lpips_weights` are both
given (gans.metrics.lpips). Otherwise the offline fallback: the squared Euclidean
distance between the 128-d features of the offline classifier (the network of
`fid_classifier`, gans/eval/features.py; `classifier_path`, `cache_dir` as for the
sample evaluator). The metric is then reported as `ppl_classifier` /
`diversity_classifier`, never as `ppl` / `diversity`, which are LPIPS numbers; the
protocol records the distance, its weights, the sample count and every option.

PPL images are NOT quantized: the distance gets float32 images on the uint8 scale
[0, 255] (steps of eps change pixels by far less than one 8-bit level; on the offline
StyleGAN2 run rounding made PPL in W 3.7 times larger, while eps = 1e-3 and 1e-4 agree
to 0.01%). Gray images are repeated to three channels for LPIPS.

Latent paths. A family offers them through `exp.functions`:
  'map' and 'synthesize' (stylegan2): `map(variables, z, y) -> w [n, w_dim]`,
      `synthesize(variables, ws [n, num_ws, w_dim], key) -> images`; spaces z and w.
  'generate' (gan): `generate(params, collections, z, y) -> images`; space z.
  'decode' (vae, vae_gan): `decode(state, z, y) -> images`; space z.
z is drawn by `functions['latents'](key, n)` where the family has it (the gan
family's truncation), else from N(0, I) of the generator's (or config's) latent_dim.
Conditional families get one uniform random class per path, shared by its two ends.
"""

import os
import time

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from gans import configs
from gans import errors
from gans import parallel
from gans.data import images as image_lib
from gans.eval import features as features_lib
from gans.eval import samples as samples_lib
from gans.metrics import lpips
from gans.metrics import ppl as ppl_lib
from gans.metrics import vgg16
from gans.train import experiment as experiment_lib

SPACES = ('z', 'w')


def _merge(defaults, fragment, name, kind):
  values = defaults.to_dict()
  del values['type']
  for key, value in (fragment or {}).items():
    if key == 'type':
      continue
    if key not in values:
      raise errors.UserInputError(
        f'Unknown field {key!r} in config.evals.{name} (type {kind}); '
        f'known: {", ".join(sorted(values))}.'
      )
    values[key] = value
  return values


def _check_common(values, name):
  if int(values['every']) < 0:
    raise errors.UserInputError(f'config.evals.{name}.every must be >= 0, got {values["every"]!r}.')
  if int(values['batch_size']) < 0:
    raise errors.UserInputError(
      f'config.evals.{name}.batch_size must be >= 0 (0: config.batch_size), '
      f'got {values["batch_size"]!r}.'
    )
  if bool(values['vgg_weights']) != bool(values['lpips_weights']):
    given, missing = (
      ('vgg_weights', 'lpips_weights')
      if values['vgg_weights']
      else ('lpips_weights', 'vgg_weights')
    )
    raise errors.UserInputError(
      f'config.evals.{name}.{given} is set but config.evals.{name}.{missing} is empty: '
      'LPIPS needs both files (leave both empty for the offline classifier distance).'
    )


def ppl_options(fragment=None, name='ppl'):
  """A 'ppl' fragment merged over `ppl_eval()`; UserInputError names a bad field."""
  values = _merge(configs.ppl_eval(), fragment, name, 'ppl')
  _check_common(values, name)
  if values['space'] not in SPACES:
    raise errors.UserInputError(f"config.evals.{name}.space={values['space']!r}: use 'z' or 'w'.")
  if values['sampling'] not in ppl_lib.SAMPLINGS:
    raise errors.UserInputError(
      f"config.evals.{name}.sampling={values['sampling']!r}: use 'full' or 'end'."
    )
  eps = values['epsilon']
  if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not 0 < eps < np.inf:
    raise errors.UserInputError(
      f'config.evals.{name}.epsilon must be a positive number, got {eps!r}.'
    )
  if int(values['num_samples']) < 1:
    raise errors.UserInputError(
      f'config.evals.{name}.num_samples must be >= 1, got {values["num_samples"]!r}.'
    )
  return ml_collections.ConfigDict(values)


def diversity_options(fragment=None, name='diversity'):
  """A 'diversity' fragment merged over `diversity_eval()`; UserInputError names a field."""
  values = _merge(configs.diversity_eval(), fragment, name, 'diversity')
  _check_common(values, name)
  if int(values['num_pairs']) < 1:
    raise errors.UserInputError(
      f'config.evals.{name}.num_pairs must be >= 1, got {values["num_pairs"]!r}.'
    )
  return ml_collections.ConfigDict(values)


class Distance:
  """`distance(images_a, images_b) -> [n]` float64 NumPy, with its name and protocol.

  Images are NHWC, uint8 or float32 on the uint8 scale [0, 255]. `suffix` is appended to
  reported names ('' for LPIPS, '_classifier' for the fallback).
  """

  def __init__(self, fn, suffix, protocol):
    self.fn, self.suffix, self.protocol = fn, suffix, protocol

  def __call__(self, images_a, images_b):
    return np.asarray(jax.device_get(self.fn(images_a, images_b)), np.float64)


def _lpips_distance(opts, dataset, name, crop=False):
  for key in ('vgg_weights', 'lpips_weights'):
    if not os.path.isfile(opts[key]):
      raise errors.MissingInputError(f'config.evals.{name}.{key}: no file {opts[key]!r}.')
  size = min(dataset.example_shape[:2])
  size = 4 * (size // 8) if crop else size
  if size < vgg16.MIN_SIZE:
    raise errors.UserInputError(
      f'config.evals.{name}: LPIPS-VGG needs images of at least {vgg16.MIN_SIZE}x'
      f'{vgg16.MIN_SIZE}; the {"cropped " if crop else ""}images are {size} pixels wide.'
    )
  loaded = lpips.load(opts.vgg_weights, opts.lpips_weights)
  module = lpips.LPIPS()

  @jax.jit
  def unquantized(variables, a, b):
    # lpips.distance takes uint8; PPL's images must stay unrounded. Same preprocessing
    # (x / 127.5 - 1, gray repeated to RGB), on float values of the uint8 scale.
    a, b = (jnp.asarray(x, jnp.float32) / 127.5 - 1.0 for x in (a, b))
    if a.shape[-1] == 1:
      a, b = jnp.repeat(a, 3, axis=-1), jnp.repeat(b, 3, axis=-1)
    return module.apply(variables, a, b)

  def distance(a, b):
    if a.dtype == np.uint8:
      return loaded(a, b)
    return unquantized(loaded.variables, a, b)

  protocol = dict(
    distance='lpips',
    lpips_network='vgg16 (LPIPS v0.1)',
    vgg_weights=os.path.abspath(opts.vgg_weights),
    lpips_weights=os.path.abspath(opts.lpips_weights),
  )
  return Distance(distance, '', protocol)


def _classifier_distance(opts, config, dataset, name):
  net_opts = ml_collections.ConfigDict(
    dict(features='classifier', classifier_path=opts.classifier_path, cache_dir=opts.cache_dir)
  )
  try:
    net = features_lib.feature_network(net_opts, config, dataset)
  except FileNotFoundError as e:
    raise errors.MissingInputError(f'config.evals.{name}: {e}') from e
  apply = net.apply

  @jax.jit
  def squared_l2(variables, a, b):
    # float [0, 255] -> [-1, 1] without rounding (the classifier takes floats as is);
    # for uint8 input this is the value of the classifier's own table.
    fa = apply(variables, jnp.asarray(a, jnp.float32) / 127.5 - 1.0)['features']
    fb = apply(variables, jnp.asarray(b, jnp.float32) / 127.5 - 1.0)['features']
    return jnp.sum(jnp.square(fa - fb), axis=-1)

  def distance(a, b):
    net.check_input(a.shape[1:])
    return squared_l2(net.variables, a, b)

  protocol = dict(distance='classifier_features_squared_l2', **net.protocol)
  return Distance(distance, '_classifier', protocol)


def distance_from_options(opts, config, dataset, name, crop=False):
  """LPIPS when both weights files are given, else the offline classifier's distance.

  `crop`: the images will be face-cropped (PPL), which the classifier cannot take.
  Raises UserInputError naming config.evals.<name> for a dataset of points, missing
  files, images too small for LPIPS, or crop without LPIPS.
  """
  if not dataset.is_image:
    raise errors.UserInputError(
      f'config.evals.{name}: perceptual distances need images; dataset {dataset.name!r} '
      'holds 2-D points.'
    )
  if opts.vgg_weights:
    return _lpips_distance(opts, dataset, name, crop)
  if crop:
    raise errors.UserInputError(
      f'config.evals.{name}.crop=True needs LPIPS (vgg_weights and lpips_weights): the '
      'offline classifier takes only whole images.'
    )
  return _classifier_distance(opts, config, dataset, name)


def latent_spaces(exp):
  """The PPL spaces `exp` supports: ('z', 'w') with a mapping network, ('z',) with a
  generator or decoder of z, () without a latent (see the module docstring)."""
  functions = exp.functions or {}
  if 'map' in functions and 'synthesize' in functions:
    return ('z', 'w')
  if 'generate' in functions or 'decode' in functions:
    return ('z',)
  return ()


class LatentGenerator:
  """The latent path of one state: prior, labels, z -> image and (mapping) z -> w -> image.

  Images are float model space [N, H, W, C]; `key` drives the noise inputs, where the
  family has them.
  """

  def __init__(self, exp, state, use_ema=True):
    self.functions = exp.functions
    mesh = getattr(exp, 'mesh', None)
    # Latents split over the devices on the batch axis: the generator and the distance
    # then run data-parallel instead of once per device on replicated inputs.
    self.sharding = None if mesh is None else parallel.batch_sharding(mesh)
    self.num_classes = exp.num_classes
    generator = exp.modules.get('generator')
    dim = getattr(generator, 'latent_dim', None) or exp.config.get('latent_dim')
    self.latent_dim = int(dim)
    self.num_ws = getattr(generator, 'num_ws', None)
    self.state = state
    self.use_ema = bool(use_ema and 'generator' in state.ema)
    if 'generator' in state.models:
      self.params, self.collections = state.sampling_variables('generator', use_ema)
      self.variables = {'params': self.params, **self.collections}

  def prior(self, key, n):
    if 'latents' in self.functions:
      return jnp.asarray(self.functions['latents'](key, n), jnp.float32)
    return jax.random.normal(key, (n, self.latent_dim), jnp.float32)

  def labels(self, key, n):
    if not self.num_classes:
      return None
    return jax.random.randint(key, (n,), 0, self.num_classes, jnp.int32)

  def map(self, z, y):
    return self.functions['map'](self.variables, z, y)

  def synthesize(self, key, w, y):
    del y  # The label entered w through the mapping.
    ws = jnp.broadcast_to(w[:, None], (w.shape[0], self.num_ws, w.shape[-1]))
    return self.functions['synthesize'](self.variables, ws, key)

  def from_z(self, key, z, y):
    if 'map' in self.functions:
      return self.synthesize(key, self.map(z, y), y)
    if 'generate' in self.functions:
      return self.functions['generate'](self.params, self.collections, z, y)
    return self.functions['decode'](self.state, z, y)

  def endpoints(self, space):
    """`(key, n) -> (a, b, y)` for gans.metrics.ppl.path_lengths in `space`."""

    def draw(key, n):
      k0, k1, ky = jax.random.split(key, 3)
      z0, z1, y = self.prior(k0, n), self.prior(k1, n), self.labels(ky, n)
      if self.sharding is not None:
        z0, z1, y = jax.device_put((z0, z1, y), self.sharding)
      if space == 'w':
        return self.map(z0, y), self.map(z1, y), y
      return z0, z1, y

    return draw

  def generate(self, space):
    """`(key, latents, y) -> images` in `space`."""
    return self.synthesize if space == 'w' else self.from_z


def _device_multiple(batch_size, exp):
  """`batch_size` rounded up to a multiple of the experiment's devices."""
  mesh = getattr(exp, 'mesh', None)
  shards = 1 if mesh is None else mesh.devices.size
  return -(-int(batch_size) // shards) * shards


def _truncation_protocol(config):
  out = {}
  for key in ('truncation', 'truncation_psi'):
    if key in config:
      out[key] = float(config[key])
  return out


class PathLengthEvaluator:
  """Perceptual path length of an experiment's generator (type 'ppl')."""

  def __init__(self, config, dataset, fragment=None, name='ppl', exp=None):
    self.name = name
    self.config = config
    self.opts = ppl_options(fragment, name)
    self.every = int(self.opts.every)
    family = config.get('family', 'gan')
    if exp is not None:
      spaces = latent_spaces(exp)
      if not spaces:
        raise errors.UserInputError(
          f'config.evals.{name} (type ppl): family {family!r} has no latent path '
          "(exp.functions 'map'/'synthesize', 'generate' or 'decode'); remove the evaluator."
        )
      if self.opts.space not in spaces:
        raise errors.UserInputError(
          f'config.evals.{name}.space={self.opts.space!r}: family {family!r} has no '
          f"mapping network (W space); use space='z'."
        )
    self.distance = distance_from_options(self.opts, config, dataset, name, bool(self.opts.crop))

  def __call__(self, exp, state, num_samples=None):
    """PPL of `state`'s generator: {'ppl' or 'ppl_classifier': float, 'protocol': {...}}.

    `num_samples` overrides the number of paths.
    """
    opts = self.opts
    n = int(num_samples or opts.num_samples)
    start = time.time()
    latent = LatentGenerator(exp, state, opts.use_ema)
    space = opts.space
    interpolation = 'lerp' if space == 'w' else 'slerp'
    result = ppl_lib.perceptual_path_length(
      jax.random.PRNGKey(int(opts.seed)),
      n,
      latent.endpoints(space),
      latent.generate(space),
      self.distance,
      interpolation=interpolation,
      epsilon=float(opts.epsilon),
      sampling=opts.sampling,
      batch_size=_device_multiple(opts.batch_size or exp.config.batch_size, exp),
      crop=bool(opts.crop),
    )
    protocol = dict(
      metric='perceptual path length (Karras et al. 2019)',
      space=space,
      interpolation=interpolation,
      sampling=opts.sampling,
      epsilon=float(opts.epsilon),
      num_samples=n,
      num_kept=result['num_kept'],
      percentiles=[ppl_lib.LOW_PERCENTILE, ppl_lib.HIGH_PERCENTILE],
      crop=bool(opts.crop),
      max_resolution=ppl_lib.MAX_RESOLUTION,
      images='float on the uint8 scale [0, 255], not quantized',
      units='distance / epsilon^2',
      seed=int(opts.seed),
      ema=latent.use_ema,
      **_truncation_protocol(exp.config),
      **self.distance.protocol,
    )
    protocol.update(exp.protocol)
    protocol['step'] = int(state.step)
    protocol['seconds'] = round(time.time() - start, 2)
    return {'ppl' + self.distance.suffix: result['ppl'], 'protocol': protocol}


class DiversityEvaluator:
  """Mean perceptual distance between pairs of independent samples (type 'diversity')."""

  def __init__(self, config, dataset, fragment=None, name='diversity', exp=None):
    del exp
    self.name = name
    self.config = config
    self.opts = diversity_options(fragment, name)
    self.every = int(self.opts.every)
    self.distance = distance_from_options(self.opts, config, dataset, name)

  def __call__(self, exp, state, num_samples=None):
    """{'diversity' or 'diversity_classifier': mean distance, 'protocol': {...}}.

    `num_samples` overrides the number of pairs. Raises ValueError for non-finite samples.
    """
    opts = self.opts
    n = int(num_samples or opts.num_pairs)
    start = time.time()
    batch = int(opts.batch_size or exp.config.batch_size)
    streams = []
    for seed in (int(opts.seed), int(opts.seed) + 1):
      watched = samples_lib.GeneratedValues()
      batches = experiment_lib.generated_batches(exp, state, n, seed, batch, opts.use_ema)
      streams.append((watched, watched.watch(batches)))
    distances = []
    for a, b in zip(streams[0][1], streams[1][1]):
      distances.append(self.distance(image_lib.to_uint8(a), image_lib.to_uint8(b)))
    for seed, (watched, _) in zip((opts.seed, opts.seed + 1), streams):
      watched.check(f'generated samples (seed {seed}) at step {int(state.step)}')
    d = np.concatenate(distances)
    bad = np.flatnonzero(~np.isfinite(d))
    if len(bad):
      raise ValueError(
        f'{len(bad)} of the {n} pair distances are non-finite (first: pair {int(bad[0])}).'
      )
    protocol = dict(
      metric='mean distance between pairs of independent samples',
      num_pairs=n,
      pairs=(
        f'sample i of seed {opts.seed} with sample i of seed {opts.seed + 1}'
        + (' (same class, i mod K)' if exp.num_classes else '')
      ),
      images='quantized to uint8',
      ema=bool(opts.use_ema and state.ema),
      std=float(d.std()),
      **_truncation_protocol(exp.config),
      **self.distance.protocol,
    )
    protocol.update(exp.protocol)
    protocol['step'] = int(state.step)
    protocol['seconds'] = round(time.time() - start, 2)
    return {'diversity' + self.distance.suffix: float(d.mean()), 'protocol': protocol}
