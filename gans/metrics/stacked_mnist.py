"""Stacked MNIST: the 1000-mode image benchmark of mode collapse.

Three digits stacked as the R, G and B channels of one image give 10^3 = 1000 modes
(Metz et al. 2017, "Unrolled GANs"; VEEGAN, Srivastava et al. 2017; PacGAN, Lin et
al. 2018). A generator's modes are counted by classifying each channel with an MNIST
classifier (here the project's feature classifier, gans/metrics/classifier.py, trained
on mnist5k at the same image size) and reading the three digits as a number 0..999;
the reported statistics are the number of modes hit by at least one sample and the
reverse KL between the mode histogram and the uniform distribution over 1000 modes
(PacGAN Table 2 uses 26k samples).

    ds = stacked_mnist.dataset(image_size=32)          # a gans.data.Dataset
    loop.train(config, workdir, dataset=ds)            # config.dataset is ignored
    stacked_mnist.count_modes(images_uint8, clf)       # {'modes', 'reverse_kl', 'counts'}

With `config.evals.samples.metrics` containing 'mode_count', the evaluator reports the same
count as `modes_classifier` for a run on this dataset.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from gans.metrics.scores import kl_to_uniform

NAME = 'stacked_mnist'
DIGITS = 'mnist5k'  # The digits stacked, and the classifier's training set.
NUM_MODES = 1000


def stack(digits, labels, num: int, seed: int = 0):
  """Stacks three random digits per image.

  digits [M, H, W, 1] (any dtype), labels [M]. Returns (images [num, H, W, 3] of the
  same dtype, modes [num] int32 = 100 * label_R + 10 * label_G + label_B). Each channel
  takes an independent uniform draw (with replacement) from ``np.random.default_rng(seed)``.
  """
  digits, labels = np.asarray(digits), np.asarray(labels)
  if digits.ndim != 4 or digits.shape[-1] != 1:
    raise ValueError(f'stack needs one-channel digits [M, H, W, 1], got {digits.shape}')
  idx = np.random.default_rng(seed).integers(0, len(digits), size=(3, num))
  images = np.concatenate([digits[i] for i in idx], axis=-1)
  modes = 100 * labels[idx[0]] + 10 * labels[idx[1]] + labels[idx[2]]
  return images, modes.astype(np.int32)


def dataset(image_size: int = 32, num_examples: int = 50_000, seed: int = 0):
  """Stacked MNIST built from mnist5k as a ``gans.data.Dataset`` (float32 in [-1, 1]).

  Each channel is preprocessed as ``gans.data.load`` does for mnist5k (resize to
  ``image_size``, scale to [-1, 1]); labels are the 1000 modes.
  """
  import ml_collections  # pylint: disable=g-import-not-at-top
  from gans import data  # pylint: disable=g-import-not-at-top

  base = data.load(ml_collections.ConfigDict(dict(dataset=DIGITS, image_size=image_size)))
  x, y = base.get(np.arange(base.num_examples))
  images, modes = stack(x, y, num_examples, seed)

  def get(indices):
    return images[indices], modes[indices]

  return data.Dataset(NAME, len(images), tuple(images.shape[1:]), NUM_MODES, get)


def per_channel(apply):
  """Wraps a one-channel classifier ``apply(params, x) -> {'features', 'logits'}``.

  The result takes [B, H, W, 3] images, classifies each channel, and returns features
  [B, 3 D] (the channels' features concatenated) and logits [B, 1000] with
  logit[100 a + 10 b + c] = log p_R(a) + log p_G(b) + log p_B(c) (the joint
  log-probability under independent channels; its argmax is the three argmaxes).
  """

  def apply3(params, images):
    outs = [apply(params, images[..., c : c + 1]) for c in range(3)]
    ls = [jax.nn.log_softmax(o['logits'].astype(jnp.float32), axis=-1) for o in outs]
    joint = ls[0][:, :, None, None] + ls[1][:, None, :, None] + ls[2][:, None, None, :]
    return {
      'features': jnp.concatenate([o['features'] for o in outs], axis=-1),
      'logits': joint.reshape(joint.shape[0], -1),
    }

  return apply3


def classify(images, classifier, batch_size: int = 500):
  """Modes [N] int of stacked images [N, H, W, 3] (uint8, or float in [-1, 1])."""
  images = np.asarray(images)
  if images.ndim != 4 or images.shape[-1] != 3:
    raise ValueError(f'Stacked MNIST images are [N, H, W, 3], got {images.shape}')
  digits = [
    np.argmax(classifier.features(images[..., c : c + 1], batch_size)[1], axis=-1) for c in range(3)
  ]
  return (100 * digits[0] + 10 * digits[1] + digits[2]).astype(np.int64)


def count_modes(images, classifier, batch_size: int = 500) -> dict:
  """Modes of Stacked MNIST samples, as in VEEGAN / PacGAN.

  Returns dict(modes=int (modes with at least one sample, out of 1000),
  reverse_kl=float (KL(histogram / N || uniform(1000)) = sum p log(1000 p), with
  0 log 0 = 0; ``scores.kl_to_uniform``),
  counts=[1000] int array).
  """
  counts = np.bincount(classify(images, classifier, batch_size), minlength=NUM_MODES)
  return dict(modes=int(np.count_nonzero(counts)), reverse_kl=kl_to_uniform(counts), counts=counts)
