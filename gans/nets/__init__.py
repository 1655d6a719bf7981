"""Network architectures. `gans.nets.<name>` defines `Generator` and `Discriminator`.

`build(config, example_shape)` instantiates the pair named by `config.generator.name`
and `config.discriminator.name`, passing the other fields of each as keyword
arguments (the generator also gets `out_shape`). A network with a `num_classes` field
gets the config's class count: `config.num_classes` when `config.conditional`, else 0,
so one switch makes a family conditional.
"""

import dataclasses
import importlib
import pkgutil

from gans import configs
from gans import errors


def available():
  import gans.nets  # pylint: disable=g-import-not-at-top

  return sorted(
    m.name
    for m in pkgutil.iter_modules(gans.nets.__path__)
    if hasattr(importlib.import_module(f'gans.nets.{m.name}'), 'Generator')
  )


def build_module(cfg, cls_name, num_classes=0, key=None, **extra):
  """The linen module `gans.nets.<cfg.name>.<cls_name>(**other fields of cfg, **extra)`.

  `key` names the config fragment in error messages (default cls_name lowercased). A
  module with a `num_classes` field gets `num_classes`. Raises ValueError naming the
  key for an unknown module or fields the module does not take.
  """
  return _module(cls_name, cfg, num_classes, key=key, **extra)


def _module(kind, cfg, num_classes, key=None, **extra):
  name = cfg.get('name')
  key = key or kind.lower()
  try:
    mod = importlib.import_module(f'gans.nets.{name}')
    cls = getattr(mod, kind)
  except (ImportError, AttributeError):
    raise errors.UserInputError(
      f'config.{key}.name={name!r} is not a module with a {kind}; '
      f'architectures with a Generator: {", ".join(available())}.'
    ) from None
  kwargs = {k: v for k, v in cfg.to_dict().items() if k != 'name'}
  fields = {f.name for f in dataclasses.fields(cls)} - {'parent', 'name'}
  if 'num_classes' in kwargs:
    raise errors.UserInputError(
      f'config.{key}.num_classes: set config.conditional and '
      f'config.num_classes instead; they reach both networks.'
    )
  if 'num_classes' in fields:
    extra['num_classes'] = num_classes
  kwargs.update(extra)
  unknown = sorted(set(kwargs) - fields)
  if unknown:
    raise errors.UserInputError(
      f'config.{key} has fields {unknown} that {name}.{kind} '
      f'does not take; it takes {sorted(fields - set(extra))}.'
    )
  for k, v in kwargs.items():
    if isinstance(v, list):
      kwargs[k] = tuple(v)
  return cls(**kwargs)


def build(config, example_shape):
  """Returns (generator, discriminator) linen modules for the config."""
  num_classes = configs.class_count(config)
  generator = _module('Generator', config.generator, num_classes, out_shape=tuple(example_shape))
  discriminator = _module('Discriminator', config.discriminator, num_classes)
  return generator, discriminator
