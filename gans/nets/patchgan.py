"""PatchGAN: the N-layer convolutional discriminator of pix2pix (Isola et al. 2017).

"Image-to-Image Translation with Conditional Adversarial Networks", Sec. 3.2.2: a
discriminator that classifies each N x N patch of an image as real or fake, run
convolutionally over the image; its outputs are averaged into the loss. The reference
code (junyanz/pytorch-CycleGAN-and-pix2pix, `NLayerDiscriminator`) builds it as

  conv(width, 4x4, stride 2, pad 1), LeakyReLU(0.2)                      (no norm)
  n_layers - 1 times: conv(width * min(2^n, 8), 4x4, stride 2, pad 1), norm, LeakyReLU
  conv(width * min(2^n_layers, 8), 4x4, stride 1, pad 1), norm, LeakyReLU
  conv(1, 4x4, stride 1, pad 1)                                           (one logit)

so n_layers = 3 is the paper's 70x70 PatchGAN (`receptive_field(3) == 70`), whose output
on a 256x256 image is a 30x30 grid of logits (`output_size(256, 3) == 30`). The CycleGAN
discriminator is the same network. Biases only where no batch norm follows.

All tensors NHWC; `fast_conv=True` computes the same convolutions through
`gans.nets.fast_conv` (fast gradients on XLA's CPU backend).
"""

import flax.linen as nn

from gans.nets import fast_conv as fast_conv_lib


def layer_geometry(n_layers=3, kernel_size=4):
  """[(kernel, stride, padding)] of the PatchGAN's convolutions, input to output.

  Args:
    n_layers: int >= 1, the number of stride-2 convolutions.
    kernel_size: int, the square kernel of every convolution (4 in the paper).

  Returns:
    A list of n_layers + 2 (kernel, stride, padding) int triples.

  Raises:
    ValueError: n_layers < 1 or kernel_size < 1.
  """
  if n_layers < 1:
    raise ValueError(f'PatchGAN needs n_layers >= 1, got {n_layers}.')
  if kernel_size < 1:
    raise ValueError(f'PatchGAN needs kernel_size >= 1, got {kernel_size}.')
  pad = 1  # The reference's padding for its 4x4 kernels, kept for any kernel size.
  return [(kernel_size, 2, pad)] * n_layers + [(kernel_size, 1, pad)] * 2


def receptive_field(n_layers=3, kernel_size=4):
  """Side in input pixels of the patch one output logit sees (70 for n_layers=3).

  Computed from the output back: r = 1, then r = (r - 1) * stride + kernel for each
  layer from the last to the first (padding shifts the patch, not its size). With 4x4
  kernels: n_layers 1 -> 16, 2 -> 34, 3 -> 70, 4 -> 142.
  """
  r = 1
  for kernel, stride, _ in reversed(layer_geometry(n_layers, kernel_size)):
    r = (r - 1) * stride + kernel
  return r


def output_size(image_size, n_layers=3, kernel_size=4):
  """Side of the grid of logits for a square input of side `image_size`.

  Each layer maps h to floor((h + 2 * pad - kernel) / stride) + 1; with 4x4 kernels this
  is image_size / 2^n_layers - 2 for sizes divisible by 2^n_layers (256, 3 -> 30;
  32, 1 -> 14; 32, 2 -> 6). Raises ValueError when a layer would have no output.
  """
  h = int(image_size)
  for kernel, stride, pad in layer_geometry(n_layers, kernel_size):
    h = (h + 2 * pad - kernel) // stride + 1
    if h < 1:
      raise ValueError(
        f'A {n_layers}-layer PatchGAN has no output on {image_size}x{image_size} images; '
        'use fewer layers.'
      )
  return h


def norm_layer(kind, train, name):
  """The normalization `kind` ('batch', 'instance', 'none') as a function of x."""
  if kind == 'batch':
    return nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-5, name=name)
  if kind == 'instance':  # torch InstanceNorm2d's default: no affine parameters.
    return nn.InstanceNorm(epsilon=1e-5, use_scale=False, use_bias=False, name=name)
  if kind == 'none':
    return lambda x: x
  raise ValueError(f"Unknown norm {kind!r}; use 'batch', 'instance' or 'none'.")


class Discriminator(nn.Module):
  """PatchGAN: images [B, H, W, C] float32 -> logits [B, h, w] (one per patch).

  Fields: width (channels of the first layer; 64 in the paper), n_layers (stride-2
  convolutions: 3 is the 70x70 PatchGAN), norm ('batch' as pix2pix, 'instance' as
  CycleGAN, 'none'), kernel_size (4). `y` (labels) is ignored: a conditional PatchGAN
  gets its condition concatenated to the image on the channel axis by the caller.
  """

  width: int = 64
  n_layers: int = 3
  norm: str = 'batch'
  kernel_size: int = 4
  fast_conv: bool = True

  @nn.compact
  def __call__(self, x, y=None, train=True):
    del y
    output_size(x.shape[1], self.n_layers, self.kernel_size)  # Raises when too small.
    conv = fast_conv_lib.Conv if self.fast_conv else nn.Conv
    k = (self.kernel_size, self.kernel_size)
    pad = ((1, 1), (1, 1))
    layers = layer_geometry(self.n_layers, self.kernel_size)
    for i, (_, stride, _) in enumerate(layers[:-1]):
      normed = i > 0 and self.norm == 'batch'
      x = conv(
        self.width * min(2**i, 8),
        k,
        strides=(stride, stride),
        padding=pad,
        use_bias=not normed,
        name=f'conv{i}',
      )(x)
      if i > 0:
        x = norm_layer(self.norm, train, f'norm{i}')(x)
      x = nn.leaky_relu(x, 0.2)
    x = conv(1, k, strides=(1, 1), padding=pad, name='logits')(x)
    return x[..., 0]
