"""LPIPS, the learned perceptual distance of Zhang et al. 2018, VGG variant v0.1.

"The Unreasonable Effectiveness of Deep Features as a Perceptual Metric" (Zhang,
Isola, Efros, Shechtman, Wang; CVPR 2018) compares two images through the feature maps
of a fixed classification network: each map is unit-normalised along its channels,
the squared differences are weighted per channel by a learned non-negative vector
(a 1x1 convolution to one channel), averaged over space and summed over layers.
This module follows the ``lpips`` pip package (``lpips.LPIPS(net='vgg',
version='0.1')``, the default ``spatial=False``) operation for operation:

1. inputs in [-1, 1] (here from uint8: ``x / 127.5 - 1``, as ``lpips.im2tensor``);
2. its ``ScalingLayer``: ``(x - shift) / scale`` with shift ``(-0.030, -0.088,
   -0.188)`` and scale ``(0.458, 0.448, 0.450)`` per RGB channel -- not torchvision's
   ImageNet mean/std;
3. torchvision's VGG16 convolutional stack (:class:`gans.metrics.vgg16.VGG16Features`,
   the same network and weights file as :mod:`gans.metrics.vgg16`), taking
   ``relu1_2, relu2_2, relu3_3, relu4_3, relu5_3`` at the input's resolution;
4. per layer ``f / (sqrt(sum_c f^2) + 1e-10)`` (``lpips.normalize_tensor``), the
   squared difference of the two images' normalised maps, the 1x1 convolution
   ``lin<k>`` (no bias), and the mean over height and width;
5. the sum of the five layer values.

The ``lin0 ... lin4`` weights are the released ``vgg.pth`` of version 0.1, which ships
inside the ``lpips`` wheel as ``lpips/weights/v0.1/vgg.pth`` (keys
``lin<k>.model.1.weight``, shapes ``[1, C, 1, 1]``); the backbone is torchvision's
``vgg16-397923af.pth``. Both are read without PyTorch (:mod:`gans.metrics.pth`).

Use::

    from gans.metrics import lpips
    distance = lpips.load('/path/to/vgg16-397923af.pth', '/path/to/lpips/weights/v0.1/vgg.pth')
    d = distance(images_a, images_b)      # uint8 [N, H, W, C] twice -> float32 [N]
"""

from __future__ import annotations

import dataclasses
import functools
import os
from typing import Any, Callable, Mapping

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from gans import errors
from gans.metrics import vgg16

__all__ = [
  'LIN_WEIGHTS_PATH_IN_WHEEL',
  'SHIFT',
  'SCALE',
  'EPS',
  'LPIPSWeightsError',
  'LPIPS',
  'LPIPSDistance',
  'scale_inputs',
  'distance',
  'lin_variables_from_state_dict',
  'lin_state_dict_from_variables',
  'from_variables',
  'load',
]

LIN_WEIGHTS_PATH_IN_WHEEL = 'lpips/weights/v0.1/vgg.pth'
SHIFT = (-0.030, -0.088, -0.188)  # lpips.ScalingLayer, on inputs in [-1, 1]
SCALE = (0.458, 0.448, 0.450)
EPS = 1e-10  # lpips.normalize_tensor
LAYERS = vgg16.FEATURE_MAPS  # relu1_2 ... relu5_3, weighted by lin0 ... lin4

HIGHEST = jax.lax.Precision.HIGHEST


class LPIPSWeightsError(errors.UserInputError):
  """A linear-layer weights file or state dict that does not fit LPIPS-VGG v0.1."""


def _unit_normalize(features):
  """Each position's channel vector divided by (its L2 norm + 1e-10)."""
  norm = jnp.sqrt(jnp.sum(features * features, axis=-1, keepdims=True))
  return features / (norm + EPS)


