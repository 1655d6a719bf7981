r"""Walks in latent space (Radford et al. 2015, Sec. 6.1 and Fig. 4) and how smooth they are.

  python -m gans.analysis.interpolation --config experiments/dcgan.py \
      --workdir runs/dcgan [--pairs 8 --steps 10 --seed 0]

Reads the latest checkpoint of the run and writes into WORKDIR/analysis/:
  interpolation_linear.png     one row per latent pair z_a -> z_b, linear interpolation
                               (DCGAN Fig. 4), `steps` images per row;
  interpolation_spherical.png  the same pairs along the great circle (slerp; White 2016,
                               "Sampling Generative Networks": a Gaussian latent's norm
                               concentrates near sqrt(d), which the chord's midpoint
                               leaves);
  interpolation_classes.png    conditional generators only: one z per row, the class
                               going from k to k + 1 (mod K);
  interpolation.json           the smoothness of each kind of path, seeds, step.
Smoothness (in the feature space of the run's sample evaluator, the offline classifier
for the digit datasets): along a path of T images with features f_0..f_{T-1}, the step
distances ||f_{i+1} - f_i|| relative to the endpoints' distance ||f_{T-1} - f_0||;
`mean_step_ratio` and `max_step_ratio` average these over paths. A path that changes
evenly has both equal to 1/(T-1) (`even_step_ratio`); a sharp transition (the image
jumps between two modes in one step) pushes max_step_ratio towards 1; a mean well above
1/(T-1) means the path wanders (its length exceeds the endpoints' distance).
Conditional generators interpolate z within one class per row (class = row mod K).
"""

from absl import app
from absl import flags
from absl import logging
import jax
import numpy as np

from gans.analysis import common
from gans.data import images as image_lib
from gans.train import loop


def lerp(a, b, t):
  """Linear interpolation (1 - t) a + t b.

  Args:
    a, b: float arrays of the same shape [..., d].
    t: float [T] in [0, 1].
  Returns:
    float64 [T, ..., d]; entry 0 is `a` and entry T-1 is `b` when t runs from 0 to 1.
  """
  a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
  t = np.asarray(t, np.float64).reshape((-1,) + (1,) * a.ndim)
  return (1.0 - t) * a + t * b


def slerp(a, b, t, eps=1e-7):
  """Spherical linear interpolation (Shoemake 1985; for GAN latents White 2016).

  slerp(a, b; t) = sin((1 - t) W) / sin W * a + sin(t W) / sin W * b, with W the angle
  between a and b (arccos of the cosine of the normalised vectors). With |a| = |b| = r
  every point has norm r and makes the angle t W with a (constant angular speed); with
  other norms the squared norm is s0^2 |a|^2 + s1^2 |b|^2 + 2 s0 s1 a.b for the two
  coefficients s0, s1 above. Where sin W < eps (parallel or opposite vectors: the great
  circle is not defined) it falls back to `lerp`.

  Args:
    a, b: float arrays [..., d] (the last axis is the vector).
    t: float [T] in [0, 1].
  Returns:
    float64 [T, ..., d] (entry 0 is `a`, entry T-1 is `b` when t runs from 0 to 1).
  """
  a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
  t = np.asarray(t, np.float64).reshape((-1,) + (1,) * a.ndim)
  na = np.linalg.norm(a, axis=-1, keepdims=True)
  nb = np.linalg.norm(b, axis=-1, keepdims=True)
  cos = np.clip(np.sum(a * b, -1, keepdims=True) / np.maximum(na * nb, 1e-300), -1.0, 1.0)
  omega = np.arccos(cos)
  sin = np.sin(omega)
  ok = sin >= eps
  safe = np.where(ok, sin, 1.0)
  s0 = np.where(ok, np.sin((1.0 - t) * omega) / safe, 1.0 - t)
  s1 = np.where(ok, np.sin(t * omega) / safe, t)
  return s0 * a + s1 * b


METHODS = {'linear': lerp, 'spherical': slerp}


