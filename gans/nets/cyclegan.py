"""The ResNet generator of CycleGAN (Zhu et al. 2017, appendix 7.2; Johnson et al. 2016).

"Unpaired Image-to-Image Translation using Cycle-Consistent Adversarial Networks": the
generator of Johnson et al.'s perceptual-loss networks with instance normalization and
reflection padding. In the paper's notation, with width w (64 in the paper) and n
residual blocks (6 for 128x128 images, 9 for 256x256):

  c7s1-w, d(2w), d(4w), R(4w) x n, u(2w), u(w), c7s1-out

  c7s1-k  reflection pad 3, 7x7 convolution with k filters, stride 1, then instance
          norm and ReLU (the last one: tanh, no norm);
  dk      3x3 convolution with k filters, stride 2 (zero padding 1), norm, ReLU;
  Rk      residual block: x + [reflect 1, 3x3 conv k, norm, ReLU, reflect 1, 3x3 conv
          k, norm](x) (no ReLU after the sum, as in the reference code);
  uk      3x3 fractionally-strided (transposed) convolution with k filters, stride 2
          (output twice the input side), norm, ReLU.

As in the reference code (junyanz/pytorch-CycleGAN-and-pix2pix, `ResnetGenerator`),
convolutions have biases when the norm is instance norm (which has no affine
parameters there) and none before batch norm. `num_downs` generalises the two
downsamplings (sides must be divisible by 2^num_downs). All tensors NHWC; with
`fast_conv=True` the convolutions run through `gans.nets.fast_conv` (same sums, fast
gradients on XLA's CPU backend).
"""

import flax.linen as nn
import jax.numpy as jnp

from gans.nets import fast_conv as fast_conv_lib
from gans.nets import patchgan


def reflect_pad(x, pad):
  """Reflection padding of the two spatial axes of NHWC `x` by `pad` pixels.

  Args:
    x: float [B, H, W, C] with H, W > pad.
    pad: int >= 0.

  Returns:
    [B, H + 2 pad, W + 2 pad, C], torch.nn.ReflectionPad2d(pad)'s values (the edge
    pixel is not repeated).
  """
  if pad == 0:
    return x
  return jnp.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)), mode='reflect')


class Translator(nn.Module):
  """ResNet generator: images [B, H, W, C_in] in [-1, 1] -> [B, H, W, out_channels] (tanh).

  Fields: out_channels (the target domain's channels; the family sets it), width (w,
  64 in the paper), num_blocks (n residual blocks: 6 or 9 in the paper), num_downs
  (stride-2 convolutions, 2 in the paper; H and W must be divisible by 2^num_downs),
  norm ('instance' as CycleGAN, 'batch', 'none'). `y` is ignored.

  Raises ValueError (at call) for sides not divisible by 2^num_downs or too small for
  the reflection padding.
  """

  out_channels: int = 3
  width: int = 64
  num_blocks: int = 9
  num_downs: int = 2
  norm: str = 'instance'
  fast_conv: bool = True

  @nn.compact
  def __call__(self, x, y=None, train=True):
    del y
    side = 2**self.num_downs
    h, w = x.shape[1:3]
    if h % side or w % side or min(h, w) // side < 2 or min(h, w) <= 3:
      raise ValueError(
        f'The ResNet generator with num_downs={self.num_downs} needs sides divisible by '
        f'{side} and at least {max(2 * side, 4)}; got {h}x{w}.'
      )
    conv = fast_conv_lib.Conv if self.fast_conv else nn.Conv
    conv_t = fast_conv_lib.ConvTranspose if self.fast_conv else nn.ConvTranspose
    bias = self.norm != 'batch'

    def norm_relu(z, name, relu=True):
      z = patchgan.norm_layer(self.norm, train, name)(z)
      return nn.relu(z) if relu else z

    x = conv(self.width, (7, 7), padding='VALID', use_bias=bias, name='c7s1')(reflect_pad(x, 3))
    x = norm_relu(x, 'c7s1_norm')
    for i in range(self.num_downs):
      ch = self.width * 2 ** (i + 1)
      x = conv(ch, (3, 3), strides=(2, 2), padding=((1, 1), (1, 1)), use_bias=bias, name=f'd{i}')(x)
      x = norm_relu(x, f'd{i}_norm')
    ch = self.width * 2**self.num_downs
    for b in range(self.num_blocks):
      r = conv(ch, (3, 3), padding='VALID', use_bias=bias, name=f'r{b}_conv0')(reflect_pad(x, 1))
      r = norm_relu(r, f'r{b}_norm0')
      r = conv(ch, (3, 3), padding='VALID', use_bias=bias, name=f'r{b}_conv1')(reflect_pad(r, 1))
      x = x + norm_relu(r, f'r{b}_norm1', relu=False)
    for i in reversed(range(self.num_downs)):
      ch = self.width * 2**i
      x = conv_t(ch, (3, 3), strides=(2, 2), padding='SAME', use_bias=bias, name=f'u{i}')(x)
      x = norm_relu(x, f'u{i}_norm')
    x = conv(self.out_channels, (7, 7), padding='VALID', name='out')(reflect_pad(x, 3))
    return jnp.tanh(x)
