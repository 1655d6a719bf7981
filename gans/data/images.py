"""Image helpers at the uint8 edges: resizing, scaling to [-1, 1] and back, grids."""

import numpy as np
from PIL import Image


def resize(images, size):
  """Resizes uint8 NHWC images to size x size (center crop to square first).

  Downscaling uses PIL's antialiased bilinear filter; 28 -> 32 upscaling is bilinear.
  """
  images = np.asarray(images)
  n, h, w, c = images.shape
  if (h, w) == (size, size):
    return images
  side = min(h, w)
  top, left = (h - side) // 2, (w - side) // 2
  out = np.empty((n, size, size, c), np.uint8)
  for i in range(n):
    crop = images[i, top : top + side, left : left + side]
    img = Image.fromarray(crop[..., 0] if c == 1 else crop)
    img = img.resize((size, size), Image.Resampling.BILINEAR)
    out[i] = np.asarray(img).reshape(size, size, c)
  return out


def to_model(images):
  """uint8 [0, 255] -> float32 [-1, 1].

  Raises TypeError for another dtype: floats are already in some model range, and
  other integers (uint16, bool) have another scale; either would come out wrong.
  """
  images = np.asarray(images)
  if images.dtype != np.uint8:
    raise TypeError(f'to_model takes uint8 images (0..255); got {images.dtype}.')
  return images.astype(np.float32) / 127.5 - 1.0


def to_uint8(images):
  """float [-1, 1] -> uint8 [0, 255] (clipped, rounded).

  Raises TypeError for integer or bool images (uint8 ones would all come out 255).
  """
  images = np.asarray(images)
  if images.dtype.kind in 'biu':
    raise TypeError(
      f'to_uint8 takes float images in [-1, 1]; got {images.dtype} (already pixel values?).'
    )
  images = images.astype(np.float32)
  return np.clip(np.round((images + 1.0) * 127.5), 0, 255).astype(np.uint8)


def grid(images, rows=None):
  """Tiles uint8 NHWC images into one [rows*H, cols*W, C] image with 1px borders."""
  images = np.asarray(images)
  n, h, w, c = images.shape
  cols = int(np.ceil(np.sqrt(n))) if rows is None else int(np.ceil(n / rows))
  rows = int(np.ceil(n / cols))
  canvas = np.full((rows * (h + 1) + 1, cols * (w + 1) + 1, c), 255, np.uint8)
  for i in range(n):
    r, q = divmod(i, cols)
    canvas[1 + r * (h + 1) : 1 + r * (h + 1) + h, 1 + q * (w + 1) : 1 + q * (w + 1) + w] = images[i]
  return canvas


def save_png(path, image):
  """Writes a uint8 HWC image (C = 1 or 3) as PNG."""
  image = np.asarray(image)
  Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image).save(path)
