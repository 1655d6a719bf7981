"""DCGAN generator and discriminator (Radford et al. 2015), sized by the image.

The generator projects z to 4x4 x (width * 2^(n-1)) and doubles the resolution n
times with 4x4 stride-2 transposed convolutions (n = log2(image_size / 4)), halving
the width each time; batch norm and ReLU between, tanh at the output. The
discriminator mirrors it with 4x4 stride-2 convolutions and LeakyReLU(0.2), then a
linear layer to one logit. At 32x32x3 with width 64 and z 128 this is the WGAN-GP
DCGAN of the performance benchmark: G 1,191,299 and D 662,977
parameters (the biases of layers followed by batch norm are left out).

`fast_conv=True` (default) computes the same convolutions through
`gans.nets.fast_conv`, whose gradients and gradients of gradients avoid XLA's slow CPU
kernels (same parameters, same values; see that module).
"""

import math

import flax.linen as nn
import jax.numpy as jnp

from gans.nets import fast_conv as fast_conv_lib


def _num_doublings(size):
  n = int(round(math.log2(size / 4)))
  if size < 8 or 4 * 2**n != size:
    raise ValueError(f'DCGAN needs a power-of-two image size >= 8, got {size}.')
  return n


class Generator(nn.Module):
  out_shape: tuple  # (H, W, C) of the images.
  width: int = 64
  kernel_size: int = 4
  fast_conv: bool = True

  @nn.compact
  def __call__(self, z, y=None, train=True):
    del y  # Unconditional.
    size, _, channels = self.out_shape
    n = _num_doublings(size)
    top = self.width * 2 ** (n - 1)
    bn = lambda name: nn.BatchNorm(
      use_running_average=not train, momentum=0.9, epsilon=1e-5, name=name
    )
    # No bias before batch norm: it would be cancelled (zero gradient, pure noise).
    x = nn.Dense(4 * 4 * top, use_bias=False, name='project')(z)
    x = nn.relu(bn('project_bn')(x)).reshape(z.shape[0], 4, 4, top)
    k = (self.kernel_size, self.kernel_size)
    conv_transpose = fast_conv_lib.ConvTranspose if self.fast_conv else nn.ConvTranspose
    for i in range(n - 1):
      x = conv_transpose(
        top // 2 ** (i + 1), k, strides=(2, 2), padding='SAME', use_bias=False, name=f'up{i}'
      )(x)
      x = nn.relu(bn(f'up{i}_bn')(x))
    x = conv_transpose(channels, k, strides=(2, 2), padding='SAME', name='out')(x)
    return jnp.tanh(x)


class Discriminator(nn.Module):
  width: int = 64
  kernel_size: int = 4
  norm: str = 'none'  # 'none' (WGAN-GP critic), 'batch' (DCGAN), 'layer'.
  fast_conv: bool = True

  @nn.compact
  def __call__(self, x, y=None, train=True):
    del y
    n = _num_doublings(x.shape[1])
    conv = fast_conv_lib.Conv if self.fast_conv else nn.Conv
    k = (self.kernel_size, self.kernel_size)
    for i in range(n):
      normed = i > 0 and self.norm == 'batch'
      x = conv(
        self.width * 2**i,
        k,
        strides=(2, 2),
        padding=((1, 1), (1, 1)),
        use_bias=not normed,
        name=f'down{i}',
      )(x)
      if i > 0:  # DCGAN: no normalization on the first layer.
        x = _norm(self.norm, train, f'down{i}_norm')(x)
      x = nn.leaky_relu(x, 0.2)
    x = x.reshape(x.shape[0], -1)
    return nn.Dense(1, name='logit')(x)[:, 0]


def _norm(kind, train, name):
  if kind == 'none':
    return lambda x: x
  if kind == 'batch':
    return nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-5, name=name)
  if kind == 'layer':
    return nn.LayerNorm(name=name)
  raise ValueError(f"Unknown norm {kind!r}; use 'none', 'batch' or 'layer'.")
