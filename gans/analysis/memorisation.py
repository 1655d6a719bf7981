r"""Is the generator copying its training set? Nearest neighbours, distance ratios, hashes.

  python -m gans.analysis.memorisation --config experiments/dcgan.py \
      --workdir runs/dcgan [--heldout_split 'train[4500:]' --num_samples 1000 --k 5] \
      [--hash_config experiments/ae.py:arch=dcgan_hash --hash_workdir runs/ae_hash]

Reads the latest checkpoint, generates `num_samples` images (seed 0; every family that
samples) and compares them with the run's training split and with held-out real images
(`heldout_split`, images the run did not train on), in two spaces: pixels (L2 over all
H * W * C values in [-1, 1]) and the features of the run's sample evaluator (the
offline digit classifier's 128-d layer for the digit datasets). All images are
quantized to uint8 first, as when saved. Writes into WORKDIR/analysis/:
  memorisation.png   one row per generated sample (the first `show`): the sample, a
                     blank cell, its k nearest training images in pixels, a blank, its k
                     nearest in features (nearest first);
  memorisation.json  per space, the distance of each generated sample to its nearest
                     training image against the same for the held-out reals:
                     `median_ratio` = median(generated) / median(held-out) (and
                     `mean_ratio`; about 1: samples are as far from the training set as
                     new real images are; well below 1: copying), their quantiles, and
                     `copy_fraction`, the fraction of generated samples nearer to the
                     training set than the nearest 1% of held-out reals (about 0.01 when
                     nothing is copied); with a hash autoencoder, the hash collisions.
Hash collisions follow DCGAN (Radford et al. 2015, Sec. 4.1.1): the autoencoder of
`experiments/ae.py:arch=dcgan_hash` (a ReLU code of 128), trained by the user on the
same images; an image's hash is its code thresholded at 0. Reported: colliding pairs
and the fraction of images sharing their hash within the generated set and within the
training set, and the fraction of generated (and, as the baseline, held-out) images
whose hash equals some training image's; `constant_bits` counts the bits that are the
same for every training image (they carry no information, and a hash with many of them
collides often whatever the generator does).
The held-out split defaults to the next split of configs.HOLDOUT_SPLITS when the run
trains on the first (mnist5k train[:4000] -> train[4500:]; digits train[:80%] ->
train[90%:]) and to 'test' for TFDS datasets; a run that trains on all of a built-in
dataset has no held-out images, and the command says so.
"""

import collections

from absl import app
from absl import flags
from absl import logging
from ml_collections import config_flags
import numpy as np

from gans import configs
from gans import data
from gans import errors
from gans.analysis import common
from gans.data import images as image_lib
from gans.metrics import neighbors
from gans.train import experiment as experiment_lib
from gans.train import loop

QUANTILES = (0.01, 0.1, 0.5, 0.9)


def nearest_neighbours(queries, reference, k=1, chunk_size=None):
  """The k nearest rows of `reference` for each row of `queries` (Euclidean).

  Args:
    queries: float [N, D]; reference: float [M, D] (M >= k); flattened images or
      features.
    k: neighbours per query (>= 1).
  Returns:
    (indices int64 [N, k], distances float64 [N, k]), nearest first; equal distances
    among the k are ordered by index (which of several rows tied at the k-th distance
    is returned is not specified). Distances in the units of the inputs. Computed in row
    chunks (gans.metrics.neighbors), never the whole N x M matrix.
  Raises:
    ValueError: for k outside [1, M], different D, or a non-finite row.
  """
  q = np.asarray(queries, np.float64).reshape(len(queries), -1)
  r = np.asarray(reference, np.float64).reshape(len(reference), -1)
  if q.shape[1] != r.shape[1]:
    raise ValueError(f'Queries have {q.shape[1]} values per row, the reference {r.shape[1]}.')
  if not 1 <= k <= len(r):
    raise ValueError(f'k={k} must be in [1, {len(r)}] (the reference rows).')
  for x, name in ((q, 'queries'), (r, 'reference')):
    if not np.all(np.isfinite(x)):
      raise ValueError(f'The {name} hold non-finite values (NaN/inf).')
  indices = np.empty((len(q), k), np.int64)
  dist = np.empty((len(q), k), np.float64)
  for rows, d2 in neighbors.squared_distance_chunks(q, r, chunk_size):
    part = np.argpartition(d2, k - 1, axis=1)[:, :k] if k < d2.shape[1] else np.argsort(d2, 1)
    # The chosen distances again from the differences: the expansion's rounding would
    # leave an exact copy at a distance of about 1e-6 instead of 0.
    exact = np.concatenate(
      [
        np.linalg.norm(q[rows][i : i + 256, None, :] - r[part[i : i + 256]], axis=-1)
        for i in range(0, len(part), 256)
      ]
    )
    order = np.lexsort((part, exact), axis=1)  # Distance, then index.
    indices[rows] = np.take_along_axis(part, order, 1)
    dist[rows] = np.take_along_axis(exact, order, 1)
  return indices, dist


