"""Paired examples (input, target) made from any image dataset, for the `paired` family.

The target is the dataset's image (model space, float32 NHWC in [-1, 1]); its input is
computed from it by a fixed, deterministic function, on device inside the training
step, so the data pipeline, its order and exact resume are those of every other family
(the batch carries only the targets):

  'sr'     super-resolution: the input is the target downsampled by `scale` with a box
           filter (the mean of each scale x scale block), rounded to 8-bit levels as
           Pillow's `Image.resize(..., Image.BOX)` rounds them (`box_downsample`: the
           same values as Pillow), as a stored low-res image would hold them. A 32x32
           target becomes an 8x8 input at scale 4. scikit-learn's 8x8 digits were made
           the same way (UCI optdigits: 4x4 blocks of 32x32 bitmaps, counted), which is
           why they serve as an unpaired low-res test set of an x4 model.
  'edges'  edges to image (pix2pix's edges2shoes setting, on any dataset): the input is
           the binary edge map of the target, white (+1) where the Sobel gradient
           magnitude of its intensity (channel mean, in [0, 1], edge-replicated
           borders, divided by 4 so that a full black-to-white step gives 1) exceeds
           `edge_threshold`, black (-1) elsewhere; one channel, the target's size.

Host helpers for evaluation and grids: `bicubic_upsample` (Pillow's BICUBIC, the
baseline every super-resolution number is reported beside) and `nearest_upsample`.
"""

import jax.numpy as jnp
import numpy as np
from PIL import Image

PAIRS = ('sr', 'edges')


def _levels(x):
  """Model space [-1, 1] -> int32 8-bit levels 0..255 (exact for images read from uint8)."""
  return jnp.clip(jnp.round((x + 1.0) * 127.5), 0, 255).astype(jnp.int32)


def box_downsample(x, scale):
  """Box-filter downsampling of model-space images as Pillow does it, on device.

  Pillow's `Image.resize(size, Image.BOX)` of a uint8 image by an integer factor
  averages each row of `scale` pixels (horizontal pass) and rounds to a level, then
  averages `scale` of those levels down each column (vertical pass) and rounds again,
  halves up both times. This reproduces it on the 8-bit levels of `x` (equal to
  Pillow's output, tested), so the inputs are what a stored low-res image would hold.

  Args:
    x: float32 [B, H, W, C] in [-1, 1]; H and W divisible by `scale`.
    scale: int >= 1.

  Returns:
    float32 [B, H / scale, W / scale, C] in [-1, 1], each pixel k / 127.5 - 1 for an
    8-bit level k.

  Raises:
    ValueError: a side not divisible by `scale`.
  """
  b, h, w, c = x.shape
  if h % scale or w % scale:
    raise ValueError(f'Box downsampling by {scale} needs sides divisible by it; got {h}x{w}.')
  rows = _levels(x).reshape(b, h, w // scale, scale, c).sum(axis=3)
  rows = (rows + scale // 2) // scale
  levels = rows.reshape(b, h // scale, scale, w // scale, c).sum(axis=2)
  levels = (levels + scale // 2) // scale
  return levels.astype(jnp.float32) / 127.5 - 1.0


_SOBEL_X = np.array([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]], np.float32)


def sobel_magnitude(x):
  """Sobel gradient magnitude of the intensity of model-space images [B, H, W, C].

  Intensity is the channel mean mapped to [0, 1]; borders are edge-replicated; the
  magnitude sqrt(gx^2 + gy^2) is divided by 4 (a full 0 -> 1 step gives 1). Returns
  float32 [B, H, W].
  """
  p = (jnp.mean(x, axis=-1) + 1.0) / 2.0
  q = jnp.pad(p, ((0, 0), (1, 1), (1, 1)), mode='edge')
  h, w = p.shape[1:]

  def correlate(kernel):
    out = jnp.zeros_like(p)
    for di in range(3):
      for dj in range(3):
        if kernel[di, dj]:
          out = out + float(kernel[di, dj]) * q[:, di : di + h, dj : dj + w]
    return out

  gx, gy = correlate(_SOBEL_X), correlate(_SOBEL_X.T)
  return jnp.sqrt(gx * gx + gy * gy) / 4.0


def sobel_edges(x, threshold=0.4):
  """Binary edge maps of model-space images: float32 [B, H, W, 1], +1 on edges, -1 off."""
  return jnp.where(sobel_magnitude(x) > threshold, 1.0, -1.0)[..., None].astype(jnp.float32)


def make_input(target, pairs, scale=4, edge_threshold=0.4):
  """The input of each target under the pairing `pairs` (module docstring).

  Args:
    target: float32 [B, H, W, C] model-space images.
    pairs: 'sr' or 'edges'.
    scale: the 'sr' downsampling factor.
    edge_threshold: the 'edges' threshold on the normalised Sobel magnitude.

  Returns:
    float32 [B, H / scale, W / scale, C] ('sr') or [B, H, W, 1] ('edges').

  Raises:
    ValueError: an unknown pairing.
  """
  if pairs == 'sr':
    return box_downsample(target, scale)
  if pairs == 'edges':
    return sobel_edges(target, edge_threshold)
  raise ValueError(f'Unknown pairing {pairs!r}; use one of {PAIRS}.')


def input_shape(pairs, target_shape, scale=4):
  """(h, w, c) of the input `make_input` gives for targets of shape (H, W, C)."""
  h, w, c = target_shape
  if pairs == 'sr':
    return (h // scale, w // scale, c)
  if pairs == 'edges':
    return (h, w, 1)
  raise ValueError(f'Unknown pairing {pairs!r}; use one of {PAIRS}.')


def nearest_upsample(x, scale):
  """Each pixel repeated scale x scale times: [B, h, w, C] -> [B, h*scale, w*scale, C].

  Works on NumPy and JAX arrays alike (returns the same kind).
  """
  if scale == 1:
    return x
  xp = jnp if isinstance(x, jnp.ndarray) and not isinstance(x, np.ndarray) else np
  return xp.repeat(xp.repeat(x, scale, axis=1), scale, axis=2)


def bicubic_upsample(images, size):
  """Pillow BICUBIC resize of uint8 NHWC images to size x size (the baseline).

  Args:
    images: uint8 [N, h, w, C] with C = 1 or 3.
    size: int, the output side.

  Returns:
    uint8 [N, size, size, C].

  Raises:
    TypeError: images that are not uint8.
  """
  images = np.asarray(images)
  if images.dtype != np.uint8:
    raise TypeError(f'bicubic_upsample takes uint8 images; got {images.dtype}.')
  n, _, _, c = images.shape
  out = np.empty((n, size, size, c), np.uint8)
  for i in range(n):
    img = Image.fromarray(images[i, ..., 0] if c == 1 else images[i])
    out[i] = np.asarray(img.resize((size, size), Image.Resampling.BICUBIC)).reshape(size, size, c)
  return out
