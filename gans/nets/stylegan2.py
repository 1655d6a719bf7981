"""StyleGAN2 networks (Karras et al. 2020, "Analyzing and Improving the Image Quality of
StyleGAN"), NHWC, linen; the definitions of the paper's config F as
NVlabs/stylegan2-ada-pytorch (training/networks.py) builds them.

Generator = mapping network (z -> w) + synthesis network (one w per layer -> image):
  * mapping: z normalized to unit second moment (pixel norm), optionally concatenated
    with a normalized embedding of the one-hot label, then `mapping_layers` fully
    connected layers with leaky ReLU at learning-rate multiplier 0.01. It tracks the
    mean of w (`w_avg`, collection 'stats', decay 0.995) for truncation.
  * synthesis: a learned constant 4x4 input; per resolution r = 4, 8, ..., R two 3x3
    modulated convolutions with weight demodulation (one at r = 4), the first of
    each block after upsampling by zero insertion and the [1, 3, 3, 1] FIR filter;
    per-pixel noise with a learned strength after each; a modulated (not
    demodulated) 1x1 toRGB per block whose image, upsampled, is summed over blocks
    (the skip architecture). Widths min(channel_base / r, channel_max). The output is
    the summed image, without tanh (as the paper).
  * discriminator: residual blocks r = R, ..., 8 (fromRGB 1x1 at the input; two 3x3
    convolutions, the second after the FIR blur with stride 2; a 1x1 skip after FIR
    downsampling; the sum scaled by sqrt(1/2)), then at 4x4 the minibatch standard
    deviation layer, a 3x3 convolution, a fully connected layer and the output.
    Conditional: projection of the output features onto a mapping of the label
    (Miyato & Koyama 2018, as stylegan2-ada's cmap). `architecture='orig'` drops the
    residual skips (stylegan2-ada's `cifar` configuration).
Every layer uses the equalized learning rate (Karras et al. 2018): weights are stored
N(0, 1/lr_multiplier^2) and scaled at run time by lr_multiplier / sqrt(fan_in); biases
by lr_multiplier. Leaky ReLU has slope 0.2 and gain sqrt(2).

Internally a modulated convolution scales the activations by the styles before an
ordinary convolution and the output by the demodulation coefficients after it (the
paper's non-fused form, stylegan2-ada `fused_modconv=False`), which equals
`modulated_conv2d`'s definition with per-sample weights and keeps every convolution a
plain one, so `fast_conv` (fast second-order gradients for R1 on CPU) applies. The
upsampling convolution is upsample-then-conv rather than stylegan2-ada's transposed
convolution then filter: the same linear map away from the border. The modulated
convolutions also carry the He constant, as the TF original does (demodulation
cancels it up to the 1e-8). Float32 throughout (no mixed precision, no clamping).
"""

import math

import flax.linen as nn
import jax
import jax.numpy as jnp

from gans.nets import fast_conv as fast_conv_lib

LRELU_SLOPE = 0.2
LRELU_GAIN = math.sqrt(2.0)
FIR_TAPS = (1.0, 3.0, 3.0, 1.0)


def activate(x, activation, gain=1.0):
  """'lrelu' (slope 0.2, times sqrt(2) * gain) or 'linear' (times gain)."""
  if activation == 'lrelu':
    return jax.nn.leaky_relu(x, LRELU_SLOPE) * (LRELU_GAIN * gain)
  if activation == 'linear':
    return x * gain if gain != 1.0 else x
  raise ValueError(f"activation {activation!r} is not 'lrelu' or 'linear'.")


def normalize_2nd_moment(x, eps=1e-8):
  """x [N, D] divided by the root mean square of its last axis (pixel norm)."""
  return x * jax.lax.rsqrt(jnp.mean(jnp.square(x), axis=-1, keepdims=True) + eps)


def _fir1d(x, axis, gain, pad):
  """Correlates x with the normalized [1, 3, 3, 1] * gain along `axis` after zero
  padding (lo, hi) = pad; (the filter is symmetric, so also the convolution)."""
  widths = [(0, 0)] * x.ndim
  widths[axis] = pad
  x = jnp.pad(x, widths)
  n = x.shape[axis] - len(FIR_TAPS) + 1
  total = sum(FIR_TAPS)
  return sum(
    (gain * t / total) * jax.lax.slice_in_dim(x, i, i + n, axis=axis)
    for i, t in enumerate(FIR_TAPS)
  )


def blur(x, pad):
  """The 2-D [1, 3, 3, 1] FIR low-pass (separable, unit DC gain) of x [N, H, W, C]
  after zero padding `pad` = (lo, hi) on both spatial axes."""
  for axis in (1, 2):
    x = _fir1d(x, axis, 1.0, pad)
  return x