def path_smoothness(path_features):
  """Step distances along paths relative to their endpoints' distance.

  Args:
    path_features: float [P, T, D], the features of P paths of T >= 2 images each.
  Returns:
    dict of float64 arrays [P]: `mean_step_ratio` (mean over the T-1 steps of
    ||f_{i+1} - f_i|| / ||f_{T-1} - f_0||), `max_step_ratio` (the largest such step),
    `endpoint_distance` (||f_{T-1} - f_0||, feature units). A path whose endpoints have
    the same features gives NaN ratios. An evenly changing straight path gives both
    ratios 1/(T-1).
  Raises:
    ValueError: for another rank or T < 2.
  """
  f = np.asarray(path_features, np.float64)
  if f.ndim != 3 or f.shape[1] < 2:
    raise ValueError(f'path_features must be [P, T >= 2, D]; got shape {f.shape}.')
  steps = np.linalg.norm(np.diff(f, axis=1), axis=-1)
  ends = np.linalg.norm(f[:, -1] - f[:, 0], axis=-1)
  with np.errstate(divide='ignore', invalid='ignore'):
    ratios = steps / np.where(ends > 0, ends, np.nan)[:, None]
  return dict(mean_step_ratio=ratios.mean(1), max_step_ratio=ratios.max(1), endpoint_distance=ends)


def latent_paths(z_from, z_to, steps, method='linear'):
  """Latents along P paths: float32 [P, T, d] from z_from [P, d] to z_to [P, d].

  `method` 'linear' (`lerp`) or 'spherical' (`slerp`); T = `steps` >= 2 evenly spaced t
  from 0 to 1. Raises ValueError for another method or steps < 2.
  """
  if method not in METHODS:
    raise ValueError(f'method={method!r}: use one of {", ".join(METHODS)}.')
  if steps < 2:
    raise ValueError(f'steps={steps} must be at least 2 (the two endpoints).')
  t = np.linspace(0.0, 1.0, steps)
  return np.swapaxes(METHODS[method](z_from, z_to, t), 0, 1).astype(np.float32)


def interpolate(gen, z_from, z_to, steps, method='linear', y=None):
  """Images along latent paths: float32 [P, T, H, W, C] in [-1, 1].

  gen: a `common.LatentGenerator`; z_from, z_to: [P, d]; y: int [P] classes of a
  conditional generator (one per path). Raises ValueError as `latent_paths`.
  """
  z = latent_paths(z_from, z_to, steps, method)
  p = z.shape[0]
  labels = None if y is None else np.repeat(np.asarray(y, np.int32), steps)
  images = gen.decode(z.reshape(p * steps, -1), labels)
  return images.reshape((p, steps) + images.shape[1:])


def interpolate_classes(gen, z, y_from, y_to, steps):
  """Images of fixed latents z [P, d] as the class goes from y_from [P] to y_to [P].

  The class enters as the mixture (1 - t) onehot(y_from) + t onehot(y_to) at the layer
  where the generator takes it (`common.mix_labels`), t evenly from 0 to 1 in `steps`.
  Returns float32 [P, T, H, W, C]. Raises UserInputError for an unconditional generator
  or one whose class input cannot be mixed.
  """
  z = np.asarray(z, np.float32)
  p = len(z)
  t = np.tile(np.linspace(0.0, 1.0, steps, dtype=np.float32), p)
  images = gen.decode(
    np.repeat(z, steps, axis=0),
    np.repeat(np.asarray(y_from, np.int32), steps),
    np.repeat(np.asarray(y_to, np.int32), steps),
    t,
  )
  return images.reshape((p, steps) + images.shape[1:])


def _summary(path_features):
  s = path_smoothness(path_features)
  return dict(
    mean_step_ratio=float(np.nanmean(s['mean_step_ratio'])),
    max_step_ratio=float(np.nanmean(s['max_step_ratio'])),
    largest_step_ratio=float(np.nanmax(s['max_step_ratio'])),
    per_path_mean_step_ratio=s['mean_step_ratio'].tolist(),
    per_path_max_step_ratio=s['max_step_ratio'].tolist(),
    per_path_endpoint_distance=s['endpoint_distance'].tolist(),
  )


