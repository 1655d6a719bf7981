"""`--mode sample --input PATH`: translate a folder of images or an .npz with a checkpoint.

For families that translate (`exp.functions['translate_<direction>']`, e.g. cyclegan's
'a2b' and 'b2a'; or `['translate']` alone, e.g. the paired family, direction 'a2b'):

  python launch.py --config experiments/cyclegan.py --workdir runs/cyclegan \
      --mode sample --input digits.npz --direction b2a

Input: a directory (its image files, sorted by name, read by
`gans.data.image_files.read_folder`) or an `.npz` (its array 'x', or
its only array) of uint8 images [N, H, W, C] or [N, H, W]. With a two-domain family
(the source domain's shape known) the channels must match it and images whose side
differs from the model's are resized (`gans.data.images.resize`: centre-cropped to
square, then bilinear, the preprocessing of the training data); a family with only
'translate' gets the images as they are (the paired family: its input shape). Output: `<output>.npz` (default
WORKDIR/translations_<direction>.npz) with 'inputs' and 'images' (uint8 [N, H, W, C])
and, beside it, a directory of the same name with one PNG per translation (inputs
named like the image files they came from, else 000000.png, ...).
"""

import json
import os

from absl import logging
import jax
import numpy as np

from gans import errors
from gans import files
from gans.data import image_files
from gans.data import images as image_lib
from gans.train import loop

DIRECTIONS = ('a2b', 'b2a')


def read_images(path):
  """(uint8 images [N, H, W, C], names [N]) from a PNG directory or an .npz file.

  Raises:
    MissingInputError: `path` does not exist, or a directory without image files.
    UserInputError: an .npz without an 'x' array (and not exactly one array), an
      array that is not uint8 or not [N, H, W(, C)] with C in (1, 3), images of a
      directory of different sizes or unreadable; the message names the file and the
      shape or dtype.
  """
  if not os.path.exists(path):
    raise errors.MissingInputError(f'--input {path!r} does not exist.')
  if os.path.isdir(path):  # The project's image-folder reader (docs/metrics_inputs.md).
    names = image_files.image_files(path)
    if not names:
      raise errors.MissingInputError(f'--input {path!r} is a directory without image files.')
    try:
      images = image_files.read_folder(path)
    except ValueError as e:
      raise errors.UserInputError(f'--input {path!r}: {e}') from e
    return images, [os.path.splitext(n)[0] + '.png' for n in names]
  try:
    with np.load(path, allow_pickle=False) as npz:
      keys = list(npz.keys())
      if 'x' in keys:
        key = 'x'
      elif len(keys) == 1:
        key = keys[0]
      else:
        raise errors.UserInputError(
          f"--input {path!r} holds arrays {keys}: name the images 'x' (or keep only one array)."
        )
      x = npz[key]
  except (OSError, ValueError) as e:
    if isinstance(e, errors.UserInputError):
      raise
    raise errors.UserInputError(
      f'--input {path!r} is neither a directory of PNGs nor a readable .npz ({e}).'
    ) from e
  if x.dtype != np.uint8:
    raise errors.UserInputError(
      f'--input {path!r}: array {key!r} has dtype {x.dtype} and shape {x.shape}; uint8 '
      'images (0..255) are expected.'
    )
  if x.ndim == 3:
    x = x[..., None]
  if x.ndim != 4 or x.shape[-1] not in (1, 3) or not x.shape[0]:
    raise errors.UserInputError(
      f'--input {path!r}: array {key!r} has shape {x.shape}; expected [N, H, W] or '
      '[N, H, W, C] images with C = 1 or 3 and N > 0.'
    )
  return x, [f'{i:06d}.png' for i in range(len(x))]


def _model_shape(exp, direction):
  """(side, channels) of the source images of `direction`, or None when unknown."""
  if 'translate_' + direction not in exp.functions:
    return None
  source = exp.dataset if direction == 'a2b' else exp.dataset.extra['domain_b']
  side = int(exp.config.get('crop_size', 0) or source.example_shape[0])
  return side, source.example_shape[-1]


def translate_files(config, workdir, input_path, direction='a2b', output=None, step=None):
  """Translates the images of `input_path` with the checkpoint of `workdir` (module doc).

  Args:
    config: the run's ConfigDict.
    workdir: str, the run's directory (its latest checkpoint, or `step`).
    input_path: str, a directory of PNGs or an .npz file.
    direction: 'a2b' or 'b2a'.
    output: str, the .npz path (default WORKDIR/translations_<direction>.npz).
    step: int or None, the checkpoint to read.

  Returns:
    {'inputs': uint8 [N, H, W, C], 'images': uint8 [N, H, W, C']}.

  Raises:
    UserInputError: an unknown direction, a family that does not translate (that
      way), or a bad input file (see `read_images`); channels that differ from the
      model's source domain (naming the file and the shape).
    MissingInputError: no input, or no checkpoint.
  """
  if direction not in DIRECTIONS:
    raise errors.UserInputError(f'--direction={direction!r}: use one of {", ".join(DIRECTIONS)}.')
  images, names = read_images(input_path)  # Before anything is built or restored.
  exp, state = loop.restore_latest(config, workdir, step=step)
  fn = exp.functions.get('translate_' + direction)
  if fn is None and direction == 'a2b':
    fn = exp.functions.get('translate')
  if fn is None:
    raise errors.UserInputError(
      f'--input: family {config.get("family", "gan")!r} does not translate in direction '
      f'{direction!r} (--mode sample without --input draws samples).'
    )
  shape = _model_shape(exp, direction)
  if shape is not None:
    side, channels = shape
    if images.shape[-1] != channels:
      raise errors.UserInputError(
        f'--input {input_path!r}: images of shape {images.shape[1:]} have {images.shape[-1]} '
        f'channels; the {direction} model takes {channels} ({side}x{side}x{channels}).'
      )
    images = image_lib.resize(images, side)
  batch = max(int(config.batch_size), 1)
  x = image_lib.to_model(images)
  outs = [np.asarray(jax.device_get(fn(state, x[i : i + batch]))) for i in range(0, len(x), batch)]
  out = image_lib.to_uint8(np.concatenate(outs))
  output = loop.npz_path(output or os.path.join(workdir, f'translations_{direction}.npz'))
  arrays = {'inputs': images, 'images': out}
  if jax.process_index() == 0:
    with files.atomic_open(output, 'wb') as f:
      np.savez_compressed(
        f,
        **arrays,
        step=int(state.step),
        protocol=json.dumps(dict(direction=direction, input=os.path.abspath(input_path))),
      )
    png_dir = output[: -len('.npz')]
    os.makedirs(png_dir, exist_ok=True)
    for name, image in zip(names, out):
      image_lib.save_png(os.path.join(png_dir, name), image)
    logging.info(
      'Translated %d images (%s) from step %d: %s and %s/',
      len(out),
      direction,
      int(state.step),
      output,
      png_dir,
    )
  return arrays