def upsample2d(x):
  """x [N, H, W, C] -> [N, 2H, 2W, C]: zero insertion, then the FIR filter with gain 4
  (stylegan2-ada upfirdn2d.upsample2d): output 2i is (x[i-1] + 3 x[i]) / 4 per axis."""
  for axis in (1, 2):
    z = jnp.stack([x, jnp.zeros_like(x)], axis=axis + 1)
    shape = list(x.shape)
    shape[axis] *= 2
    x = _fir1d(z.reshape(shape), axis, 2.0, (2, 1))
  return x


def downsample2d(x):
  """x [N, H, W, C] (H, W even) -> [N, H/2, W/2, C]: the FIR filter then every second
  pixel (stylegan2-ada upfirdn2d.downsample2d)."""
  return blur(x, (1, 1))[:, ::2, ::2, :]


def _conv(x, kernel, strides=(1, 1), padding='SAME', fast=False):
  """NHWC x HWIO convolution; a 1x1 stride-1 kernel is a matrix product."""
  if kernel.shape[:2] == (1, 1) and tuple(strides) == (1, 1):
    return jnp.einsum('nhwi,io->nhwo', x, kernel[0, 0])
  if fast:
    return fast_conv_lib.conv2d(x, kernel, strides, padding)
  return jax.lax.conv_general_dilated(
    x, kernel, strides, padding, dimension_numbers=('NHWC', 'HWIO', 'NHWC')
  )


def modulated_conv2d(x, weight, styles, demodulate=True, fast=False):
  """The modulated convolution of StyleGAN2 (Karras et al. 2020, eqs. 1-3).

  Per sample n, the weight w'[kh, kw, i, o] = weight[kh, kw, i, o] * styles[n, i]; with
  `demodulate`, w'' = w' / sqrt(sum over kh, kw, i of w'^2 + 1e-8) per output channel
  o; the output is the stride-1 'SAME' convolution of x[n] with it. Computed without
  per-sample weights: conv(x * styles, weight) * the demodulation coefficients.

  Args:
    x: [N, H, W, C_in] float32.
    weight: [kh, kw, C_in, C_out] float32 (HWIO).
    styles: [N, C_in] float32.
    demodulate: divide by the per-sample, per-output-channel norm (True in the
      synthesis layers, False in toRGB).
    fast: use gans.nets.fast_conv (same values; fast second-order gradients on CPU).

  Returns:
    [N, H, W, C_out] float32.

  Raises:
    ValueError: if the shapes disagree.
  """
  if x.ndim != 4 or weight.ndim != 4 or styles.shape != (x.shape[0], x.shape[-1]):
    raise ValueError(
      f'modulated_conv2d: x {x.shape} [N, H, W, C_in], weight {weight.shape} '
      f'[kh, kw, C_in, C_out], styles {styles.shape} [N, C_in] do not agree.'
    )
  if weight.shape[2] != x.shape[-1]:
    raise ValueError(
      f'modulated_conv2d: weight {weight.shape} has C_in {weight.shape[2]}, x has {x.shape[-1]}.'
    )
  y = _conv(x * styles[:, None, None, :], weight, fast=fast)
  if demodulate:
    energy = jnp.einsum('ni,io->no', jnp.square(styles), jnp.sum(jnp.square(weight), axis=(0, 1)))
    y = y * jax.lax.rsqrt(energy + 1e-8)[:, None, None, :]
  return y