class LPIPS(nn.Module):
  """LPIPS-VGG v0.1 on two batches of NHWC float images in [-1, 1].

  Takes ``x0, x1`` of equal shape ``[N, H, W, 3]`` (``H, W >= 16``) and returns the
  distances ``[N]``. Parameters: ``params['features']`` (the VGG16 convolutions,
  :class:`gans.metrics.vgg16.VGG16Features`) and ``params['lin<k>']`` ``[C_k]``,
  the 1x1 convolution weights of the five layers.
  """

  precision: Any = HIGHEST

  @nn.compact
  def __call__(self, x0, x1):
    n = x0.shape[0]
    # One pass over both batches. d(x, x) is 0 up to rounding (about 1e-15) and
    # d(x, y) = d(y, x) up to rounding: XLA may order the two halves' sums differently.
    taps = vgg16.VGG16Features(self.precision, name='features')(
      scale_inputs(jnp.concatenate([x0, x1], axis=0))
    )
    total = jnp.zeros((n,), jnp.float32)
    for k, layer in enumerate(LAYERS):
      f = _unit_normalize(taps[layer])
      diff = jnp.square(f[:n] - f[n:])
      weight = self.param(f'lin{k}', nn.initializers.ones, (diff.shape[-1],), jnp.float32)
      per_pixel = jnp.einsum('nhwc,c->nhw', diff, weight, precision=self.precision)
      total = total + jnp.mean(per_pixel, axis=(1, 2))
    return total


def scale_inputs(x):
  """lpips' ``ScalingLayer``: ``(x - shift) / scale`` per RGB channel, x in [-1, 1]."""
  return (x - jnp.asarray(SHIFT, jnp.float32)) / jnp.asarray(SCALE, jnp.float32)


def _to_unit_range(images):
  return images.astype(jnp.float32) / jnp.float32(127.5) - jnp.float32(1.0)


def _check_pair(images_a, images_b):
  a = vgg16.check_images(images_a, 'images_a')
  b = vgg16.check_images(images_b, 'images_b')
  if tuple(a.shape) != tuple(b.shape):
    raise errors.UserInputError(
      'LPIPS compares images pairwise: images_a and images_b must have the same shape, '
      f'got {tuple(np.shape(images_a))} and {tuple(np.shape(images_b))}'
    )
  if min(a.shape[1:3]) < vgg16.MIN_SIZE:
    raise errors.UserInputError(
      f'LPIPS-VGG needs images of at least {vgg16.MIN_SIZE}x{vgg16.MIN_SIZE}, '
      f'got shape {tuple(a.shape)}'
    )
  return a, b


def distance(variables, images_a, images_b, precision=HIGHEST):
  """Pure LPIPS-VGG v0.1 distances between uint8 NHWC image pairs.

  Args:
    variables: ``{'params': {'features': ..., 'lin0': [64], ..., 'lin4': [512]}}`` (see
      :func:`from_variables`).
    images_a, images_b: uint8 ``[N, H, W, 1 or 3]`` of equal shape, ``H, W >= 16``
      (grayscale repeated to RGB); pair ``i`` is ``(images_a[i], images_b[i])``.
    precision: convolution/matmul precision.

  Returns:
    float32 ``[N]``: ``d(a_i, b_i) >= 0`` (for non-negative ``lin`` weights, as
    released), 0 for identical images, symmetric. Jit and shard as you like.

  Raises:
    gans.errors.UserInputError: wrong dtype, rank, channels, unequal shapes, or images
      smaller than 16x16.
  """
  a, b = _check_pair(images_a, images_b)
  return LPIPS(precision).apply(variables, _to_unit_range(a), _to_unit_range(b))


# --------------------------------------------------------------------------- weights


def _lin_key(k: int) -> str:
  return f'lin{k}.model.1.weight'


def lin_variables_from_state_dict(
  state_dict: Mapping[str, np.ndarray], source: str = 'state dict'
) -> dict[str, np.ndarray]:
  """The released ``vgg.pth`` (``lin<k>.model.1.weight`` ``[1, C_k, 1, 1]``) ->
  ``{'lin<k>': float32 [C_k]}``.

  Raises:
    LPIPSWeightsError: naming ``source`` and the key, for a missing, misshaped,
      non-floating or non-finite entry.
  """
  hint = f'; is this the LPIPS v0.1 VGG linear-layer file ({LIN_WEIGHTS_PATH_IN_WHEEL})?'
  out = {}
  for k, layer in enumerate(LAYERS):
    key = _lin_key(k)
    if key not in state_dict:
      raise LPIPSWeightsError(f'{source}: missing key {key!r}{hint}')
    value = np.asarray(state_dict[key])
    expected = (1, vgg16.FEATURE_CHANNELS[layer], 1, 1)
    if tuple(value.shape) != expected:
      raise LPIPSWeightsError(
        f'{source}: {key!r} has shape {tuple(value.shape)}, expected {expected}{hint}'
      )
    if value.dtype.kind != 'f':
      raise LPIPSWeightsError(f'{source}: {key!r} has dtype {value.dtype}, expected floating point')
    value = value.astype(np.float32).reshape(-1)
    if not np.all(np.isfinite(value)):
      raise LPIPSWeightsError(f'{source}: {key!r} has non-finite (NaN/inf) values')
    out[f'lin{k}'] = value
  return out


