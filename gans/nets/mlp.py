"""Multilayer perceptrons for 2D toy data and flattened images (Goodfellow et al. 2014)."""

import math

import flax.linen as nn
import jax.numpy as jnp

ACTIVATIONS = {'relu': nn.relu, 'tanh': jnp.tanh, 'leaky_relu': lambda x: nn.leaky_relu(x, 0.2)}


class Generator(nn.Module):
  out_shape: tuple  # (2,) for points, (H, W, C) for images (tanh output).
  hidden: tuple = (128, 128)
  activation: str = 'relu'
  batch_norm: bool = False

  @nn.compact
  def __call__(self, z, y=None, train=True):
    del y
    x = z
    for i, h in enumerate(self.hidden):
      x = nn.Dense(h, name=f'hidden{i}')(x)
      if self.batch_norm:
        x = nn.BatchNorm(use_running_average=not train, momentum=0.9, name=f'bn{i}')(x)
      x = ACTIVATIONS[self.activation](x)
    x = nn.Dense(math.prod(self.out_shape), name='out')(x)
    if len(self.out_shape) == 3:
      x = jnp.tanh(x)
    return x.reshape((z.shape[0],) + tuple(self.out_shape))


class Discriminator(nn.Module):
  hidden: tuple = (128, 128)
  activation: str = 'relu'

  @nn.compact
  def __call__(self, x, y=None, train=True):
    del y, train
    x = x.reshape(x.shape[0], -1)
    for i, h in enumerate(self.hidden):
      x = ACTIVATIONS[self.activation](nn.Dense(h, name=f'hidden{i}')(x))
    return nn.Dense(1, name='logit')(x)[:, 0]