def analyse(exp, state, pairs=8, steps=10, seed=0, net=None, use_ema=True):
  """Interpolation grids and their smoothness for a restored run.

  Latent pairs are drawn from the family's prior with PRNGKey(seed). `net`: the feature
  network of the smoothness numbers (default `common.feature_network` of the run).
  Returns (images, numbers): images {'linear', 'spherical'[, 'classes']: float32
  [pairs, steps, H, W, C]}, numbers a JSON-ready dict (per kind: mean_step_ratio,
  max_step_ratio = their means over paths, largest_step_ratio = the largest step of any
  path, the per-path values; even_step_ratio = 1/(steps-1); the protocol).
  Raises UserInputError for a run without an explicit latent (common.latent_generator),
  ValueError for pairs < 1 or steps < 2.
  """
  if pairs < 1:
    raise ValueError(f'pairs={pairs} must be at least 1.')
  gen = common.latent_generator(exp, state, use_ema)
  net = net or common.feature_network(exp.config, exp.dataset)
  key_a, key_b, key_c = jax.random.split(jax.random.PRNGKey(seed), 3)
  z_a = np.asarray(gen.draw(key_a, pairs))
  z_b = np.asarray(gen.draw(key_b, pairs))
  rows = np.arange(pairs)
  y = rows % gen.num_classes if gen.num_classes else None
  images = {m: interpolate(gen, z_a, z_b, steps, m, y) for m in METHODS}
  if gen.num_classes:
    z_c = np.asarray(gen.draw(key_c, pairs))
    images['classes'] = interpolate_classes(
      gen, z_c, rows % gen.num_classes, (rows + 1) % gen.num_classes, steps
    )
  numbers = dict(
    step=int(state.step),
    pairs=pairs,
    steps=steps,
    seed=seed,
    even_step_ratio=1.0 / (steps - 1),
    feature_network=net.name,
    protocol=dict(gen.protocol, **net.protocol),
  )
  for kind, grid in images.items():
    f = common.features(net, grid.reshape((-1,) + grid.shape[2:]))
    numbers[kind] = _summary(f.reshape(pairs, steps, -1))
  if gen.num_classes:
    numbers['classes']['from_to'] = [
      [int(a), int(b)] for a, b in zip(rows % gen.num_classes, (rows + 1) % gen.num_classes)
    ]
  return images, numbers


def write_figure(config, workdir, pairs=8, steps=10, seed=0, use_ema=True):
  """Restores the latest checkpoint of `workdir` and writes the interpolation figures
  (analysis/interpolation_{linear,spherical[,classes]}.png) and interpolation.json.

  Returns the numbers (as `analyse`, plus 'figures': the PNG paths). Raises
  MissingInputError without a checkpoint, UserInputError / ValueError as `analyse`.
  """
  exp, state = loop.restore_latest(config, workdir)
  images, numbers = analyse(exp, state, pairs, steps, seed, use_ema=use_ema)
  out = common.output_dir(workdir)
  numbers['figures'] = {}
  for kind, grid in images.items():
    path = f'{out}/interpolation_{kind}.png'
    common.write_png(path, image_lib.grid(image_lib.to_uint8(np.concatenate(grid)), rows=pairs))
    numbers['figures'][kind] = path
  common.write_json(f'{out}/interpolation.json', numbers)
  logging.info(
    'Wrote %s (step %d): max step ratio linear %.3f, spherical %.3f (even: %.3f)',
    out,
    numbers['step'],
    numbers['linear']['max_step_ratio'],
    numbers['spherical']['max_step_ratio'],
    numbers['even_step_ratio'],
  )
  return numbers


def define_flags():
  """The command's flags and main (defined only when run as a command, so several
  analysis commands can be imported in one process)."""
  config, workdir = common.define_common_flags()
  pairs = flags.DEFINE_integer('pairs', 8, 'Latent pairs (rows of each figure).')
  steps = flags.DEFINE_integer('steps', 10, 'Images per path, endpoints included.')
  seed = flags.DEFINE_integer('seed', 0, 'Seed of the latent pairs.')
  ema = flags.DEFINE_bool('ema', True, "Use the generator's EMA weights when the run keeps them.")

  def main(argv):
    del argv
    common.run_command(
      lambda: write_figure(
        config=config.value,
        workdir=workdir.value,
        pairs=pairs.value,
        steps=steps.value,
        seed=seed.value,
        use_ema=ema.value,
      )
    )

  return main


if __name__ == '__main__':
  app.run(define_flags())