def lin_state_dict_from_variables(variables) -> dict[str, np.ndarray]:
  """Inverse of :func:`lin_variables_from_state_dict` on ``variables['params']``."""
  params = variables['params']
  return {
    _lin_key(k): np.asarray(params[f'lin{k}'], np.float32).reshape(1, -1, 1, 1)
    for k in range(len(LAYERS))
  }


@dataclasses.dataclass(frozen=True)
class LPIPSDistance:
  """Jitted LPIPS-VGG v0.1: ``f(images_a, images_b)`` -> float32 ``[N]``.

  Inputs are uint8 NHWC of equal shape (see :func:`distance`). Compiles once per input
  shape. ``variables`` are the Flax variables, for the pure :func:`distance`.
  """

  variables: Any
  vgg_weights_path: str | None = None
  lin_weights_path: str | None = None
  _fn: Callable = dataclasses.field(default=None, repr=False)

  def __call__(self, images_a, images_b) -> jax.Array:
    a, b = _check_pair(images_a, images_b)
    return self._fn(self.variables, a, b)


@functools.lru_cache(maxsize=None)
def _jitted_distance(precision):
  def fn(variables, a, b):
    return LPIPS(precision).apply(variables, _to_unit_range(a), _to_unit_range(b))

  return jax.jit(fn)


def from_variables(
  vgg_variables,
  lin_weights: Mapping[str, np.ndarray],
  *,
  vgg_weights_path: str | None = None,
  lin_weights_path: str | None = None,
  precision=HIGHEST,
) -> LPIPSDistance:
  """An :class:`LPIPSDistance` from VGG16 variables (``{'params': {'features': ...}}``,
  as :func:`gans.metrics.vgg16.variables_from_state_dict` returns; the classifier, if
  there, is not used) and ``{'lin<k>': [C_k]}``."""
  params = {'features': vgg_variables['params']['features']}
  params.update({f'lin{k}': lin_weights[f'lin{k}'] for k in range(len(LAYERS))})
  variables = jax.device_put({'params': params})
  return LPIPSDistance(variables, vgg_weights_path, lin_weights_path, _jitted_distance(precision))


_LIN_HOW = (
  f'The file ships inside the lpips wheel (pip download lpips) as {LIN_WEIGHTS_PATH_IN_WHEEL}; '
  'give its path.'
)


def load(
  vgg_weights_path: str | os.PathLike,
  lin_weights_path: str | os.PathLike,
  *,
  check_hash: bool = True,
  precision=HIGHEST,
) -> LPIPSDistance:
  """Load LPIPS-VGG v0.1 and return a jitted distance function.

  Args:
    vgg_weights_path: torchvision's ``vgg16-397923af.pth`` (only its ``features.*``
      entries are used; the classifier may be present or not).
    lin_weights_path: lpips' ``weights/v0.1/vgg.pth``.
    check_hash: warn if the VGG file is not torchvision's release.
    precision: convolution/matmul precision.

  Returns:
    :class:`LPIPSDistance`: ``f(uint8 [N, H, W, C], uint8 [N, H, W, C]) -> float32
    [N]``.

  Raises:
    gans.errors.MissingInputError: a file does not exist.
    gans.metrics.pth.PthError: unreadable file. gans.metrics.vgg16.VGG16WeightsError,
    LPIPSWeightsError: missing keys or wrong shapes, naming the file and key.
  """
  vgg_path, vgg_state = vgg16.read_weights(vgg_weights_path, 'VGG16 weights', vgg16.DOWNLOAD_HINT)
  lin_path, lin_state = vgg16.read_weights(lin_weights_path, 'LPIPS linear weights', _LIN_HOW)
  vgg_variables = vgg16.variables_from_state_dict(
    vgg_state, source=vgg_path, include_classifier=False
  )
  lin_weights = lin_variables_from_state_dict(lin_state, source=lin_path)
  if check_hash:
    vgg16.warn_if_not_official(vgg_path)
  return from_variables(
    vgg_variables,
    lin_weights,
    vgg_weights_path=vgg_path,
    lin_weights_path=lin_path,
    precision=precision,
  )
