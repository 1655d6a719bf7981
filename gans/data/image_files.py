"""Image sets from a user's files: folders of image files and .npz/.npy arrays, as uint8.

``load_images(path)`` is what the metrics CLI reads. Every image comes back as the
8-bit values a viewer shows, uint8 [H, W, C] with C = 1 (gray) or 3 (colour), or is
refused with an ``ImageFileError`` whose message starts with the file's path and says
why (the mode, the layout, "image file is truncated", ...). docs/metrics_inputs.md
has the full table; in short:

- Files (extensions in ``EXTENSIONS``, any case; names starting with '.' and
  subfolders are skipped), decoded with Pillow, EXIF orientation applied
  (``ImageOps.exif_transpose``):
  '1' (bilevel) -> 0/255 gray; 'L' as is; 16-bit gray ('I;16', 'I;16L', 'I;16B',
  'I;16N', and 'I' from 16-bit PNG/PGM/TIFF) -> round(v / 257); camera JPEGs with
  extra pictures (MPO) -> the first, the photo; 'P' (palette) ->
  its colours, one channel when every colour is gray; 'RGB', 'CMYK' (Pillow's
  conversion, embedded ICC profiles ignored), 'YCbCr', ... -> RGB. Alpha ('LA', 'RGBA',
  'PA', a palette or colour key with transparency) is dropped, as pytorch-fid,
  clean-fid and torch-fidelity do, so the colour under transparent pixels is what is
  scored; a warning counts the images with transparent pixels. Refused: 'F' (float:
  the scale is unknown), 'I' of another bit depth, animations and multi-page files,
  unreadable, truncated or corrupt files. 16-bit RGB PNGs are read by Pillow as their
  high byte, floor(v / 256), within one level of round(v / 257) (equal for 8-bit data
  scaled by 257).
- A folder must hold images of one size; gray and colour files may mix (gray ones are
  repeated to three equal channels, which is exact).
- Arrays: an .npz with a uint8 ``images`` array, or an .npy uint8 array, [N, H, W, C]
  (C = 1 or 3) or [N, H, W]. Other dtypes, channels-first or 4-channel layouts are
  refused with the conversion to use.
- Values: a uint8 set whose values span only 0..1 is refused (it looks like [0, 1]
  floats cast to uint8: shown black, scored as garbage).
"""

from __future__ import annotations

import contextlib
import os
import warnings

import numpy as np
from PIL import Image, ImageFile, ImageOps

EXTENSIONS = (
  '.png',
  '.jpg',
  '.jpeg',
  '.bmp',
  '.gif',
  '.tif',
  '.tiff',
  '.webp',
  '.ppm',
  '.pgm',
  '.pbm',
  '.pnm',
)
ARRAY_EXTENSIONS = ('.npz', '.npy')
_GRAY_16 = ('I;16', 'I;16L', 'I;16B', 'I;16N')
_GRAY_8 = ('1', 'L', 'LA', 'La')


class ImageFileError(ValueError):
  """A file that cannot be read as images; the message is '<path>: <reason>'."""

  def __init__(self, path, reason):
    super().__init__(f'{os.fspath(path)}: {reason}')
    self.path = os.fspath(path)
    self.reason = reason


@contextlib.contextmanager
def _strict_truncation():
  """Truncated files raise even if another library set ImageFile.LOAD_TRUNCATED_IMAGES."""
  previous = ImageFile.LOAD_TRUNCATED_IMAGES
  ImageFile.LOAD_TRUNCATED_IMAGES = False
  try:
    yield
  finally:
    ImageFile.LOAD_TRUNCATED_IMAGES = previous


def _declared_bits(img):
  """Bits per sample the file declares for a mode 'I' image, or None if unknown."""
  if img.format in ('PNG', 'PPM'):  # Pillow opens 16-bit PNG and PGM (maxval > 255) as 'I'.
    return 16
  if img.format == 'TIFF':
    bits = img.tag_v2.get(258)  # BitsPerSample
    return int(bits[0] if isinstance(bits, tuple) else bits) if bits else None
  return None


