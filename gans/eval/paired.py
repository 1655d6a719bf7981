"""The paired-translation evaluator (type 'paired'): PSNR, SSIM and fid_classifier of a
`paired` family run's outputs on held-out targets, beside bicubic upsampling.

  config.evals.paired = configs.paired_eval(every=500, unpaired_dataset='digits')

Why an evaluator type (not a command): it runs during training (`every`) and with
`--mode eval` like every other number of a run, records its protocol in eval.jsonl, and
needs nothing but what the family exposes (`exp.functions['make_input']`, targets ->
inputs, and `['translate']`, state and inputs -> outputs).

At each evaluation, on the first `num_examples` targets y of `split` (held out of the
training split; default data.default_heldout_split) with inputs x = make_input(y):
  psnr, ssim         mean over pairs of PSNR (dB) and SSIM (gans.metrics.psnr_ssim:
                     Wang et al. 2004's Gaussian 11x11 window) between the output
                     G(x) and y, both as uint8 (the output rounded as a saved image);
                     each pair's PSNR capped at `max_psnr_db`;
  fid_classifier     Frechet distance between the offline classifier's features of
                     the outputs and of the targets (gans.metrics.classifier; the same
                     network as the sample evaluator's fid_classifier; few examples
                     bias it upward, so compare numbers of one protocol only);
  bicubic_*          the same three numbers for Pillow's BICUBIC upsampling of the
                     uint8 inputs ('sr' pairs only: the baseline SR papers report);
  unpaired_*         with `unpaired_dataset` (e.g. 'digits', scikit-learn's 8x8 digits
                     as low-res inputs, no targets): fid_classifier of the model's
                     outputs on all of its images, and of their bicubic upsampling,
                     against the same held-out targets.
"""

import time

import jax
import ml_collections
import numpy as np

from gans import configs
from gans import data
from gans import errors
from gans.data import images as image_lib
from gans.data import paired as pairs_lib
from gans.eval import features as features_lib
from gans.metrics import fid as fid_lib
from gans.metrics import psnr_ssim


def options(fragment=None, name='paired'):
  """An evaluator fragment merged over gans.configs.paired_eval(); checks names."""
  values = configs.paired_eval().to_dict()
  for key, value in (fragment or {}).items():
    if key not in values:
      raise errors.UserInputError(
        f'Unknown field {key!r} in config.evals.{name} (type paired); '
        f'known: {", ".join(sorted(values))}.'
      )
    values[key] = value
  return ml_collections.ConfigDict(values)


