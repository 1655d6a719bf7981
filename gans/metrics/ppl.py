"""Perceptual path length (PPL): how much the image changes along short latent steps.

Karras et al. 2019, "A Style-Based Generator Architecture for Generative Adversarial
Networks", Section 4.2 (and the StyleGAN2 paper, Section 3.2): for latent endpoints
a, b and t in [0, 1],

  l = d(G(interp(a, b, t)), G(interp(a, b, t + eps))) / eps^2,

with eps = 1e-4, interp = slerp for the Gaussian latent Z and lerp for the intermediate
latent W, and d the LPIPS distance (itself a squared distance of normalized VGG16
features, hence eps^2). Sampling 'full' draws t ~ U(0, 1); 'end' takes t = 0, the
path's start. PPL is the mean of l over many paths (100,000 in the paper; 50,000 in
stylegan2-ada-pytorch) after discarding the lengths below the 1st and above the 99th
percentile. The FFHQ evaluation first crops the images to the face (an option here,
off by default) and box-downsamples images larger than 256x256 to 256.

Everything here is pure: the generator and the distance are callables, so the
evaluator (gans.eval.perceptual) supplies them for any family.
"""

from __future__ import annotations

import functools
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

SAMPLINGS = ('full', 'end')
INTERPOLATIONS = ('slerp', 'lerp')
EPSILON = 1e-4
LOW_PERCENTILE, HIGH_PERCENTILE = 1.0, 99.0
MAX_RESOLUTION = 256


def lerp(a, b, t):
  """Linear interpolation a + t (b - a); a, b [N, ...] float, t [N] (or a scalar).

  Used in W. t outside [0, 1] extrapolates (t + eps may pass 1).
  """
  a, b = jnp.asarray(a), jnp.asarray(b)
  t = jnp.reshape(jnp.asarray(t, a.dtype), jnp.shape(t) + (1,) * (a.ndim - jnp.ndim(t)))
  return a + t * (b - a)


def slerp(a, b, t):
  """Spherical interpolation of latents a, b [N, D] at t [N] (or a scalar).

  The direction moves along the great circle from a/|a| to b/|b| (the reference
  implementation's slerp: angle t * Omega, Omega = arccos of the cosine of a and b);
  the norm is interpolated linearly between |a| and |b|. The reference returns unit
  vectors, which StyleGAN's mapping network cannot tell from these (it normalizes z
  first); keeping the norm keeps z on the prior's shell for generators that do not
  normalize (DCGAN-style). slerp(a, b, 0) = a and slerp(a, b, 1) = b; |a|, |b| > 0.
  """
  a, b = jnp.asarray(a), jnp.asarray(b)
  t = jnp.reshape(jnp.asarray(t, a.dtype), jnp.shape(t) + (1,) * (a.ndim - jnp.ndim(t)))
  norm_a = jnp.linalg.norm(a, axis=-1, keepdims=True)
  norm_b = jnp.linalg.norm(b, axis=-1, keepdims=True)
  u, v = a / norm_a, b / norm_b
  cos = jnp.clip(jnp.sum(u * v, axis=-1, keepdims=True), -1.0, 1.0)
  # The unit vector orthogonal to u in the plane of u and v.
  ortho = v - cos * u
  ortho = ortho / jnp.maximum(jnp.linalg.norm(ortho, axis=-1, keepdims=True), 1e-12)
  angle = t * jnp.arccos(cos)
  direction = u * jnp.cos(angle) + ortho * jnp.sin(angle)
  direction = direction / jnp.linalg.norm(direction, axis=-1, keepdims=True)
  return direction * (norm_a + t * (norm_b - norm_a))


def path_times(key, n, sampling='full'):
  """t [n] float32: U(0, 1) for sampling 'full', zeros for 'end'. ValueError otherwise."""
  if sampling not in SAMPLINGS:
    raise ValueError(f'sampling={sampling!r} is not one of {SAMPLINGS}.')
  if sampling == 'end':
    return jnp.zeros((n,), jnp.float32)
  return jax.random.uniform(key, (n,), jnp.float32)


def center_crop(images):
  """The FFHQ face crop of the reference: rows [3c, 7c), columns [2c, 6c), c = H // 8.

  images [N, H, W, C] with H = W; returns [N, 4c, 4c, C].
  """
  h, w = images.shape[1:3]
  if h != w:
    raise ValueError(f'The face crop needs square images; got {h}x{w}.')
  c = h // 8
  return images[:, 3 * c : 7 * c, 2 * c : 6 * c]


