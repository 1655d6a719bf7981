"""torchvision's VGG16 in Flax: conv feature maps and the fc2 embedding.

VGG16 (Simonyan & Zisserman 2015, configuration D) serves two metrics here:

* improved precision and recall (Kynkaanniemi et al. 2019) embed each image as the
  4096-d output of the second fully connected layer, ``fc2``;
* LPIPS (Zhang et al. 2018, :mod:`gans.metrics.lpips`) compares the five feature maps
  ``relu1_2 ... relu5_3`` of the convolutional stack.

This module rebuilds torchvision's ``vgg16`` (``torchvision.models.VGG``, ``cfg D``,
without batch norm) in ``flax.linen`` (NHWC) and reads its ImageNet weights file
``vgg16-397923af.pth`` (a ``torch.save`` state dict) without PyTorch
(:mod:`gans.metrics.pth`). Architecture, with the torchvision ``features`` /
``classifier`` indices that name the weights::

    conv1_1 0, conv1_2 2 -> relu1_2 | maxpool 4                 64 channels
    conv2_1 5, conv2_2 7 -> relu2_2 | maxpool 9                 128
    conv3_1 10, 3_2 12, 3_3 14 -> relu3_3 | maxpool 16          256
    conv4_1 17, 4_2 19, 4_3 21 -> relu4_3 | maxpool 23          512
    conv5_1 24, 5_2 26, 5_3 28 -> relu5_3 | maxpool 30          512
    adaptive average pool to 7x7 -> flatten (C, H, W order) -> 25088
    fc1 = classifier.0 4096, ReLU, (dropout) | fc2 = classifier.3 4096, ReLU, (dropout)
    | classifier.6 1000 logits (not used)

Every convolution is 3x3, stride 1, padding 1, with bias, followed by a ReLU; every
max pool is 2x2, stride 2, flooring odd sizes. Dropout is the identity (eval mode).

Which fc2: ``fc2`` here is taken *after* its ReLU (torchvision ``classifier[:5]``).
The reference code of Kynkaanniemi et al.
(github.com/kynkaat/improved-precision-and-recall-metric) loads a pickled TensorFlow
network (``vgg16.pkl``) whose graph is not in the repository, so the placement cannot
be read there, and PyTorch ports disagree: some cut torchvision's classifier after the
ReLU (``classifier[:5]``), others before it (``classifier[:4]``, e.g. MMagic's
torchvision fallback). So the pre-activation is returned too, as ``fc2_preact``;
``fc2 = relu(fc2_preact)``.

Preprocessing, as torchvision's ImageNet models expect: ``x = uint8 / 255``, then
``(x - mean) / std`` per channel with mean ``(0.485, 0.456, 0.406)`` and std
``(0.229, 0.224, 0.225)``. The feature maps are computed on the images as given (no
resize): ``relu1_2`` has the input's height and width, each later map half the previous
one. ``fc2`` is computed on the images resized to 224x224 first, bilinearly as
``torch.nn.functional.interpolate(mode='bilinear', align_corners=False)`` without
antialiasing (:func:`gans.metrics.inception.resize_bilinear`, the resize of the FID
protocol), applied to ``uint8 / 255`` before the normalisation.

Use::

    from gans.metrics import vgg16
    net = vgg16.load('/path/to/vgg16-397923af.pth')
    features = net(images_uint8_nhwc)                    # dict of float32 arrays
    features['relu3_3']                                  # [N, H/4, W/4, 256]
    features['fc2']                                      # [N, 4096]
    net(images, outputs=('fc2',))                        # only what is asked for
"""

from __future__ import annotations

import dataclasses
import functools
import os
import warnings
from typing import Any, Callable, Mapping, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from gans import errors
from gans import files
from gans.metrics import inception, pth

__all__ = [
  'WEIGHTS_URL',
  'WEIGHTS_FILENAME',
  'FEATURE_MAPS',
  'OUTPUTS',
  'DOWNLOAD_HINT',
  'VGG16WeightsError',
  'VGG16Features',
  'TorchLinear',
  'VGG16Classifier',
  'VGG16Extractor',
  'max_pool_2x2',
  'adaptive_avg_pool',
  'check_images',
  'imagenet_normalize',
  'extract',
  'variables_from_state_dict',
  'state_dict_from_variables',
  'check_weights_file',
  'read_weights',
  'sha256_of',
  'warn_if_not_official',
  'from_variables',
  'load',
]