def minibatch_stddev(x, group_size=4, num_channels=1):
  """The minibatch standard deviation layer (Karras et al. 2018; StyleGAN2 config).

  Sample i joins group i mod (N / G), G = min(group_size, N); channels split into
  `num_channels` parts. Per group and part: the standard deviation over the group
  (biased, + 1e-8 inside the root) of each activation, averaged over the part's
  channels and the pixels; appended to every member's activations as constant
  feature maps.

  Args:
    x: [N, H, W, C] float32, C divisible by num_channels.
  Returns:
    [N, H, W, C + num_channels] float32.
  Raises:
    ValueError: if N is not a multiple of the group size or C of num_channels.
  """
  n, h, w, c = x.shape
  g = min(group_size, n)
  if n % g or c % num_channels:
    raise ValueError(
      f'minibatch_stddev: batch {n} is not a multiple of the group size {g}, or '
      f'channels {c} of num_channels {num_channels}.'
    )
  y = x.reshape(g, n // g, h, w, num_channels, c // num_channels)
  y = y - jnp.mean(y, axis=0)
  y = jnp.sqrt(jnp.mean(jnp.square(y), axis=0) + 1e-8)
  y = jnp.mean(y, axis=(1, 2, 4))  # [n / G, F]
  y = jnp.tile(y, (g, 1))  # Sample i gets group i mod (N / G).
  y = jnp.broadcast_to(y[:, None, None, :], (n, h, w, num_channels))
  return jnp.concatenate([x, y], axis=-1)


class EqualDense(nn.Module):
  """Fully connected layer with the equalized learning rate.

  kernel [D_in, features] stored N(0, 1/lr_multiplier^2), used times lr_multiplier /
  sqrt(D_in); bias initialized to `bias_init`, used times lr_multiplier.
  """

  features: int
  activation: str = 'linear'
  lr_multiplier: float = 1.0
  bias_init: float = 0.0

  @nn.compact
  def __call__(self, x):
    fan_in = x.shape[-1]
    kernel = self.param(
      'kernel', nn.initializers.normal(1.0 / self.lr_multiplier), (fan_in, self.features)
    )
    bias = self.param('bias', nn.initializers.constant(self.bias_init), (self.features,))
    y = x @ (kernel * (self.lr_multiplier / math.sqrt(fan_in))) + bias * self.lr_multiplier
    return activate(y, self.activation)


class EqualConv(nn.Module):
  """Convolution with the equalized learning rate (kernel HWIO stored N(0, 1), used
  times 1/sqrt(kh kw C_in)); `down=2` blurs with the FIR filter first (1x1: filter
  and subsample; otherwise pad and convolve with stride 2), as stylegan2-ada's
  conv2d_resample."""

  features: int
  kernel_size: int = 3
  activation: str = 'lrelu'
  use_bias: bool = True
  down: int = 1
  fast_conv: bool = True

  @nn.compact
  def __call__(self, x, gain=1.0):
    k = self.kernel_size
    c_in = x.shape[-1]
    kernel = self.param('kernel', nn.initializers.normal(1.0), (k, k, c_in, self.features))
    w = kernel / math.sqrt(k * k * c_in)
    if self.down == 1:
      y = _conv(x, w, fast=self.fast_conv)
    elif k == 1:
      y = _conv(downsample2d(x), w, fast=self.fast_conv)
    else:
      p = (k - 1) // 2 + 1
      y = _conv(blur(x, (p, p)), w, (2, 2), 'VALID', fast=self.fast_conv)
    if self.use_bias:
      y = y + self.param('bias', nn.initializers.zeros, (self.features,))
    return activate(y, self.activation, gain)


class MappingNetwork(nn.Module):
  """z [N, z_dim] (and labels [N] int) -> w [N, w_dim].

  `w_avg_beta` not None keeps the running mean of w in collection 'stats' (updated
  only when `update_w_avg`, as w_avg <- mean + beta (w_avg - mean)); `truncation_psi`
  moves w towards it: w_avg + psi (w - w_avg).
  """

  w_dim: int = 512
  num_layers: int = 8
  num_classes: int = 0
  lr_multiplier: float = 0.01
  w_avg_beta: float | None = 0.995

  @nn.compact
  def __call__(self, z, y=None, truncation_psi=1.0, update_w_avg=False):
    parts = []
    if z is not None:
      parts.append(normalize_2nd_moment(z.astype(jnp.float32)))
    if self.num_classes:
      onehot = jax.nn.one_hot(y, self.num_classes, dtype=jnp.float32)
      parts.append(normalize_2nd_moment(EqualDense(self.w_dim, name='embed')(onehot)))
    x = jnp.concatenate(parts, axis=-1)
    for i in range(self.num_layers):
      x = EqualDense(self.w_dim, 'lrelu', self.lr_multiplier, name=f'fc{i}')(x)
    if self.w_avg_beta is None:
      return x
    w_avg = self.variable('stats', 'w_avg', jnp.zeros, (self.w_dim,), jnp.float32)
    if update_w_avg and not self.is_initializing():
      mean = jnp.mean(jax.lax.stop_gradient(x), axis=0)
      w_avg.value = mean + self.w_avg_beta * (w_avg.value - mean)
    if truncation_psi != 1.0:
      x = w_avg.value + truncation_psi * (x - w_avg.value)
    return x


class SynthesisLayer(nn.Module):
  """Modulated 3x3 convolution (optionally after 2x upsampling), noise, bias, lrelu."""

  features: int
  up: bool = False
  fast_conv: bool = True

  @nn.compact
  def __call__(self, x, w, noise=None):
    """x [N, H, W, C_in], w [N, w_dim], noise [N, H', W', 1] or None (H' = 2H if up)."""
    c_in = x.shape[-1]
    styles = EqualDense(c_in, bias_init=1.0, name='affine')(w)
    kernel = self.param('kernel', nn.initializers.normal(1.0), (3, 3, c_in, self.features))
    if self.up:
      x = upsample2d(x)
    x = modulated_conv2d(x, kernel / math.sqrt(9 * c_in), styles, True, self.fast_conv)
    strength = self.param('noise_strength', nn.initializers.zeros, ())
    if noise is not None:
      x = x + noise * strength
    x = x + self.param('bias', nn.initializers.zeros, (self.features,))
    return activate(x, 'lrelu')


class ToRGB(nn.Module):
  """Modulated 1x1 convolution without demodulation, plus bias (linear)."""

  channels: int

  @nn.compact
  def __call__(self, x, w):
    c_in = x.shape[-1]
    styles = EqualDense(c_in, bias_init=1.0, name='affine')(w) / math.sqrt(c_in)
    kernel = self.param('kernel', nn.initializers.normal(1.0), (1, 1, c_in, self.channels))
    y = modulated_conv2d(x, kernel, styles, demodulate=False)
    return y + self.param('bias', nn.initializers.zeros, (self.channels,))


def channels(res, channel_base, channel_max):
  """Feature maps at resolution `res`: min(channel_base // res, channel_max)."""
  return min(channel_base // res, channel_max)


def resolutions(size):
  """(4, 8, ..., size); raises ValueError unless size is a power of two >= 4."""
  if size < 4 or size & (size - 1):
    raise ValueError(f'StyleGAN2 needs a power-of-two image size >= 4, got {size}.')
  return tuple(2**i for i in range(2, int(math.log2(size)) + 1))


class SynthesisNetwork(nn.Module):
  """ws [N, num_ws, w_dim] -> images [N, R, R, C]; num_ws = 2 log2(R) - 2."""

  out_shape: tuple
  channel_base: int = 32768
  channel_max: int = 512
  fast_conv: bool = True

  @property
  def num_ws(self):
    return 2 * len(resolutions(self.out_shape[0]))

  def noise_shapes(self, n):
    """Shapes [n, r, r, 1] of the noise inputs, one per synthesis layer in order."""
    return [(n, r, r, 1) for r in resolutions(self.out_shape[0]) for _ in range(1 if r == 4 else 2)]

  @nn.compact
  def __call__(self, ws, noise_mode='random'):
    if ws.ndim != 3 or ws.shape[1] != self.num_ws:
      raise ValueError(f'synthesis: ws {ws.shape} is not [N, {self.num_ws}, w_dim].')
    shapes = self.noise_shapes(ws.shape[0])
    if noise_mode == 'random':
      # One draw for every layer (one random-bits kernel rather than one per layer).
      sizes = [math.prod(s) for s in shapes]
      flat = jax.random.normal(self.make_rng('noise'), (sum(sizes),), jnp.float32)
      offsets = [sum(sizes[:i]) for i in range(len(sizes))]
      noises = [flat[o : o + z].reshape(s) for o, z, s in zip(offsets, sizes, shapes)]
    elif noise_mode == 'none':
      noises = [None] * len(shapes)
    else:
      raise ValueError(f"noise_mode {noise_mode!r} is not 'random' or 'none'.")
    noises = iter(noises)
    x = img = None
    idx = 0
    for res in resolutions(self.out_shape[0]):
      feats = channels(res, self.channel_base, self.channel_max)
      if res == 4:
        const = self.param('const', nn.initializers.normal(1.0), (4, 4, feats))
        x = jnp.broadcast_to(const, (ws.shape[0], 4, 4, feats))
        x = SynthesisLayer(feats, False, self.fast_conv, name='b4_conv1')(
          x, ws[:, idx], next(noises)
        )
        num_conv = 1
      else:
        x = SynthesisLayer(feats, True, self.fast_conv, name=f'b{res}_conv0')(
          x, ws[:, idx], next(noises)
        )
        x = SynthesisLayer(feats, False, self.fast_conv, name=f'b{res}_conv1')(
          x, ws[:, idx + 1], next(noises)
        )
        num_conv = 2
      y = ToRGB(self.out_shape[-1], name=f'b{res}_torgb')(x, ws[:, idx + num_conv])
      img = y if img is None else upsample2d(img) + y
      idx += num_conv
    return img


class Generator(nn.Module):
  """StyleGAN2 generator: `__call__(z, y)` = synthesis(broadcast(mapping(z, y))).

  Methods for the family's step: `map(z, y, truncation_psi, update_w_avg)` -> w [N,
  w_dim]; `synthesize(ws, noise_mode)` with ws [N, num_ws, w_dim] -> images [N, R, R,
  C] (float32, unbounded, data range [-1, 1]). Random noise draws from rng 'noise'.
  """

  out_shape: tuple
  latent_dim: int = 512
  w_dim: int = 512
  mapping_layers: int = 8
  mapping_lr_multiplier: float = 0.01
  w_avg_beta: float = 0.995
  channel_base: int = 32768
  channel_max: int = 512
  num_classes: int = 0
  fast_conv: bool = True

  def setup(self):
    self.mapping = MappingNetwork(
      self.w_dim, self.mapping_layers, self.num_classes, self.mapping_lr_multiplier, self.w_avg_beta
    )
    self.synthesis = SynthesisNetwork(
      tuple(self.out_shape), self.channel_base, self.channel_max, self.fast_conv
    )

  @property
  def num_ws(self):
    return 2 * len(resolutions(self.out_shape[0]))

  def map(self, z, y=None, truncation_psi=1.0, update_w_avg=False):
    return self.mapping(z, y, truncation_psi, update_w_avg)

  def synthesize(self, ws, noise_mode='random'):
    return self.synthesis(ws, noise_mode)

  def __call__(self, z, y=None, train=False, truncation_psi=1.0, noise_mode='random'):
    del train  # Same computation in both modes; w_avg is updated only through `map`.
    w = self.map(z, y, truncation_psi)
    ws = jnp.broadcast_to(w[:, None, :], (w.shape[0], self.num_ws, w.shape[-1]))
    return self.synthesize(ws, noise_mode)


class DiscriminatorBlock(nn.Module):
  """Two 3x3 convolutions (the second downsampling) and, for 'resnet', a 1x1
  downsampling skip; the residual sum is scaled by sqrt(1/2)."""

  features: int
  out_features: int
  architecture: str = 'resnet'
  fast_conv: bool = True

  @nn.compact
  def __call__(self, x):
    if self.architecture == 'resnet':
      skip = EqualConv(self.out_features, 1, 'linear', False, 2, self.fast_conv, name='skip')
      y = skip(x, gain=math.sqrt(0.5))
      x = EqualConv(self.features, 3, fast_conv=self.fast_conv, name='conv0')(x)
      x = EqualConv(self.out_features, 3, down=2, fast_conv=self.fast_conv, name='conv1')(
        x, gain=math.sqrt(0.5)
      )
      return x + y
    x = EqualConv(self.features, 3, fast_conv=self.fast_conv, name='conv0')(x)
    return EqualConv(self.out_features, 3, down=2, fast_conv=self.fast_conv, name='conv1')(x)


class Discriminator(nn.Module):
  """StyleGAN2 discriminator: images [N, R, R, C] (and labels [N]) -> logits [N]."""

  channel_base: int = 32768
  channel_max: int = 512
  architecture: str = 'resnet'  # 'resnet' | 'orig' (no residual skips).
  mbstd_group_size: int = 4
  mbstd_num_channels: int = 1
  mapping_layers: int = 8  # Of the label mapping (conditional only).
  num_classes: int = 0
  fast_conv: bool = True

  @nn.compact
  def __call__(self, x, y=None, train=False):
    del train
    if self.architecture not in ('resnet', 'orig'):
      raise ValueError(
        f"discriminator.architecture={self.architecture!r} is not 'resnet' or 'orig'."
      )
    size = x.shape[1]
    ch = lambda r: channels(r, self.channel_base, self.channel_max)
    h = EqualConv(ch(size), 1, fast_conv=self.fast_conv, name=f'b{size}_fromrgb')(x)
    for res in reversed(resolutions(size)[1:]):
      h = DiscriminatorBlock(
        ch(res), ch(res // 2), self.architecture, self.fast_conv, name=f'b{res}'
      )(h)
    if self.mbstd_num_channels:
      h = minibatch_stddev(h, self.mbstd_group_size, self.mbstd_num_channels)
    h = EqualConv(ch(4), 3, fast_conv=self.fast_conv, name='b4_conv')(h)
    h = EqualDense(ch(4), 'lrelu', name='b4_fc')(h.reshape(h.shape[0], -1))
    if not self.num_classes:
      return EqualDense(1, name='b4_out')(h)[:, 0]
    cmap_dim = ch(4)
    out = EqualDense(cmap_dim, name='b4_out')(h)
    cmap = MappingNetwork(
      cmap_dim, self.mapping_layers, self.num_classes, w_avg_beta=None, name='mapping'
    )(None, y)
    return jnp.sum(out * cmap, axis=-1) / math.sqrt(cmap_dim)
