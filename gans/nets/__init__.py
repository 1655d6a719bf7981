"""Network architectures. `gans.nets.<name>` defines `Generator` and `Discriminator`.

`build(config, example_shape)` instantiates the pair named by `config.generator.name`
and `config.discriminator.name`, passing the other fields of each as keyword
arguments (the generator also gets `out_shape`).
"""

import dataclasses
import importlib
import pkgutil


def available():
  import gans.nets  # pylint: disable=g-import-not-at-top
  return sorted(m.name for m in pkgutil.iter_modules(gans.nets.__path__)
                if hasattr(importlib.import_module(f'gans.nets.{m.name}'), 'Generator'))


def _module(kind, cfg, **extra):
  name = cfg.get('name')
  try:
    mod = importlib.import_module(f'gans.nets.{name}')
    cls = getattr(mod, kind)
  except (ImportError, AttributeError):
    raise ValueError(f'config.{kind.lower()}.name={name!r} is not an architecture; '
                     f'available: {", ".join(available())}.') from None
  kwargs = {k: v for k, v in cfg.to_dict().items() if k != 'name'}
  kwargs.update(extra)
  fields = {f.name for f in dataclasses.fields(cls)} - {'parent', 'name'}
  unknown = sorted(set(kwargs) - fields)
  if unknown:
    raise ValueError(f'config.{kind.lower()} has fields {unknown} that {name}.{kind} '
                     f'does not take; it takes {sorted(fields - set(extra))}.')
  for k, v in kwargs.items():
    if isinstance(v, list):
      kwargs[k] = tuple(v)
  return cls(**kwargs)


def build(config, example_shape):
  """Returns (generator, discriminator) linen modules for the config."""
  generator = _module('Generator', config.generator, out_shape=tuple(example_shape))
  discriminator = _module('Discriminator', config.discriminator)
  return generator, discriminator
