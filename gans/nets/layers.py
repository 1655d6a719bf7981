"""Reusable layers: spectral norm, conditional batch norm, self-attention, residual blocks.

Spectral normalization (Miyato et al. 2018) divides a kernel by an estimate of its
largest singular value. The kernel is viewed as a matrix W [-1, out] (Dense [in, out],
Conv HWIO -> [H*W*I, O], embedding tables [K, C]); a vector u [1, out] lives in the
**'spectral'** collection, so the training step treats it as mutable state like
`batch_stats`. With train=True each call runs `power_iterations` steps of the power
method on W^T W and stores the new u; with train=False the stored u is used as it is.
Either way v = normalize(W u) and sigma = v^T W u (= ||W u||), with u and v held
constant under differentiation, as in the reference implementations. Because the
sigma of a training call is computed from the u it stores, an eval call right after
it (same weights) divides by the same sigma. (torch.nn.utils.spectral_norm and
BigGAN-PyTorch take their estimate half a power iteration earlier, ||W^T v||, and keep
v as well; both converge to the largest singular value.)

All tensors are NHWC; `train` is passed explicitly to every layer that has state.
"""

import functools
from typing import Any, Callable

import flax.linen as nn
import jax
import jax.numpy as jnp

from gans.nets import fast_conv

Initializer = Callable[..., Any]
default_kernel_init = nn.initializers.lecun_normal()
zeros = nn.initializers.zeros_init()


def _normalize(x, eps):
  return x / jnp.maximum(jnp.linalg.norm(x), eps)  # torch F.normalize semantics.


def spectral_normalize(module, kernel, train, power_iterations=1, eps=1e-12, name='u'):
  """Returns kernel / sigma(kernel); u is the variable `name` of `module` in 'spectral'."""
  w = kernel.reshape(-1, kernel.shape[-1]).astype(jnp.float32)
  w_const = jax.lax.stop_gradient(w)

  def init_u():
    u = jax.random.normal(module.make_rng('params'), (1, w.shape[1]), jnp.float32)
    return _normalize(u, eps)

  u_var = module.variable('spectral', name, init_u)
  u = jax.lax.stop_gradient(u_var.value)
  if train:
    for _ in range(power_iterations):
      u = _normalize(_normalize(u @ w_const.T, eps) @ w_const, eps)
    u_var.value = u
  v = _normalize(u @ w_const.T, eps)  # [1, in]
  sigma = jnp.sum((v @ w) * u)  # v^T W u, gradient through W only.
  return (kernel / sigma).astype(kernel.dtype)


class SNDense(nn.Module):
  """nn.Dense with optional spectral normalization of its kernel. x [..., in] -> [..., features]."""

  features: int
  use_bias: bool = True
  spectral_norm: bool = True
  power_iterations: int = 1
  eps: float = 1e-12
  kernel_init: Initializer = default_kernel_init
  bias_init: Initializer = zeros

  @nn.compact
  def __call__(self, x, train=True):
    kernel = self.param('kernel', self.kernel_init, (x.shape[-1], self.features), jnp.float32)
    if self.spectral_norm:
      kernel = spectral_normalize(self, kernel, train, self.power_iterations, self.eps)
    y = jnp.dot(x, kernel)
    if self.use_bias:
      y = y + self.param('bias', self.bias_init, (self.features,), jnp.float32)
    return y


def _pair(v):
  return (v, v) if isinstance(v, int) else tuple(v)


class SNConv(nn.Module):
  """2-D convolution (NHWC, kernel HWIO) with optional spectral normalization.

  Fields as nn.Conv; `padding` is 'SAME', 'VALID', an int p (p on every side) or
  ((top, bottom), (left, right)).
  """

  features: int
  kernel_size: Any = (3, 3)
  strides: Any = (1, 1)
  padding: Any = 'SAME'
  use_bias: bool = True
  spectral_norm: bool = True
  power_iterations: int = 1
  eps: float = 1e-12
  kernel_init: Initializer = default_kernel_init
  bias_init: Initializer = zeros

  @nn.compact
  def __call__(self, x, train=True):
    shape = _pair(self.kernel_size) + (x.shape[-1], self.features)
    kernel = self.param('kernel', self.kernel_init, shape, jnp.float32)
    if self.spectral_norm:
      kernel = spectral_normalize(self, kernel, train, self.power_iterations, self.eps)
    padding = self.padding
    if isinstance(padding, int):
      padding = ((padding, padding), (padding, padding))
    y = fast_conv.conv_general_dilated(
      x, kernel, _pair(self.strides), padding, dimension_numbers=('NHWC', 'HWIO', 'NHWC')
    )
    if self.use_bias:
      y = y + self.param('bias', self.bias_init, (self.features,), jnp.float32)
    return y


