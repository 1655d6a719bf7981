"""The FID InceptionV3 in Flax: an exact port of pytorch-fid's network and preprocessing.

FID (Heusel et al. 2017) and the Inception Score (Salimans et al. 2016) are defined on
one particular network: the TensorFlow Inception graph ``2015-12-05`` that the TTUR
code used, which pytorch-fid re-expresses as a patched torchvision ``Inception3``
(``pytorch_fid/inception.py``) with the converted weights
``pt_inception-2015-12-05-6726825d.pth``. This module rebuilds that network in
``flax.linen`` (NHWC) and reads that weights file without PyTorch (:mod:`gans.metrics.pth`).

Architecture (every convolution is ``BasicConv2d``: conv without bias, BatchNorm with
eps 1e-3, ReLU)::

    stem   Conv2d_1a_3x3 3->32 s2 | Conv2d_2a_3x3 32->32 | Conv2d_2b_3x3 32->64 pad 1
           | maxpool 3 s2 | Conv2d_3b_1x1 64->80 | Conv2d_4a_3x3 80->192 | maxpool 3 s2
    Mixed_5b/5c/5d   FID-A (pool features 32/64/64)      35x35
    Mixed_6a         B (grid reduction)                  17x17
    Mixed_6b-6e      FID-C (c7 = 128/160/160/192)        17x17
    Mixed_7a         D (grid reduction)                  8x8
    Mixed_7b         FID-E_1                             8x8
    Mixed_7c         FID-E_2                             8x8
    pool3 = spatial mean (2048) -> fc 2048 -> 1008 logits

The "FID" blocks differ from torchvision's: their average-pool branches divide by the
number of non-padding pixels (``count_include_pad=False``, as TensorFlow does), and
the last block's pool branch is a 3x3 *max* pool (stride 1, padding 1).

Preprocessing equals pytorch-fid's ``InceptionV3(resize_input=True,
normalize_input=True)`` applied to ``ToTensor()`` images: uint8 / 255, bilinear
resize to 299x299 as ``F.interpolate(mode='bilinear', align_corners=False)`` (half-pixel
centres, no antialiasing even when downsampling), then ``2 x - 1``.

Use::

    from gans.metrics import inception
    net = inception.load()                      # or load('/path/to/pt_inception-...pth')
    pool3, logits = net(images_uint8_nhwc)       # [N, 2048], [N, 1008] float32
    pool3, logits, logits_unbiased = net(images, unbiased_logits=True)

``logits_unbiased`` is ``pool3 @ W`` without the fc bias, the input of the Inception
Score's softmax in torch-fidelity (``logits_unbiased``) and stylegan2-ada
(``no_output_bias``).
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

from gans import files
from gans.metrics import pth

__all__ = [
  'FID_WEIGHTS_URL',
  'FID_WEIGHTS_FILENAME',
  'WEIGHTS_ENV_VAR',
  'InceptionWeightsError',
  'FIDInceptionV3',
  'InceptionExtractor',
  'from_variables',
  'resize_bilinear',
  'preprocess',
  'extract',
  'variables_from_state_dict',
  'state_dict_from_variables',
  'resolve_weights_path',
  'load',
]

FID_WEIGHTS_URL = (
  'https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/'
  'pt_inception-2015-12-05-6726825d.pth'
)
FID_WEIGHTS_FILENAME = 'pt_inception-2015-12-05-6726825d.pth'
# torch.hub names files <name>-<first hex digits of their sha256>.pth.
FID_WEIGHTS_SHA256_PREFIX = '6726825d'
WEIGHTS_ENV_VAR = 'GANS_INCEPTION_WEIGHTS'
INPUT_SIZE = 299
NUM_LOGITS = 1008
POOL3_DIM = 2048

HIGHEST = jax.lax.Precision.HIGHEST


class InceptionWeightsError(ValueError):
  """A weights file or state dict that does not fit the FID InceptionV3."""


# --------------------------------------------------------------------------- network


def _pair(v) -> tuple[int, int]:
  return (v, v) if isinstance(v, int) else tuple(v)


def conv2d(x, kernel, strides=(1, 1), padding=((0, 0), (0, 0)), precision=HIGHEST, cpu_forms=None):
  """NHWC x HWIO convolution without bias; on CPU in the forms XLA runs fastest.

  XLA's CPU convolution is slow for two cases Inception is full of, so on CPU
  (``cpu_forms`` None: when the default backend is the CPU) they are rewritten into
  equal computations:
  - a 1x1 stride-1 convolution is a matrix product over the channel axis (3-4x
    faster than the convolution kernel);
  - a convolution without padding is 1.5-3x slower than one with padding, so it runs
    with one extra row and column of zeros at the end and the extra outputs are
    cropped: every kept output sums exactly the same products.
  Other backends (cuDNN, TPU) get the plain convolution.
  """
  if cpu_forms is None:
    cpu_forms = jax.default_backend() == 'cpu'
  strides, padding = tuple(strides), tuple(tuple(p) for p in padding)
  unpadded = padding == ((0, 0), (0, 0))
  if cpu_forms and unpadded and kernel.shape[:2] == (1, 1) and strides == (1, 1):
    return jnp.einsum('nhwc,cf->nhwf', x, kernel[0, 0], precision=precision)
  dimension_numbers = ('NHWC', 'HWIO', 'NHWC')
  if cpu_forms and unpadded:
    out_h = (x.shape[1] - kernel.shape[0]) // strides[0] + 1
    out_w = (x.shape[2] - kernel.shape[1]) // strides[1] + 1
    y = jax.lax.conv_general_dilated(
      x, kernel, strides, ((0, 1), (0, 1)), dimension_numbers=dimension_numbers, precision=precision
    )
    return y[:, :out_h, :out_w]
  return jax.lax.conv_general_dilated(
    x, kernel, strides, padding, dimension_numbers=dimension_numbers, precision=precision
  )


class _Conv(nn.Module):
  """``nn.Conv`` without bias (same parameter name, shape and init) via :func:`conv2d`."""

  features: int
  kernel_size: tuple[int, int]
  strides: tuple[int, int]
  padding: tuple[tuple[int, int], tuple[int, int]]
  precision: Any = HIGHEST

  @nn.compact
  def __call__(self, x):
    kernel = self.param(
      'kernel',
      nn.initializers.lecun_normal(),
      (*self.kernel_size, x.shape[-1], self.features),
      jnp.float32,
    )
    return conv2d(x, kernel, self.strides, self.padding, self.precision)


class BasicConv2d(nn.Module):
  """Convolution without bias, BatchNorm (eps 1e-3, running statistics), ReLU."""

  features: int
  kernel_size: int | tuple[int, int]
  strides: int | tuple[int, int] = 1
  padding: int | tuple[int, int] = 0  # symmetric padding per spatial axis, as torch
  precision: Any = HIGHEST
  # The pool branches' "3x3 average pool, then 1x1 convolution": both are linear, so
  # the pool runs after the convolution, on 4-10x fewer channels (equal up to rounding).
  avg_pool_input: bool = False

  @nn.compact
  def __call__(self, x):
    ph, pw = _pair(self.padding)
    x = _Conv(
      self.features,
      _pair(self.kernel_size),
      _pair(self.strides),
      ((ph, ph), (pw, pw)),
      self.precision,
      name='conv',
    )(x)
    if self.avg_pool_input:
      if _pair(self.kernel_size) != (1, 1) or _pair(self.strides) != (1, 1):
        raise ValueError('avg_pool_input needs a 1x1 stride-1 convolution')
      x = _avg_pool_exclude_pad(x)
    x = nn.BatchNorm(use_running_average=True, epsilon=1e-3, name='bn')(x)
    return nn.relu(x)


def _window3(x, combine, stride: int, padding: int, fill):
  """Combines the 3x3 windows of NHWC ``x`` (stride, symmetric ``padding`` of
  ``fill``) as separable passes over strided slices, which XLA fuses into elementwise
  loops; on CPU, much faster than ``lax.reduce_window`` and equal to it (max exactly;
  a sum up to float rounding order)."""
  if padding:
    x = jnp.pad(x, ((0, 0), (padding, padding), (padding, padding), (0, 0)), constant_values=fill)
  for axis in (1, 2):
    n = (x.shape[axis] - 3) // stride + 1
    taps = [jax.lax.slice_in_dim(x, i, i + (n - 1) * stride + 1, stride, axis) for i in range(3)]
    x = combine(combine(taps[0], taps[1]), taps[2])
  return x


def _max_pool(x, stride: int, padding: int = 0):
  """3x3 max pool over NHWC; padding counts as -inf (torch ``max_pool2d``)."""
  return _window3(x, jnp.maximum, stride, padding, -jnp.inf)


def _avg_pool_exclude_pad(x):
  """3x3 stride-1 average pool, padding 1, dividing by the count of real pixels.

  Equals torch ``avg_pool2d(x, 3, 1, 1, count_include_pad=False)`` and TF's
  ``avg_pool(padding='SAME')``: corner outputs average 4 pixels, edges 6, inside 9.
  """
  summed = _window3(x, jnp.add, 1, 1, 0.0)
  h, w = x.shape[1], x.shape[2]
  rows = np.minimum(np.arange(h) + 1, h - 1) - np.maximum(np.arange(h) - 1, 0) + 1
  cols = np.minimum(np.arange(w) + 1, w - 1) - np.maximum(np.arange(w) - 1, 0) + 1
  counts = (rows[:, None] * cols[None, :]).astype(np.float32)[None, :, :, None]
  return summed / counts


class FIDInceptionA(nn.Module):
  """35x35 block: 1x1 | 1x1-5x5 | 1x1-3x3-3x3 | avgpool(excl. pad)-1x1 -> 224 + pool."""

  pool_features: int
  precision: Any = HIGHEST

  @nn.compact
  def __call__(self, x):
    conv = lambda *a, **k: BasicConv2d(*a, precision=self.precision, **k)
    b1 = conv(64, 1, name='branch1x1')(x)
    b5 = conv(48, 1, name='branch5x5_1')(x)
    b5 = conv(64, 5, padding=2, name='branch5x5_2')(b5)
    b3 = conv(64, 1, name='branch3x3dbl_1')(x)
    b3 = conv(96, 3, padding=1, name='branch3x3dbl_2')(b3)
    b3 = conv(96, 3, padding=1, name='branch3x3dbl_3')(b3)
    bp = conv(self.pool_features, 1, avg_pool_input=True, name='branch_pool')(x)
    return jnp.concatenate([b1, b5, b3, bp], axis=-1)


class InceptionB(nn.Module):
  """35x35 -> 17x17 reduction: 3x3 s2 | 1x1-3x3-3x3 s2 | maxpool s2 -> 384+96+C."""

  precision: Any = HIGHEST

  @nn.compact
  def __call__(self, x):
    conv = lambda *a, **k: BasicConv2d(*a, precision=self.precision, **k)
    b3 = conv(384, 3, strides=2, name='branch3x3')(x)
    bd = conv(64, 1, name='branch3x3dbl_1')(x)
    bd = conv(96, 3, padding=1, name='branch3x3dbl_2')(bd)
    bd = conv(96, 3, strides=2, name='branch3x3dbl_3')(bd)
    return jnp.concatenate([b3, bd, _max_pool(x, 2)], axis=-1)


class FIDInceptionC(nn.Module):
  """17x17 block with factorized 7x7 convolutions (``c7`` inner channels) -> 768."""

  channels_7x7: int
  precision: Any = HIGHEST

  @nn.compact
  def __call__(self, x):
    conv = lambda *a, **k: BasicConv2d(*a, precision=self.precision, **k)
    c7 = self.channels_7x7
    b1 = conv(192, 1, name='branch1x1')(x)
    b7 = conv(c7, 1, name='branch7x7_1')(x)
    b7 = conv(c7, (1, 7), padding=(0, 3), name='branch7x7_2')(b7)
    b7 = conv(192, (7, 1), padding=(3, 0), name='branch7x7_3')(b7)
    bd = conv(c7, 1, name='branch7x7dbl_1')(x)
    bd = conv(c7, (7, 1), padding=(3, 0), name='branch7x7dbl_2')(bd)
    bd = conv(c7, (1, 7), padding=(0, 3), name='branch7x7dbl_3')(bd)
    bd = conv(c7, (7, 1), padding=(3, 0), name='branch7x7dbl_4')(bd)
    bd = conv(192, (1, 7), padding=(0, 3), name='branch7x7dbl_5')(bd)
    bp = conv(192, 1, avg_pool_input=True, name='branch_pool')(x)
    return jnp.concatenate([b1, b7, bd, bp], axis=-1)


class InceptionD(nn.Module):
  """17x17 -> 8x8 reduction: 1x1-3x3 s2 | 1x1-1x7-7x1-3x3 s2 | maxpool s2 -> 1280."""

  precision: Any = HIGHEST

  @nn.compact
  def __call__(self, x):
    conv = lambda *a, **k: BasicConv2d(*a, precision=self.precision, **k)
    b3 = conv(192, 1, name='branch3x3_1')(x)
    b3 = conv(320, 3, strides=2, name='branch3x3_2')(b3)
    b7 = conv(192, 1, name='branch7x7x3_1')(x)
    b7 = conv(192, (1, 7), padding=(0, 3), name='branch7x7x3_2')(b7)
    b7 = conv(192, (7, 1), padding=(3, 0), name='branch7x7x3_3')(b7)
    b7 = conv(192, 3, strides=2, name='branch7x7x3_4')(b7)
    return jnp.concatenate([b3, b7, _max_pool(x, 2)], axis=-1)


class FIDInceptionE(nn.Module):
  """8x8 block with split 1x3/3x1 branches -> 2048 channels.

  ``pool='avg'`` is FID-E_1 (Mixed_7b: average pool excluding padding);
  ``pool='max'`` is FID-E_2 (Mixed_7c: 3x3 max pool, stride 1, padding 1).
  """

  pool: str
  precision: Any = HIGHEST

  @nn.compact
  def __call__(self, x):
    conv = lambda *a, **k: BasicConv2d(*a, precision=self.precision, **k)
    b1 = conv(320, 1, name='branch1x1')(x)
    b3 = conv(384, 1, name='branch3x3_1')(x)
    b3 = jnp.concatenate(
      [
        conv(384, (1, 3), padding=(0, 1), name='branch3x3_2a')(b3),
        conv(384, (3, 1), padding=(1, 0), name='branch3x3_2b')(b3),
      ],
      axis=-1,
    )
    bd = conv(448, 1, name='branch3x3dbl_1')(x)
    bd = conv(384, 3, padding=1, name='branch3x3dbl_2')(bd)
    bd = jnp.concatenate(
      [
        conv(384, (1, 3), padding=(0, 1), name='branch3x3dbl_3a')(bd),
        conv(384, (3, 1), padding=(1, 0), name='branch3x3dbl_3b')(bd),
      ],
      axis=-1,
    )
    if self.pool == 'avg':
      bp = conv(192, 1, avg_pool_input=True, name='branch_pool')(x)
    elif self.pool == 'max':
      bp = conv(192, 1, name='branch_pool')(_max_pool(x, 1, padding=1))
    else:
      raise ValueError(f"pool must be 'avg' or 'max', got {self.pool!r}")
    return jnp.concatenate([b1, b3, bd, bp], axis=-1)


class _Logits(nn.Module):
  """The 2048 -> 1008 fc layer; returns (logits, logits without the bias)."""

  features: int = NUM_LOGITS
  precision: Any = HIGHEST

  @nn.compact
  def __call__(self, x):
    kernel = self.param('kernel', nn.initializers.lecun_normal(), (x.shape[-1], self.features))
    bias = self.param('bias', nn.initializers.zeros, (self.features,))
    unbiased = jnp.dot(x, kernel, precision=self.precision)
    return unbiased + bias, unbiased


class FIDInceptionV3(nn.Module):
  """pytorch-fid's FID InceptionV3 on NHWC float inputs already in [-1, 1].

  Takes ``[N, H, W, 3]`` (299x299 for the standard features; any size >= 75 runs)
  and returns ``{'pool3': [N, 2048], 'logits': [N, 1008], 'logits_unbiased':
  [N, 1008]}``. Submodule names equal the PyTorch module names, so the variables
  are ``params[<torch module path>]['conv'|'bn'|...]`` and
  ``batch_stats[...]['bn']['mean'|'var']``. Convolutions use
  ``precision=HIGHEST`` by default so that accelerators do not drop to
  bfloat16/TF32 passes.
  """

  precision: Any = HIGHEST

  @nn.compact
  def __call__(self, x):
    conv = lambda *a, **k: BasicConv2d(*a, precision=self.precision, **k)
    p = self.precision
    x = conv(32, 3, strides=2, name='Conv2d_1a_3x3')(x)
    x = conv(32, 3, name='Conv2d_2a_3x3')(x)
    x = conv(64, 3, padding=1, name='Conv2d_2b_3x3')(x)
    x = _max_pool(x, 2)
    x = conv(80, 1, name='Conv2d_3b_1x1')(x)
    x = conv(192, 3, name='Conv2d_4a_3x3')(x)
    x = _max_pool(x, 2)
    x = FIDInceptionA(32, precision=p, name='Mixed_5b')(x)
    x = FIDInceptionA(64, precision=p, name='Mixed_5c')(x)
    x = FIDInceptionA(64, precision=p, name='Mixed_5d')(x)
    x = InceptionB(precision=p, name='Mixed_6a')(x)
    x = FIDInceptionC(128, precision=p, name='Mixed_6b')(x)
    x = FIDInceptionC(160, precision=p, name='Mixed_6c')(x)
    x = FIDInceptionC(160, precision=p, name='Mixed_6d')(x)
    x = FIDInceptionC(192, precision=p, name='Mixed_6e')(x)
    x = InceptionD(precision=p, name='Mixed_7a')(x)
    x = FIDInceptionE('avg', precision=p, name='Mixed_7b')(x)
    x = FIDInceptionE('max', precision=p, name='Mixed_7c')(x)
    pool3 = jnp.mean(x, axis=(1, 2))
    logits, unbiased = _Logits(precision=p, name='fc')(pool3)
    return {'pool3': pool3, 'logits': logits, 'logits_unbiased': unbiased}


# ---------------------------------------------------------------------- preprocessing


def _linear_taps(in_size: int, out_size: int):
  """Source indices and weights of torch's bilinear resize along one axis.

  ``align_corners=False``: output pixel ``i`` samples ``(i + 0.5) * in/out - 0.5``,
  clamped below at 0, between pixels ``floor`` and ``min(floor + 1, in - 1)``.
  PyTorch's CPU kernel evaluates this with a float32 scale and a fused multiply-add
  (one rounding to float32); the float64 evaluation below is exact before that
  rounding, so the weights equal PyTorch's bit for bit.
  """
  scale = np.float64(np.float32(in_size) / np.float32(out_size))
  src = (scale * (np.arange(out_size, dtype=np.float64) + 0.5) - 0.5).astype(np.float32)
  src = np.maximum(src, np.float32(0.0))
  i0 = np.minimum(np.floor(src).astype(np.int64), in_size - 1)
  i1 = np.minimum(i0 + 1, in_size - 1)
  lam = np.clip(src - i0.astype(np.float32), 0.0, 1.0).astype(np.float32)
  return i0, i1, (np.float32(1.0) - lam), lam


def resize_bilinear(images, size: tuple[int, int] = (INPUT_SIZE, INPUT_SIZE)):
  """Bilinear resize of NHWC floats, equal to torch ``F.interpolate(x, size,
  mode='bilinear', align_corners=False)`` (half-pixel centres, edge clamping and,
  unlike ``jax.image.resize``, no antialiasing when downsampling).

  Interpolates along W, then along H, each output the two-tap sum
  ``w0 * x[i0] + w1 * x[i1]``.
  """
  n, h, w, c = images.shape
  out_h, out_w = size
  if (h, w) == (out_h, out_w):
    return images
  i0, i1, w0, w1 = _linear_taps(w, out_w)
  x = images[:, :, i0, :] * w0[None, None, :, None] + images[:, :, i1, :] * w1[None, None, :, None]
  i0, i1, w0, w1 = _linear_taps(h, out_h)
  return x[:, i0, :, :] * w0[None, :, None, None] + x[:, i1, :, :] * w1[None, :, None, None]


def preprocess(images):
  """uint8 NHWC images of any size -> float32 [N, 299, 299, 3] in [-1, 1].

  ``x / 255`` -> bilinear resize to 299x299 (:func:`resize_bilinear`) -> ``2 x - 1``,
  pytorch-fid's order of operations. One-channel images are repeated to RGB.
  """
  images = jnp.asarray(images)
  if images.ndim != 4 or images.shape[-1] not in (1, 3):
    raise ValueError(f'expected NHWC images with 1 or 3 channels, got shape {images.shape}')
  if images.dtype != jnp.uint8:
    raise TypeError(
      f'expected uint8 images (values 0..255), got dtype {images.dtype}; '
      'quantize generated images to uint8 first, as the FID protocol does'
    )
  if images.shape[-1] == 1:
    images = jnp.repeat(images, 3, axis=-1)
  x = images.astype(jnp.float32) / jnp.float32(255.0)
  x = resize_bilinear(x, (INPUT_SIZE, INPUT_SIZE))
  return jnp.float32(2.0) * x - jnp.float32(1.0)


def extract(variables, images, precision=HIGHEST) -> dict[str, jax.Array]:
  """Pure feature extraction: uint8 NHWC images -> dict of float32 features.

  Returns ``{'pool3': [N, 2048], 'logits': [N, 1008], 'logits_unbiased': [N, 1008]}``.
  Jit it (and shard ``images`` on the batch axis) as you like; outputs you do not
  use are removed by XLA.
  """
  return FIDInceptionV3(precision=precision).apply(variables, preprocess(images))


# --------------------------------------------------------------------------- weights


@functools.lru_cache(maxsize=1)
def _abstract_variables():
  """Shapes of the Flax variables (traced once, no computation)."""
  dummy = jax.ShapeDtypeStruct((1, INPUT_SIZE, INPUT_SIZE, 3), jnp.float32)
  return jax.eval_shape(FIDInceptionV3().init, jax.random.key(0), dummy)


def _torch_key(collection: str, path: Sequence[str], shape: tuple[int, ...]):
  """Flax variable -> (torch state-dict key, torch shape, layout: 'conv'|'dense'|None)."""
  *module, leaf = path
  prefix = '.'.join(module)
  if collection == 'params':
    if leaf == 'kernel' and module[-1] == 'conv':  # torch OIHW, flax HWIO
      return f'{prefix}.weight', (shape[3], shape[2], shape[0], shape[1]), 'conv'
    if leaf == 'kernel' and module == ['fc']:  # torch [out, in], flax [in, out]
      return 'fc.weight', (shape[1], shape[0]), 'dense'
    if leaf == 'scale':
      return f'{prefix}.weight', shape, None
    if leaf == 'bias':
      return f'{prefix}.bias', shape, None
  elif collection == 'batch_stats':
    if leaf == 'mean':
      return f'{prefix}.running_mean', shape, None
    if leaf == 'var':
      return f'{prefix}.running_var', shape, None
  raise AssertionError(f'unmapped variable {collection}/{"/".join(path)}')


def _to_flax(value: np.ndarray, layout: str | None) -> np.ndarray:
  if layout == 'conv':
    return np.transpose(value, (2, 3, 1, 0))  # OIHW -> HWIO
  if layout == 'dense':
    return np.transpose(value)
  return value


def _to_torch(value: np.ndarray, layout: str | None) -> np.ndarray:
  if layout == 'conv':
    return np.transpose(value, (3, 2, 0, 1))  # HWIO -> OIHW
  if layout == 'dense':
    return np.transpose(value)
  return value


def _flax_entries():
  """[(collection, path, torch key, torch shape, layout)] for every Flax variable."""
  entries = []
  for keypath, leaf in jax.tree_util.tree_flatten_with_path(_abstract_variables())[0]:
    collection, *path = [k.key for k in keypath]
    entries.append((collection, path, *_torch_key(collection, path, tuple(leaf.shape))))
  return entries


def variables_from_state_dict(state_dict: Mapping[str, np.ndarray], source: str = 'state dict'):
  """pytorch-fid Inception state dict (torch names and layouts) -> Flax variables.

  Maps every key by name (``Conv2d_1a_3x3.conv.weight`` -> ``params/Conv2d_1a_3x3/
  conv/kernel`` transposed OIHW -> HWIO, ``*.bn.weight/bias`` -> BatchNorm
  ``scale/bias``, ``*.bn.running_mean/var`` -> ``batch_stats/*/bn/mean|var``,
  ``fc.weight`` -> ``params/fc/kernel`` transposed, ``fc.bias``) and checks every
  shape; values are cast to float32. ``num_batches_tracked`` entries are ignored.
  Raises :class:`InceptionWeightsError` naming ``source`` and the offending key for
  a missing, unexpected, misshaped or non-finite (NaN/inf) entry.
  """
  entries = _flax_entries()
  given = {k for k in state_dict if not k.endswith('.num_batches_tracked')}
  wanted = {e[2] for e in entries}
  hint = "; is this pytorch-fid's FID Inception weights file?"
  missing = sorted(wanted - given)
  if missing:
    more = f' (and {len(missing) - 1} more)' if len(missing) > 1 else ''
    raise InceptionWeightsError(f'{source}: missing key {missing[0]!r}{more}{hint}')
  extra = sorted(given - wanted)
  if extra:
    more = f' (and {len(extra) - 1} more)' if len(extra) > 1 else ''
    raise InceptionWeightsError(f'{source}: unexpected key {extra[0]!r}{more}{hint}')
  variables: dict = {}
  for collection, path, key, torch_shape, layout in entries:
    value = np.asarray(state_dict[key])
    if tuple(value.shape) != torch_shape:
      raise InceptionWeightsError(
        f'{source}: {key!r} has shape {tuple(value.shape)}, expected {torch_shape}'
      )
    if value.dtype.kind != 'f' and value.dtype.name != 'bfloat16':
      raise InceptionWeightsError(
        f'{source}: {key!r} has dtype {value.dtype}, expected floating point'
      )
    value = value.astype(np.float32)
    bad = int(np.count_nonzero(~np.isfinite(value)))
    if bad:
      raise InceptionWeightsError(
        f'{source}: {bad} of the {value.size} values of {key!r} are non-finite (NaN/inf)'
      )
    node = variables.setdefault(collection, {})
    for name in path[:-1]:
      node = node.setdefault(name, {})
    node[path[-1]] = np.ascontiguousarray(_to_flax(value, layout))
  return variables


def state_dict_from_variables(variables) -> dict[str, np.ndarray]:
  """Inverse of :func:`variables_from_state_dict`: torch names, layouts, float32."""
  out = {}
  for collection, path, key, _torch_shape, layout in _flax_entries():
    value = variables[collection]
    for name in path:
      value = value[name]
    out[key] = np.ascontiguousarray(_to_torch(np.asarray(value, np.float32), layout))
  return out


def resolve_weights_path(weights_path: str | os.PathLike | None = None) -> str:
  """The weights file to use: the argument, else ``$GANS_INCEPTION_WEIGHTS``.

  Raises FileNotFoundError, explaining where to get the file, when neither is set
  or the file does not exist. Never downloads anything.
  """
  how = (
    f"Download {FID_WEIGHTS_URL} (pytorch-fid's FID Inception weights, 91 MB) "
    'on a machine with internet access, then give its path: --weights FILE to '
    'python -m gans.tools.metrics_cli, config.evals.<name>.inception_weights in a run '
    f'config, or {WEIGHTS_ENV_VAR}=/path/to/{FID_WEIGHTS_FILENAME} for both.'
  )
  if weights_path is None:
    weights_path = os.environ.get(WEIGHTS_ENV_VAR) or None
    if weights_path is None:
      raise FileNotFoundError(
        f'No FID Inception weights given and {WEIGHTS_ENV_VAR} is not set. {how}'
      )
    origin = f' (from {WEIGHTS_ENV_VAR})'
  else:
    origin = ''
  weights_path = os.path.expanduser(os.fspath(weights_path))
  if not os.path.isfile(weights_path):
    raise FileNotFoundError(
      f'FID Inception weights file {weights_path!r}{origin} does not exist. {how}'
    )
  return weights_path


def _sha256(path: str) -> str:
  return files.sha256(path)


@dataclasses.dataclass(frozen=True)
class InceptionExtractor:
  """Jitted FID Inception features for uint8 NHWC images of any size.

  ``extractor(images)`` -> ``(pool3 [N, 2048], logits [N, 1008])`` float32 arrays;
  ``extractor(images, unbiased_logits=True)`` adds ``logits_unbiased [N, 1008]``
  (logits without the fc bias, for the Inception Score). Each new input shape
  compiles the (cheap) preprocessing once; the network compiles once per batch
  size. For sharded evaluation use the pure ``extract(variables, images)``
  with your own ``jax.jit`` shardings; ``variables`` are the Flax variables.
  """

  variables: Any
  weights_path: str | None = None
  sha256: str | None = None
  _fn: Callable = dataclasses.field(default=None, repr=False)

  @property
  def is_official_weights(self) -> bool:
    """Whether the file's sha256 starts like pytorch-fid's published file."""
    return bool(self.sha256) and self.sha256.startswith(FID_WEIGHTS_SHA256_PREFIX)

  def __call__(self, images, *, unbiased_logits: bool = False):
    preprocess_fn, network_fn = self._fn
    out = network_fn(self.variables, preprocess_fn(images))
    if unbiased_logits:
      return out['pool3'], out['logits'], out['logits_unbiased']
    return out['pool3'], out['logits']


def from_variables(
  variables, *, weights_path: str | None = None, sha256: str | None = None, precision=HIGHEST
) -> InceptionExtractor:
  """An :class:`InceptionExtractor` around given Flax variables (placed on device)."""
  variables = jax.device_put(variables)
  return InceptionExtractor(variables, weights_path, sha256, _jitted_extract(precision))


@functools.lru_cache(maxsize=None)
def _jitted_extract(precision):
  # Preprocessing and network are compiled separately, so that images of every
  # size share one compiled network per batch size; the jitted functions are
  # shared by all extractors, so loading a second weights file compiles nothing.
  network = FIDInceptionV3(precision=precision)
  return jax.jit(preprocess), jax.jit(network.apply)


def load(
  weights_path: str | os.PathLike | None = None, *, check_hash: bool = True, precision=HIGHEST
) -> InceptionExtractor:
  """Load pytorch-fid's FID Inception weights and return a jitted feature extractor.

  Args:
    weights_path: ``pt_inception-2015-12-05-6726825d.pth`` (either ``torch.save``
      format); default ``$GANS_INCEPTION_WEIGHTS``. Never downloaded.
    check_hash: warn if the file is not byte-identical to pytorch-fid's release
      (its sha256 must start with ``6726825d``): features from other weights give
      FID/IS values not comparable with published ones.
    precision: matmul/conv precision (HIGHEST keeps float32 on GPUs and TPUs).

  Returns:
    ``InceptionExtractor``: ``f(uint8 [N, H, W, 1 or 3]) -> (pool3 [N, 2048],
    logits [N, 1008])``; ``f(images, unbiased_logits=True)`` also returns the
    bias-free logits.

  Raises:
    FileNotFoundError: no path given / file missing (the message says where to get it).
    gans.metrics.pth.PthError: unreadable file. InceptionWeightsError: wrong keys/shapes.
  """
  path = resolve_weights_path(weights_path)
  variables = variables_from_state_dict(pth.read_state_dict(path), source=path)
  digest = None
  if check_hash:
    digest = _sha256(path)
    if not digest.startswith(FID_WEIGHTS_SHA256_PREFIX):
      warnings.warn(
        f"{path} is not pytorch-fid's {FID_WEIGHTS_FILENAME} (sha256 "
        f'{digest[:8]}...): FID and IS computed with it are not '
        'comparable with published numbers',
        stacklevel=2,
      )
  return from_variables(variables, weights_path=path, sha256=digest, precision=precision)
