"""ProGAN networks (Karras et al. 2018, "Progressive Growing of GANs for Improved
Quality, Stability, and Variation"), NHWC, linen; the paper's Table 2 networks as
tkarras/progressive_growing_of_gans (networks.py G_paper / D_paper) builds them.

Both networks hold the layers of every resolution 4, 8, ..., R from `init` on (the
train state's shapes never change); a call runs them at one resolution r, given
statically (G: `resolution`; D: the input's size), with the fade-in weight `alpha`
(traced, so one compilation serves every alpha of a resolution):

  * generator: z normalized by the pixelwise feature norm; the 4x4 block is a fully
    connected layer to 4x4 feature maps (gain sqrt(2)/4, as the official code) and a
    3x3 convolution; each further block doubles the size by nearest-neighbour
    upsampling, then two 3x3 convolutions. Every convolution is followed by the bias,
    leaky ReLU (slope 0.2) and the pixelwise feature norm. A 1x1 toRGB (gain 1, linear)
    per resolution; at r > 4 the output is
      (1 - alpha) * upsample(toRGB_{r/2}(h_{r/2})) + alpha * toRGB_r(block_r(h_{r/2})),
    so alpha 0 gives the upsampled r/2 image, alpha 1 the new block's. No tanh.
  * discriminator: a 1x1 fromRGB (leaky ReLU) per resolution; blocks r > 4: two 3x3
    convolutions (widths nf(r), nf(r/2)) and 2x2 average pooling; at r > 4 the input to
    the rest of the network is
      (1 - alpha) * fromRGB_{r/2}(avgpool(x)) + alpha * block_r(fromRGB_r(x));
    the 4x4 block is the minibatch standard deviation (group size 4, one feature map),
    a 3x3 convolution, a fully connected layer (the paper's 4x4 convolution) and a
    linear output. One score per image [N].

Widths nf(stage) = min(fmap_base / 2^stage, fmap_max), the block of resolution 2^k
using nf(k - 1) (paper: fmap_base 8192, fmap_max 512; CIFAR-10 4096 and 128).
Equalized learning rate: every weight is stored N(0, 1) and multiplied at run time by
the He constant gain / sqrt(fan_in) (gain sqrt(2) unless stated); biases start at 0
and are used as stored. The upsampling convolution is nearest upsampling then a 3x3
convolution (the official code's non-fused form; its `fused_scale` transposed
convolution, used from 128x128 on, is the same map away from the border).
"""

import math

import flax.linen as nn
import jax
import jax.numpy as jnp

from gans.nets import fast_conv as fast_conv_lib
from gans.nets import stylegan2 as sg_nets

LRELU_SLOPE = 0.2
HE_GAIN = math.sqrt(2.0)


def pixel_norm(x, eps=1e-8):
  """Pixelwise feature vector normalization (Karras et al. 2018, Sec. 4.2).

  x divided by sqrt(mean over the last (channel) axis of x^2 + eps): every pixel's
  feature vector gets unit root mean square. Works on [N, D] latents and [N, H, W, C]
  feature maps.
  """
  return sg_nets.normalize_2nd_moment(x, eps)


def minibatch_stddev(x, group_size=4):
  """The minibatch standard deviation layer of ProGAN (Sec. 3), one feature map.

  Sample i joins group i mod (N / G), G = min(group_size, N); per group the standard
  deviation (biased, + 1e-8 under the root) of every activation, averaged over
  channels and pixels, is appended to each member as a constant feature map (the
  official `minibatch_stddev_layer`; gans.nets.stylegan2.minibatch_stddev with one
  channel group).

  Args:
    x: [N, H, W, C] float32; N a multiple of min(group_size, N).
  Returns:
    [N, H, W, C + 1] float32.
  Raises:
    ValueError: if N is not a multiple of the group size.
  """
  return sg_nets.minibatch_stddev(x, group_size, 1)


def upsample(x, factor=2):
  """Nearest-neighbour upsampling [N, H, W, C] -> [N, factor H, factor W, C]."""
  if factor == 1:
    return x
  return jnp.repeat(jnp.repeat(x, factor, axis=1), factor, axis=2)