WEIGHTS_URL = 'https://download.pytorch.org/models/vgg16-397923af.pth'
WEIGHTS_FILENAME = 'vgg16-397923af.pth'
# torch.hub names files <name>-<first hex digits of their sha256>.pth.
WEIGHTS_SHA256_PREFIX = '397923af'
CLASSIFIER_SIZE = 224  # fc2 is computed on inputs resized to 224x224
POOL_SIZE = 7  # torchvision's AdaptiveAvgPool2d((7, 7)) before the classifier
MIN_SIZE = 16  # the smallest height/width that leaves relu5_3 at least 1x1
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

# (name, torchvision ``features`` index, output channels) of the 13 convolutions, in
# order; a 2x2 max pool follows the last convolution of each of the five stages.
CONV_LAYERS = (
  ('conv1_1', 0, 64),
  ('conv1_2', 2, 64),
  ('conv2_1', 5, 128),
  ('conv2_2', 7, 128),
  ('conv3_1', 10, 256),
  ('conv3_2', 12, 256),
  ('conv3_3', 14, 256),
  ('conv4_1', 17, 512),
  ('conv4_2', 19, 512),
  ('conv4_3', 21, 512),
  ('conv5_1', 24, 512),
  ('conv5_2', 26, 512),
  ('conv5_3', 28, 512),
)
# The ReLU outputs returned, one per stage (the last convolution of each stage).
FEATURE_MAPS = ('relu1_2', 'relu2_2', 'relu3_3', 'relu4_3', 'relu5_3')
FEATURE_CHANNELS = {'relu1_2': 64, 'relu2_2': 128, 'relu3_3': 256, 'relu4_3': 512, 'relu5_3': 512}
_STAGE_ENDS = {'conv1_2', 'conv2_2', 'conv3_3', 'conv4_3', 'conv5_3'}
# (name, torchvision ``classifier`` index, output features).
DENSE_LAYERS = (('fc1', 0, 4096), ('fc2', 3, 4096))
OUTPUTS = (*FEATURE_MAPS, 'fc2', 'fc2_preact')

HIGHEST = jax.lax.Precision.HIGHEST


class VGG16WeightsError(errors.UserInputError):
  """A weights file or state dict that does not fit torchvision's VGG16."""


# --------------------------------------------------------------------------- network


