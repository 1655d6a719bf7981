"""The unpaired-translation evaluator (type 'translation'): per direction of a
`cyclegan` run, FID of the translations, label preservation and cycle error.

  config.evals.translation = configs.translation_eval(every=500)

It needs only what the family exposes (`exp.functions['translate_a2b']` and
`['translate_b2a']`, state and model-space images -> translations) and held-out
images of both domains (`split`, default config.heldout_split: 'test'). For each
direction d in (a2b, b2a), with sources x (held-out images of d's source domain, their
labels l) and targets (held-out images of its target domain):

  <d>/fid_classifier      Frechet distance between the features of the translations
                          (rounded to uint8, as saved images) and of the targets, in
                          the target domain's offline digit classifier
                          (gans.metrics.classifier recipe of that domain: 'mnist5k' for
                          a2b, 'digits' for b2a); with features='inception':
                          <d>/fid, in Inception pool3 features (any two-domain data);
  <d>/label_preservation  the fraction of translations that the target domain's
                          classifier reads as the source's label l: the offline stand-in
                          for CycleGAN's FCN score (labelled domains only; chance 0.1);
  <d>/identity_*          the same two numbers for the identity map (the sources
                          themselves judged as target-domain images): what translation
                          must improve on (FID) or keep (labels);
  <d>/cycle_error         mean |x - back(there(x))| in model space ([-1, 1], so 2 is
                          the largest possible), float outputs not rounded.

Few held-out images bias FID upward: compare numbers of one protocol only.
"""

import time

import jax
import ml_collections
import numpy as np

from gans import configs
from gans import data
from gans import errors
from gans.data import images as image_lib
from gans.eval import features as features_lib
from gans.metrics import classifier as classifier_lib
from gans.metrics import fid as fid_lib

DIRECTIONS = ('a2b', 'b2a')


def options(fragment=None, name='translation'):
  """An evaluator fragment merged over gans.configs.translation_eval(); checks names.

  Raises UserInputError naming an unknown field or a bad `features`.
  """
  values = configs.translation_eval().to_dict()
  for key, value in (fragment or {}).items():
    if key not in values:
      raise errors.UserInputError(
        f'Unknown field {key!r} in config.evals.{name} (type translation); '
        f'known: {", ".join(sorted(values))}.'
      )
    values[key] = value
  if values['features'] not in ('classifier', 'inception'):
    raise errors.UserInputError(
      f"config.evals.{name}.features={values['features']!r}: use 'classifier' or 'inception'."
    )
  return ml_collections.ConfigDict(values)


def label_preservation(logits, labels):
  """Fraction of rows whose argmax logit equals the label.

  Args:
    logits: float [N, K] of a classifier on the translations.
    labels: int [N], the labels of their sources.

  Returns:
    float in [0, 1] (nan for N = 0).
  """
  logits, labels = np.asarray(logits), np.asarray(labels)
  if not len(labels):
    return float('nan')
  return float(np.mean(np.argmax(logits, -1) == labels))


