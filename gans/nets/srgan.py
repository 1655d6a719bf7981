"""SRGAN's networks (Ledig et al. 2017): the SRResNet generator and its discriminator.

"Photo-Realistic Single Image Super-Resolution Using a Generative Adversarial Network",
Fig. 4:

Generator (`Translator`, SRResNet): conv 9x9 (width), PReLU -> B residual blocks (conv
3x3, BN, PReLU, conv 3x3, BN, + input) -> conv 3x3, BN, + the output of the first
layer -> log2(scale) upsampling stages (conv 3x3 to 4 * width channels, pixel shuffle x2,
PReLU) -> conv 9x9 to the image channels. The paper has width 64, B = 16 and scale 4;
its output is linear; `tanh=True` (default) bounds it to the model's [-1, 1]. A low-res
image [B, h, w, C_in] becomes [B, h * scale, w * scale, out_channels].

Discriminator: conv 3x3 (width), LeakyReLU(0.2) -> seven conv 3x3 + BN + LeakyReLU
blocks of width (w, stride 2), (2w, 1), (2w, 2), (4w, 1), (4w, 2), (8w, 1), (8w, 2) ->
dense 16w (1024 at w = 64), LeakyReLU -> dense 1 logit. Output [B].

Pixel shuffle (`pixel_shuffle`, Shi et al. 2016, "sub-pixel convolution") follows
torch.nn.PixelShuffle's channel order, so that weights ported from PyTorch SRGAN code
give the same images: an NHWC input [B, H, W, C * r * r] becomes [B, H * r, W * r, C]
with out[b, h * r + i, w * r + j, c] = in[b, h, w, c * r * r + i * r + j] (channel
index = (c, i, j) in row-major order, "CRD"). TensorFlow's `tf.nn.depth_to_space` (DCR,
its NHWC default) uses in[..., (i * r + j) * C + c] instead; the two agree for C = 1.
"""

import math

import flax.linen as nn
import jax.numpy as jnp

from gans.nets import fast_conv as fast_conv_lib
from gans.nets import patchgan


def pixel_shuffle(x, r):
  """Depth to space with torch.nn.PixelShuffle's channel order (module docstring).

  Args:
    x: [B, H, W, C * r * r] array (NHWC).
    r: int >= 1, the upscale factor.

  Returns:
    [B, H * r, W * r, C] array of x's dtype.

  Raises:
    ValueError: the channel count is not divisible by r * r.
  """
  b, h, w, depth = x.shape
  if depth % (r * r):
    raise ValueError(f'pixel_shuffle: {depth} channels are not divisible by r^2 = {r * r}.')
  c = depth // (r * r)
  x = x.reshape(b, h, w, c, r, r)  # Channel index (c, i, j).
  x = x.transpose(0, 1, 4, 2, 5, 3)  # [b, h, i, w, j, c]
  return x.reshape(b, h * r, w * r, c)


def _prelu(name):
  return nn.PReLU(negative_slope_init=0.25, name=name)  # torch.nn.PReLU's initial slope.


def _num_stages(scale):
  stages = int(round(math.log2(scale))) if scale >= 1 else -1
  if stages < 0 or 2**stages != scale:
    raise ValueError(f'SRResNet upsamples by powers of two (x2 per stage); got scale {scale}.')
  return stages


class Translator(nn.Module):
  """SRResNet: low-res images [B, h, w, C_in] in [-1, 1] -> [B, h*scale, w*scale, out_channels].

  Fields: out_channels (the target's channels; the family sets it), scale (1, 2, 4, 8),
  width (64), num_blocks (16), norm ('batch' as the paper, 'instance', 'none'), tanh
  (bound the output to [-1, 1]). `y` is ignored.
  """

  out_channels: int = 1
  scale: int = 4
  width: int = 64
  num_blocks: int = 16
  norm: str = 'batch'
  tanh: bool = True
  fast_conv: bool = True

  @nn.compact
  def __call__(self, x, y=None, train=True):
    del y
    conv = fast_conv_lib.Conv if self.fast_conv else nn.Conv
    normed = self.norm != 'none'
    x = _prelu('head_act')(conv(self.width, (9, 9), padding='SAME', name='head')(x))
    skip = x
    for i in range(self.num_blocks):
      h = conv(self.width, (3, 3), padding='SAME', use_bias=not normed, name=f'block{i}_conv0')(x)
      h = patchgan.norm_layer(self.norm, train, f'block{i}_norm0')(h)
      h = _prelu(f'block{i}_act')(h)
      h = conv(self.width, (3, 3), padding='SAME', use_bias=not normed, name=f'block{i}_conv1')(h)
      x = x + patchgan.norm_layer(self.norm, train, f'block{i}_norm1')(h)
    h = conv(self.width, (3, 3), padding='SAME', use_bias=not normed, name='trunk_conv')(x)
    x = skip + patchgan.norm_layer(self.norm, train, 'trunk_norm')(h)
    for i in range(_num_stages(self.scale)):
      x = conv(4 * self.width, (3, 3), padding='SAME', name=f'up{i}_conv')(x)
      x = _prelu(f'up{i}_act')(pixel_shuffle(x, 2))
    x = conv(self.out_channels, (9, 9), padding='SAME', name='out')(x)
    return jnp.tanh(x) if self.tanh else x


class Discriminator(nn.Module):
  """SRGAN's discriminator: images [B, H, W, C] -> logits [B].

  Fields: width (64 in the paper), dense (units of the hidden dense layer; 0 means 16 *
  width, the paper's 1024), norm ('batch' as the paper, 'none', 'instance'). H and W must
  be divisible by 16 (four stride-2 layers). `y` is ignored.
  """

  width: int = 64
  dense: int = 0
  norm: str = 'batch'
  fast_conv: bool = True

  @nn.compact
  def __call__(self, x, y=None, train=True):
    del y
    if x.shape[1] % 16 or x.shape[2] % 16:
      raise ValueError(f'The SRGAN discriminator needs sides divisible by 16, got {x.shape[1:3]}.')
    conv = fast_conv_lib.Conv if self.fast_conv else nn.Conv
    x = nn.leaky_relu(conv(self.width, (3, 3), padding='SAME', name='conv0')(x), 0.2)
    blocks = ((1, 2), (2, 1), (2, 2), (4, 1), (4, 2), (8, 1), (8, 2))
    normed = self.norm == 'batch'
    for i, (mult, stride) in enumerate(blocks, start=1):
      x = conv(
        self.width * mult,
        (3, 3),
        strides=(stride, stride),
        padding='SAME',
        use_bias=not normed,
        name=f'conv{i}',
      )(x)
      x = nn.leaky_relu(patchgan.norm_layer(self.norm, train, f'norm{i}')(x), 0.2)
    x = x.reshape(x.shape[0], -1)
    x = nn.leaky_relu(nn.Dense(self.dense or 16 * self.width, name='dense')(x), 0.2)
    return nn.Dense(1, name='logit')(x)[:, 0]
