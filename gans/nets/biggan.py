"""BigGAN generator and discriminator (Brock et al. 2019), as ajbrock/BigGAN-PyTorch `BigGAN.py`.

Generator(out_shape, num_classes)(z [B, dz], y [B]) -> images [B, H, W, C] in [-1, 1]:
  with `hierarchical`, z is split into (number of blocks + 1) equal chunks; the first
  goes through a linear layer to 4 x 4 x (ch * m_0); each up residual block gets its own
  chunk concatenated with the shared class embedding (`shared_dim`), which a linear
  projection turns into the gains and biases of its conditional batch norms. Then BN,
  ReLU, 3x3 conv, tanh. shared_dim = 0 instead gives every conditional batch norm its
  own class tables (BigGAN-PyTorch without --G_shared, e.g. its CIFAR script).
Discriminator(num_classes)(x, y) -> logits [B]: down residual blocks (the first one
  "optimized"), ReLU, global sum pool, projection head linear(h) + <embed(y), h>.
Spectral norm is on every layer of both nets except G's class embeddings; a
self-attention block follows the blocks whose output resolution is in `attention`.
Channel multipliers per resolution (ch = 64 or 96 in the paper, 64 for CIFAR):
  32: G 4,4,4 -> 4,4,4; D -> 4,4,4,4 (downsampling in the first two blocks only).
  128: G 16,16,8,4,2 -> 16,8,4,2,1; D -> 1,2,4,8,16,16 (the last block keeps 4x4).
Reference configs (BigGAN-PyTorch scripts): CIFAR-10 `launch_cifar_ema.sh` is ch=64,
  hierarchical=False, shared_dim=0, weight_init='N02', no attention, latent 128; ImageNet 128
  `launch_BigGAN_bs256x8.sh` is ch=96, hierarchical, shared_dim=128, latent 120,
  attention at 64, weight_init='ortho'.
"""

import functools

import flax.linen as nn
import jax.numpy as jnp

from gans.nets import layers

# Resolution -> (input multipliers, output multipliers) of G's blocks.
_G_ARCH = {
  32: ((4, 4, 4), (4, 4, 4)),
  64: ((16, 16, 8, 4), (16, 8, 4, 2)),
  128: ((16, 16, 8, 4, 2), (16, 8, 4, 2, 1)),
  256: ((16, 16, 8, 8, 4, 2), (16, 8, 8, 4, 2, 1)),
}
# Resolution -> (output multipliers, downsample flags) of D's blocks.
_D_ARCH = {
  32: ((4, 4, 4, 4), (True, True, False, False)),
  64: ((1, 2, 4, 8, 16), (True,) * 4 + (False,)),
  128: ((1, 2, 4, 8, 16, 16), (True,) * 5 + (False,)),
  256: ((1, 2, 4, 8, 8, 16, 16), (True,) * 6 + (False,)),
}
_INITS = {
  'ortho': nn.initializers.orthogonal(),
  'N02': nn.initializers.normal(0.02),
  'glorot': nn.initializers.xavier_uniform(),
}


def _arch(table, size, who):
  if size not in table:
    raise ValueError(f'{who} is defined for image sizes {sorted(table)}, got {size}.')
  return table[size]


def _init(name):
  if name not in _INITS:
    raise ValueError(f'BigGAN init {name!r} is not one of {sorted(_INITS)}.')
  return _INITS[name]


class Generator(nn.Module):
  out_shape: tuple  # (H, W, C); H in 32, 64, 128, 256.
  num_classes: int = 10  # 0: unconditional.
  ch: int = 64  # Channel multiplier.
  shared_dim: int = 128  # Shared class embedding size; 0: per-layer class tables.
  hierarchical: bool = True  # Split z over the blocks ("skip-z").
  attention: tuple = (64,)  # Resolutions followed by self-attention.
  weight_init: str = 'ortho'  # 'ortho', 'N02' or 'glorot'.
  bn_epsilon: float = 1e-5

  @nn.compact
  def __call__(self, z, y=None, train=True):
    size, _, channels = self.out_shape
    ins, outs = _arch(_G_ARCH, size, 'biggan.Generator')
    init = _init(self.weight_init)
    n = len(ins)
    if self.hierarchical:
      if z.shape[-1] % (n + 1):
        raise ValueError(
          f'biggan.Generator at {size}x{size} splits z into {n + 1} chunks; '
          f'latent size {z.shape[-1]} is not divisible by {n + 1}.'
        )
      chunks = jnp.split(z, n + 1, axis=-1)
      z, block_z = chunks[0], chunks[1:]
    if self.num_classes > 0:
      y = layers.require_labels(y, 'biggan.Generator', self.num_classes)
    if self.num_classes > 0 and self.shared_dim > 0:
      shared = nn.Embed(self.num_classes, self.shared_dim, embedding_init=init, name='shared')(y)
      conds = (
        [jnp.concatenate([shared, c], -1) for c in block_z] if self.hierarchical else [shared] * n
      )
      norm = 'linear'
    elif self.num_classes > 0:
      if self.hierarchical:
        raise ValueError('biggan.Generator: hierarchical=True needs shared_dim > 0.')
      conds, norm = [y] * n, 'embed'
    else:  # Unconditional: the latent chunks alone drive the batch norms.
      conds, norm = (block_z, 'linear') if self.hierarchical else ([None] * n, 'batch')

    h = layers.SNDense(4 * 4 * self.ch * ins[0], kernel_init=init, name='linear')(z, train)
    h = h.reshape(z.shape[0], 4, 4, self.ch * ins[0])
    for i, out in enumerate(outs):
      h = layers.UpBlock(
        self.ch * out,
        norm,
        self.num_classes,
        spectral_norm=True,
        epsilon=self.bn_epsilon,
        kernel_init=init,
        shortcut_init=init,
        name=f'block{i}',
      )(h, conds[i], train)
      if h.shape[1] in self.attention:
        h = layers.SelfAttention(kernel_init=init, name=f'attention{i}')(h, train)
    h = nn.relu(
      nn.BatchNorm(
        use_running_average=not train, momentum=0.9, epsilon=self.bn_epsilon, name='out_bn'
      )(h)
    )
    h = layers.SNConv(channels, (3, 3), kernel_init=init, name='out')(h, train)
    return jnp.tanh(h)


class Discriminator(nn.Module):
  num_classes: int = 10  # 0: unconditional (no projection term).
  ch: int = 64
  attention: tuple = (64,)
  weight_init: str = 'ortho'
  spectral_norm: bool = True

  @nn.compact
  def __call__(self, x, y=None, train=True):
    outs, downs = _arch(_D_ARCH, x.shape[1], 'biggan.Discriminator')
    init = _init(self.weight_init)
    block = functools.partial(
      layers.DownBlock, spectral_norm=self.spectral_norm, kernel_init=init, shortcut_init=init
    )
    h = x
    for i, (out, down) in enumerate(zip(outs, downs)):
      h = block(self.ch * out, down, preactivation=i > 0, name=f'block{i}')(h, train)
      if h.shape[1] in self.attention:
        h = layers.SelfAttention(self.spectral_norm, init, name=f'attention{i}')(h, train)
    h = jnp.sum(nn.relu(h), axis=(1, 2))
    if not self.is_initializing():
      self.sow('intermediates', 'features', h)
    head = layers.ProjectionHead(
      self.num_classes, self.spectral_norm, kernel_init=init, embedding_init=init, name='head'
    )
    return head(h, y, train)