def downsample(x, factor=2):
  """Average pooling over factor x factor blocks [N, H, W, C] -> [N, H/f, W/f, C].

  Raises:
    ValueError: if H or W is not a multiple of `factor`.
  """
  if factor == 1:
    return x
  n, h, w, c = x.shape
  if h % factor or w % factor:
    raise ValueError(f'downsample: size {h}x{w} is not a multiple of {factor}.')
  return jnp.mean(x.reshape(n, h // factor, factor, w // factor, factor, c), axis=(2, 4))


def fade_images(x, alpha):
  """The real images D sees at a resolution during its fade-in (official train.py
  `process_reals`): alpha * x + (1 - alpha) * upsample(downsample(x)), x [N, r, r, C].
  alpha 1 gives x, alpha 0 its r/2 version at size r."""
  return alpha * x + (1.0 - alpha) * upsample(downsample(x))


def channels(res, fmap_base, fmap_max):
  """Feature maps of the block at resolution `res` = 2^k: nf(k - 1) =
  min(fmap_base / 2^(k - 1), fmap_max)."""
  return min(int(fmap_base) // (res // 2), int(fmap_max))


def resolutions(size, start=4):
  """(start, 2 start, ..., size); ValueError unless both are powers of two and
  4 <= start <= size."""
  for name, v in (('size', size), ('start', start)):
    if v < 4 or v & (v - 1):
      raise ValueError(f'ProGAN needs a power-of-two {name} >= 4, got {v}.')
  if start > size:
    raise ValueError(f'ProGAN start resolution {start} exceeds the image size {size}.')
  return tuple(2**i for i in range(int(math.log2(start)), int(math.log2(size)) + 1))


def _lrelu(x):
  return jax.nn.leaky_relu(x, LRELU_SLOPE)


class EqualizedDense(nn.Module):
  """Fully connected layer with the equalized learning rate.

  kernel [D_in, features] stored N(0, 1), used times gain / sqrt(D_in); bias [features]
  (zeros, unscaled) unless use_bias is False. Input [N, D_in] -> [N, features].
  """

  features: int
  gain: float = HE_GAIN
  use_bias: bool = True

  @nn.compact
  def __call__(self, x):
    fan_in = x.shape[-1]
    kernel = self.param('kernel', nn.initializers.normal(1.0), (fan_in, self.features))
    y = x @ (kernel * (self.gain / math.sqrt(fan_in)))
    if self.use_bias:
      y = y + self.param('bias', nn.initializers.zeros, (self.features,))
    return y


class EqualizedConv(nn.Module):
  """k x k stride-1 'SAME' convolution with the equalized learning rate.

  kernel HWIO [k, k, C_in, features] stored N(0, 1), used times gain / sqrt(k k C_in);
  bias (zeros, unscaled). `fast_conv`: gans.nets.fast_conv (the same values, fast
  second-order gradients on CPU for the gradient penalty).
  """

  features: int
  kernel_size: int = 3
  gain: float = HE_GAIN
  fast_conv: bool = True

  @nn.compact
  def __call__(self, x):
    k = self.kernel_size
    c_in = x.shape[-1]
    kernel = self.param('kernel', nn.initializers.normal(1.0), (k, k, c_in, self.features))
    w = kernel * (self.gain / math.sqrt(k * k * c_in))
    if k == 1:
      y = jnp.einsum('nhwi,io->nhwo', x, w[0, 0])
    elif self.fast_conv:
      y = fast_conv_lib.conv2d(x, w, (1, 1), 'SAME')
    else:
      y = jax.lax.conv_general_dilated(
        x, w, (1, 1), 'SAME', dimension_numbers=('NHWC', 'HWIO', 'NHWC')
      )
    return y + self.param('bias', nn.initializers.zeros, (self.features,))


class Generator(nn.Module):
  """ProGAN generator: z [N, latent_dim] -> images [N, r, r, C] at resolution r.

  `__call__(z, y=None, train=False, resolution=None, alpha=1.0)`: `resolution` (static
  int, default the final out_shape[0]) picks the output size; `alpha` (float or traced
  scalar in [0, 1]) the fade-in weight of its block (ignored at the start resolution
  4). `init` creates the layers of every resolution. Float32 images, data range
  [-1, 1], not clipped.
  """

  out_shape: tuple
  latent_dim: int = 512
  fmap_base: int = 8192
  fmap_max: int = 512
  normalize_latents: bool = True
  fast_conv: bool = True

  def features(self, z, resolution=None):
    """Feature maps of every resolution up to `resolution`: {r: [N, r, r, nf(r)]}."""
    resolution = resolution or self.out_shape[0]
    res_all = resolutions(self.out_shape[0])
    if resolution not in res_all:
      raise ValueError(f'generator: resolution {resolution} is not one of {res_all}.')
    nf = lambda r: channels(r, self.fmap_base, self.fmap_max)
    conv = lambda r, name: EqualizedConv(nf(r), 3, fast_conv=self.fast_conv, name=name)
    block = lambda h: pixel_norm(_lrelu(h))
    x = z.astype(jnp.float32)
    if self.normalize_latents:
      x = pixel_norm(x)
    h = EqualizedDense(16 * nf(4), HE_GAIN / 4, use_bias=False, name='b4_dense')(x)
    h = h.reshape(h.shape[0], 4, 4, nf(4))
    h = block(h + self.param('b4_dense_bias', nn.initializers.zeros, (nf(4),)))
    h = block(conv(4, 'b4_conv')(h))
    out = {4: h}
    for r in res_all[1:]:
      if r > resolution:
        break
      h = block(conv(r, f'b{r}_conv0')(upsample(h)))
      h = block(conv(r, f'b{r}_conv1')(h))
      out[r] = h
    return out

  def to_rgb(self, h, r):
    """The 1x1 toRGB of resolution r (gain 1, linear)."""
    return EqualizedConv(self.out_shape[-1], 1, gain=1.0, name=f'torgb{r}')(h)

  @nn.compact
  def __call__(self, z, y=None, train=False, resolution=None, alpha=1.0):
    del y, train
    resolution = resolution or self.out_shape[0]
    feats = self.features(z, resolution)
    # Every toRGB exists from init on; a call uses those of r and r / 2.
    used = feats if self.is_initializing() else (resolution, resolution // 2)
    rgb = {r: self.to_rgb(feats[r], r) for r in used if r in feats}
    if resolution == 4:
      return rgb[4]
    return (1.0 - alpha) * upsample(rgb[resolution // 2]) + alpha * rgb[resolution]


class Discriminator(nn.Module):
  """ProGAN discriminator: images [N, r, r, C] -> scores [N] at the input's resolution.

  `__call__(x, y=None, train=False, alpha=1.0)`; `alpha` the fade-in weight of the
  block of resolution r (ignored at 4). `init` on images of the final size creates the
  layers of every resolution. N must be a multiple of min(mbstd_group_size, N).
  """

  fmap_base: int = 8192
  fmap_max: int = 512
  mbstd_group_size: int = 4
  fast_conv: bool = True

  def nf(self, r):
    return channels(r, self.fmap_base, self.fmap_max)

  def from_rgb(self, x, r):
    """The 1x1 fromRGB of resolution r (leaky ReLU)."""
    return _lrelu(EqualizedConv(self.nf(r), 1, name=f'fromrgb{r}')(x))

  def block(self, h, r):
    """Block r > 4: two 3x3 convolutions (nf(r), nf(r/2)) and 2x2 average pooling."""
    conv = lambda f, name: EqualizedConv(f, 3, fast_conv=self.fast_conv, name=name)
    h = _lrelu(conv(self.nf(r), f'b{r}_conv0')(h))
    h = _lrelu(conv(self.nf(r // 2), f'b{r}_conv1')(h))
    return downsample(h)

  def head(self, h):
    """The 4x4 block: minibatch stddev, 3x3 convolution, dense nf(2), dense 1."""
    if self.mbstd_group_size > 1:
      h = minibatch_stddev(h, self.mbstd_group_size)
    h = _lrelu(EqualizedConv(self.nf(4), 3, fast_conv=self.fast_conv, name='b4_conv')(h))
    h = _lrelu(EqualizedDense(self.nf(2), name='b4_dense0')(h.reshape(h.shape[0], -1)))
    return EqualizedDense(1, gain=1.0, name='b4_dense1')(h)[:, 0]

  @nn.compact
  def __call__(self, x, y=None, train=False, alpha=1.0):
    del y, train
    r = x.shape[1]
    resolutions(r)
    if x.shape[2] != r:
      raise ValueError(f'discriminator: images {x.shape} are not square.')
    if self.is_initializing():  # Every fromRGB and block exists from init on.
      h = self.from_rgb(x, r)
      while r > 4:
        h = self.block(h, r)
        x, r = downsample(x), r // 2
        self.from_rgb(x, r)
      return self.head(h)
    h = self.from_rgb(x, r)
    if r > 4:
      h = self.block(h, r)
      h = (1.0 - alpha) * self.from_rgb(downsample(x), r // 2) + alpha * h
      r //= 2
    while r > 4:
      h = self.block(h, r)
      r //= 2
    return self.head(h)
