"""The family-agnostic train state: named models, EMA, family extras, step and key.

Every family (gans/families/<family>/) keeps its networks in `TrainState.models`, one
`ModelState` (parameters, non-parameter collections such as batch-norm statistics,
optimizer state) per network name; `ema` holds exponential moving averages of some of
them, `extras` anything else the family carries across steps (a running path-length
mean, an image pool, ...). The loop, checkpoints and sharding see one pytree and know
nothing of what is inside.
"""

from typing import Any

import flax
import jax
import jax.numpy as jnp
import optax

from gans import errors


@flax.struct.dataclass
class ModelState:
  params: Any  # The 'params' collection.
  collections: Any  # Every other collection (batch_stats, spectral-norm vectors, ...).
  opt_state: Any  # optax state of this network's optimizer; () when it has none.

  def variables(self):
    """The variables dict for `module.apply`."""
    return {'params': self.params, **self.collections}


@flax.struct.dataclass
class TrainState:
  step: jax.Array  # Train steps taken (int32 scalar).
  key: jax.Array  # Root key (uint32[2]); step keys are fold_in(key, step).
  models: Any  # {name: ModelState}.
  ema: Any  # {name: {'params', 'collections'}}: EMA copies; {} without EMA.
  extras: Any  # {name: array}: family state carried across steps; often {}.

  def model(self, name):
    return self.models[name]

  def replace_model(self, name, **changes):
    """A new state whose model `name` has the given ModelState fields replaced."""
    return self.replace(models={**self.models, name: self.models[name].replace(**changes)})

  def sampling_variables(self, name, use_ema=True):
    """(params, collections) of model `name` to sample with: its EMA copy when kept."""
    if use_ema and self.ema.get(name):
      return self.ema[name]['params'], self.ema[name]['collections']
    return self.models[name].params, self.models[name].collections


# optax constructors whose first argument is the learning rate, looked up by name; any
# other keyword of the optimizer fragment is passed through (b1, b2, eps, momentum,
# weight_decay, ...).
def make_optimizer(cfg, num_updates):
  """optax transformation from an optimizer config fragment (gans.configs.optimizer).

  `cfg.name` is any optax optimizer taking the learning rate first (`adam`, `adamw`,
  `rmsprop`, `sgd`, `lamb`, ...); `cfg.lr` its learning rate; `cfg.decay` 'none' or
  'linear' (to 0 after `num_updates` updates, the number this optimizer makes over the
  run); `cfg.clip_norm` > 0 clips the global gradient norm first; every other field
  is a keyword argument of the optax function. Raises ValueError naming the field.
  """
  kwargs = cfg.to_dict() if hasattr(cfg, 'to_dict') else dict(cfg)
  name = kwargs.pop('name')
  lr = kwargs.pop('lr')
  decay = kwargs.pop('decay', 'none')
  clip_norm = kwargs.pop('clip_norm', 0.0)
  if decay == 'linear':
    lr = optax.linear_schedule(lr, 0.0, num_updates)
  elif decay != 'none':
    raise errors.UserInputError(f"Optimizer decay {decay!r} is not 'none' or 'linear'.")
  if name == 'sgd' and not kwargs.get('momentum'):
    kwargs['momentum'] = None  # optax.sgd: None (not 0) means plain SGD.
  fn = getattr(optax, name, None)
  if not callable(fn) or name.startswith('_'):
    raise errors.UserInputError(
      f'Optimizer name {name!r} is not an optax optimizer (e.g. adam, adamw, rmsprop, sgd, lamb).'
    )
  try:
    tx = fn(lr, **kwargs)
  except TypeError as e:
    raise errors.UserInputError(
      f'Optimizer {name!r} does not take the fields {sorted(kwargs)} ({e}).'
    ) from None
  if clip_norm:
    tx = optax.chain(optax.clip_by_global_norm(clip_norm), tx)
  return tx


def split_variables(variables):
  """Flax variables -> (params, {other collections})."""
  variables = dict(variables)
  params = variables.pop('params', {})
  return params, variables


def init_model(module, key, *args, tx=None, **kwargs):
  """ModelState of `module` initialized on `args` (train=False); opt state from `tx`."""
  params, collections = split_variables(module.init(key, *args, train=False, **kwargs))
  return ModelState(
    params=params, collections=collections, opt_state=tx.init(params) if tx is not None else ()
  )


def ema_copy(model):
  """An EMA entry initialized to a copy of `model`'s params and collections."""
  return dict(
    params=jax.tree.map(jnp.copy, model.params),
    collections=jax.tree.map(jnp.copy, model.collections),
  )


def update_ema(ema, model, decay):
  """ema <- decay * ema + (1 - decay) * model, for params and collections both.

  Collections matter: EMA weights with the live network's batch-norm statistics give
  wrong eval-mode samples (BigGAN on mnist5k: fid_classifier 585 against 52 for the
  live weights); BigGAN-PyTorch averages buffers too.
  """
  average = lambda e, p: decay * e + (1.0 - decay) * p
  return dict(
    params=jax.tree.map(average, ema['params'], model.params),
    collections=jax.tree.map(average, ema['collections'], model.collections),
  )


def param_counts(state):
  """{model name: number of parameters}."""
  return {name: sum(x.size for x in jax.tree.leaves(m.params)) for name, m in state.models.items()}