class TranslationEvaluator:
  """FID, label preservation and cycle error of both directions (module docstring)."""

  def __init__(self, config, dataset, fragment=None, name='translation', exp=None):
    self.name = name
    self.opts = options(fragment, name)
    self.every = int(self.opts.every)
    functions = (exp.functions or {}) if exp is not None else {}
    if exp is not None and not {'translate_a2b', 'translate_b2a'} <= set(functions):
      raise errors.UserInputError(
        f'config.evals.{name} (type translation): family {config.get("family", "gan")!r} '
        "does not translate both ways (it needs exp.functions 'translate_a2b' and "
        "'translate_b2a')."
      )
    if dataset.extra.get('domain_b') is None:
      raise errors.UserInputError(
        f'config.evals.{name} (type translation): dataset {dataset.name!r} has one domain.'
      )
    self.config = config
    self.split = self.opts.split or config.get('heldout_split') or 'test'
    if self.split == config.get('train_split', 'train'):
      raise errors.UserInputError(
        f'config.evals.{name}.split={self.split!r} is the training split.'
      )
    heldout = data.load(config, split=self.split)
    self.domains = dict(a=heldout, b=heldout.extra['domain_b'])
    self.domain_names = dict(zip('ab', [d for d, _ in heldout.extra.get('domains', ())]))
    self._networks = {}
    self._images = {}

  def _network(self, domain):
    """The feature network judging images of `domain` ('a' or 'b')."""
    if domain not in self._networks:
      if self.opts.features == 'inception':
        key = 'inception'
        if key not in self._networks:
          try:
            self._networks[key] = features_lib.inception_network(
              self.opts.inception_weights or None
            )
          except FileNotFoundError as e:
            raise errors.MissingInputError(f'config.evals.{self.name}: {e}') from e
        self._networks[domain] = self._networks[key]
      else:
        name = self.domain_names.get(domain, '')
        if name not in data.BUILTIN or self.domains[domain].num_classes < 2:
          raise errors.UserInputError(
            f"config.evals.{self.name}.features='classifier' needs labelled built-in domains "
            f"(digits2mnist); domain {domain.upper()} is {name!r}: use features='inception'."
          )
        recipe = classifier_lib.recipe(dataset=name, image_size=self.config.image_size)
        clf = classifier_lib.get_or_train(recipe, features_lib.cache_dir(self.opts))
        self._networks[domain] = features_lib.classifier_network(clf)
    return self._networks[domain]

  def _held_out(self, domain, crop):
    if domain not in self._images:
      ds = self.domains[domain]
      n = min(int(self.opts.num_examples) or ds.num_examples, ds.num_examples)
      x, y = ds.get(np.arange(n))
      self._images[domain] = (np.asarray(crop(x)), np.asarray(y))
    return self._images[domain]

  def _translate(self, fn, state, x, batch):
    outs = [
      np.asarray(jax.device_get(fn(state, x[i : i + batch]))) for i in range(0, len(x), batch)
    ]
    return np.concatenate(outs)

  def _features(self, network, images_uint8):
    batch = 500
    out = network.features(images_uint8[i : i + batch] for i in range(0, len(images_uint8), batch))
    return out['features'], out.get('logits')

  def __call__(self, exp, state, num_samples=None):
    """{'<direction>/<metric>': float} and 'protocol' (module docstring)."""
    del num_samples
    start = time.time()
    batch = int(self.opts.batch_size or exp.config.batch_size)
    crop = exp.functions.get('center_crop', lambda x: x)
    values, protocol_networks = {}, {}
    for direction in DIRECTIONS:
      src, dst = ('a', 'b') if direction == 'a2b' else ('b', 'a')
      there = exp.functions[f'translate_{direction}']
      back = exp.functions[f'translate_{"b2a" if direction == "a2b" else "a2b"}']
      x, labels = self._held_out(src, crop)
      targets, _ = self._held_out(dst, crop)
      out = self._translate(there, state, x, batch)
      rec = self._translate(back, state, out, batch)
      values[f'{direction}/cycle_error'] = float(np.mean(np.abs(rec - x)))
      network = self._network(dst)
      fid_name = 'fid' if network.name == 'inception' else 'fid_classifier'
      target_features, _ = self._features(network, image_lib.to_uint8(targets))
      for prefix, images in (('', out), ('identity_', x)):
        feats, logits = self._features(network, image_lib.to_uint8(images))
        values[f'{direction}/{prefix}{fid_name}'] = fid_lib.frechet_distance(feats, target_features)
        if network.name == 'classifier' and self.domains[src].num_classes:
          values[f'{direction}/{prefix}label_preservation'] = label_preservation(logits, labels)
      protocol_networks[direction] = network.protocol
    protocol = dict(
      dataset=exp.dataset.name,
      split=self.split,
      num_examples={d: int(len(self._images[d][0])) for d in 'ab'},
      images='translations rounded to uint8 for features; cycle error on float outputs',
      label_preservation='argmax of the target domain classifier == source label (chance 0.1)',
      feature_networks=protocol_networks,
      step=int(state.step),
      seconds=round(time.time() - start, 2),
    )
    protocol.update(exp.protocol)
    return dict(values, protocol=protocol)
