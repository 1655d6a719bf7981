"""Encoders and decoders for the autoencoder, VAE and VAE-GAN baselines.

Encoder(x [N, H, W, C], y) -> a code of `latent_dim` L per image:
  kind='gaussian': (mean [N, L], log_variance [N, L]) of q(z|x) (Kingma & Welling 2014);
  kind='deterministic': a linear code [N, L] (plain autoencoder);
  kind='relu': a ReLU code [N, L];
  kind='binary': a 0/1 code [N, L] for semantic hashing (see below).
Decoder(z [N, L], y) -> p(x|z) for images of `out_shape` (H, W, C):
  output='bernoulli': logits [N, H, W, C] (binarized images);
  output='gaussian': (mean [N, H, W, C], log_scale [N, H, W, C]) of a discretized
    Gaussian over the 256 levels in [-1, 1] (Ho et al. 2020, Eq. 13); the mean is
    unbounded, log_scale = log standard deviation in the units of x;
  output='image': tanh images in [-1, 1] (plain autoencoder; VAE-GAN generator,
    Larsen et al. 2016).
The likelihoods, KL terms and bounds of these outputs are in
gans.objectives.likelihood.

arch='conv' follows DCGAN (Radford et al. 2015): the encoder is the DCGAN
discriminator's stack (4x4 stride-2 convolutions from `width` channels, doubling, down
to 4x4, LeakyReLU 0.2, batch norm on all but the first layer when norm='batch') with
dense heads on the flattened 4x4 features; the decoder is the DCGAN generator (dense
projection to 4x4 x width 2^(n-1), 4x4 stride-2 transposed convolutions halving the
width, batch norm and ReLU, then a last transposed convolution to the output
channels). Square power-of-two images >= 8 only. arch='mlp' is ReLU dense layers
`hidden` on the flattened image (encoder) or on z (decoder), then the dense heads;
any image size.

Semantic hashing (DCGAN paper, Sec. 4.1.1 "Deduplication": a "3072-128-3072
de-noising dropout regularized RELU autoencoder" on 32x32 centre crops whose code
layer is "binarized via thresholding the ReLU activation" to find near duplicates by
hash collisions). Encoder(arch='mlp', hidden=(), latent_dim=128, kind='relu') with
Decoder((32, 32, 3), arch='mlp', hidden=(), output='image') is that network: one
dense layer each way, ReLU on the code, tanh output (the paper names no output
nonlinearity; tanh matches the project's [-1, 1] images); hash = code > 0 after
training. kind='binary' instead trains with the hash itself: the code is
1[a > 0] = 1[sigmoid(a) > 0.5] of the pre-activation a in the forward pass (exactly
0.0 or 1.0) and backpropagates as sigmoid(a) (the straight-through estimator of
Bengio et al. 2013 with a sigmoid surrogate: a ReLU surrogate would pass no gradient
for codes that are 0). For the same pre-activation both kinds give the same bits.
Either pair has 3072 * 128 + 128 + 128 * 3072 + 3072 = 789,632 parameters. The
denoising and dropout of the paper act on the inputs and belong to training.

Every module takes labels y and ignores them unless num_classes > 0; then a learned
class embedding [N, embed_dim] is concatenated to the flattened input (mlp encoder),
to the flattened 4x4 features (conv encoder) or to z (decoders). `train` switches
batch norm between batch statistics (updating 'batch_stats') and running averages.
`fast_conv=True` computes the convolutions through gans.nets.fast_conv (same
parameters and values, faster gradients on CPU).
"""

import math

import flax.linen as nn
import jax
import jax.numpy as jnp

from gans.nets import fast_conv as fast_conv_lib
from gans.nets import layers

ARCHS = ('conv', 'mlp')
KINDS = ('gaussian', 'deterministic', 'relu', 'binary')
NORMS = ('batch', 'none')
OUTPUTS = ('bernoulli', 'gaussian', 'image')
SCALES = ('global', 'pixel')


@jax.custom_jvp
def binary_straight_through(a):
  """1[a > 0] (= 1[sigmoid(a) > 0.5]) with the gradient of sigmoid(a).

  Straight-through estimator (Bengio, Leonard & Courville 2013) with a sigmoid
  surrogate: the forward value is exactly 0.0 or 1.0 in a's dtype, the derivative is
  sigmoid(a) (1 - sigmoid(a)). Elementwise on a float array of any shape.
  """
  return (a > 0).astype(a.dtype)


