"""MLPs of the 2D mode-collapse benchmarks.

Defaults: PacGAN's networks (Lin et al. 2018, "PacGAN: The power of two samples in
generative adversarial networks", Sec. 5.1; fjxmlzn/PacGAN `synthetic_data_experiments`):
- Generator: z [B, 2] -> 4 x (Dense 400 without bias, BatchNorm, ReLU) -> Dense 2;
- Discriminator: 3 maxout layers (200 units, 5 pieces each) -> Dense 1 (a logit);
every weight from N(0, 0.02^2), every bias 0, as in the reference.
The Unrolled-GAN / GDPP setup (Metz et al. 2017; Elfeki et al. 2019, M-Elfeki/GDPP
`gdppgan_Synthetic.py`) is G = Generator(hidden=(128, 128), activation='tanh',
batch_norm=False, weight_init='orthogonal', init_scale=1.4) on z of 256 dimensions and
D = Discriminator(hidden=128, layers=2, pieces=1, activation='tanh', same init).

Packing is not done here: the generic step (`config.pack`, gans.train.tricks.pack)
concatenates m samples before D, so D's first layer simply sees 2m inputs. These
modules also take images (D flattens them), and G has optional dropout (a training
trick of the seed documents: `config.generator.dropout`).
"""

import math

import flax.linen as nn
import jax.numpy as jnp

ACTIVATIONS = {'relu': nn.relu, 'tanh': jnp.tanh, 'leaky_relu': lambda x: nn.leaky_relu(x, 0.2)}


def _kernel_init(init, scale):
  if init == 'normal':
    return nn.initializers.normal(scale)
  if init == 'orthogonal':
    return nn.initializers.orthogonal(scale)
  if init == 'lecun':
    return nn.initializers.lecun_normal()
  raise ValueError(f"weight_init={init!r} is not 'normal', 'orthogonal' or 'lecun'.")


class Generator(nn.Module):
  out_shape: tuple  # (2,) for points; (H, W, C) gets a tanh output.
  hidden: tuple = (400, 400, 400, 400)
  activation: str = 'relu'
  batch_norm: bool = True
  dropout: float = 0.0  # Dropout rate after each hidden layer (train mode only).
  weight_init: str = 'normal'  # 'normal' (std init_scale), 'orthogonal' (gain), 'lecun'.
  init_scale: float = 0.02
  bn_momentum: float = 0.95  # The reference's population update p <- 0.95 p + 0.05 m.

  @nn.compact
  def __call__(self, z, y=None, train=True):
    del y
    kernel_init = _kernel_init(self.weight_init, self.init_scale)
    x = z
    for i, h in enumerate(self.hidden):
      x = nn.Dense(h, use_bias=not self.batch_norm, kernel_init=kernel_init, name=f'hidden{i}')(x)
      if self.batch_norm:
        x = nn.BatchNorm(use_running_average=not train, momentum=self.bn_momentum, name=f'bn{i}')(x)
      x = ACTIVATIONS[self.activation](x)
      if self.dropout > 0:
        x = nn.Dropout(self.dropout, deterministic=not train)(x)
    x = nn.Dense(math.prod(self.out_shape), kernel_init=kernel_init, name='out')(x)
    if len(self.out_shape) == 3:
      x = jnp.tanh(x)
    return x.reshape((z.shape[0],) + tuple(self.out_shape))


class Discriminator(nn.Module):
  hidden: int = 200
  layers: int = 3
  pieces: int = 5  # Maxout pieces; 1 means a plain `activation` layer.
  activation: str = 'tanh'  # Used only when pieces == 1.
  weight_init: str = 'normal'
  init_scale: float = 0.02

  @nn.compact
  def __call__(self, x, y=None, train=True):
    del y, train
    kernel_init = _kernel_init(self.weight_init, self.init_scale)
    x = x.reshape(x.shape[0], -1)
    for i in range(self.layers):
      x = nn.Dense(self.hidden * self.pieces, kernel_init=kernel_init, name=f'hidden{i}')(x)
      if self.pieces > 1:
        # Blocks' Maxout groups consecutive units: [B, hidden, pieces], max over pieces.
        x = jnp.max(x.reshape(x.shape[0], self.hidden, self.pieces), axis=-1)
      else:
        x = ACTIVATIONS[self.activation](x)
    return nn.Dense(1, kernel_init=kernel_init, name='logit')(x)[:, 0]
