"""The U-Net generator of pix2pix (Isola et al. 2017, Sec. 3.2.1 and appendix 6.1.1).

An encoder-decoder with skip connections: the output of encoder layer i is
concatenated (on the channel axis) to the input of the decoder layer that mirrors it,
so low-level structure shared by input and output (edges, positions) bypasses the
bottleneck. As the reference code (junyanz/pytorch-CycleGAN-and-pix2pix,
`UnetGenerator` / `UnetSkipConnectionBlock`) builds it, with n = num_downs and
ch(i) = width * min(2^i, 8):

  encoder  e0 = conv(x, ch(0))                                  (outermost: no norm)
           e_i = norm(conv(LeakyReLU_0.2(e_{i-1}), ch(i)))      0 < i < n - 1
           e_{n-1} = conv(LeakyReLU_0.2(e_{n-2}), ch(n-1))      (innermost: no norm)
  decoder  d = norm(convT(ReLU(e_{n-1}), ch(n-2)))
           d = norm(convT(ReLU(concat(e_i, d)), ch(i-1))), dropout  i = n-2 .. 1
           out = tanh(convT(ReLU(concat(e0, d)), out_channels))

every conv 4x4 stride 2 (halving the side) and every convT 4x4 stride 2 (doubling it),
so the output has the input's height and width whenever they are divisible by 2^n; n
downsamplings take a 2^n image to a 1x1 bottleneck (the paper's 256x256 net has n = 8;
n = 5 suits 32x32). Dropout (rate 0.5, the paper's noise z) is applied in the
`dropout_blocks` innermost decoder layers after the bottleneck's, only with
train=True and a 'dropout' rng; the reference code's rule (its ch = 8 * width blocks
other than the innermost) gives 3 at n = 8 and none at n = 5. Biases only where no
batch norm follows.

All tensors NHWC; `fast_conv=True` computes the same convolutions through
`gans.nets.fast_conv`.
"""

import flax.linen as nn
import jax.numpy as jnp

from gans.nets import fast_conv as fast_conv_lib
from gans.nets import patchgan


class Translator(nn.Module):
  """U-Net: images [B, H, W, C_in] in [-1, 1] -> [B, H, W, out_channels] in [-1, 1].

  Fields: out_channels (the target's channels; the family sets it), num_downs (n;
  H and W must be divisible by 2^n), width (64 in the paper), norm ('batch' as pix2pix,
  'instance', 'none'), dropout_blocks (decoder layers with dropout 0.5, innermost
  first). `y` is ignored.
  """

  out_channels: int = 1
  num_downs: int = 5
  width: int = 64
  norm: str = 'batch'
  dropout_blocks: int = 0
  fast_conv: bool = True

  @nn.compact
  def __call__(self, x, y=None, train=True):
    del y
    n = self.num_downs
    side = 2**n
    if n < 2 or x.shape[1] % side or x.shape[2] % side:
      raise ValueError(
        f'The U-Net with num_downs={n} needs n >= 2 and sides divisible by {side}; '
        f'got {x.shape[1:3]}.'
      )
    conv = fast_conv_lib.Conv if self.fast_conv else nn.Conv
    conv_t = fast_conv_lib.ConvTranspose if self.fast_conv else nn.ConvTranspose
    bias = self.norm != 'batch'
    ch = lambda i: self.width * min(2**i, 8)
    k, s, pad = (4, 4), (2, 2), ((1, 1), (1, 1))
    skips = [conv(ch(0), k, strides=s, padding=pad, use_bias=True, name='down0')(x)]
    for i in range(1, n):
      inner = i == n - 1
      h = nn.leaky_relu(skips[-1], 0.2)
      h = conv(ch(i), k, strides=s, padding=pad, use_bias=bias or inner, name=f'down{i}')(h)
      if not inner:
        h = patchgan.norm_layer(self.norm, train, f'down{i}_norm')(h)
      skips.append(h)
    d = skips.pop()
    for i in range(n - 2, -1, -1):  # Decoder layer producing ch(i) channels at level i.
      if i < n - 2:
        d = jnp.concatenate([skips[i + 1], d], axis=-1)
      d = conv_t(ch(i), k, strides=s, padding='SAME', use_bias=bias, name=f'up{i}')(nn.relu(d))
      d = patchgan.norm_layer(self.norm, train, f'up{i}_norm')(d)
      if 0 < n - 2 - i <= self.dropout_blocks:
        d = nn.Dropout(0.5, deterministic=not train, name=f'up{i}_dropout')(d)
    d = jnp.concatenate([skips[0], d], axis=-1)
    out = conv_t(self.out_channels, k, strides=s, padding='SAME', name='out')(nn.relu(d))
    return jnp.tanh(out)
