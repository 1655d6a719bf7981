"""The augmentation switches of the adversarial families, in one object the steps use.

Two config switches, at most one on:
  augment  DiffAugment policy (gans.augment.diffaugment): '' or a subset of
           'color,translation,cutout'.
  ada      ADA (gans.augment.ada): a fragment {mode, p, target, kimg, interval,
           pipeline}; mode 'off', 'fixed' (every transform with probability p) or
           'adaptive' (p starts at `p` and follows the r_t heuristic towards `target`,
           moving by 1 per `kimg` thousand reals, adjusted every `interval` steps).
ADA's state lives in the train state's extras, so it is checkpointed and restored with
it: 'ada_p' (the probability), 'ada_signs' and 'ada_count' (sum of sign(D(x_real)) and
the number of reals since the last adjustment).
"""

import jax.numpy as jnp

from gans import configs
from gans.augment import ada
from gans.augment import diffaugment


def validate(config):
  """Checks `augment` and `ada`; ValueError names the key."""
  policy = diffaugment.parse_policy(config.get('augment', ''))
  frag = config.get('ada')
  if frag is None:
    return
  mode = frag.get('mode', 'off')
  if mode not in ada.MODES:
    raise ValueError(f'config.ada.mode={mode!r} is not an ADA mode; known: {", ".join(ada.MODES)}.')
  if mode == 'off':
    return
  if policy:
    raise ValueError(
      f'config.augment={config.augment!r} (DiffAugment) and config.ada.mode={mode!r} are two '
      'augmentations of the same images; switch one off.'
    )
  ada.parse_pipeline(frag.pipeline)
  if not 0.0 <= frag.p <= 1.0:
    raise ValueError(f'config.ada.p must be in [0, 1], got {frag.p!r}.')
  if not -1.0 <= frag.target <= 1.0:
    raise ValueError(f'config.ada.target must be in [-1, 1] (a mean sign), got {frag.target!r}.')
  if frag.kimg <= 0:
    raise ValueError(f'config.ada.kimg must be positive, got {frag.kimg!r}.')
  if int(frag.interval) < 1:
    raise ValueError(f'config.ada.interval must be a positive integer, got {frag.interval!r}.')


def check_dataset(config, dataset):
  """ValueError (naming the key and the shape) when the switch on cannot augment the data."""
  aug = Augmentation(config)
  if not aug.enabled:
    return
  shape = tuple(dataset.example_shape)
  if not dataset.is_image:
    raise ValueError(
      f'config.{aug.key} needs an image dataset; {dataset.name!r} has examples of shape {shape}.'
    )
  if aug.uses_ada and (shape[0] != shape[1] or shape[2] not in (1, 3)):
    raise ValueError(
      f'config.ada needs square 1- or 3-channel images; {dataset.name!r} has shape {shape}.'
    )


class Augmentation:
  """What the steps call: `aug(key, x, extras)` augments a batch D is about to see."""

  def __init__(self, config):
    self.policy = diffaugment.parse_policy(config.get('augment', ''))
    frag = config.get('ada') or configs.ada()
    self.mode = frag.get('mode', 'off')
    self.ada = frag
    self.uses_ada = self.mode != 'off'
    self.adaptive = self.mode == 'adaptive'
    self.enabled = bool(self.policy) or self.uses_ada
    self.key = 'ada' if self.uses_ada else 'augment'

  def __call__(self, key, x, extras):
    """x [N, H, W, C] in [-1, 1] -> augmented, differentiable; x itself when off."""
    if self.uses_ada:
      return ada.augment(key, x, extras['ada_p'], self.ada.pipeline)
    return diffaugment.diff_augment(key, x, self.policy)

  def init_extras(self):
    """The extras ADA carries ({} otherwise)."""
    if not self.uses_ada:
      return {}
    return dict(
      ada_p=jnp.asarray(self.ada.p, jnp.float32),
      ada_signs=jnp.zeros((), jnp.float32),
      ada_count=jnp.zeros((), jnp.float32),
    )

  def observe(self, extras, real_logits):
    """Adds D's verdicts on (augmented) reals [B] to the r_t statistics.

    Returns (extras, metrics): metrics {'r_t': mean sign on this batch}, logged with
    or without augmentation (the overfitting heuristic of Karras et al. 2020: it rises
    towards 1 as D becomes sure of the training images).
    """
    signs = jnp.sign(real_logits.astype(jnp.float32))
    metrics = {'r_t': jnp.mean(signs)}
    if not self.adaptive:
      return extras, metrics
    extras = dict(
      extras,
      ada_signs=extras['ada_signs'] + jnp.sum(signs),
      ada_count=extras['ada_count'] + signs.size,
    )
    return extras, metrics

  def update(self, extras, step, target=None):
    """After step `step` (traced int, steps before this one): every `interval`-th step
    adjusts p from the accumulated r_t and resets the statistics.

    `target`: the r_t target (float or traced float32 scalar; gans.sweep passes each
    member's); default the config's `ada.target`.

    Returns (extras, metrics): metrics {'ada_p': p after the step} under ADA.
    """
    if not self.uses_ada:
      return extras, {}
    if self.adaptive:
      new_p, _ = ada.adjust_p(
        extras['ada_p'],
        extras['ada_signs'],
        extras['ada_count'],
        self.ada.target if target is None else target,
        self.ada.kimg,
      )
      due = (step + 1) % int(self.ada.interval) == 0
      zero = jnp.zeros((), jnp.float32)
      extras = dict(
        extras,
        ada_p=jnp.where(due, new_p, extras['ada_p']),
        ada_signs=jnp.where(due, zero, extras['ada_signs']),
        ada_count=jnp.where(due, zero, extras['ada_count']),
      )
    return extras, {'ada_p': extras['ada_p']}
