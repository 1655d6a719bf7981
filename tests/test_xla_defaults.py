"""The XLA CPU option `import gans` sets (gans/__init__.py)."""

import gans


def test_option_added_for_checked_jaxlib_only():
  env = {'XLA_FLAGS': '--xla_force_host_platform_device_count=8'}
  flags = gans.xla_cpu_defaults(env, jaxlib_minor='0.10')
  assert flags == (
    '--xla_force_host_platform_device_count=8 '
    '--xla_cpu_experimental_ynn_fusion_type=-individual_convolution'
  )
  assert env['XLA_FLAGS'] == flags
  assert gans.xla_cpu_defaults({}, jaxlib_minor='0.99') == ''


def test_user_settings_win():
  env = {'XLA_FLAGS': '--xla_cpu_experimental_ynn_fusion_type=dot'}
  assert gans.xla_cpu_defaults(env, '0.10') == '--xla_cpu_experimental_ynn_fusion_type=dot'
  env = {'GANS_XLA_DEFAULTS': '0'}
  assert gans.xla_cpu_defaults(env, '0.10') == '' and 'XLA_FLAGS' not in env


def test_the_option_is_active_in_this_process():
  """conftest imports gans before JAX compiles anything, so the option is in force."""
  import os  # pylint: disable=g-import-not-at-top
  import jax  # pylint: disable=g-import-not-at-top
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top

  if gans._jaxlib_minor() not in gans.CHECKED_JAXLIB:
    return
  assert gans._YNN_OPTION in os.environ['XLA_FLAGS']
  conv = jax.jit(lambda x, w: jax.lax.conv_general_dilated(x, w, (1, 1), 'SAME'))
  hlo = conv.lower(jnp.ones((1, 1, 8, 8)), jnp.ones((2, 1, 3, 3))).compile().as_text()
  assert 'ynn_fusion' not in hlo