@binary_straight_through.defjvp
def _binary_straight_through_jvp(primals, tangents):
  (a,), (da,) = primals, tangents
  s = jax.nn.sigmoid(a)
  return binary_straight_through(a), s * (1.0 - s) * da


def _check(value, allowed, what):
  if value not in allowed:
    raise ValueError(f'autoencoder {what}={value!r} is not one of {allowed}.')


def _num_doublings(height, width, who):
  n = int(round(math.log2(max(height, 1) / 4)))
  if height != width or height < 8 or 4 * 2**n != height:
    raise ValueError(
      f"autoencoder {who} arch='conv' needs square power-of-two images of "
      f"size >= 8, got {height}x{width}; use arch='mlp' for other sizes."
    )
  return n


def _batch_norm(train, name):
  return nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-5, name=name)


def _with_labels(module, h, y):
  """Concatenates the class embedding of y to h [N, D] when num_classes > 0."""
  if module.num_classes <= 0:
    return h
  y = layers.require_labels(y, f'autoencoder.{type(module).__name__}', module.num_classes)
  e = nn.Embed(module.num_classes, module.embed_dim, name='class_embed')(y)
  return jnp.concatenate([h, e.astype(h.dtype)], -1)


class Encoder(nn.Module):
  """Maps images to a Gaussian posterior, or to a deterministic, ReLU or binary code.

  Fields: arch 'conv' (DCGAN, Radford et al. 2015) or 'mlp'; width (conv: channels of
  the first layer, doubled per layer); hidden (mlp: ReLU layer sizes); latent_dim L;
  kind 'gaussian' | 'deterministic' | 'relu' | 'binary'; norm 'batch' | 'none' (conv);
  num_classes (> 0: class-conditional) and embed_dim; fast_conv.

  __call__(x, y=None, train=True):
    x: float32 [N, H, W, C] in [-1, 1] (any [N, ...] for mlp); y: int [N] labels,
    used only when num_classes > 0; train: batch statistics when True.
  Returns:
    'gaussian': (mean [N, L], log_variance [N, L]) float32, log_variance = log s^2;
    'deterministic': [N, L] linear code; 'relu': [N, L] >= 0;
    'binary': [N, L] of exactly 0.0 / 1.0, straight-through gradient
      (`binary_straight_through`).
  Raises:
    ValueError: unknown arch, kind or norm; arch='conv' on non-square or
      non-power-of-two images or images smaller than 8; num_classes > 0 and y=None.
  """

  arch: str = 'conv'
  width: int = 32
  hidden: tuple = (512,)
  latent_dim: int = 32
  kind: str = 'gaussian'
  norm: str = 'batch'
  num_classes: int = 0
  embed_dim: int = 16
  fast_conv: bool = True

  @nn.compact
  def __call__(self, x, y=None, train=True):
    _check(self.arch, ARCHS, 'arch')
    _check(self.kind, KINDS, 'kind')
    _check(self.norm, NORMS, 'norm')
    batch = x.shape[0]
    if self.arch == 'mlp':
      h = _with_labels(self, x.reshape(batch, -1), y)
      for i, features in enumerate(self.hidden):
        h = nn.relu(nn.Dense(features, name=f'hidden{i}')(h))
    else:
      n = _num_doublings(x.shape[1], x.shape[2], 'Encoder')
      conv = fast_conv_lib.Conv if self.fast_conv else nn.Conv
      h = x
      for i in range(n):
        normed = i > 0 and self.norm == 'batch'  # DCGAN: no norm on the first layer.
        h = conv(
          self.width * 2**i,
          (4, 4),
          strides=(2, 2),
          padding=((1, 1), (1, 1)),
          use_bias=not normed,
          name=f'down{i}',
        )(h)
        if normed:
          h = _batch_norm(train, f'down{i}_bn')(h)
        h = nn.leaky_relu(h, 0.2)
      h = _with_labels(self, h.reshape(batch, -1), y)
    if self.kind == 'gaussian':
      return (
        nn.Dense(self.latent_dim, name='mean')(h),
        nn.Dense(self.latent_dim, name='log_variance')(h),
      )
    code = nn.Dense(self.latent_dim, name='code')(h)
    if self.kind == 'relu':
      return nn.relu(code)
    if self.kind == 'binary':
      return binary_straight_through(code)
    return code