def _from_16_bit(x):
  """uint16 values -> uint8 round(v / 257) (exact: 257 is odd, so there are no halves)."""
  return ((np.asarray(x, np.uint32) + 128) // 257).astype(np.uint8)


def _transparent(img):
  """Whether the image has a pixel that is not fully opaque."""
  if not img.has_transparency_data:
    return False
  mode = 'LA' if img.mode in _GRAY_8 else 'RGBA'
  return bool(np.asarray(img.convert(mode).getchannel('A')).min() < 255)


def _pixels(img, path, bits=None):
  """(uint8 [H, W, 1 or 3], transparent) of a loaded Pillow image; ImageFileError if not.

  ``bits``: the bits per sample the file declares (``_declared_bits``), for mode 'I'.
  """
  mode = img.mode
  if mode in _GRAY_16:
    return _from_16_bit(np.asarray(img))[..., None], False
  if mode == 'I':
    x = np.asarray(img)
    if bits != 16 or x.min() < 0 or x.max() > 65535:
      raise ImageFileError(
        path,
        f'mode I (32-bit integer pixels, values {x.min()}..{x.max()}, '
        f'{bits or "unknown"} bits declared): the scale to 8 bits is unknown; '
        'save it as 8- or 16-bit',
      )
    return _from_16_bit(x)[..., None], False
  if mode == 'F':
    x = np.asarray(img)
    raise ImageFileError(
      path,
      f'mode F (floating-point pixels, values {np.nanmin(x):.4g}..{np.nanmax(x):.4g}): '
      'the scale to 8 bits is unknown; save it as 8- or 16-bit',
    )
  transparent = _transparent(img)
  if mode in _GRAY_8:
    return np.asarray(img.convert('L'))[..., None], transparent
  try:
    rgb = np.asarray(img.convert('RGB'))
  except ValueError as e:  # A mode Pillow cannot convert to RGB (e.g. 'LAB').
    raise ImageFileError(path, f'mode {mode} cannot be converted to RGB ({e})') from None
  if mode in ('P', 'PA') and (rgb == rgb[..., :1]).all():
    return rgb[..., :1], transparent  # A palette of grays is a gray image.
  return rgb, transparent


def read_image(path, with_transparency=False):
  """uint8 [H, W, C] (C = 1 or 3) of one image file; see the module docstring.

  Args:
    path: the file.
    with_transparency: also return whether it had a pixel that is not fully opaque
      (its alpha is dropped).

  Raises:
    ImageFileError: '<path>: <reason>' for a file Pillow cannot identify, a truncated
      or corrupt one, an animation or multi-page file, or a mode it refuses.
  """
  path = os.fspath(path)
  try:
    with _strict_truncation(), Image.open(path) as img:
      frames = getattr(img, 'n_frames', 1)
      # Camera JPEGs often carry a second picture (MPO: a preview or depth map); the
      # first frame is the photo viewers show. Elsewhere frames are an animation or pages.
      if frames > 1 and img.format != 'MPO':
        raise ImageFileError(
          path, f'{frames} frames (an animation or multi-page file); give one image per file'
        )
      img.load()
      bits = _declared_bits(img) if img.mode == 'I' else None
      x, transparent = _pixels(ImageOps.exif_transpose(img), path, bits)
  except ImageFileError:
    raise
  except Image.UnidentifiedImageError:
    raise ImageFileError(path, 'not an image file Pillow can read (cannot identify it)') from None
  except OSError as e:  # Truncated data, unreadable file, ...: Pillow and the OS say why.
    raise ImageFileError(path, e.strerror or str(e) or type(e).__name__) from None
  except Exception as e:  # pylint: disable=broad-except
    # Corrupt files make Pillow's decoders raise SyntaxError, ValueError, struct.error,
    # zlib.error, DecompressionBombError, ...: all of them mean "this file".
    raise ImageFileError(path, f'corrupt or unsupported image ({type(e).__name__}: {e})') from None
  return (x, transparent) if with_transparency else x


def image_files(folder):
  """Sorted names of the image files of ``folder`` (not hidden ones, not subfolders)."""
  return sorted(
    name
    for name in os.listdir(folder)
    if not name.startswith('.')
    and name.lower().endswith(EXTENSIONS)
    and not os.path.isdir(os.path.join(folder, name))
  )


def read_folder(folder):
  """uint8 [N, H, W, C] of the image files of ``folder`` (sorted by name).

  Gray and colour files may mix: gray ones get three equal channels then. Warns
  (``UserWarning``) with the count of images that had transparent pixels.

  Raises:
    ValueError: no image file in the folder, or two files of different sizes (naming
      both). ImageFileError: a file that cannot be read (``read_image``).
  """
  names = image_files(folder)
  if not names:
    raise ValueError(
      f'No image files ({", ".join(e[1:] for e in EXTENSIONS)}) in folder {folder!r}.'
    )
  images, transparent = [], []
  for name in names:
    x, alpha = read_image(os.path.join(folder, name), with_transparency=True)
    if images and x.shape[:2] != images[0].shape[:2]:
      (h, w), (h0, w0) = x.shape[:2], images[0].shape[:2]
      raise ValueError(
        f'{os.path.join(folder, name)} is {h}x{w} pixels (height x width), but {names[0]} '
        f'is {h0}x{w0}; all images in a folder must have the same size.'
      )
    images.append(x)
    if alpha:
      transparent.append(name)
  if transparent:
    warnings.warn(
      f'{len(transparent)} of the {len(names)} images of {folder} have transparent pixels '
      f'(first: {transparent[0]}); their alpha is dropped, as pytorch-fid does: the colour '
      'stored under transparent pixels is what is scored.',
      stacklevel=2,
    )
  if len({x.shape[-1] for x in images}) > 1:
    images = [np.repeat(x, 3, axis=-1) if x.shape[-1] == 1 else x for x in images]
  return np.stack(images)


def _describe_values(x):
  finite = x[np.isfinite(x)] if x.dtype.kind in 'fc' else x
  if finite.size == 0:
    return 'no finite values'
  lo, hi = finite.min(), finite.max()
  if x.dtype.kind in 'fc':
    return f'values {lo:.4g}..{hi:.4g}'
  return f'values {lo}..{hi}'


def check_image_array(images, source):
  """The uint8 [N, H, W, C] (C = 1 or 3) image set in ``images``; [N, H, W] gets C = 1.

  ``source`` names the array in messages (e.g. "x.npz: 'images'").

  Raises:
    ValueError: another dtype (the message gives the conversion for its value range),
      another rank, channels-first [N, C, H, W], C = 4 or another channel count, an
      empty set or empty images.
  """
  x = np.asarray(images)
  if x.dtype != np.uint8:
    if x.dtype.kind == 'f':
      bad = int(np.count_nonzero(~np.isfinite(x.reshape(len(x), -1)).all(axis=1))) if x.ndim else 0
      nonfinite = f'; {bad} of the {len(x)} images hold NaN/inf' if bad else ''
      hint = (
        'scale [0, 1] data with np.round(x * 255).astype(np.uint8), [-1, 1] data with '
        'gans.data.images.to_uint8(x), or cast [0, 255] data with np.round(x).astype(np.uint8)'
      )
    elif x.dtype.kind in 'iu':
      nonfinite = ''
      hint = (
        'cast 8-bit data with x.astype(np.uint8); scale 16-bit data with '
        '((x.astype(np.uint32) + 128) // 257).astype(np.uint8)'
      )
    elif x.dtype.kind == 'b':
      nonfinite, hint = '', 'use x.astype(np.uint8) * 255 for black/white images'
    else:
      nonfinite, hint = '', 'store pixel values'
    raise ValueError(
      f'{source} is {x.dtype} ({_describe_values(x) if x.dtype.kind in "biuf" else "not numbers"}'
      f'{nonfinite}); images must be uint8 0..255: {hint}.'
    )
  if x.ndim == 3:
    x = x[..., None]
  if x.ndim != 4:
    raise ValueError(
      f'{source} has shape {x.shape}; images must be [N, H, W, C] (C = 1 or 3) or [N, H, W].'
    )
  n, h, w, c = x.shape
  if c not in (1, 3):
    if x.shape[1] in (1, 3) and c not in (1, 3, 4):
      raise ValueError(
        f'{source} has shape {x.shape}, which looks channels-first [N, C, H, W]; images '
        'must be [N, H, W, C]: use x.transpose(0, 2, 3, 1).'
      )
    if c == 4:
      raise ValueError(
        f'{source} has 4 channels (shape {x.shape}); if the 4th is alpha, drop it with '
        'x[..., :3] (image files with alpha are read that way).'
      )
    raise ValueError(f'{source} has {c} channels (shape {x.shape}); images have 1 or 3.')
  if n == 0 or h == 0 or w == 0:
    raise ValueError(f'{source} holds no image pixels (shape {x.shape}).')
  return x


def check_value_range(images, source):
  """Raises ValueError if a uint8 set only spans 0..1 ([0, 1] floats cast to uint8).

  Such images show black and score as garbage (fid_classifier 1669 against real
  digits). A set whose values are all 0 passes (a black image is a valid image).
  """
  if images.size and int(images.max()) == 1:
    raise ValueError(
      f'{source}: values span 0..1: were [0, 1] floats cast to uint8? Images must use '
      '0..255 (for black/white images: 0 and 255).'
    )


def read_array_file(path):
  """uint8 [N, H, W, C] from an .npz (array 'images') or .npy file.

  Raises:
    ImageFileError: the file cannot be read as NumPy data (truncated, corrupt, pickled
      objects). ValueError: no 'images' array (naming the arrays there) or an array
      refused by ``check_image_array``.
  """
  path = os.fspath(path)
  try:
    if path.lower().endswith('.npy'):
      source = path
      images = np.load(path, allow_pickle=False)
    else:
      with np.load(path, allow_pickle=False) as f:
        if 'images' not in f.files:
          raise ValueError(f"{path} has no 'images' array (arrays: {sorted(f.files)}).")
        source = f"{path}: 'images'"
        images = f['images']
  except ValueError as e:
    if str(e).startswith(path):
      raise
    raise ImageFileError(path, f'not a readable NumPy file ({e})') from None
  except Exception as e:  # pylint: disable=broad-except
    # Truncated or corrupt: zipfile.BadZipFile, EOFError, OSError, zlib.error, ...
    raise ImageFileError(path, f'not a readable NumPy file ({type(e).__name__}: {e})') from None
  return check_image_array(images, source)


def load_images(path):
  """uint8 [N, H, W, C] images from a folder of image files, an .npz or an .npy file.

  The set is also checked by ``check_value_range``.

  Raises:
    FileNotFoundError: ``path`` is neither a folder nor an .npz/.npy file.
    ValueError (ImageFileError for one file): as ``read_folder``, ``read_array_file``
      and ``check_value_range`` say; every message names the file.
  """
  path = os.path.expanduser(os.fspath(path))
  if os.path.isdir(path):
    images, source = read_folder(path), path
  elif path.lower().endswith(ARRAY_EXTENSIONS) and os.path.isfile(path):
    images, source = read_array_file(path), path
  else:
    raise FileNotFoundError(
      f'{path!r} is neither a folder of images nor an .npz or .npy file'
      + (' (it does not exist).' if not os.path.exists(path) else '.')
    )
  check_value_range(images, source)
  return images