def box_downsample(images, max_resolution=MAX_RESOLUTION):
  """Averages f x f blocks, f = H // max_resolution, when f > 1 (else unchanged).

  images [N, H, W, C]; H and W must be multiples of f (powers of two are).
  """
  n, h, w, c = images.shape
  factor = h // max_resolution if max_resolution else 1
  if factor <= 1:
    return images
  return images.reshape(n, h // factor, factor, w // factor, factor, c).mean(axis=(2, 4))


def to_pixel_scale(images):
  """Model space [-1, 1] -> float32 on the uint8 scale [0, 255], not quantized.

  PPL differences are of order eps: rounding to 8 bits (steps of 1) would replace
  them with quantization noise, so the distance sees the exact values, as in the
  reference, where they are not clipped either.
  """
  return (jnp.asarray(images, jnp.float32) + 1.0) * 127.5


@functools.partial(jax.jit, static_argnums=4)
def _path_ends(a, b, t, epsilon, spherical):
  interp = slerp if spherical else lerp
  return interp(a, b, t), interp(a, b, t + epsilon)


def path_lengths(
  key,
  num_samples: int,
  endpoints: Callable,
  generate: Callable,
  distance: Callable,
  *,
  interpolation: str = 'slerp',
  epsilon: float = EPSILON,
  sampling: str = 'full',
  batch_size: int = 64,
  crop: bool = False,
  max_resolution: int = MAX_RESOLUTION,
) -> np.ndarray:
  """Path lengths d(G(p(t)), G(p(t + eps))) / eps^2 of `num_samples` random paths.

  Batch k uses fold_in(key, k), split into the keys of `endpoints`, t and `generate`.

  Args:
    key: a JAX PRNG key.
    num_samples: number of paths N >= 1 (the last batch is cut to size).
    endpoints: `(key, n) -> (a, b, context)`: the ends a, b [n, D] float32 of n paths
      in the interpolated space (Z: two prior draws; W: their mapped w), and a pytree
      `context` both images of a pair share (class labels, or None).
    generate: `(key, latents [n, D], context) -> images [n, H, W, C]` float in model
      space [-1, 1]. It is called twice per batch with the same key and context, so
      per-sample randomness (noise inputs) is the same at both ends of a step.
    distance: `(images_a, images_b) -> [n]` distances, given float32 [n, H', W', C]
      images on the uint8 scale [0, 255] (not quantized; after crop and downsampling).
      LPIPS in the paper; any distance in squared units.
    interpolation: 'slerp' (Z) or 'lerp' (W).
    epsilon: the step, > 0 (1e-4 in the paper).
    sampling: 'full' (t ~ U(0, 1)) or 'end' (t = 0).
    batch_size: paths per call of `generate`, >= 1.
    crop: the FFHQ face crop (`center_crop`) before the distance.
    max_resolution: box-downsample larger images to this size (0: never).

  Returns:
    float64 [N] path lengths in units of the distance per eps^2.

  Raises:
    ValueError: for a bad option, or a non-finite length (counted, first index given).
  """
  if interpolation not in INTERPOLATIONS:
    raise ValueError(f'interpolation={interpolation!r} is not one of {INTERPOLATIONS}.')
  if sampling not in SAMPLINGS:
    raise ValueError(f'sampling={sampling!r} is not one of {SAMPLINGS}.')
  if not (np.isfinite(epsilon) and epsilon > 0):
    raise ValueError(f'epsilon must be a positive number, got {epsilon!r}.')
  if int(num_samples) < 1 or int(batch_size) < 1:
    raise ValueError(f'num_samples ({num_samples}) and batch_size ({batch_size}) must be >= 1.')
  num_samples, batch_size = int(num_samples), int(batch_size)
  lengths = []
  for k, start in enumerate(range(0, num_samples, batch_size)):
    ends_key, t_key, gen_key = jax.random.split(jax.random.fold_in(key, k), 3)
    a, b, context = endpoints(ends_key, batch_size)
    t = path_times(t_key, batch_size, sampling)
    p0, p1 = _path_ends(a, b, t, jnp.float32(epsilon), interpolation == 'slerp')
    images = []
    for p in (p0, p1):
      x = jnp.asarray(generate(gen_key, p, context))
      if crop:
        x = center_crop(x)
      images.append(to_pixel_scale(box_downsample(x, max_resolution)))
    d = np.asarray(jax.device_get(distance(*images)), np.float64).reshape(-1)
    if d.shape != (batch_size,):
      raise ValueError(f'distance returned shape {d.shape} for {batch_size} pairs.')
    lengths.append(d[: num_samples - start] / float(epsilon) ** 2)
  lengths = np.concatenate(lengths)
  bad = np.flatnonzero(~np.isfinite(lengths))
  if len(bad):
    raise ValueError(
      f'{len(bad)} of the {num_samples} path lengths are non-finite (NaN/inf; first: path '
      f'{int(bad[0])}): the generator or the distance produced NaN or inf.'
    )
  return lengths


def filtered_mean(lengths, low=LOW_PERCENTILE, high=HIGH_PERCENTILE) -> tuple[float, int]:
  """The paper's PPL of per-path lengths [N]: (mean of those kept, number kept).

  Keeps the lengths between the `low`-th percentile (rounded down to a sample, numpy's
  method 'lower') and the `high`-th (rounded up, 'higher'), both inclusive, as the
  reference does. Raises ValueError for an empty or non-finite input.
  """
  x = np.asarray(lengths, np.float64).reshape(-1)
  if not x.size or not np.all(np.isfinite(x)):
    raise ValueError(f'filtered_mean needs finite path lengths; got {x.size} values.')
  lo = np.percentile(x, low, method='lower')
  hi = np.percentile(x, high, method='higher')
  kept = x[(x >= lo) & (x <= hi)]
  return float(kept.mean()), int(kept.size)


def perceptual_path_length(
  key, num_samples: int, endpoints: Callable, generate: Callable, distance: Callable, **kwargs: Any
) -> dict:
  """PPL: `filtered_mean` of `path_lengths` (same arguments).

  Returns {'ppl': float, 'num_kept': int, 'lengths': float64 [N]}.
  """
  lengths = path_lengths(key, num_samples, endpoints, generate, distance, **kwargs)
  value, kept = filtered_mean(lengths)
  return {'ppl': value, 'num_kept': kept, 'lengths': lengths}
