"""DiffAugment: Zhao et al. 2020, "Differentiable Augmentation for Data-Efficient GAN
Training" (mit-han-lab/data-efficient-gans, DiffAugment_pytorch.py).

The same random, differentiable transforms go to real and generated images wherever the
discriminator sees them, so D cannot tell them apart by the augmentation and G gets
gradients through it. Images are NHWC floats in [-1, 1]; every parameter is drawn per
image. The policy is a comma-separated subset of, applied in this order:
  color        brightness + U(-0.5, 0.5); saturation: deviation from the pixel's
               channel mean times U(0, 2); contrast: deviation from the image mean
               times U(0.5, 1.5);
  translation  by integers in [-s, s] pixels per axis, s = round(size / 8), zero
               padding (0 is mid-gray in [-1, 1], as in the paper's code);
  cutout       a square of round(size / 2) pixels set to 0, its centre uniform over
               the image (the part outside the image is dropped).
"""

import jax
import jax.numpy as jnp

POLICIES = ('color', 'translation', 'cutout')
TRANSLATION_RATIO = 0.125
CUTOUT_RATIO = 0.5


def parse_policy(policy, key='config.augment'):
  """'color,translation' -> ('color', 'translation') in the canonical order.

  Args:
    policy: a comma-separated string of POLICIES names, or '' (no augmentation).
    key: the config key named in errors.
  Returns:
    A tuple of names, ordered as POLICIES (the order they are applied in).
  Raises:
    ValueError: an unknown or repeated name, naming `key`.
  """
  names = [p.strip() for p in str(policy).split(',') if p.strip()]
  for name in names:
    if name not in POLICIES:
      raise ValueError(
        f'{key}={policy!r}: unknown augmentation {name!r}; known: {", ".join(POLICIES)}.'
      )
  if len(set(names)) != len(names):
    raise ValueError(f'{key}={policy!r} names an augmentation twice.')
  return tuple(p for p in POLICIES if p in names)


def _per_image(key, x, low, high):
  return jax.random.uniform(key, (x.shape[0], 1, 1, 1), x.dtype, low, high)


def brightness(key, x):
  """x + U(-0.5, 0.5) per image. x: [N, H, W, C] float -> same."""
  return x + _per_image(key, x, -0.5, 0.5)


def saturation(key, x):
  """(x - channel mean) * U(0, 2) + channel mean per image (identity for C = 1)."""
  mean = jnp.mean(x, axis=3, keepdims=True)
  return (x - mean) * _per_image(key, x, 0.0, 2.0) + mean


def contrast(key, x):
  """(x - image mean) * U(0.5, 1.5) + image mean per image."""
  mean = jnp.mean(x, axis=(1, 2, 3), keepdims=True)
  return (x - mean) * _per_image(key, x, 0.5, 1.5) + mean


def color(key, x):
  """brightness, saturation, then contrast, each with its own draw."""
  kb, ks, kc = jax.random.split(key, 3)
  return contrast(kc, saturation(ks, brightness(kb, x)))


def shift(x, dy, dx):
  """out[n, i, j] = x[n, i + dy[n], j + dx[n]], 0 where that falls outside the image.

  Args:
    x: [N, H, W, C] float.
    dy, dx: [N] int32 offsets.
  Returns:
    [N, H, W, C], differentiable in x.
  """
  n, h, w, _ = x.shape
  rows = jnp.arange(h)[None, :] + dy[:, None]  # [N, H]
  cols = jnp.arange(w)[None, :] + dx[:, None]  # [N, W]
  out = jnp.take_along_axis(x, jnp.clip(rows, 0, h - 1)[:, :, None, None], axis=1)
  out = jnp.take_along_axis(out, jnp.clip(cols, 0, w - 1)[:, None, :, None], axis=2)
  inside = ((rows >= 0) & (rows < h))[:, :, None, None] & ((cols >= 0) & (cols < w))[
    :, None, :, None
  ]
  return jnp.where(inside, out, jnp.zeros((), x.dtype))


def translation(key, x, ratio=TRANSLATION_RATIO):
  """Shifts each image by integers in [-s, s] per axis (s = int(size * ratio + 0.5))."""
  n, h, w, _ = x.shape
  sy, sx = int(h * ratio + 0.5), int(w * ratio + 0.5)
  ky, kx = jax.random.split(key)
  dy = jax.random.randint(ky, (n,), -sy, sy + 1)
  dx = jax.random.randint(kx, (n,), -sx, sx + 1)
  return shift(x, dy, dx)


def cutout_mask(key, shape, ratio=CUTOUT_RATIO):
  """[N, H, W, 1] float mask, 0 on one square of int(size * ratio + 0.5) per image.

  The square's centre is uniform over [0, size] (upper bound excluded for odd sizes), as
  the reference; the part of the square outside the image is dropped.
  """
  n, h, w = shape[:3]
  ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
  ky, kx = jax.random.split(key)
  top = jax.random.randint(ky, (n,), 0, h + (1 - ch % 2)) - ch // 2
  left = jax.random.randint(kx, (n,), 0, w + (1 - cw % 2)) - cw // 2
  rows = jnp.arange(h)[None, :]
  cols = jnp.arange(w)[None, :]
  in_rows = (rows >= top[:, None]) & (rows < top[:, None] + ch)  # [N, H]
  in_cols = (cols >= left[:, None]) & (cols < left[:, None] + cw)  # [N, W]
  hole = in_rows[:, :, None, None] & in_cols[:, None, :, None]
  return 1.0 - hole.astype(jnp.float32)


def cutout(key, x, ratio=CUTOUT_RATIO):
  """x times `cutout_mask`: one square of half the image size set to 0 per image."""
  return x * cutout_mask(key, x.shape, ratio).astype(x.dtype)


_OPS = {'color': color, 'translation': translation, 'cutout': cutout}


def diff_augment(key, x, policy):
  """Applies the policy's transforms to a batch (DiffAugment, Zhao et al. 2020).

  Args:
    key: PRNG key; every image gets its own parameters.
    x: [N, H, W, C] float images in [-1, 1].
    policy: a tuple from `parse_policy` (or its string form); empty returns x.
  Returns:
    [N, H, W, C] of x's dtype, differentiable in x.
  Raises:
    ValueError: x is not a batch of images, or the policy names an unknown transform.
  """
  names = parse_policy(policy) if isinstance(policy, str) else tuple(policy)
  if not names:
    return x
  if x.ndim != 4:
    raise ValueError(f'DiffAugment needs images [N, H, W, C]; got shape {tuple(x.shape)}.')
  keys = jax.random.split(key, len(POLICIES))
  for i, name in enumerate(POLICIES):
    if name in names:
      x = _OPS[name](keys[i], x)
  return x
