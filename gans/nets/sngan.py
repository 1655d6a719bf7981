"""SNGAN generators and discriminators (Miyato et al. 2018; Miyato & Koyama 2018).

arch='cnn', the "standard CNN" of Table 3 / Appendix B (as pfnet-research/chainer-gan-lib
`DCGANGenerator` / `SNDCGANDiscriminator`), for M x M images with M divisible by 8:
  G: z -> dense -> BN -> ReLU -> M/8 x M/8 x 512 -> three 4x4 stride-2 deconvs (256, 128,
     64) with BN + ReLU -> 3x3 conv to C -> tanh. Weights N(0, 0.02).
  D: conv3x3 64, conv4x4s2 64, conv3x3 128, conv4x4s2 128, conv3x3 256, conv4x4s2 256,
     conv3x3 512, each LeakyReLU(0.1), dense on the flattened M/8 x M/8 x 512 -> 1.
arch='resnet', the CIFAR ResNets of Table 4 (as pfnet-research/sngan_projection
`gen_models/resnet_32.py` / `dis_models/snresnet_32.py`):
  G: z -> dense -> M/8 x M/8 x 256 -> three up residual blocks -> BN, ReLU, conv3x3, tanh.
  D: optimized down block, down block, two plain blocks (width 128), ReLU, global sum
     pool, dense -> 1 (no bias); Glorot-uniform init (gain sqrt 2 inside the blocks).
Spectral norm is on every D layer (`spectral_norm` switch) and never in G. With
num_classes = K > 0, G uses class-conditional batch norm and D adds the projection
term <embed(y), h> (cGANs with projection discriminator; resnet D only). The layers
keep the reference implementations' biases, including those followed by batch norm,
so that parameter counts match the references exactly.
Shapes: G(z [B, dz], y [B] or None) -> [B, H, W, C] in [-1, 1]; D(x, y) -> logits [B].
"""

import functools

import flax.linen as nn
import jax.numpy as jnp

from gans.nets import fast_conv
from gans.nets import layers

_N02 = nn.initializers.normal(0.02)
_GLOROT = nn.initializers.variance_scaling(1.0, 'fan_avg', 'uniform')
_GLOROT_SQRT2 = nn.initializers.variance_scaling(2.0, 'fan_avg', 'uniform')
_BN_EPS = 2e-5  # Chainer's default, used by both reference implementations.
_DEFAULT_WIDTH = {('cnn', 'G'): 512, ('cnn', 'D'): 64, ('resnet', 'G'): 256, ('resnet', 'D'): 128}


def _check(arch, size):
  if arch not in ('cnn', 'resnet'):
    raise ValueError(f"sngan arch {arch!r} is not 'cnn' or 'resnet'.")
  if size % 8:
    raise ValueError(f'SNGAN nets need an image size divisible by 8, got {size}.')


class Generator(nn.Module):
  out_shape: tuple  # (H, W, C) of the images.
  arch: str = 'resnet'  # 'resnet' (Table 4) or 'cnn' (Table 3).
  width: int = 0  # 0: the paper's (resnet 256; cnn 512 at the bottom).
  num_classes: int = 0  # > 0: class-conditional batch norm.

  @nn.compact
  def __call__(self, z, y=None, train=True):
    size, _, channels = self.out_shape
    _check(self.arch, size)
    width = self.width or _DEFAULT_WIDTH[self.arch, 'G']
    bottom = size // 8
    if self.num_classes > 0:
      y = layers.require_labels(y, 'sngan.Generator', self.num_classes)

    def bn(name, x):
      if self.num_classes > 0:
        return layers.ConditionalBatchNorm(self.num_classes, epsilon=_BN_EPS, name=name)(
          x, y, train
        )
      return nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=_BN_EPS, name=name)(
        x
      )

    if self.arch == 'cnn':
      # As chainer-gan-lib: batch norm over each of the bottom*bottom*width dense outputs.
      h = nn.Dense(bottom * bottom * width, kernel_init=_N02, name='project')(z)
      h = nn.relu(bn('project_bn', h)).reshape(z.shape[0], bottom, bottom, width)
      for i in range(3):
        h = fast_conv.ConvTranspose(
          width // 2 ** (i + 1),
          (4, 4),
          strides=(2, 2),
          padding='SAME',
          kernel_init=_N02,
          name=f'up{i}',
        )(h)
        h = nn.relu(bn(f'up{i}_bn', h))
      return jnp.tanh(fast_conv.Conv(channels, (3, 3), kernel_init=_N02, name='out')(h))

    h = nn.Dense(bottom * bottom * width, kernel_init=_GLOROT, name='project')(z)
    h = h.reshape(z.shape[0], bottom, bottom, width)
    norm = 'embed' if self.num_classes > 0 else 'batch'
    for i in range(3):
      h = layers.UpBlock(
        width,
        norm,
        self.num_classes,
        epsilon=_BN_EPS,
        kernel_init=_GLOROT_SQRT2,
        shortcut_init=_GLOROT,
        name=f'up{i}',
      )(h, y, train)
    h = nn.relu(
      nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=_BN_EPS, name='out_bn')(h)
    )
    return jnp.tanh(fast_conv.Conv(channels, (3, 3), kernel_init=_GLOROT, name='out')(h))


class Discriminator(nn.Module):
  arch: str = 'resnet'  # 'resnet' (Table 4) or 'cnn' (Table 3).
  width: int = 0  # 0: the paper's (resnet 128; cnn 64 in the first layer).
  num_classes: int = 0  # > 0: projection discriminator (resnet only).
  spectral_norm: bool = True
  leak: float = 0.1  # LeakyReLU slope of the cnn D (Table 3).

  @nn.compact
  def __call__(self, x, y=None, train=True):
    _check(self.arch, x.shape[1])
    width = self.width or _DEFAULT_WIDTH[self.arch, 'D']
    sn = self.spectral_norm
    if self.arch == 'cnn':
      if self.num_classes > 0:
        raise ValueError('sngan.Discriminator: the projection head needs arch="resnet".')
      conv = functools.partial(layers.SNConv, spectral_norm=sn, kernel_init=_N02)
      act = lambda t: nn.leaky_relu(t, self.leak)
      for i in range(3):
        x = act(conv(width * 2**i, (3, 3), name=f'conv{i}_0')(x, train))
        x = act(conv(width * 2**i, (4, 4), strides=(2, 2), padding=1, name=f'conv{i}_1')(x, train))
      x = act(conv(width * 8, (3, 3), name='conv3_0')(x, train))
      x = x.reshape(x.shape[0], -1)
      return layers.SNDense(1, spectral_norm=sn, kernel_init=_N02, name='logit')(x, train)[:, 0]

    block = functools.partial(
      layers.DownBlock, width, spectral_norm=sn, kernel_init=_GLOROT_SQRT2, shortcut_init=_GLOROT
    )
    x = block(preactivation=False, name='block0')(x, train)
    x = block(name='block1')(x, train)
    x = block(downsample=False, name='block2')(x, train)
    x = block(downsample=False, name='block3')(x, train)
    h = jnp.sum(nn.relu(x), axis=(1, 2))
    if not self.is_initializing():
      self.sow('intermediates', 'features', h)
    head = layers.ProjectionHead(
      self.num_classes, sn, use_bias=False, kernel_init=_GLOROT, embedding_init=_GLOROT, name='head'
    )
    return head(h, y, train)
