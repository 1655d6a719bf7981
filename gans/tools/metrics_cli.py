r"""Metrics between two sets of images, like pytorch-fid's command line.

    python -m gans.tools.metrics_cli PATH_A PATH_B [--features inception|classifier]
        [--metrics fid,kid,...] [--weights FILE] [--classifier FILE] [--cache_dir DIR]

PATH_A is the reference (real) set, PATH_B the generated one: precision, density, the
Inception Score, mode score and mode count are computed for B against A. Each path is a
folder of image files (PNG, JPEG, BMP, GIF, TIFF, WebP, PPM/PGM; sorted by name; every
Pillow mode read to its 8-bit values or refused, alpha dropped), an .npz file with a
uint8 ``images`` array [N, H, W, C] (what ``launch.py --mode sample`` writes) or an .npy
uint8 array; ``gans.data.image_files`` reads them and docs/metrics_inputs.md tables
what it does with each mode and layout.

Features:
  inception   the FID InceptionV3 (pytorch-fid's weights file: --weights or
              $GANS_INCEPTION_WEIGHTS); reports fid, is, kid, ... under standard names.
  classifier  the project's digit classifier (--classifier FILE, or the default recipe
              trained on mnist5k at the images' size and cached on first use); images of
              another size are resized with the data pipeline's resize. Reports
              fid_classifier, is_classifier, ... (not comparable with Inception numbers).

Prints one JSON object (strict JSON: a NaN or inf in the protocol is null): the metrics
and a "protocol" entry (feature network, weights, sample counts, paths). Lines on stderr
say when the default classifier is trained (10 to 15 s, once) and warn when images are
resampled (two sets of different sizes: one is resized, which biases every metric;
non-square images are center-cropped for the classifier). Bad input (a missing,
truncated or unreadable file, an image mode or array layout it cannot read, uint8
values spanning only 0..1, a weights file with NaN/inf, a bad option) stops it with one
line ``error: <file>: <reason>`` on stderr, nothing on stdout, exit status 2.
Example, with real Inception weights:

    python -m gans.tools.metrics_cli real.npz runs/wgan_gp/samples.npz --features inception \
        --weights ~/pt_inception-2015-12-05-6726825d.pth --metrics fid,is,kid
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import warnings

import numpy as np

from gans import files
from gans import tools
from gans.data import image_files
from gans.data import images as image_lib
from gans.eval import features as features_lib
from gans.eval import samples as samples_lib
from gans.metrics import classifier as classifier_lib

load_images = image_files.load_images


def build_network(
  features: str, weights=None, classifier_path=None, cache_dir=None, image_shape=None
):
  """The FeatureNetwork of the CLI's options.

  The default classifier (no ``classifier_path``) is the mnist5k recipe at the height
  of ``image_shape`` (default 32), trained on first use (a line on stderr says so) and
  cached under ``cache_dir``.
  """
  if features == 'inception':
    return features_lib.inception_network(weights)
  if features == 'classifier':
    if classifier_path:
      clf = classifier_lib.load(classifier_path)
    else:
      size = image_shape[0] if image_shape else 32
      recipe = classifier_lib.recipe('mnist5k', size)
      path = classifier_lib.cache_path(recipe, cache_dir)
      if not os.path.exists(path):
        print(
          f'Training the offline digit classifier (mnist5k at {size}x{size}) once, 10 to 15 s '
          f'on 2 CPU cores; it is cached in {path}.',
          file=sys.stderr,
          flush=True,
        )
      clf = classifier_lib.get_or_train(recipe, cache_dir)
    return features_lib.classifier_network(clf)
  raise ValueError(f"--features={features!r}: use 'inception' or 'classifier'.")


def fit_to_network(images, net, source='the images'):
  """uint8 images [N, H, W, C] as the network takes them; raises ValueError if impossible.

  Channels: three equal channels become one for a 1-channel network, one channel is
  repeated three times for a 3-channel one (both exact); other mismatches raise,
  naming ``source``. Size: resized to the network's (H, W) with the data pipeline's
  resize (center crop to a square, then bilinear; antialiased when downscaling).
  Networks without a fixed input shape (Inception) take the images as they are.
  """
  if net.input_shape is None:
    return images
  h, w, c = net.input_shape
  if images.shape[-1] == 3 and c == 1:
    if not (images == images[..., :1]).all():
      raise ValueError(
        f'{source}: the {net.name} network takes 1-channel (gray) images; these have '
        '3 channels that differ (colour images).'
      )
    images = images[..., :1]
  elif images.shape[-1] == 1 and c == 3:
    images = np.repeat(images, 3, axis=-1)
  elif images.shape[-1] != c:
    raise ValueError(
      f'{source}: the {net.name} network takes {c}-channel images; got {images.shape[-1]}.'
    )
  if images.shape[1:3] != (h, w):
    images = image_lib.resize(images, h)
  return images


def _size_warnings(a, b, path_a, path_b, net):
  """Warnings for resampling the CLI does: sets of different sizes, non-square crops."""
  (ha, wa), (hb, wb) = a.shape[1:3], b.shape[1:3]
  target = net.input_shape
  if (ha, wa) != (hb, wb):
    if target is None:
      what = f'the {net.name} network resizes both to its input size'
    else:
      resized = [p for p, hw in ((path_a, (ha, wa)), (path_b, (hb, wb))) if hw != target[:2]]
      what = f'{" and ".join(resized)} resized to {target[0]}x{target[1]} for the {net.name}'
    warnings.warn(
      f'the two sets differ in size: {path_a} is {ha}x{wa}, {path_b} is {hb}x{wb} pixels; '
      f'{what}. Resampling one set and not the other biases every metric (it blurs that '
      'set): make both sets the same size the same way before comparing them.',
      stacklevel=2,
    )
  if target is not None:
    for path, (h, w) in ((path_a, (ha, wa)), (path_b, (hb, wb))):
      if h != w:
        side = min(h, w)
        warnings.warn(
          f'{path}: {h}x{w} images are center-cropped to {side}x{side} before resizing '
          f'to {target[0]}x{target[1]}.',
          stacklevel=2,
        )


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
  """What the command prints, as a dict: metrics plus 'protocol'.

  Warns (``UserWarning``) where the result depends on resampling the images. Raises
  FileNotFoundError / ValueError (messages name the file or option) for bad inputs,
  and ValueError naming the metric if one comes out NaN or inf.
  """
  a, b = load_images(path_a), load_images(path_b)
  if num_samples:
    a, b = a[:num_samples], b[:num_samples]
  net = build_network(features, weights, classifier_path, cache_dir, a.shape[1:])
  original = (list(a.shape[1:]), list(b.shape[1:]))
  _size_warnings(a, b, path_a, path_b, net)
  a, b = fit_to_network(a, net, path_a), fit_to_network(b, net, path_b)
  opts = dict(
    batch_size=batch_size,
    kid_subsets=kid_subsets,
    kid_subset_size=kid_subset_size,
    is_splits=is_splits,
  )
  values, protocol = samples_lib.evaluate_images(
    a,
    b,
    net,
    metrics,
    opts,
    names=(f'{path_a} ({net.name} features)', f'{path_b} ({net.name} features)'),
  )
  for name, value in values.items():
    if not math.isfinite(value):
      raise ValueError(f'{name} came out {value} from finite features (an overflow?).')
  protocol.update(
    path_real=os.path.abspath(path_a),
    path_fake=os.path.abspath(path_b),
    image_shape_real=original[0],
    image_shape_fake=original[1],
  )
  if net.input_shape is not None and list(net.input_shape) not in original:
    protocol['resized_to'] = list(net.input_shape)
  return dict(values, protocol=protocol)


def _metric_names(text):
  names = [n.strip() for n in text.split(',') if n.strip()]
  unknown = [n for n in names if n not in samples_lib.IMAGE_METRICS]
  if unknown or not names:
    raise argparse.ArgumentTypeError(
      f'unknown metric {unknown[0]!r}' if unknown else 'no metric named'
    )
  return ','.join(names)


def main(argv=None):
  """Runs the command; returns its exit status (0, or 2 for bad input: one line on stderr)."""
  parser = argparse.ArgumentParser(
    prog='python -m gans.tools.metrics_cli',
    description='Metrics between two image sets (folders of image files, .npz or .npy).',
  )
  parser.add_argument('path_a', help='reference (real) images')
  parser.add_argument('path_b', help='generated images')
  parser.add_argument('--features', default='classifier', choices=('classifier', 'inception'))
  parser.add_argument(
    '--metrics',
    default='fid,kid',
    type=_metric_names,
    help=f'comma-separated: {", ".join(samples_lib.IMAGE_METRICS)}',
  )
  parser.add_argument(
    '--weights', default=None, help='FID Inception weights (.pth); default $GANS_INCEPTION_WEIGHTS'
  )
  parser.add_argument('--classifier', default=None, help='classifier .msgpack file')
  parser.add_argument('--cache_dir', default=None, help='default $GANS_CACHE_DIR or ~/.cache/gans')
  parser.add_argument('--batch_size', type=tools.int_at_least(1), default=500)
  parser.add_argument('--kid_subsets', type=tools.int_at_least(1), default=100)
  parser.add_argument('--kid_subset_size', type=tools.int_at_least(2), default=1000)
  parser.add_argument('--is_splits', type=tools.int_at_least(1), default=10)
  parser.add_argument(
    '--num_samples',
    type=tools.int_at_least(0),
    default=0,
    help='use only the first N images of each set (0: all)',
  )
  args = parser.parse_args(argv)
  with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter('always')
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
    except (OSError, ValueError, TypeError) as e:
      # Bad input (files, options, weights): one line naming it, no traceback.
      _print_warnings(caught)
      print(f'error: {e}', file=sys.stderr)
      return 2
  _print_warnings(caught)
  print(json.dumps(files.json_safe(result), indent=2, sort_keys=True, allow_nan=False))
  return 0


def _print_warnings(caught):
  for w in caught:
    print(f'warning: {w.message}', file=sys.stderr)


if __name__ == '__main__':
  sys.exit(main())