class PairedEvaluator:
  """PSNR / SSIM / fid_classifier of translations and of bicubic upsampling (module doc)."""

  def __init__(self, config, dataset, fragment=None, name='paired', exp=None):
    self.name = name
    self.opts = options(fragment, name)
    self.every = int(self.opts.every)
    functions = (exp.functions or {}) if exp is not None else {}
    if exp is not None and not {'make_input', 'translate'} <= set(functions):
      raise errors.UserInputError(
        f'config.evals.{name} (type paired): family {config.get("family", "gan")!r} does '
        "not translate (it needs exp.functions 'make_input' and 'translate')."
      )
    self.config = config
    self.split = self.opts.split or data.default_heldout_split(config)
    train_split = config.get('train_split', 'train')
    if self.split == train_split or data.splits_overlap(config.dataset, train_split, self.split):
      raise errors.UserInputError(
        f'config.evals.{name}.split={self.split!r} overlaps the training split {train_split!r}.'
      )
    self.heldout = data.load(config, split=self.split)
    num = int(self.opts.num_examples) or self.heldout.num_examples
    self.num = min(num, self.heldout.num_examples)
    self._classifier = None
    self._unpaired = None

  def _features(self, images):
    if self._classifier is None:
      opts = ml_collections.ConfigDict(
        dict(classifier_path=self.opts.classifier_path, cache_dir=self.opts.cache_dir)
      )
      try:
        self._classifier = features_lib.load_classifier(
          opts, self.config.dataset, self.config.image_size, self.config.get('data_dir', '')
        )
      except FileNotFoundError as e:
        raise errors.MissingInputError(f'config.evals.{self.name}: {e}') from e
    return self._classifier.features(images)[0]

  def _translate(self, exp, state, inputs):
    batch = int(self.opts.batch_size or exp.config.batch_size)
    outs = []
    for i in range(0, len(inputs), batch):
      out = exp.functions['translate'](state, inputs[i : i + batch])
      outs.append(np.asarray(jax.device_get(out)))
    return image_lib.to_uint8(np.concatenate(outs))

  def __call__(self, exp, state, num_samples=None):
    """{'psnr', 'ssim', 'fid_classifier', ['bicubic_*', 'unpaired_*']} plus 'protocol'."""
    del num_samples
    start = time.time()
    targets_f = self.heldout.get(np.arange(self.num))[0]
    inputs_f = np.asarray(jax.device_get(exp.functions['make_input'](targets_f)))
    targets = image_lib.to_uint8(targets_f)
    outputs = self._translate(exp, state, inputs_f)
    cap = float(self.opts.max_psnr_db)
    target_features = self._features(targets)
    values = dict(
      psnr=float(np.mean(psnr_ssim.psnr(outputs, targets, max_db=cap))),
      ssim=float(np.mean(psnr_ssim.ssim(outputs, targets))),
      fid_classifier=fid_lib.frechet_distance(self._features(outputs), target_features),
    )
    sr = exp.config.pairs == 'sr'
    if sr:
      bicubic = pairs_lib.bicubic_upsample(image_lib.to_uint8(inputs_f), targets.shape[1])
      values.update(
        bicubic_psnr=float(np.mean(psnr_ssim.psnr(bicubic, targets, max_db=cap))),
        bicubic_ssim=float(np.mean(psnr_ssim.ssim(bicubic, targets))),
        bicubic_fid_classifier=fid_lib.frechet_distance(self._features(bicubic), target_features),
      )
    unpaired_name = self.opts.unpaired_dataset
    if unpaired_name:
      if self._unpaired is None:
        side = inputs_f.shape[1]
        c = ml_collections.ConfigDict(
          dict(dataset=unpaired_name, image_size=side, data_dir=self.config.get('data_dir', ''))
        )
        ds = data.load(c)
        self._unpaired = ds.get(np.arange(ds.num_examples))[0]
        if self._unpaired.shape[1:] != inputs_f.shape[1:]:
          raise errors.UserInputError(
            f'config.evals.{self.name}.unpaired_dataset={unpaired_name!r} gives inputs of '
            f'shape {self._unpaired.shape[1:]}; the model takes {inputs_f.shape[1:]}.'
          )
      outs = self._translate(exp, state, self._unpaired)
      values['unpaired_fid_classifier'] = fid_lib.frechet_distance(
        self._features(outs), target_features
      )
      if sr:
        bicubic = pairs_lib.bicubic_upsample(image_lib.to_uint8(self._unpaired), targets.shape[1])
        values['unpaired_bicubic_fid_classifier'] = fid_lib.frechet_distance(
          self._features(bicubic), target_features
        )
    protocol = dict(
      dataset=exp.dataset.name,
      train_split=exp.dataset.split,
      split=self.split,
      num_examples=int(self.num),
      unpaired_dataset=unpaired_name or None,
      num_unpaired=None if self._unpaired is None else len(self._unpaired),
      images='uint8 (outputs rounded as saved images)',
      psnr='mean over pairs of 10 log10(255^2 / MSE), each capped at max_psnr_db',
      max_psnr_db=cap,
      ssim='mean over pairs; Wang et al. 2004: Gaussian 11x11 window, sigma 1.5 '
      '(skimage.metrics.structural_similarity)',
      bicubic='Pillow BICUBIC upsampling of the uint8 inputs' if sr else None,
      step=int(state.step),
      seconds=round(time.time() - start, 2),
      feature_network='classifier',
      **self._classifier.protocol(),
    )
    protocol.update(exp.protocol)
    return dict(values, protocol=protocol)
