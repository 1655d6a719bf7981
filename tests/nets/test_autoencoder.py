"""gans.nets.autoencoder: output shapes, conditioning, the binary hash code, sizes."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gans.nets import autoencoder as ae

KEY = jax.random.PRNGKey(0)
LABELS = jnp.array([1, 0])
_FAST_COMPILE = {'xla_backend_optimization_level': 0, 'xla_llvm_disable_expensive_passes': True}


def _fast_jit(fn):
  """jit(fn) for a key argument, compiled without LLVM optimizations: on these tiny nets
  compilation is nearly all the time (as in tests/nets/test_zoo_nets.py)."""
  return jax.jit(fn).lower(KEY).compile(compiler_options=_FAST_COMPILE)


def _shapes(module, *args, **kwargs):
  """(output shapes, variable collections) from shapes alone (nothing is computed)."""
  out, variables = jax.eval_shape(
    lambda: module.init_with_output(KEY, *args, train=False, **kwargs)
  )
  return jax.tree.map(lambda a: a.shape, out), variables


def _count(module, *args):
  _, variables = _shapes(module, *args)
  return sum(math.prod(x.shape) for x in jax.tree.leaves(variables['params']))


@pytest.mark.parametrize(
  'image_shape,arch,width',
  [
    ((32, 32, 1), 'conv', 8),
    ((64, 64, 3), 'conv', 4),
    ((28, 28, 1), 'mlp', 0),
    ((8, 8, 3), 'conv', 4),
  ],
)
def test_output_shapes(image_shape, arch, width):
  x = jnp.zeros((2,) + image_shape)
  kw = {'arch': arch, 'hidden': (32, 16)} if arch == 'mlp' else {'arch': arch, 'width': width}
  mean_var, variables = _shapes(ae.Encoder(latent_dim=6, **kw), x)
  assert mean_var == ((2, 6), (2, 6))
  assert ('batch_stats' in variables) == (arch == 'conv' and image_shape[0] > 8)
  for kind in ('deterministic', 'relu', 'binary'):
    assert _shapes(ae.Encoder(latent_dim=6, kind=kind, **kw), x)[0] == (2, 6)
  z = jnp.zeros((2, 6))
  full = (2,) + image_shape
  assert _shapes(ae.Decoder(image_shape, **kw), z)[0] == full
  assert _shapes(ae.Decoder(image_shape, output='image', **kw), z)[0] == full
  for scale in ('global', 'pixel'):
    out, variables = _shapes(ae.Decoder(image_shape, output='gaussian', learn_scale=scale, **kw), z)
    assert out == (full, full)
    if scale == 'global':
      assert variables['params']['log_scale'].shape == (image_shape[-1],)
    else:
      assert 'log_scale' not in variables['params']


def test_class_conditioning():
  x, z = jnp.zeros((2, 16, 16, 3)), jnp.zeros((2, 5))
  encoder = ae.Encoder(width=4, latent_dim=5, num_classes=3, embed_dim=7)
  decoder = ae.Decoder((16, 16, 3), width=4, num_classes=3, embed_dim=7)
  out, variables = _shapes(encoder, x, LABELS)
  assert out == ((2, 5), (2, 5))
  assert variables['params']['class_embed']['embedding'].shape == (3, 7)
  # The embedding is concatenated to the 4x4 x 8 features: 128 + 7 inputs to each head.
  assert variables['params']['mean']['kernel'].shape == (128 + 7, 5)
  out, variables = _shapes(decoder, z, LABELS)
  assert out == (2, 16, 16, 3)
  assert variables['params']['project']['kernel'].shape == (5 + 7, 4 * 4 * 8)
  with pytest.raises(ValueError, match='needs integer labels'):
    _shapes(encoder, x)
  with pytest.raises(ValueError, match='needs integer labels'):
    _shapes(decoder, z)
  # Unconditional modules ignore y.
  assert _shapes(ae.Encoder('mlp', latent_dim=5), x, LABELS)[0] == ((2, 5), (2, 5))


def test_invalid_configurations_raise():
  with pytest.raises(ValueError, match='power-of-two'):
    _shapes(ae.Encoder(), jnp.zeros((1, 28, 28, 1)))
  with pytest.raises(ValueError, match='power-of-two'):
    _shapes(ae.Decoder((16, 32, 1)), jnp.zeros((1, 4)))
  with pytest.raises(ValueError, match='power-of-two'):
    _shapes(ae.Encoder(), jnp.zeros((1, 4, 4, 1)))
  for module, arg in [
    (ae.Encoder(kind='vq'), jnp.zeros((1, 8, 8, 1))),
    (ae.Encoder(arch='resnet'), jnp.zeros((1, 8, 8, 1))),
    (ae.Encoder(norm='layer'), jnp.zeros((1, 8, 8, 1))),
    (ae.Decoder((8, 8, 1), output='logistic'), jnp.zeros((1, 4))),
    (ae.Decoder((8, 8, 1), output='gaussian', learn_scale='x'), jnp.zeros((1, 4))),
  ]:
    with pytest.raises(ValueError, match='is not one of'):
      _shapes(module, arg)


def test_conv_autoencoder_runs_in_train_and_eval_mode():
  x = jax.random.uniform(KEY, (3, 16, 16, 1), minval=-1.0, maxval=1.0)
  encoder = ae.Encoder(width=4, latent_dim=8)
  decoder = ae.Decoder((16, 16, 1), width=4, output='image')

  def run(key):
    e_vars = encoder.init(key, x)
    (mean, log_variance), e_state = encoder.apply(e_vars, x, mutable=['batch_stats'])
    d_vars = decoder.init(key, mean)
    images, d_state = decoder.apply(d_vars, mean, mutable=['batch_stats'])
    images_eval = decoder.apply(d_vars, encoder.apply(e_vars, x, train=False)[0], train=False)
    return mean, log_variance, images, images_eval, e_vars, e_state, d_vars, d_state

  mean, log_variance, images, images_eval, e_vars, e_state, d_vars, d_state = _fast_jit(run)(KEY)
  assert mean.shape == log_variance.shape == (3, 8)
  assert images.shape == images_eval.shape == (3, 16, 16, 1)
  assert np.all(np.isfinite(images)) and np.abs(images).max() <= 1.0
  # Train mode updates every running statistic.
  for old, new in [
    (e_vars['batch_stats'], e_state['batch_stats']),
    (d_vars['batch_stats'], d_state['batch_stats']),
  ]:
    assert jax.tree.structure(old) == jax.tree.structure(new)
    assert all(jax.tree.leaves(jax.tree.map(lambda a, b: bool(np.any(a != b)), old, new)))


def test_binary_code_is_exactly_binary_with_straight_through_gradients():
  x = jax.random.uniform(KEY, (16, 8, 8, 1), minval=-1.0, maxval=1.0)
  encoder = ae.Encoder('mlp', hidden=(16,), latent_dim=32, kind='binary')
  decoder = ae.Decoder((8, 8, 1), 'mlp', hidden=(), output='image')
  relu_encoder = ae.Encoder('mlp', hidden=(16,), latent_dim=32, kind='relu')

  def run(key):
    e_params = encoder.init(key, x)['params']
    d_params = decoder.init(key, jnp.zeros((1, 32)))['params']
    code = encoder.apply({'params': e_params}, x)
    relu_code = relu_encoder.apply({'params': e_params}, x)  # Same parameter names.

    def loss(p):
      recon = decoder.apply({'params': d_params}, encoder.apply({'params': p}, x))
      return jnp.mean((recon - x) ** 2)

    return code, relu_code, jax.grad(loss)(e_params)

  code, relu_code, grads = _fast_jit(run)(KEY)
  code = np.asarray(code)
  assert code.shape == (16, 32) and code.dtype == np.float32
  assert set(np.unique(code)) == {0.0, 1.0}
  # The bits are those of thresholding the paper's ReLU code at 0.
  np.testing.assert_array_equal(code, (np.asarray(relu_code) > 0).astype(np.float32))
  # Gradients pass the threshold (sigmoid surrogate) into every encoder layer.
  for path, g in jax.tree_util.tree_flatten_with_path(grads)[0]:
    assert np.all(np.isfinite(g)) and np.any(g != 0), path
  # The estimator itself: value 1[a > 0], derivative sigmoid'(a).
  a = jnp.array([-2.0, 0.0, 0.5])
  np.testing.assert_array_equal(ae.binary_straight_through(a), [0.0, 0.0, 1.0])
  s = 1.0 / (1.0 + np.exp(-np.asarray(a)))
  np.testing.assert_allclose(
    jax.grad(lambda v: jnp.sum(ae.binary_straight_through(v)))(a), s * (1 - s), rtol=1e-6
  )


def test_dcgan_hashing_autoencoder_is_3072_128_3072():
  # Radford et al. 2015, Sec. 4.1.1: one dense layer each way between the 3072
  # pixels of a 32x32x3 crop and the 128-unit code, with biases.
  encoder = ae.Encoder(arch='mlp', hidden=(), latent_dim=128, kind='binary')
  decoder = ae.Decoder(arch='mlp', hidden=(), out_shape=(32, 32, 3), output='image')
  n_encoder = _count(encoder, jnp.zeros((1, 32, 32, 3)))
  n_decoder = _count(decoder, jnp.zeros((1, 128)))
  assert n_encoder == 3072 * 128 + 128
  assert n_decoder == 128 * 3072 + 3072
  assert n_encoder + n_decoder == 789_632
  assert _shapes(encoder, jnp.zeros((2, 32, 32, 3)))[0] == (2, 128)
  assert _shapes(decoder, jnp.zeros((2, 128)))[0] == (2, 32, 32, 3)