class SNEmbed(nn.Module):
  """Embedding table [K, features], optionally spectrally normalized; y [...] -> [..., features]."""

  num_embeddings: int
  features: int
  spectral_norm: bool = True
  power_iterations: int = 1
  eps: float = 1e-12
  embedding_init: Initializer = nn.initializers.normal(1.0)

  @nn.compact
  def __call__(self, y, train=True):
    table = self.param(
      'embedding', self.embedding_init, (self.num_embeddings, self.features), jnp.float32
    )
    if self.spectral_norm:
      table = spectral_normalize(self, table, train, self.power_iterations, self.eps)
    return jnp.take(table, y, axis=0)


def require_labels(y, who, num_classes):
  """Raises a clear error when a class-conditional network gets no labels."""
  if y is None:
    raise ValueError(
      f'{who} is class-conditional (num_classes={num_classes}) and needs '
      'integer labels y of shape [B]; got y=None.'
    )
  return jnp.asarray(y).astype(jnp.int32)


class ConditionalBatchNorm(nn.Module):
  """Batch norm whose gain and bias depend on a condition (de Vries et al. 2017).

  x [B, ..., C]. With num_classes > 0, `cond` is int labels [B] and gain = 1 + G[y],
  bias = B[y] from two [K, C] tables (SNGAN projection's categorical conditional BN; the
  zero init gives its gamma = 1, beta = 0). With num_classes = 0, `cond` is a vector
  [B, D] and gain = 1 + cond W_g, bias = cond W_b (BigGAN: shared class embedding
  concatenated with a latent chunk; spectral norm on W_g, W_b). Batch statistics (no
  affine of their own) are in 'batch_stats' under `bn`.
  """

  num_classes: int = 0
  spectral_norm: bool = False
  momentum: float = 0.9
  epsilon: float = 1e-5
  kernel_init: Initializer = default_kernel_init
  embedding_init: Initializer = zeros

  @nn.compact
  def __call__(self, x, cond, train=True):
    channels = x.shape[-1]
    x = nn.BatchNorm(
      use_running_average=not train,
      momentum=self.momentum,
      epsilon=self.epsilon,
      use_bias=False,
      use_scale=False,
      name='bn',
    )(x)
    if self.num_classes > 0:
      cond = jnp.asarray(cond)
      if cond.ndim != 1 or not jnp.issubdtype(cond.dtype, jnp.integer):
        raise ValueError(
          f'ConditionalBatchNorm(num_classes={self.num_classes}) takes int '
          f'labels [B]; got {cond.dtype} {cond.shape}.'
        )
      embed = functools.partial(
        nn.Embed, self.num_classes, channels, embedding_init=self.embedding_init
      )
      gain, bias = embed(name='gain')(cond), embed(name='bias')(cond)
    else:
      dense = functools.partial(
        SNDense,
        channels,
        use_bias=False,
        spectral_norm=self.spectral_norm,
        kernel_init=self.kernel_init,
      )
      gain, bias = dense(name='gain')(cond, train), dense(name='bias')(cond, train)
    shape = (x.shape[0],) + (1,) * (x.ndim - 2) + (channels,)
    return x * (1.0 + gain.reshape(shape)) + bias.reshape(shape)


