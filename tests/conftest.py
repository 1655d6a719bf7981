"""Every test process sees 8 CPU devices, so multi-device code runs on one machine.

XLA_FLAGS must be set before JAX is imported; pytest imports conftest.py first.
"""

import os

_FLAG = '--xla_force_host_platform_device_count=8'
if _FLAG not in os.environ.get('XLA_FLAGS', ''):
  os.environ['XLA_FLAGS'] = (os.environ.get('XLA_FLAGS', '') + ' ' + _FLAG).strip()
os.environ.setdefault('JAX_PLATFORMS', 'cpu')

# One persistent compilation cache per test session (also for the launch.py processes
# tests start): the many tests that build the same experiment compile it once.
if not os.environ.get('JAX_COMPILATION_CACHE_DIR'):
  import atexit
  import shutil
  import tempfile

  os.environ['JAX_COMPILATION_CACHE_DIR'] = tempfile.mkdtemp(prefix='gans-test-jax-cache-')
  atexit.register(shutil.rmtree, os.environ['JAX_COMPILATION_CACHE_DIR'], ignore_errors=True)
os.environ.setdefault('JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS', '1')

import gans  # noqa: E402,F401  (adds the project's XLA CPU option before JAX starts)
