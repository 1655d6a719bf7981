"""Conditional GANs by label concatenation (Mirza & Osindero 2014) and the ACGAN
discriminator (Odena et al. 2017).

Generator(out_shape, num_classes)(z [B, dz], y int [B]) -> [B, *out_shape]: the one-hot
  label is concatenated to z, then arch='mlp' is `mlp.Generator` (hidden layers, tanh
  output for images) and arch='conv' is `dcgan.Generator` (parameters under 'net').
  It also serves as the ACGAN generator, which is conditioned the same way.
Discriminator(num_classes)(x, y) -> logits [B]: the one-hot label is concatenated to the
  flattened input (arch='mlp': dense layers with LeakyReLU 0.2) or to the image as K
  constant feature maps (arch='conv': DCGAN convolutions, 4x4 stride 2, LeakyReLU 0.2,
  until 4x4, then a dense layer).
  With auxiliary=True (ACGAN) the label is not an input; D returns a tuple
  (logit [B], class_logits [B, K]) from two dense heads on the same features, and
  the training step adds the cross-entropy of class_logits to both losses.
"""

import math

import flax.linen as nn
import jax
import jax.numpy as jnp

from gans.nets import dcgan
from gans.nets import fast_conv
from gans.nets import layers
from gans.nets import mlp


def _check(arch, num_classes):
  if arch not in ('mlp', 'conv'):
    raise ValueError(f"cgan arch {arch!r} is not 'mlp' or 'conv'.")
  if num_classes <= 0:
    raise ValueError(
      f'cgan networks are class-conditional (num_classes={num_classes}): '
      'set config.conditional=True and config.num_classes.'
    )


class Generator(nn.Module):
  out_shape: tuple  # (2,) for points, (H, W, C) for images.
  num_classes: int = 10
  arch: str = 'conv'  # 'conv' (DCGAN) or 'mlp'.
  width: int = 64  # conv: DCGAN width.
  hidden: tuple = (256, 512)  # mlp: hidden layer sizes.
  batch_norm: bool = True  # mlp: batch norm after each hidden layer.

  @nn.compact
  def __call__(self, z, y=None, train=True):
    _check(self.arch, self.num_classes)
    y = layers.require_labels(y, 'cgan.Generator', self.num_classes)
    zy = jnp.concatenate([z, jax.nn.one_hot(y, self.num_classes, dtype=z.dtype)], -1)
    if self.arch == 'mlp':
      net = mlp.Generator(tuple(self.out_shape), self.hidden, 'relu', self.batch_norm, name='net')
    else:
      net = dcgan.Generator(tuple(self.out_shape), self.width, name='net')
    return net(zy, None, train)


class Discriminator(nn.Module):
  num_classes: int = 10
  arch: str = 'conv'  # 'conv' or 'mlp'.
  width: int = 64  # conv: channels of the first layer, doubled per layer.
  hidden: tuple = (512, 256)  # mlp: hidden layer sizes.
  norm: str = 'none'  # conv: 'none' or 'batch' (not on the first layer).
  auxiliary: bool = False  # ACGAN: return (logit, class_logits); y is not an input.

  @nn.compact
  def __call__(self, x, y=None, train=True):
    _check(self.arch, self.num_classes)
    if self.norm not in ('none', 'batch'):
      raise ValueError(f"cgan norm {self.norm!r} is not 'none' or 'batch'.")
    batch = x.shape[0]
    onehot = None
    if not self.auxiliary:
      y = layers.require_labels(y, 'cgan.Discriminator', self.num_classes)
      onehot = jax.nn.one_hot(y, self.num_classes, dtype=x.dtype)
    if self.arch == 'mlp':
      h = x.reshape(batch, -1)
      if onehot is not None:
        h = jnp.concatenate([h, onehot], -1)
      for i, features in enumerate(self.hidden):
        h = nn.leaky_relu(nn.Dense(features, name=f'hidden{i}')(h), 0.2)
    else:
      h = x
      if onehot is not None:
        maps = jnp.broadcast_to(onehot[:, None, None, :], x.shape[:3] + (self.num_classes,))
        h = jnp.concatenate([h, maps], -1)
      size = x.shape[1]
      n = int(round(math.log2(size / 4)))
      if size < 8 or 4 * 2**n != size:
        raise ValueError(f'cgan conv D needs a power-of-two image size >= 8, got {size}.')
      for i in range(n):
        normed = i > 0 and self.norm == 'batch'
        h = fast_conv.Conv(
          self.width * 2**i, (4, 4), (2, 2), ((1, 1), (1, 1)), use_bias=not normed, name=f'down{i}'
        )(h)
        if normed:
          h = nn.BatchNorm(use_running_average=not train, momentum=0.9, name=f'down{i}_bn')(h)
        h = nn.leaky_relu(h, 0.2)
      h = h.reshape(batch, -1)
    logit = nn.Dense(1, name='logit')(h)[:, 0]
    if not self.auxiliary:
      return logit
    return logit, nn.Dense(self.num_classes, name='classifier')(h)