def distance_ratio(generated, heldout, train):
  """Nearest-training-neighbour distances of generated vs held-out rows.

  Args:
    generated [N, D], heldout [H, D], train [M, D]: flattened images or features.
  Returns:
    dict: `median_ratio` = median(d_gen) / median(d_held), `mean_ratio` likewise (about
    1 for a generator whose samples are as novel as new real images; 0 for one that
    returns training images), `copy_fraction` (fraction of d_gen below the 1% quantile
    of d_held), and `generated_quantiles`, `heldout_quantiles` at QUANTILES
    (input units).
  """
  _, d_gen = nearest_neighbours(generated, train, 1)
  _, d_held = nearest_neighbours(heldout, train, 1)
  d_gen, d_held = d_gen[:, 0], d_held[:, 0]
  with np.errstate(divide='ignore', invalid='ignore'):
    return dict(
      median_ratio=float(np.median(d_gen) / np.median(d_held)),
      mean_ratio=float(np.mean(d_gen) / np.mean(d_held)),
      copy_fraction=float(np.mean(d_gen < np.quantile(d_held, 0.01))),
      generated_quantiles=np.quantile(d_gen, QUANTILES).tolist(),
      heldout_quantiles=np.quantile(d_held, QUANTILES).tolist(),
    )


def hash_codes(encode, images, batch_size=256):
  """Binary hashes (code > 0) of float images [N, H, W, C] in [-1, 1] -> bool [N, L].

  `encode(x) -> codes [n, L]`: the hashing autoencoder's encoder (DCGAN Sec. 4.1.1
  thresholds its ReLU code). Batches are padded to `batch_size` (one compilation).
  """
  images = np.asarray(images, np.float32)
  out = []
  for i in range(0, len(images), batch_size):
    x = images[i : i + batch_size]
    pad = np.zeros((batch_size - len(x),) + x.shape[1:], np.float32)
    codes = np.asarray(encode(np.concatenate([x, pad])))[: len(x)]
    out.append(codes > 0)
  return np.concatenate(out) if out else np.zeros((0, 0), bool)


def _keys(codes):
  return [np.packbits(c).tobytes() for c in np.asarray(codes, bool)]


