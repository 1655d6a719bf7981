"""Every test process sees 8 CPU devices, so multi-device code runs on one machine.

XLA_FLAGS must be set before JAX is imported; pytest imports conftest.py first.
"""

import os

_FLAG = '--xla_force_host_platform_device_count=8'
if _FLAG not in os.environ.get('XLA_FLAGS', ''):
  os.environ['XLA_FLAGS'] = (os.environ.get('XLA_FLAGS', '') + ' ' + _FLAG).strip()
os.environ.setdefault('JAX_PLATFORMS', 'cpu')

import gans  # noqa: E402,F401  (adds the project's XLA CPU option before JAX starts)
