"""Feature networks of the sample evaluators: offline classifier, Inception, VGG16, points.

A `FeatureNetwork` maps uint8 images to features (and class logits where it has
them), sharded over the local devices; `feature_network(opts, config, dataset)`
returns the one an evaluator's `features` option names.
"""

import collections
import dataclasses
import hashlib
import os
from typing import Any, Callable

import jax
from jax.sharding import NamedSharding, PartitionSpec as P
import numpy as np

from gans import errors
from gans import parallel
from gans.metrics import checks
from gans.metrics import classifier as classifier_lib
from gans.metrics import inception
from gans.metrics import stacked_mnist
from gans.metrics import stats as stats_lib
from gans.metrics import vgg16


def cache_dir(opts=None):
  """Reference statistics and classifiers: opts.cache_dir, $GANS_CACHE_DIR, ~/.cache/gans."""
  return classifier_lib.default_cache_dir((opts or {}).get('cache_dir') or None)


@dataclasses.dataclass
class FeatureNetwork:
  """A feature space: `apply(variables, uint8 images) -> {'features', 'logits'?}`.

  `input_shape` (H, W, C) the network requires, or None (any size); `cache_id` names
  the exact weights in reference-cache keys; `protocol` is recorded with every number.
  """

  name: str
  apply: Callable | None
  variables: Any
  input_shape: tuple | None
  protocol: dict
  cache_id: str
  has_logits: bool = True
  _compiled: Any = dataclasses.field(default=None, repr=False)

  def key(self, base, std=False):
    """Reported name: standard names for Inception, `<base>_<network>` otherwise."""
    name = base if self.name == 'inception' else f'{base}_{self.name}'
    return name + '_std' if std else name

  def check_input(self, shape):
    if self.input_shape is not None and tuple(shape) != tuple(self.input_shape):
      raise ValueError(
        f'The {self.name} feature network takes images of shape '
        f'{tuple(self.input_shape)}, got {tuple(shape)}.'
      )

  def features(self, batches):
    """Features of host uint8 batches, sharded over the local devices on the batch axis.

    Returns {'features': [N, D] float32, 'logits': [N, K] float32 (if any)} as NumPy.
    """
    if self.apply is None:  # Raw points.
      out = [np.asarray(b, np.float32) for b in batches]
      return {'features': np.concatenate(out) if out else np.zeros([0, 2], np.float32)}
    mesh = parallel.make_mesh(jax.local_devices())
    if self._compiled is None:
      variables = jax.device_put(self.variables, NamedSharding(mesh, P()))
      self._compiled = (variables, jax.jit(self.apply))
    variables, fn = self._compiled
    outputs = collections.defaultdict(list)

    def checked(batches):
      for batch in batches:
        x = np.asarray(batch)
        if x.dtype != np.uint8:
          raise TypeError(f'Feature networks take uint8 images; got {x.dtype}.')
        self.check_input(x.shape[1:])
        yield x

    for result, n in stats_lib.sharded_outputs(fn, checked(batches), mesh, variables):
      for name, value in result.items():
        outputs[name].append(np.asarray(value, np.float32)[:n])
    return {k: np.concatenate(v) for k, v in outputs.items()}


def check_features(out, source):
  """Raises ValueError if a row of out['features'] or out['logits'] is NaN or inf.

  `out` as `FeatureNetwork.features` returns it; `source` says whose features they are,
  e.g. 'the generated samples at step 7 (classifier features)'. The message counts the
  rows: '3 of 100 feature rows of <source> are non-finite (NaN/inf; first: row 17)'.
  """
  checks.check_finite_rows(out['features'], source, 'feature rows')
  if out.get('logits') is not None:
    checks.check_finite_rows(out['logits'], source, 'logit rows')


def points_network():
  return FeatureNetwork(
    'points', None, None, None, dict(feature_network='points'), 'points', has_logits=False
  )


def _inception_apply(variables, images):
  out = inception.extract(variables, images)
  # The Inception Score takes the logits without the fc bias (torch-fidelity, stylegan2-ada).
  return {'features': out['pool3'], 'logits': out['logits_unbiased']}


