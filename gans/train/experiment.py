"""A built run: what the family-agnostic loop, sampling and evaluation are handed.

`build(config)` checks the spine's fields, builds the mesh and loads the dataset, then
hands them to the family `config.family` names (gans/families/<family>/), whose
`build(config, mesh, dataset)` returns an `Experiment`. Training, `--mode sample`,
`--mode eval`, the evaluators and the benchmark all use that one object, so they
compile the same functions with the same shardings.
"""

import dataclasses
import importlib
import pkgutil
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from gans import configs
from gans import data
from gans import errors
from gans import parallel


@dataclasses.dataclass
class Experiment:
  """What a family exposes.

  init:           () -> TrainState, jitted, replicated over the mesh.
  steps:          {phase name: jitted step(state, batch) -> (state, metrics)}; each
                  compiled once, the state donated. `batch` maps 'x' to inputs
                  [batch_group, B, ...] and 'y' to int32 labels [batch_group, B].
  phase:          host function: step number (steps taken so far) -> phase name.
  batch_group:    batches consumed per step (GAN: n_critic).
  grids:          (state) -> {name: uint8 HWC image}, written every sample_every steps.
  sample:         (state, key, start, n, use_ema) -> n samples in model space [n, ...]
                  (sample i of a conditional family has class (start + i) mod K), or
                  None when the family does not sample.
  likelihood:     (state, batch, key, use_ema) -> {name: [B] nats per example} (exact
                  values or bounds of -log p(x)) on a batch of model inputs, or None.
  health:         (step, logged means, state) -> [(name, warning)] at log time, or None.
  modules:        {name: linen module} of the networks in state.models.
  functions:      further jitted functions of the family, by name (e.g. 'encode',
                  'reconstruct' for the analysis tools).
  protocol:       facts recorded with every evaluation (e.g. the decoder likelihood).
  """

  config: Any
  mesh: Any
  dataset: data.Dataset
  init: Callable
  steps: dict
  grids: Callable
  phase: Callable = lambda step: 'main'
  batch_group: int = 1
  sample: Callable | None = None
  likelihood: Callable | None = None
  health: Callable | None = None
  modules: dict = dataclasses.field(default_factory=dict)
  functions: dict = dataclasses.field(default_factory=dict)
  protocol: dict = dataclasses.field(default_factory=dict)

  @property
  def num_classes(self):
    """K of a class-conditional experiment, 0 for an unconditional one."""
    return configs.class_count(self.config)

  @property
  def train_step(self):
    """The step of a single-phase family (tests, benchmark)."""
    if len(self.steps) != 1:
      raise ValueError(
        f'This family has phases {sorted(self.steps)}; use exp.steps[...] with exp.phase(step).'
      )
    return next(iter(self.steps.values()))

  def labels(self, start, n):
    """Labels of samples start..start+n-1: index mod K (every class equally often)."""
    if not self.num_classes:
      return None
    return jnp.arange(start, start + n, dtype=jnp.int32) % self.num_classes


def families():
  """Names of the packages under gans/families/."""
  import gans.families  # pylint: disable=g-import-not-at-top

  return sorted(m.name for m in pkgutil.iter_modules(gans.families.__path__) if m.ispkg)


def family_module(config):
  """The package gans.families.<config.family>; ValueError names an unknown family."""
  name = config.get('family', 'gan')
  if name not in families():
    raise errors.UserInputError(
      f'config.family={name!r} is not a family; available: {", ".join(families())}.'
    )
  return importlib.import_module(f'gans.families.{name}')


def validate(config):
  """The spine's checks (gans.configs.validate), then the family's own `validate`."""
  configs.validate(config)
  family = family_module(config)
  if hasattr(family, 'validate'):
    try:
      family.validate(config)
    except errors.UserInputError:
      raise
    except ValueError as e:  # A family's `validate` checks only the config.
      raise errors.UserInputError(str(e)) from e
  return family


def build(config, mesh=None, dataset=None):
  """The `Experiment` of `config` (family `config.family`, default 'gan').

  `mesh` defaults to all devices on one 'data' axis; `dataset` overrides the one
  `config.dataset` names (tests, custom data). Raises ValueError naming the key for
  an unknown family or a dataset that does not fit the config.
  """
  family = validate(config)
  mesh = parallel.make_mesh() if mesh is None else mesh
  parallel.check_batch_size(config.batch_size, mesh)
  dataset = (
    data.load(config, split=config.get('train_split', 'train')) if (dataset is None) else dataset
  )
  if config.get('conditional', False) and dataset.num_classes != config.num_classes:
    raise errors.UserInputError(
      f'config.conditional: dataset {dataset.name!r} has '
      f'{dataset.num_classes} classes but config.num_classes is '
      f'{config.num_classes}.'
    )
  return family.build(config, mesh, dataset)


def generated_batches(exp, state, num, seed=0, batch_size=None, use_ema=True):
  """Yields `num` generated samples (float, model space) as numpy batches.

  Batch b uses key fold_in(PRNGKey(seed), b); sample i of a conditional experiment
  has class i mod K. EMA weights (and EMA collections) are used when kept and
  `use_ema`. Raises ValueError when the family does not sample.
  """
  if exp.sample is None:
    raise errors.UserInputError(
      f'Family {exp.config.get("family", "gan")!r} does not generate samples.'
    )
  batch_size = batch_size or max(exp.config.batch_size, 1)
  key = jax.random.PRNGKey(seed)
  for i in range(0, num, batch_size):
    out = exp.sample(state, jax.random.fold_in(key, i // batch_size), i, batch_size, use_ema)
    yield np.asarray(jax.device_get(out))[: num - i]


def generate(exp, state, num, seed=0, batch_size=None, use_ema=True):
  """All of `generated_batches` in one array (None when num is 0)."""
  out = list(generated_batches(exp, state, num, seed, batch_size, use_ema))
  return np.concatenate(out) if out else None
