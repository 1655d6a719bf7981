"""Evaluators built from `config.evals` and handed to the loop as hooks.

`config.evals.<name> = dict(type=..., every=..., ...)`; `type` picks a class here:
'samples' (gans.eval.samples: FID, IS, KID, ... of generated samples),
'likelihood' (gans.eval.likelihood: held-out nats and bits/dim), 'ppl' (perceptual
path length), 'diversity' (mean LPIPS between independent samples; both
gans.eval.perceptual), 'overfitting' (gans.eval.overfitting: the discriminator on
training vs held-out reals), 'cas' (gans.eval.cas: the Classification Accuracy Score
of a class-conditional run), 'paired' (gans.eval.paired: PSNR, SSIM and fid_classifier
of paired translations beside bicubic), 'translation' (gans.eval.translation: both directions
of a two-domain translation run). Each evaluator is built from the config and the built
experiment, and called as
`evaluator(exp, state) -> {metric: float, 'protocol': {...}}`. Nothing here imports
the training loop; the loop receives `hooks(config)` and calls them.
"""

import json
import os

from absl import logging
import jax

from gans import errors
from gans import files
from gans.eval import cas
from gans.eval import likelihood
from gans.eval import overfitting
from gans.eval import paired
from gans.eval import perceptual
from gans.eval import samples
from gans.eval import translation

TYPES = {
  'samples': samples.SampleEvaluator,
  'likelihood': likelihood.LikelihoodEvaluator,
  'ppl': perceptual.PathLengthEvaluator,
  'diversity': perceptual.DiversityEvaluator,
  'overfitting': overfitting.OverfittingEvaluator,
  'paired': paired.PairedEvaluator,
  'cas': cas.CASEvaluator,
  'translation': translation.TranslationEvaluator,
}


def build(config, exp, names=None):
  """{name: evaluator} for config.evals (or only `names`); ValueError names the key."""
  out = {}
  for name, fragment in config.get('evals', {}).items():
    if names is not None and name not in names:
      continue
    kind = fragment.get('type')
    if kind not in TYPES:
      raise errors.UserInputError(
        f'config.evals.{name}.type={kind!r} is not an evaluator type; known: {", ".join(TYPES)}.'
      )
    fields = {k: v for k, v in fragment.items() if k != 'type'}
    if kind in ('paired', 'translation'):  # Built from the family's translation functions.
      out[name] = TYPES[kind](config, exp.dataset, fields, name, exp=exp)
      continue
    if kind in ('likelihood', 'ppl', 'overfitting'):
      out[name] = TYPES[kind](config, exp.dataset, fields, name, exp=exp)
    else:
      if exp.sample is None:
        raise errors.UserInputError(
          f'config.evals.{name} (type {kind}): family '
          f'{config.get("family", "gan")!r} does not generate samples.'
        )
      out[name] = TYPES[kind](config, exp.dataset, fields, name)
  return out


class Hook:
  """Runs one evaluator for the loop; logs it and appends it to WORKDIR/eval.jsonl.

  eval.jsonl is strict JSON: a NaN or infinite value (e.g. reverse_kl = inf when no
  toy sample is near a mode) is written as null.
  """

  def __init__(self, name, evaluator, exp, workdir=None):
    self.name, self.evaluator, self.exp, self.workdir = name, evaluator, exp, workdir
    self.every = evaluator.every

  def __call__(self, state):
    results = dict(self.evaluator(self.exp, state))
    protocol = results.pop('protocol')
    logging.info(
      'eval %s at step %d (%.1f s): %s',
      self.name,
      protocol['step'],
      protocol['seconds'],
      ' '.join(f'{k} {v:.4g}' for k, v in results.items()),
    )
    if self.workdir and jax.process_index() == 0:
      os.makedirs(self.workdir, exist_ok=True)
      with open(os.path.join(self.workdir, 'eval.jsonl'), 'a') as f:
        row = dict(step=protocol['step'], evaluator=self.name, metrics=results, protocol=protocol)
        f.write(json.dumps(files.json_safe(row), allow_nan=False) + '\n')
    return {f'eval/{self.name}/{k}': v for k, v in results.items()}


def check_options(config):
  """Checks the fields of every evaluator of config.evals (cheap: builds nothing).

  Raises UserInputError naming `config.evals.<name>` and the field, so that a typo in
  an evaluator that only --mode eval runs fails when training starts, not hours later.
  """
  option_parsers = {
    'samples': samples.options,
    'likelihood': likelihood.options,
    'ppl': perceptual.ppl_options,
    'diversity': perceptual.diversity_options,
    'overfitting': overfitting.options,
    'paired': paired.options,
    'cas': cas.options,
    'translation': translation.options,
  }
  for name, fragment in config.get('evals', {}).items():
    kind = fragment.get('type')
    if kind not in option_parsers:
      raise errors.UserInputError(
        f'config.evals.{name}.type={kind!r} is not an evaluator type; known: {", ".join(TYPES)}.'
      )
    option_parsers[kind]({k: v for k, v in fragment.items() if k != 'type'}, name)


def hooks(config):
  """`hooks(exp, workdir) -> [Hook]` for gans.train.loop.train: evaluators with every > 0.

  They are built when the loop calls it, before training starts, so a missing
  weights file fails first; the fields of the others are checked then too.
  """

  def make(exp, workdir):
    check_options(config)
    scheduled = [n for n, f in config.get('evals', {}).items() if f.get('every', 0) > 0]
    built = build(config, exp, names=scheduled)
    return [Hook(name, ev, exp, workdir) for name, ev in built.items()]

  return make


def evaluate(config, exp, state, num_samples=None, names=None):
  """{name: results} of every evaluator of config.evals (or `names`) on `state`."""
  return {name: ev(exp, state, num_samples) for name, ev in build(config, exp, names).items()}