def inception_network(weights_path=None):
  """The FID InceptionV3 (pool3 features, bias-free logits) from pytorch-fid's weights.

  `weights_path` empty or None: $GANS_INCEPTION_WEIGHTS. Missing files raise
  FileNotFoundError saying where to get the weights.
  """
  extractor = inception.load(weights_path or None)
  protocol = dict(
    feature_network='inception',
    inception_weights=extractor.weights_path,
    inception_sha256=extractor.sha256,
    official_weights=bool(extractor.is_official_weights),
  )
  cache_id = f'inception-{(extractor.sha256 or _file_id(extractor.weights_path))[:16]}'
  return FeatureNetwork(
    'inception', _inception_apply, extractor.variables, None, protocol, cache_id
  )


def _vgg16_apply(variables, images):
  return {'features': vgg16.extract(variables, images, ('fc2',))['fc2']}


def vgg16_network(weights_path):
  """VGG16 fc2 features [N, 4096] (224x224 inputs), the feature space of the improved
  precision/recall of Kynkaanniemi et al. 2019, from torchvision's weights file.

  No class logits (IS, mode score and mode counts do not apply); metrics are reported
  as `<metric>_vgg16`. Raises FileNotFoundError for a missing file.
  """
  extractor = vgg16.load(weights_path)
  protocol = dict(
    feature_network='vgg16',
    vgg16_layer='fc2',
    vgg16_weights=extractor.weights_path,
    vgg16_sha256=extractor.sha256,
  )
  cache_id = f'vgg16-fc2-{(extractor.sha256 or _file_id(extractor.weights_path))[:16]}'
  return FeatureNetwork(
    'vgg16', _vgg16_apply, extractor.variables, None, protocol, cache_id, has_logits=False
  )


def _file_id(path):
  st = os.stat(path)
  return hashlib.sha256(
    f'{os.path.abspath(path)}:{st.st_size}:{st.st_mtime_ns}'.encode()
  ).hexdigest()


def classifier_network(clf, stacked=False):
  """Features of a trained `gans.metrics.classifier.Classifier`.

  stacked=True: images with 3 stacked digit channels (Stacked MNIST); the 1-channel
  classifier is applied per channel (features concatenated, 1000 joint class logits).
  """
  protocol = dict(feature_network='classifier', **clf.protocol())
  apply, shape = clf.apply, clf.image_shape
  if stacked:
    apply = stacked_mnist.per_channel(clf.apply)
    shape = shape[:2] + (3,)
    protocol['stacked_channels'] = 3
  return FeatureNetwork(
    'classifier',
    apply,
    clf.params,
    shape,
    protocol,
    f'classifier-{clf.sha256[:16]}' + ('-stacked' if stacked else ''),
  )


def load_classifier(opts, dataset_name, image_size, data_dir=''):
  """config.evals.samples.classifier_path, else the cached default recipe (trained on first use)."""
  if opts.classifier_path:
    return classifier_lib.load(opts.classifier_path)
  recipe = classifier_lib.recipe(dataset=dataset_name, image_size=image_size, data_dir=data_dir)
  return classifier_lib.get_or_train(recipe, cache_dir(opts))


def feature_network(opts, config, dataset=None):
  """The feature network `opts.features` names, for `dataset` (default the config's).

  `opts`: a sample evaluator's options (gans.configs.sample_eval); `config` gives the
  image size and TFDS data_dir of the default classifier's recipe.
  """
  name = dataset.name if dataset is not None else config.dataset
  if dataset is not None and not dataset.is_image:
    return points_network()
  if opts.features == 'inception':
    return inception_network(opts.inception_weights or None)
  if opts.features == 'vgg16':
    if not opts.get('vgg_weights'):
      raise errors.UserInputError(
        "config.evals.<name>.features='vgg16' needs config.evals.<name>.vgg_weights "
        "(torchvision's vgg16-397923af.pth; never downloaded)."
      )
    return vgg16_network(opts.vgg_weights)
  if opts.features == 'classifier':
    stacked = name == stacked_mnist.NAME
    clf = load_classifier(
      opts, stacked_mnist.DIGITS if stacked else name, config.image_size, config.get('data_dir', '')
    )
    return classifier_network(clf, stacked=stacked)
  raise errors.UserInputError(
    f"config.evals.<name>.features={opts.features!r}: use 'classifier', 'inception' or 'vgg16'."
  )