def max_pool_2x2(x):
  """2x2 max pool, stride 2, over NHWC; odd sizes drop their last row/column
  (torch ``max_pool2d(x, 2, 2)``, ``ceil_mode=False``)."""
  n, h, w, c = x.shape
  x = x[:, : h // 2 * 2, : w // 2 * 2]
  return x.reshape(n, h // 2, 2, w // 2, 2, c).max(axis=(2, 4))


def _adaptive_pool_matrix(in_size: int, out_size: int) -> np.ndarray:
  """[out, in] averaging weights of torch's adaptive average pool along one axis:
  output ``i`` averages inputs ``floor(i in / out) .. ceil((i + 1) in / out) - 1``."""
  matrix = np.zeros((out_size, in_size), np.float32)
  for i in range(out_size):
    start = (i * in_size) // out_size
    end = -((-(i + 1) * in_size) // out_size)
    matrix[i, start:end] = 1.0 / (end - start)
  return matrix


def adaptive_avg_pool(x, size: int = POOL_SIZE, precision=HIGHEST):
  """torch ``adaptive_avg_pool2d(x, (size, size))`` over NHWC (identity when the input
  is already ``size`` x ``size``, as for 224x224 VGG16 inputs)."""
  if x.shape[1:3] == (size, size):
    return x
  rows = _adaptive_pool_matrix(x.shape[1], size)
  cols = _adaptive_pool_matrix(x.shape[2], size)
  return jnp.einsum('ih,nhwc,jw->nijc', rows, x, cols, precision=precision)


class _Conv3x3(nn.Module):
  """3x3 convolution, stride 1, padding 1, with bias (``kernel`` HWIO, ``bias``)."""

  features: int
  precision: Any = HIGHEST

  @nn.compact
  def __call__(self, x):
    kernel = self.param(
      'kernel', nn.initializers.lecun_normal(), (3, 3, x.shape[-1], self.features), jnp.float32
    )
    bias = self.param('bias', nn.initializers.zeros, (self.features,), jnp.float32)
    return inception.conv2d(x, kernel, padding=((1, 1), (1, 1)), precision=self.precision) + bias


class VGG16Features(nn.Module):
  """torchvision ``vgg16().features`` on NHWC float inputs (already normalised).

  Takes ``[N, H, W, 3]`` with ``H, W >= 16`` and returns ``{'relu1_2': [N, H, W, 64],
  'relu2_2': [N, H/2, W/2, 128], 'relu3_3': [N, H/4, W/4, 256], 'relu4_3':
  [N, H/8, W/8, 512], 'relu5_3': [N, H/16, W/16, 512], 'pool5': [N, H/32, W/32,
  512]}`` (sizes floored at every pool; ``pool5`` is empty below 32x32). Shared by
  :mod:`gans.metrics.lpips`, which feeds it differently normalised inputs.
  Parameters: ``params[conv<stage>_<i>]['kernel' | 'bias']``.
  """

  precision: Any = HIGHEST

  @nn.compact
  def __call__(self, x):
    out = {}
    for name, _index, features in CONV_LAYERS:
      x = nn.relu(_Conv3x3(features, self.precision, name=name)(x))
      if name in _STAGE_ENDS:
        out['relu' + name[len('conv') :]] = x
        x = max_pool_2x2(x)
    out['pool5'] = x
    return out


class TorchLinear(nn.Module):
  """``torch.nn.Linear``: ``x @ weight.T + bias`` with ``weight`` in torch's
  ``[out, in]`` layout, so that the 25088 x 4096 fc1 matrix (411 MB) is used as read
  from the file, without a transposed copy."""

  features: int
  precision: Any = HIGHEST

  @nn.compact
  def __call__(self, x):
    weight = self.param(
      'weight', nn.initializers.lecun_normal(in_axis=1, out_axis=0), (self.features, x.shape[-1])
    )
    bias = self.param('bias', nn.initializers.zeros, (self.features,))
    return jnp.einsum('ni,oi->no', x, weight, precision=self.precision) + bias


class VGG16Classifier(nn.Module):
  """torchvision ``vgg16()`` from ``pool5`` to fc2: adaptive average pool to 7x7,
  flatten in torch's (C, H, W) order, fc1 + ReLU, fc2 (+ ReLU). Dropout is the
  identity (eval mode).

  Takes ``pool5`` ``[N, h, w, 512]`` (7x7 for 224x224 images) and returns
  ``{'fc2_preact': [N, 4096], 'fc2': [N, 4096]}``. Parameters ``fc1``, ``fc2``:
  :class:`TorchLinear` (``weight`` ``[out, in]``, ``bias``).
  """

  precision: Any = HIGHEST

  @nn.compact
  def __call__(self, pool5):
    x = adaptive_avg_pool(pool5, POOL_SIZE, self.precision)
    x = jnp.transpose(x, (0, 3, 1, 2)).reshape(x.shape[0], -1)  # torch.flatten of NCHW
    x = nn.relu(TorchLinear(4096, self.precision, name='fc1')(x))
    fc2 = TorchLinear(4096, self.precision, name='fc2')(x)
    return {'fc2_preact': fc2, 'fc2': nn.relu(fc2)}


# ---------------------------------------------------------------------- preprocessing


def check_images(images, what: str = 'images'):
  """Checks uint8 NHWC images with 1 or 3 channels; returns them as a 3-channel array
  (grayscale repeated). Raises :class:`gans.errors.UserInputError` naming ``what``."""
  if not hasattr(images, 'dtype') or not hasattr(images, 'shape'):
    images = np.asarray(images)
  if len(images.shape) != 4 or images.shape[-1] not in (1, 3):
    raise errors.UserInputError(
      f'{what}: expected NHWC images with 1 or 3 channels, got shape {tuple(images.shape)}'
    )
  if images.dtype != np.uint8:
    raise errors.UserInputError(
      f'{what}: expected uint8 images (values 0..255), got dtype {images.dtype}; '
      'quantize generated images to uint8 first'
    )
  if images.shape[-1] == 1:
    images = jnp.repeat(jnp.asarray(images), 3, axis=-1)
  return images


def imagenet_normalize(x):
  """``(x - mean) / std`` per RGB channel with torchvision's ImageNet constants;
  ``x`` is NHWC in [0, 1]."""
  mean = jnp.asarray(IMAGENET_MEAN, jnp.float32)
  std = jnp.asarray(IMAGENET_STD, jnp.float32)
  return (x - mean) / std


def _check_outputs(outputs) -> tuple[str, ...]:
  if isinstance(outputs, str):
    outputs = (outputs,)
  outputs = tuple(outputs)
  unknown = [o for o in outputs if o not in OUTPUTS]
  if unknown or not outputs:
    raise errors.UserInputError(
      f'unknown VGG16 output {unknown or outputs!r}; choose from {OUTPUTS}'
    )
  return outputs


def _check_inputs(images, outputs):
  outputs = _check_outputs(outputs)
  images = check_images(images)
  if any(o in FEATURE_MAPS for o in outputs) and min(images.shape[1:3]) < MIN_SIZE:
    raise errors.UserInputError(
      f'VGG16 feature maps need images of at least {MIN_SIZE}x{MIN_SIZE} '
      f'(relu5_3 is 1/16 of the input size), got shape {tuple(images.shape)}'
    )
  return images, outputs


def _extract(variables, images, outputs: tuple[str, ...], precision):
  params = variables['params']
  out = {}
  x = images.astype(jnp.float32) / jnp.float32(255.0)
  features = VGG16Features(precision)
  taps = None
  maps = [o for o in outputs if o in FEATURE_MAPS]
  if maps:
    taps = features.apply({'params': params['features']}, imagenet_normalize(x))
    out.update({name: taps[name] for name in maps})
  if 'fc2' in outputs or 'fc2_preact' in outputs:
    if taps is not None and x.shape[1:3] == (CLASSIFIER_SIZE, CLASSIFIER_SIZE):
      pool5 = taps['pool5']  # already 224x224: one pass serves both
    else:
      resized = inception.resize_bilinear(x, (CLASSIFIER_SIZE, CLASSIFIER_SIZE))
      pool5 = features.apply({'params': params['features']}, imagenet_normalize(resized))['pool5']
    dense = VGG16Classifier(precision).apply({'params': params['classifier']}, pool5)
    out.update({name: dense[name] for name in ('fc2', 'fc2_preact') if name in outputs})
  return {name: out[name] for name in outputs}


def extract(variables, images, outputs: Sequence[str] = OUTPUTS, precision=HIGHEST):
  """Pure VGG16 features of uint8 NHWC images: a dict of float32 arrays.

  Args:
    variables: ``{'params': {'features': ..., 'classifier': ...}}`` as returned by
      :func:`variables_from_state_dict`.
    images: uint8 ``[N, H, W, 1 or 3]`` (grayscale is repeated to RGB); ``H, W >= 16``
      when a feature map is asked for, any size for ``fc2`` alone.
    outputs: names from :data:`OUTPUTS`; only these are computed.
    precision: convolution/matmul precision.

  Returns:
    ``{name: array}`` in the order of ``outputs``: ``relu1_2 [N, H, W, 64]``,
    ``relu2_2 [N, H/2, W/2, 128]``, ``relu3_3 [N, H/4, W/4, 256]``, ``relu4_3
    [N, H/8, W/8, 512]``, ``relu5_3 [N, H/16, W/16, 512]`` (on the images as given),
    ``fc2`` and ``fc2_preact`` ``[N, 4096]`` (on the images resized to 224x224).
    Jit it (with ``outputs`` static) and shard ``images`` as you like.

  Raises:
    gans.errors.UserInputError: wrong dtype, rank, channel count, an image smaller than
      16x16 for a feature map, or an unknown output name.
  """
  images, outputs = _check_inputs(images, outputs)
  return _extract(variables, images, outputs, precision)


# --------------------------------------------------------------------------- weights


def _entries(include_classifier: bool = True):
  """[(flax path, torch key, torch shape, layout)] of every VGG16 weight."""
  entries = []
  in_channels = 3
  for name, index, features in CONV_LAYERS:
    path = ('features', name)
    entries.append(
      (path + ('kernel',), f'features.{index}.weight', (features, in_channels, 3, 3), 'conv')
    )
    entries.append((path + ('bias',), f'features.{index}.bias', (features,), None))
    in_channels = features
  if include_classifier:
    in_features = 512 * POOL_SIZE * POOL_SIZE
    for name, index, features in DENSE_LAYERS:
      path = ('classifier', name)
      entries.append(
        (path + ('weight',), f'classifier.{index}.weight', (features, in_features), None)
      )
      entries.append((path + ('bias',), f'classifier.{index}.bias', (features,), None))
      in_features = features
  return entries


def _to_flax(value: np.ndarray, layout: str | None) -> np.ndarray:
  if layout == 'conv':
    return np.transpose(value, (2, 3, 1, 0))  # OIHW -> HWIO
  return value


def _to_torch(value: np.ndarray, layout: str | None) -> np.ndarray:
  if layout == 'conv':
    return np.transpose(value, (3, 2, 0, 1))  # HWIO -> OIHW
  return value


def _more(keys: list[str]) -> str:
  return f' (and {len(keys) - 1} more)' if len(keys) > 1 else ''


def variables_from_state_dict(
  state_dict: Mapping[str, np.ndarray],
  source: str = 'state dict',
  *,
  include_classifier: bool = True,
  strict: bool = True,
):
  """torchvision ``vgg16`` state dict (torch names and layouts) -> Flax variables.

  Maps ``features.<i>.weight`` (OIHW) -> ``params/features/conv<s>_<j>/kernel`` (HWIO)
  and ``features.<i>.bias``; with ``include_classifier``, ``classifier.0`` ->
  ``params/classifier/fc1/weight|bias`` and ``classifier.3`` -> ``fc2`` (torch layout,
  no copy). ``classifier.6`` (the 1000 ImageNet logits) is not used and may be absent.
  Values are cast to float32.

  Args:
    state_dict: ``{torch key: array}``, e.g. from :func:`gans.metrics.pth.read_state_dict`.
    source: the file name, for error messages.
    include_classifier: also map fc1 and fc2 (LPIPS needs only the convolutions).
    strict: refuse keys that are not VGG16's (other than ``classifier.6.*`` and, without
      the classifier, ``classifier.*``).

  Returns:
    ``{'params': {'features': {...}, 'classifier': {...}}}`` of NumPy float32 arrays
    (no ``'classifier'`` entry without ``include_classifier``).

  Raises:
    VGG16WeightsError: naming ``source`` and the key, for a missing, unexpected (with
      ``strict``), misshaped, non-floating or non-finite entry.
  """
  entries = _entries(include_classifier)
  wanted = {e[1] for e in entries}
  hint = f"; is this torchvision's vgg16 state dict ({WEIGHTS_FILENAME})?"
  missing = [key for _, key, _, _ in entries if key not in state_dict]
  if missing:
    raise VGG16WeightsError(f'{source}: missing key {missing[0]!r}{_more(missing)}{hint}')
  if strict:
    ignored = ('classifier.6.',) if include_classifier else ('classifier.',)
    extra = sorted(k for k in state_dict if k not in wanted and not k.startswith(ignored))
    if extra:
      raise VGG16WeightsError(f'{source}: unexpected key {extra[0]!r}{_more(extra)}{hint}')
  variables: dict = {}
  for path, key, torch_shape, layout in entries:
    value = np.asarray(state_dict[key])
    if tuple(value.shape) != torch_shape:
      raise VGG16WeightsError(
        f'{source}: {key!r} has shape {tuple(value.shape)}, expected {torch_shape}{hint}'
      )
    if value.dtype.kind != 'f' and value.dtype.name != 'bfloat16':
      raise VGG16WeightsError(f'{source}: {key!r} has dtype {value.dtype}, expected floating point')
    value = value.astype(np.float32, copy=False)
    if not np.isfinite(value).all():
      bad = int(np.count_nonzero(~np.isfinite(value)))
      raise VGG16WeightsError(
        f'{source}: {bad} of the {value.size} values of {key!r} are non-finite (NaN/inf)'
      )
    node = variables.setdefault('params', {})
    for name in path[:-1]:
      node = node.setdefault(name, {})
    node[path[-1]] = np.ascontiguousarray(_to_flax(value, layout))
  return variables


def state_dict_from_variables(variables, *, include_classifier: bool = True):
  """Inverse of :func:`variables_from_state_dict`: ``{torch key: float32 array}`` in
  torchvision's names and layouts (without ``classifier.6``)."""
  out = {}
  for path, key, _torch_shape, layout in _entries(include_classifier):
    value = variables['params']
    for name in path:
      value = value[name]
    out[key] = np.ascontiguousarray(_to_torch(np.asarray(value, np.float32), layout))
  return out


def check_weights_file(weights_path, what: str, how: str) -> str:
  """``weights_path`` as a string; raises :class:`gans.errors.MissingInputError`
  naming it (``what``: which weights, ``how``: where to get them) if it is no file."""
  if weights_path is None:
    raise errors.MissingInputError(f'no {what} file given. {how}')
  path = os.path.expanduser(os.fspath(weights_path))
  if not os.path.isfile(path):
    raise errors.MissingInputError(f'{what} file {path!r} does not exist. {how}')
  return path


def read_weights(weights_path, what: str, how: str) -> tuple[str, dict[str, np.ndarray]]:
  """Checks and reads a ``torch.save`` state dict: ``(path, {key: array})``.

  Raises gans.errors.MissingInputError (no such file) or
  gans.metrics.pth.PthError (unreadable file), both naming the file.
  """
  path = check_weights_file(weights_path, what, how)
  return path, pth.read_state_dict(path)


DOWNLOAD_HINT = (
  f"Download {WEIGHTS_URL} (torchvision's ImageNet VGG16 weights, 528 MB) on a machine "
  'with internet access and give its path; nothing is downloaded here.'
)


def sha256_of(path: str) -> str:
  """Hex sha256 of a file, read in 1 MiB blocks."""
  return files.sha256(path)


def warn_if_not_official(path: str, stacklevel: int = 3) -> str:
  """sha256 of ``path``; warns when it is not torchvision's ``vgg16-397923af.pth``."""
  digest = sha256_of(path)
  if not digest.startswith(WEIGHTS_SHA256_PREFIX):
    warnings.warn(
      f"{path} is not torchvision's {WEIGHTS_FILENAME} (sha256 {digest[:8]}...): "
      'metrics computed with it are not comparable with published numbers',
      stacklevel=stacklevel,
    )
  return digest


@dataclasses.dataclass(frozen=True)
class VGG16Extractor:
  """Jitted VGG16 features of uint8 NHWC images.

  ``extractor(images)`` -> ``{'relu1_2': ..., 'relu5_3': ..., 'fc2': [N, 4096],
  'fc2_preact': [N, 4096]}`` (float32, see :func:`extract`);
  ``extractor(images, outputs=('fc2',))`` computes only what is named. Compiles once
  per input shape and set of outputs. For sharded evaluation use the pure
  :func:`extract` with your own ``jax.jit`` shardings; ``variables`` are the Flax
  variables.
  """

  variables: Any
  weights_path: str | None = None
  sha256: str | None = None
  precision: Any = HIGHEST
  _fn: Callable = dataclasses.field(default=None, repr=False)

  def __call__(self, images, *, outputs: Sequence[str] = OUTPUTS) -> dict[str, jax.Array]:
    images, outputs = _check_inputs(images, outputs)
    out = self._fn(self.variables, images, outputs)
    return {name: out[name] for name in outputs}  # jit returns dicts sorted by key


@functools.lru_cache(maxsize=None)
def _jitted_extract(precision):
  def fn(variables, images, outputs):
    return _extract(variables, images, outputs, precision)

  return jax.jit(fn, static_argnums=2)


def from_variables(
  variables, *, weights_path: str | None = None, sha256: str | None = None, precision=HIGHEST
) -> VGG16Extractor:
  """A :class:`VGG16Extractor` around given Flax variables (placed on device)."""
  variables = jax.device_put(variables)
  return VGG16Extractor(variables, weights_path, sha256, precision, _jitted_extract(precision))


def load(
  weights_path: str | os.PathLike, *, check_hash: bool = True, precision=HIGHEST
) -> VGG16Extractor:
  """Load torchvision's VGG16 weights and return a jitted feature extractor.

  Args:
    weights_path: ``vgg16-397923af.pth`` (a ``torch.save``-d ``vgg16().state_dict()``,
      either format). Never downloaded.
    check_hash: warn if the file is not byte-identical to torchvision's release (its
      sha256 must start with ``397923af``).
    precision: convolution/matmul precision (HIGHEST keeps float32 on GPUs and TPUs).

  Returns:
    :class:`VGG16Extractor`: ``f(uint8 [N, H, W, 1 or 3], outputs=OUTPUTS) ->
    {name: float32 array}`` with the feature maps ``relu1_2 ... relu5_3`` at the
    input's resolution and ``fc2`` ``[N, 4096]`` on 224x224 resized inputs.

  Raises:
    gans.errors.MissingInputError: the file does not exist (the message says where to
      get it). gans.metrics.pth.PthError: unreadable file. VGG16WeightsError: missing
      keys, wrong shapes.
  """
  path, state_dict = read_weights(weights_path, 'VGG16 weights', DOWNLOAD_HINT)
  variables = variables_from_state_dict(state_dict, source=path)
  digest = warn_if_not_official(path) if check_hash else None
  return from_variables(variables, weights_path=path, sha256=digest, precision=precision)