class Decoder(nn.Module):
  """Maps codes z to Bernoulli logits, a discretized Gaussian or tanh images.

  Fields: out_shape (H, W, C); arch 'conv' (DCGAN generator) or 'mlp'; width (conv:
  channels of the last hidden layer, doubled towards the 4x4 input); hidden (mlp: ReLU
  layer sizes); norm 'batch' | 'none' (conv); output 'bernoulli' | 'gaussian' |
  'image'; learn_scale (output='gaussian'): 'global', one learned log-scale per
  channel (parameter 'log_scale' [C], initialised to 0, i.e. s = 1), or 'pixel', a
  second set of C output channels of the network; num_classes, embed_dim; fast_conv.

  __call__(z, y=None, train=True):
    z: float32 [N, L]; y: int [N] labels, used only when num_classes > 0; train:
    batch statistics when True.
  Returns:
    'bernoulli': logits float32 [N, H, W, C];
    'gaussian': (mean [N, H, W, C], log_scale [N, H, W, C]) float32, both unbounded,
      log_scale = log standard deviation in the units of x in [-1, 1];
    'image': float32 [N, H, W, C] in [-1, 1] (tanh).
  Raises:
    ValueError: unknown arch, norm, output or learn_scale; arch='conv' with an
      out_shape that is not square, a power of two and >= 8; num_classes > 0 and
      y=None.
  """

  out_shape: tuple
  arch: str = 'conv'
  width: int = 32
  hidden: tuple = (512,)
  norm: str = 'batch'
  output: str = 'bernoulli'
  learn_scale: str = 'global'
  num_classes: int = 0
  embed_dim: int = 16
  fast_conv: bool = True

  @nn.compact
  def __call__(self, z, y=None, train=True):
    _check(self.arch, ARCHS, 'arch')
    _check(self.norm, NORMS, 'norm')
    _check(self.output, OUTPUTS, 'output')
    _check(self.learn_scale, SCALES, 'learn_scale')
    height, width, channels = self.out_shape
    batch = z.shape[0]
    per_pixel = self.output == 'gaussian' and self.learn_scale == 'pixel'
    out_channels = 2 * channels if per_pixel else channels
    h = _with_labels(self, z, y)
    if self.arch == 'mlp':
      for i, features in enumerate(self.hidden):
        h = nn.relu(nn.Dense(features, name=f'hidden{i}')(h))
      h = nn.Dense(height * width * out_channels, name='out')(h)
      h = h.reshape(batch, height, width, out_channels)
    else:
      n = _num_doublings(height, width, 'Decoder')
      top = self.width * 2 ** (n - 1)
      normed = self.norm == 'batch'
      # No bias before batch norm: it would be cancelled.
      h = nn.Dense(4 * 4 * top, use_bias=not normed, name='project')(h)
      if normed:
        h = _batch_norm(train, 'project_bn')(h)
      h = nn.relu(h).reshape(batch, 4, 4, top)
      conv_t = fast_conv_lib.ConvTranspose if self.fast_conv else nn.ConvTranspose
      for i in range(n - 1):
        h = conv_t(
          top // 2 ** (i + 1),
          (4, 4),
          strides=(2, 2),
          padding='SAME',
          use_bias=not normed,
          name=f'up{i}',
        )(h)
        if normed:
          h = _batch_norm(train, f'up{i}_bn')(h)
        h = nn.relu(h)
      h = conv_t(out_channels, (4, 4), strides=(2, 2), padding='SAME', name='out')(h)
    if self.output == 'bernoulli':
      return h
    if self.output == 'image':
      return jnp.tanh(h)
    mean = h[..., :channels]
    if per_pixel:
      return mean, h[..., channels:]
    log_scale = self.param('log_scale', nn.initializers.zeros, (channels,), jnp.float32)
    return mean, jnp.broadcast_to(log_scale.astype(mean.dtype), mean.shape)