def collisions(codes):
  """Hash collisions within one set: codes bool [N, L].

  Returns dict: `pairs` (unordered pairs i < j with identical codes), `colliding`
  (images whose code another image shares), `unique` (distinct codes), `n`,
  `constant_bits` (bits equal in every code: they carry no information).
  """
  codes = np.asarray(codes, bool)
  counts = collections.Counter(_keys(codes))
  return dict(
    pairs=int(sum(c * (c - 1) // 2 for c in counts.values())),
    colliding=int(sum(c for c in counts.values() if c > 1)),
    unique=len(counts),
    n=len(codes),
    constant_bits=int(np.sum(codes.all(0) | ~codes.any(0))) if len(codes) else 0,
  )


def cross_collisions(codes, reference):
  """Rows of `codes` [N, L] whose code equals some row of `reference` [M, L] -> count."""
  seen = set(_keys(reference))
  return int(sum(k in seen for k in _keys(codes)))


# The held-out split rule is shared with the D-overfitting evaluator.
default_heldout_split = data.default_heldout_split


def quantized(images):
  """float images in [-1, 1] -> the same images after a round trip through uint8."""
  return image_lib.to_model(image_lib.to_uint8(images))


def analyse(
  exp,
  state,
  heldout,
  num_samples=1000,
  k=5,
  show=8,
  net=None,
  hash_encode=None,
  seed=0,
  generated=None,
):
  """Nearest neighbours and distance ratios of a run's samples (see the module docstring).

  Args:
    exp, state: a restored run (`loop.restore_latest`); its training images are
      exp.dataset (all of them).
    heldout: float [H, ...] real images in [-1, 1] the run did not train on.
    num_samples: generated images (experiment.generate, seed `seed`).
    k, show: neighbours shown for each of the first `show` samples.
    net: feature network (default `common.feature_network` of the run).
    hash_encode: optional encoder of a hashing autoencoder (`hash_codes`).
    generated: float images to use instead of sampling the run (tests, other models).
  Returns:
    (rows, numbers): rows = uint8 figure rows (see `figure`), numbers a JSON-ready dict
    {'pixels': distance_ratio, 'features': distance_ratio, 'hash': ... or None, sizes}.
  """
  train = quantized(exp.dataset.get(np.arange(exp.dataset.num_examples))[0])
  heldout = quantized(heldout)
  if generated is None:
    generated = experiment_lib.generate(exp, state, num_samples, seed=seed)
  generated = quantized(generated)
  if tuple(generated.shape[1:]) != tuple(train.shape[1:]):
    raise errors.UserInputError(
      f'Generated images {generated.shape[1:]} and training images {train.shape[1:]} differ.'
    )
  net = net or common.feature_network(exp.config, exp.dataset)
  feats = {name: common.features(net, x) for name, x in (('gen', generated), ('train', train))}
  feats['held'] = common.features(net, heldout)
  flat = lambda x: x.reshape(len(x), -1)
  numbers = dict(
    num_generated=len(generated),
    num_train=len(train),
    num_heldout=len(heldout),
    pixels=distance_ratio(flat(generated), flat(heldout), flat(train)),
    features=distance_ratio(feats['gen'], feats['held'], feats['train']),
    feature_network=net.name,
    protocol=dict(net.protocol, sample_seed=seed),
  )
  shown = generated[:show]
  pix_idx, pix_d = nearest_neighbours(flat(shown), flat(train), k)
  feat_idx, feat_d = nearest_neighbours(feats['gen'][:show], feats['train'], k)
  numbers['shown'] = dict(
    pixel_neighbours=pix_idx.tolist(),
    pixel_distances=pix_d.tolist(),
    feature_neighbours=feat_idx.tolist(),
    feature_distances=feat_d.tolist(),
  )
  numbers['hash'] = None
  if hash_encode is not None:
    codes = {n: hash_codes(hash_encode, x) for n, x in (('gen', generated), ('train', train))}
    codes['held'] = hash_codes(hash_encode, heldout)
    numbers['hash'] = dict(
      bits=int(codes['train'].shape[1]),
      generated=collisions(codes['gen']),
      train=collisions(codes['train']),
      constant_bits=collisions(codes['train'])['constant_bits'],
      generated_in_train=cross_collisions(codes['gen'], codes['train']),
      heldout_in_train=cross_collisions(codes['held'], codes['train']),
      generated_in_train_fraction=cross_collisions(codes['gen'], codes['train']) / len(generated),
      heldout_in_train_fraction=cross_collisions(codes['held'], codes['train']) / len(heldout),
    )
  to8 = image_lib.to_uint8
  blank = np.full((1,) + train.shape[1:], 255, np.uint8)
  rows = [
    np.concatenate(
      [to8(shown[i : i + 1]), blank, to8(train[pix_idx[i]]), blank, to8(train[feat_idx[i]])]
    )
    for i in range(len(shown))
  ]
  return rows, numbers


def hash_encoder(hash_config, hash_workdir, image_shape):
  """The encoder of a trained `ae` run, as `encode(x [n, H, W, C]) -> codes [n, L]`.

  Raises UserInputError for a run of another family, a class-conditional autoencoder or
  another image shape; MissingInputError without a checkpoint.
  """
  if hash_config.get('family') != 'ae':
    raise errors.UserInputError(
      f'The hash autoencoder must be an ae run (experiments/ae.py:arch=dcgan_hash); '
      f'config.family={hash_config.get("family")!r}.'
    )
  if configs.class_count(hash_config):
    raise errors.UserInputError('The hash autoencoder must be unconditional.')
  ae_exp, ae_state = loop.restore_latest(hash_config, hash_workdir)
  if tuple(ae_exp.dataset.example_shape) != tuple(image_shape):
    raise errors.UserInputError(
      f'The hash autoencoder takes images {tuple(ae_exp.dataset.example_shape)}; '
      f'the run makes {tuple(image_shape)}.'
    )
  encode = ae_exp.functions['encode']
  return lambda x: encode(ae_state, x)


def write_figure(
  config,
  workdir,
  heldout_split=None,
  num_samples=1000,
  k=5,
  show=8,
  hash_config=None,
  hash_workdir=None,
  seed=0,
):
  """Restores the latest checkpoint of `workdir`, runs `analyse` against `heldout_split`
  (default `default_heldout_split`) and writes analysis/memorisation.png and .json.

  Returns the numbers. Raises MissingInputError without a checkpoint, UserInputError
  for a run without held-out images, a family that does not sample, or a bad hash
  autoencoder.
  """
  if (hash_config is None) != (hash_workdir is None):
    raise errors.UserInputError('Give both --hash_config and --hash_workdir, or neither.')
  heldout_split = heldout_split or default_heldout_split(config)
  exp, state = loop.restore_latest(config, workdir)
  if not exp.dataset.is_image or exp.sample is None:
    raise errors.UserInputError(
      'The memorisation checks take a run that samples images; '
      f'family {config.get("family", "gan")!r} on {config.dataset!r} does not.'
    )
  heldout_set = data.load(config, split=heldout_split)
  heldout = heldout_set.get(np.arange(min(heldout_set.num_examples, max(num_samples, 500))))[0]
  encode = None
  if hash_config is not None:
    encode = hash_encoder(hash_config, hash_workdir, exp.dataset.example_shape)
  rows, numbers = analyse(exp, state, heldout, num_samples, k, show, hash_encode=encode, seed=seed)
  numbers = dict(
    step=int(state.step),
    train_split=exp.dataset.split,
    heldout_split=heldout_split,
    **numbers,
  )
  if hash_workdir is not None:
    numbers['hash']['autoencoder_workdir'] = hash_workdir
  out = common.output_dir(workdir)
  common.write_png(f'{out}/memorisation.png', common.framed(rows))
  common.write_json(f'{out}/memorisation.json', numbers)
  logging.info(
    'Wrote %s/memorisation.png (step %d): nearest-train distance ratio, pixels %.3f, features %.3f',
    out,
    numbers['step'],
    numbers['pixels']['median_ratio'],
    numbers['features']['median_ratio'],
  )
  return numbers


def define_flags():
  """The command's flags and main (defined only when run as a command)."""
  config, workdir = common.define_common_flags()
  heldout = flags.DEFINE_string(
    'heldout_split', None, 'Real images the run did not train on (default: see the docstring).'
  )
  num_samples = flags.DEFINE_integer('num_samples', 1000, 'Generated images compared.')
  k = flags.DEFINE_integer('k', 5, 'Nearest training images shown per sample.')
  show = flags.DEFINE_integer('show', 8, 'Generated samples shown (rows of the figure).')
  seed = flags.DEFINE_integer('seed', 0, 'Seed of the generated samples.')
  hash_config = config_flags.DEFINE_config_file(
    'hash_config', None, 'Experiment file of the hashing autoencoder (ae:arch=dcgan_hash).'
  )
  hash_workdir = flags.DEFINE_string('hash_workdir', None, 'Its run directory.')

  def main(argv):
    del argv
    common.run_command(
      lambda: write_figure(
        config=config.value,
        workdir=workdir.value,
        heldout_split=heldout.value,
        num_samples=num_samples.value,
        k=k.value,
        show=show.value,
        hash_config=hash_config.value,
        hash_workdir=hash_workdir.value,
        seed=seed.value,
      )
    )

  return main


if __name__ == '__main__':
  app.run(define_flags())