class SelfAttention(nn.Module):
  """SAGAN non-local block (Zhang et al. 2019) as BigGAN-PyTorch's `layers.Attention`.

  x [B, H, W, C] (C divisible by 8, H and W even) -> x + gamma * o(softmax(theta phi^T) g),
  theta, phi: 1x1 convs to C/8, g: 1x1 conv to C/2, phi and g max-pooled 2x2, o: 1x1
  conv back to C; no biases; gamma starts at 0, so the block starts as the identity.
  """

  spectral_norm: bool = True
  kernel_init: Initializer = default_kernel_init

  @nn.compact
  def __call__(self, x, train=True):
    b, h, w, c = x.shape
    conv = functools.partial(
      SNConv,
      kernel_size=(1, 1),
      use_bias=False,
      spectral_norm=self.spectral_norm,
      kernel_init=self.kernel_init,
    )
    pool = lambda t: nn.max_pool(t, (2, 2), (2, 2))
    theta = conv(c // 8, name='theta')(x, train).reshape(b, h * w, c // 8)
    phi = pool(conv(c // 8, name='phi')(x, train)).reshape(b, h * w // 4, c // 8)
    g = pool(conv(c // 2, name='g')(x, train)).reshape(b, h * w // 4, c // 2)
    beta = jax.nn.softmax(jnp.einsum('bqc,bkc->bqk', theta, phi), axis=-1)
    o = jnp.einsum('bqk,bkc->bqc', beta, g).reshape(b, h, w, c // 2)
    o = conv(c, name='o')(o, train)
    return x + self.param('gamma', zeros, ()) * o


class ProjectionHead(nn.Module):
  """Projection discriminator output (Miyato & Koyama 2018): linear(h) + <embed(y), h>.

  h [B, C] pooled features, y int [B] (needed when num_classes > 0) -> logits [B].
  """

  num_classes: int = 0
  spectral_norm: bool = True
  use_bias: bool = True
  kernel_init: Initializer = default_kernel_init
  embedding_init: Initializer = nn.initializers.normal(1.0)

  @nn.compact
  def __call__(self, h, y=None, train=True):
    out = SNDense(
      1, self.use_bias, self.spectral_norm, kernel_init=self.kernel_init, name='linear'
    )(h, train)[:, 0]
    if self.num_classes > 0:
      y = require_labels(y, 'The projection discriminator', self.num_classes)
      e = SNEmbed(
        self.num_classes,
        h.shape[-1],
        self.spectral_norm,
        embedding_init=self.embedding_init,
        name='embed',
      )(y, train)
      out = out + jnp.sum(e * h, axis=-1)
    return out


def upsample(x):
  """Nearest-neighbour 2x upsampling, [B, H, W, C] -> [B, 2H, 2W, C]."""
  return jnp.repeat(jnp.repeat(x, 2, axis=1), 2, axis=2)


def downsample(x):
  """2x2 average pooling, [B, H, W, C] -> [B, H/2, W/2, C]."""
  return nn.avg_pool(x, (2, 2), (2, 2))


class UpBlock(nn.Module):
  """Generator residual block of SNGAN (Miyato et al. 2018) and BigGAN (Brock et al. 2019).

  [B, H, W, Cin] -> [B, 2H, 2W, features]: norm-ReLU-up-conv3x3-norm-ReLU-conv3x3 plus
  up-conv1x1 shortcut. `norm`: 'batch' (plain BN), 'embed' (class-conditional BN from
  labels, needs num_classes) or 'linear' (conditional BN from a vector `cond`).
  """

  features: int
  norm: str = 'batch'
  num_classes: int = 0
  spectral_norm: bool = False
  epsilon: float = 1e-5
  kernel_init: Initializer = default_kernel_init
  shortcut_init: Initializer = default_kernel_init

  def _norm(self, name, x, cond, train):
    if self.norm == 'batch':
      return nn.BatchNorm(
        use_running_average=not train, momentum=0.9, epsilon=self.epsilon, name=name
      )(x)
    if self.norm not in ('embed', 'linear'):
      raise ValueError(f"UpBlock norm {self.norm!r} is not 'batch', 'embed' or 'linear'.")
    classes = self.num_classes if self.norm == 'embed' else 0
    return ConditionalBatchNorm(
      classes, self.spectral_norm, epsilon=self.epsilon, kernel_init=self.kernel_init, name=name
    )(x, cond, train)

  @nn.compact
  def __call__(self, x, cond=None, train=True):
    conv = functools.partial(SNConv, self.features, spectral_norm=self.spectral_norm)
    h = upsample(nn.relu(self._norm('bn0', x, cond, train)))
    h = conv(kernel_init=self.kernel_init, name='conv0')(h, train)
    h = nn.relu(self._norm('bn1', h, cond, train))
    h = conv(kernel_init=self.kernel_init, name='conv1')(h, train)
    shortcut = conv(kernel_size=(1, 1), kernel_init=self.shortcut_init, name='shortcut')
    return h + shortcut(upsample(x), train)


class DownBlock(nn.Module):
  """Discriminator residual block of SNGAN / BigGAN, [B, H, W, Cin] -> [B, H', W', features].

  ReLU-conv3x3-ReLU-conv3x3 (-avgpool) plus a shortcut (1x1 conv when the channels
  change or it downsamples). preactivation=False is the first ("optimized") block: no
  ReLU on the input, shortcut pools before its conv rather than after.
  """

  features: int
  downsample: bool = True
  preactivation: bool = True
  spectral_norm: bool = True
  kernel_init: Initializer = default_kernel_init
  shortcut_init: Initializer = default_kernel_init

  @nn.compact
  def __call__(self, x, train=True):
    conv = functools.partial(SNConv, self.features, spectral_norm=self.spectral_norm)
    h = nn.relu(x) if self.preactivation else x
    h = conv(kernel_init=self.kernel_init, name='conv0')(h, train)
    h = conv(kernel_init=self.kernel_init, name='conv1')(nn.relu(h), train)
    if self.downsample:
      h = downsample(h)
    if x.shape[-1] == self.features and not self.downsample:
      return h + x
    shortcut = conv(kernel_size=(1, 1), kernel_init=self.shortcut_init, name='shortcut')
    if self.preactivation:
      s = shortcut(x, train)
      return h + (downsample(s) if self.downsample else s)
    return h + shortcut(downsample(x) if self.downsample else x, train)
