"""ResNet generator and critic of WGAN-GP (Gulrajani et al. 2017, CIFAR-10, Appendix F).

Generator: z -> 4x4 x width -> three up residual blocks (BN, ReLU, nearest upsample,
3x3 conv, BN, ReLU, 3x3 conv; 1x1 conv shortcut) -> BN, ReLU, 3x3 conv, tanh.
Critic: an optimized first down block, one down block, two plain blocks (no
normalization), ReLU, global mean pool, linear. Width 128 in the paper.
"""

import flax.linen as nn
import jax
import jax.numpy as jnp

from gans.nets import fast_conv


def _upsample(x):
  n, h, w, c = x.shape
  return jax.image.resize(x, (n, 2 * h, 2 * w, c), 'nearest')


def _downsample(x):
  return nn.avg_pool(x, (2, 2), (2, 2))


class UpBlock(nn.Module):
  features: int

  @nn.compact
  def __call__(self, x, train):
    bn = lambda name: nn.BatchNorm(use_running_average=not train, momentum=0.9, name=name)
    h = _upsample(nn.relu(bn('bn0')(x)))
    h = fast_conv.Conv(self.features, (3, 3), name='conv0')(h)
    h = fast_conv.Conv(self.features, (3, 3), name='conv1')(nn.relu(bn('bn1')(h)))
    return h + fast_conv.Conv(self.features, (1, 1), name='shortcut')(_upsample(x))


class DownBlock(nn.Module):
  features: int
  down: bool = True
  first: bool = False  # The optimized block: no pre-activation on the input.

  @nn.compact
  def __call__(self, x):
    h = x if self.first else nn.relu(x)
    h = fast_conv.Conv(self.features, (3, 3), name='conv0')(h)
    h = fast_conv.Conv(self.features, (3, 3), name='conv1')(nn.relu(h))
    shortcut = x
    if self.down:
      h = _downsample(h)
      if self.first:
        shortcut = fast_conv.Conv(self.features, (1, 1), name='shortcut')(_downsample(x))
      else:
        shortcut = _downsample(fast_conv.Conv(self.features, (1, 1), name='shortcut')(x))
    elif x.shape[-1] != self.features:
      shortcut = fast_conv.Conv(self.features, (1, 1), name='shortcut')(x)
    return h + shortcut


class Generator(nn.Module):
  out_shape: tuple
  width: int = 128

  @nn.compact
  def __call__(self, z, y=None, train=True):
    del y
    size, _, channels = self.out_shape
    if size != 32:
      raise ValueError(f'The WGAN-GP ResNet generator is defined for 32x32 images, got {size}.')
    x = nn.Dense(4 * 4 * self.width, name='project')(z).reshape(z.shape[0], 4, 4, self.width)
    for i in range(3):
      x = UpBlock(self.width, name=f'up{i}')(x, train)
    x = nn.relu(nn.BatchNorm(use_running_average=not train, momentum=0.9, name='out_bn')(x))
    return jnp.tanh(fast_conv.Conv(channels, (3, 3), name='out')(x))


class Discriminator(nn.Module):
  width: int = 128

  @nn.compact
  def __call__(self, x, y=None, train=True):
    del y, train
    x = DownBlock(self.width, first=True, name='block0')(x)
    x = DownBlock(self.width, name='block1')(x)
    x = DownBlock(self.width, down=False, name='block2')(x)
    x = DownBlock(self.width, down=False, name='block3')(x)
    x = jnp.mean(nn.relu(x), axis=(1, 2))
    return nn.Dense(1, name='logit')(x)[:, 0]
