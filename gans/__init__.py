"""A GAN research codebase for JAX.

Importing `gans` sets one XLA CPU option (before JAX starts its backend): convolutions
are compiled with XLA's own CPU kernels instead of the YNNPACK library path that
jaxlib 0.10 uses by default, which is slower for every convolution shape of this
project (measured on a 2-core x86 CPU: the WGAN-GP DCGAN train step ~10% faster, FID
Inception features 10 -> 13 images/s; docs/benchmarks.md). It only affects CPU
compilation; it is skipped when XLA_FLAGS already sets the option, when
GANS_XLA_DEFAULTS=0, for jaxlib versions where the option was not checked (an unknown
flag in XLA_FLAGS aborts the process), and when JAX's backend started before the import.
"""

import importlib.metadata
import os

_YNN_OPTION = 'xla_cpu_experimental_ynn_fusion_type'
CHECKED_JAXLIB = ('0.10',)  # Versions (major.minor) where the option exists.


def _jaxlib_minor():
  try:
    return '.'.join(importlib.metadata.version('jaxlib').split('.')[:2])
  except importlib.metadata.PackageNotFoundError:
    return None


def xla_cpu_defaults(environ=None, jaxlib_minor=None):
  """Adds the project's XLA CPU option to environ['XLA_FLAGS'] when safe; returns it."""
  environ = os.environ if environ is None else environ
  flags = environ.get('XLA_FLAGS', '')
  if environ.get('GANS_XLA_DEFAULTS', '1') == '0' or _YNN_OPTION in flags:
    return flags
  if (jaxlib_minor or _jaxlib_minor()) not in CHECKED_JAXLIB:
    return flags
  flags = f'{flags} --{_YNN_OPTION}=-individual_convolution'.strip()
  environ['XLA_FLAGS'] = flags
  return flags


xla_cpu_defaults()
