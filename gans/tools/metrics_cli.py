r"""Metrics between two sets of images, like pytorch-fid's command line.

    python -m gans.tools.metrics_cli PATH_A PATH_B [--features inception|classifier]
        [--metrics fid,kid,...] [--weights FILE] [--classifier FILE] [--cache_dir DIR]

PATH_A is the reference (real) set, PATH_B the generated one: precision, density, the
Inception Score, mode score and mode count are computed for B against A. Each path is a
folder of PNG/JPEG files (sorted by name; grayscale files stay one channel, others are
read as RGB) or an .npz file with a uint8 ``images`` array [N, H, W, C] (what
``launch.py --mode sample`` writes).

Features:
  inception   the FID InceptionV3 (pytorch-fid's weights file: --weights or
              $GANS_INCEPTION_WEIGHTS); reports fid, is, kid, ... under standard names.
  classifier  the project's digit classifier (--classifier FILE, or the default recipe
              trained on mnist5k at the images' size and cached on first use); images of
              another size are resized with the data pipeline's resize. Reports
              fid_classifier, is_classifier, ... (not comparable with Inception numbers).

Prints one JSON object: the metrics and a "protocol" entry (feature network, weights,
sample counts, paths). Example, with real Inception weights:

    python -m gans.tools.metrics_cli real.npz runs/wgan_gp/samples.npz --features inception \
        --weights ~/pt_inception-2015-12-05-6726825d.pth --metrics fid,is,kid
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np

from gans.data import images as image_lib
from gans.eval import features as features_lib
from gans.eval import samples as samples_lib
from gans.metrics import classifier as classifier_lib

IMAGE_EXTENSIONS = ('.png', '.jpg', '.jpeg')


def load_images(path: str) -> np.ndarray:
  """uint8 images [N, H, W, C] from a folder of PNG/JPEG files or an .npz ``images`` array."""
  from PIL import Image  # pylint: disable=g-import-not-at-top

  path = os.path.expanduser(path)
  if os.path.isdir(path):
    files = sorted(f for f in os.listdir(path) if f.lower().endswith(IMAGE_EXTENSIONS))
    if not files:
      raise ValueError(f'No PNG or JPEG files in folder {path!r}.')
    images = []
    for name in files:
      with Image.open(os.path.join(path, name)) as img:
        img = img.convert('L' if img.mode in ('1', 'L', 'I;16', 'I') else 'RGB')
        x = np.asarray(img)
      x = x[..., None] if x.ndim == 2 else x
      if images and x.shape != images[0].shape:
        raise ValueError(
          f'{os.path.join(path, name)} has shape {x.shape}, but '
          f'{files[0]} has {images[0].shape}; all images in a folder '
          f'must have the same size and channels.'
        )
      images.append(x)
    return np.stack(images)
  if path.endswith('.npz') and os.path.isfile(path):
    with np.load(path) as f:
      if 'images' not in f:
        raise ValueError(f"{path} has no 'images' array (arrays: {sorted(f.files)}).")
      images = f['images']
    if images.ndim == 3:
      images = images[..., None]
    if images.dtype != np.uint8 or images.ndim != 4:
      raise ValueError(
        f"{path}: 'images' must be uint8 [N, H, W, C], got {images.dtype} {images.shape}."
      )
    return images
  raise FileNotFoundError(f'{path!r} is neither a folder of images nor an .npz file.')


def build_network(
  features: str, weights=None, classifier_path=None, cache_dir=None, image_shape=None
):
  """(FeatureNetwork, target (H, W, C) or None) for the CLI's options."""
  if features == 'inception':
    return features_lib.inception_network(weights)
  if features == 'classifier':
    if classifier_path:
      clf = classifier_lib.load(classifier_path)
    else:
      size = image_shape[0] if image_shape else 32
      clf = classifier_lib.get_or_train(classifier_lib.recipe('mnist5k', size), cache_dir)
    return features_lib.classifier_network(clf)
  raise ValueError(f"--features={features!r}: use 'inception' or 'classifier'.")


def fit_to_network(images, net):
  """Resizes images to the network's input size (data pipeline resize); checks channels."""
  if net.input_shape is None:
    return images
  h, w, c = net.input_shape
  if images.shape[-1] != c:
    raise ValueError(
      f'The {net.name} network takes {c}-channel images; got {images.shape[-1]} channels.'
    )
  if images.shape[1:3] != (h, w):
    images = image_lib.resize(images, h)
  return images


def compute(
  path_a,
  path_b,
  features='classifier',
  metrics='fid,kid',
  weights=None,
  classifier_path=None,
  cache_dir=None,
  batch_size=500,
  kid_subsets=100,
  kid_subset_size=1000,
  is_splits=10,
  num_samples=0,
) -> dict:
  """What the command prints, as a dict: metrics plus 'protocol'."""
  a, b = load_images(path_a), load_images(path_b)
  if num_samples:
    a, b = a[:num_samples], b[:num_samples]
  net = build_network(features, weights, classifier_path, cache_dir, a.shape[1:])
  original = (list(a.shape[1:]), list(b.shape[1:]))
  a, b = fit_to_network(a, net), fit_to_network(b, net)
  opts = dict(
    batch_size=batch_size,
    kid_subsets=kid_subsets,
    kid_subset_size=kid_subset_size,
    is_splits=is_splits,
  )
  values, protocol = samples_lib.evaluate_images(a, b, net, metrics, opts)
  protocol.update(
    path_real=os.path.abspath(path_a),
    path_fake=os.path.abspath(path_b),
    image_shape_real=original[0],
    image_shape_fake=original[1],
  )
  if net.input_shape is not None and list(net.input_shape) not in original:
    protocol['resized_to'] = list(net.input_shape)
  return dict(values, protocol=protocol)


def main(argv=None):
  parser = argparse.ArgumentParser(
    prog='python -m gans.tools.metrics_cli',
    description='Metrics between two image sets (folders of PNG/JPEG or .npz).',
  )
  parser.add_argument('path_a', help='reference (real) images')
  parser.add_argument('path_b', help='generated images')
  parser.add_argument('--features', default='classifier', choices=('classifier', 'inception'))
  parser.add_argument(
    '--metrics',
    default='fid,kid',
    help='comma-separated: fid, is, kid, precision_recall, '
    'density_coverage, mode_score, mode_count',
  )
  parser.add_argument(
    '--weights', default=None, help='FID Inception weights (.pth); default $GANS_INCEPTION_WEIGHTS'
  )
  parser.add_argument('--classifier', default=None, help='classifier .msgpack file')
  parser.add_argument('--cache_dir', default=None, help='default $GANS_CACHE_DIR or ~/.cache/gans')
  parser.add_argument('--batch_size', type=int, default=500)
  parser.add_argument('--kid_subsets', type=int, default=100)
  parser.add_argument('--kid_subset_size', type=int, default=1000)
  parser.add_argument('--is_splits', type=int, default=10)
  parser.add_argument(
    '--num_samples', type=int, default=0, help='use only the first N images of each set (0: all)'
  )
  args = parser.parse_args(argv)
  try:
    result = compute(
      args.path_a,
      args.path_b,
      args.features,
      args.metrics,
      args.weights,
      args.classifier,
      args.cache_dir,
      args.batch_size,
      args.kid_subsets,
      args.kid_subset_size,
      args.is_splits,
      args.num_samples,
    )
  except (FileNotFoundError, ValueError, TypeError) as e:
    print(f'error: {e}', file=sys.stderr)
    return 2
  print(json.dumps(result, indent=2, sort_keys=True))
  return 0


if __name__ == '__main__':
  sys.exit(main())
