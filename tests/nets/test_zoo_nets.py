"""SNGAN, BigGAN, CGAN/ACGAN nets: shapes, conditioning, projection, truncation, sizes."""

import math

import jax
import ml_collections
import numpy as np
import pytest
from scipy import stats

from gans import configs
from gans import nets
from gans.nets import biggan
from gans.nets import cgan
from gans.nets import sngan
from gans.families.gan import step as step_lib

KEY = jax.random.PRNGKey(0)
RNG = np.random.default_rng(0)
LABELS = np.array([1, 0, 2])


def _latent(n=3, dim=16):
  return RNG.normal(size=(n, dim)).astype(np.float32)


def _images(size=32, n=3):
  return RNG.uniform(-1, 1, size=(n, size, size, 3)).astype(np.float32)


_FAST_COMPILE = {'xla_backend_optimization_level': 0, 'xla_llvm_disable_expensive_passes': True}


def _compile(fn, *args):
  """jit(fn) for arguments like `args`, compiled without LLVM optimizations: on these
  tiny nets compilation is nearly all the time (eager mode compiles every op apart)."""
  return jax.jit(fn).lower(*args).compile(compiler_options=_FAST_COMPILE)


def _call(fn, *args):
  return _compile(fn, *args)(*args)


def _init(module, *args):
  """Random variables in the structure and shapes that `module.init` gives.

  Drawn with numpy: running the nets' initializers compiles for ~10 s per net on a
  loaded 2-core machine, and these tests are about structure and conditioning, not
  initial values (tests/nets/test_layers.py runs the layers' own initializers).
  Weights ~ N(0, 1/fan_in), vectors and scalars ~ N(0, 0.1^2) (so attention gains and
  class-conditional gains are not at their neutral initial values), running variances
  1, power-iteration vectors random unit vectors.
  """
  shapes = jax.eval_shape(lambda: module.init(KEY, *args, train=False))

  def fill(path, leaf):
    keys = [getattr(k, 'key', None) for k in path]
    if keys[0] == 'batch_stats':
      return np.full(leaf.shape, 1.0 if keys[-1] == 'var' else 0.0, np.float32)
    x = RNG.normal(size=leaf.shape)
    if keys[0] == 'spectral':
      x /= np.linalg.norm(x)
    elif len(leaf.shape) >= 2:
      x /= np.sqrt(math.prod(leaf.shape[:-1]))
    else:
      x *= 0.1
    return x.astype(np.float32)

  return jax.tree_util.tree_map_with_path(fill, shapes)


def _run(module, variables, *args, train=True):
  """Applies a net the way the training step does; returns (output, new state)."""
  params, state = variables['params'], {k: v for k, v in variables.items() if k != 'params'}
  return _call(lambda p, s, *a: step_lib.apply_net(module, p, s, *a, train), params, state, *args)


def _count(module, *args):
  """Parameter count from shapes alone (nothing is computed)."""
  variables = jax.eval_shape(lambda: module.init(KEY, *args, train=False))
  return sum(math.prod(x.shape) for x in jax.tree.leaves(variables['params']))


# ---------------------------------------------------------------- shapes and state

NETS = {
  'sngan_cnn': (
    sngan.Generator((32, 32, 3), 'cnn', width=32),
    sngan.Discriminator('cnn', width=8),
    None,
  ),
  'sngan_resnet_cond': (
    sngan.Generator((32, 32, 3), width=16, num_classes=3),
    sngan.Discriminator(width=16, num_classes=3),
    LABELS,
  ),
  'biggan_32_attention': (
    biggan.Generator((32, 32, 3), 3, ch=4, attention=(16,)),
    biggan.Discriminator(3, ch=4, attention=(16,)),
    LABELS,
  ),
  'cgan_conv': (cgan.Generator((16, 16, 1), 3, width=8), cgan.Discriminator(3, width=8), LABELS),
}


@pytest.mark.parametrize('name', sorted(NETS))
def test_shapes_and_collections_under_the_training_step(name):
  generator, discriminator, y = NETS[name]
  z = _latent()
  g_vars = _init(generator, z, y)
  fake, g_state = _run(generator, g_vars, z, y)
  size, channels = (16, 1) if name.startswith('cgan') else (32, 3)
  assert fake.shape == (3, size, size, channels)
  assert np.abs(fake).max() <= 1.0
  d_vars = _init(discriminator, fake, y)
  logits, d_state = _run(discriminator, d_vars, fake, y)
  assert logits.shape == (3,)
  for old, new in [(g_vars, g_state), (d_vars, d_state)]:
    old = {k: v for k, v in old.items() if k != 'params'}
    # The new state has the structure of the old (the scan carry of the step), and
    # every running statistic and power-iteration vector (but 1-d ones) has moved.
    assert jax.tree.structure(new) == jax.tree.structure(old)
    moved = jax.tree.map(lambda a, b: a.size == 1 or bool(np.any(a != b)), old, new)
    assert all(jax.tree.leaves(moved))
  assert ('spectral' in d_vars) == (name != 'cgan_conv')
  if name.startswith('biggan'):
    assert 'spectral' in g_vars and 'attention0' in d_vars['params']
    assert 'attention1' in g_vars['params']  # G block 1 ends at 16x16.


def test_biggan_128_shapes():
  generator = biggan.Generator((128, 128, 3), num_classes=5, ch=8)
  discriminator = biggan.Discriminator(num_classes=5, ch=8)
  z = _latent(2, 12)  # 6 chunks of 2.
  g_out = jax.eval_shape(lambda: generator.init_with_output(KEY, z, LABELS[:2], train=False))
  assert g_out[0].shape == (2, 128, 128, 3)
  assert 'attention3' in g_out[1]['params']  # After the 64x64 block.
  d_out = jax.eval_shape(
    lambda: discriminator.init_with_output(KEY, g_out[0], LABELS[:2], train=False)
  )
  assert d_out[0].shape == (2,)
  assert 'attention0' in d_out[1]['params']
  with pytest.raises(ValueError, match='not divisible by 6'):
    _count(generator, _latent(2, 16), LABELS[:2])


def test_conditional_nets_need_labels():
  for module, x in [
    (biggan.Generator((32, 32, 3), 3, ch=4), _latent()),
    (biggan.Discriminator(3, ch=4), _images()),
    (sngan.Generator((32, 32, 3), width=8, num_classes=3), _latent()),
    (sngan.Discriminator(width=8, num_classes=3), _images()),
    (cgan.Generator((8, 8, 1), 3), _latent()),
    (cgan.Discriminator(3, arch='mlp'), _images(8)),
  ]:
    with pytest.raises(ValueError, match='needs integer labels'):
      jax.eval_shape(lambda m=module, x=x: m.init(KEY, x, None, train=False))


def test_nets_build_from_configs():
  config = ml_collections.ConfigDict(dict(conditional=True, num_classes=3))
  config.generator = configs.net('biggan', ch=4, attention=[16])
  config.discriminator = configs.net('sngan', width=8)
  generator, discriminator = nets.build(config, (32, 32, 3))
  assert generator.attention == (16,) and generator.out_shape == (32, 32, 3)
  assert generator.num_classes == 3 and discriminator.num_classes == 3
  config.conditional = False  # One switch: both networks become unconditional.
  generator, discriminator = nets.build(config, (32, 32, 3))
  assert generator.num_classes == 0 and discriminator.num_classes == 0
  assert {'sngan', 'biggan', 'cgan'} <= set(nets.available())
  config.generator.num_classes = 3
  with pytest.raises(ValueError, match=r'config.generator.num_classes: set config.conditional'):
    nets.build(config, (32, 32, 3))


# ---------------------------------------------------------------- conditioning


def test_generators_depend_on_the_label_and_on_each_latent_chunk():
  generator = biggan.Generator((32, 32, 3), 3, ch=4)
  z = np.repeat(_latent(1), 3, axis=0)
  variables = _init(generator, z, LABELS)
  sample = _compile(lambda z, y: generator.apply(variables, z, y, train=False), z, LABELS)
  same_label = sample(z, np.array([2, 2, 2]))
  np.testing.assert_array_equal(same_label[0], same_label[1])
  out = sample(z, LABELS)
  assert np.abs(out[0] - out[1]).max() > 1e-3
  for chunk in range(4):  # 16 = 4 chunks of 4: z0 for the input, one per block.
    z2 = z.copy()
    z2[:, 4 * chunk : 4 * chunk + 4] += 1.0
    assert np.abs(sample(z2, LABELS) - out).max() > 1e-3

  for g in [
    sngan.Generator((32, 32, 3), width=8, num_classes=3),
    cgan.Generator((2,), 3, arch='mlp', hidden=(8,)),
  ]:
    out = _call(lambda v: g.apply(v, z, LABELS, train=False), _init(g, z, LABELS))
    assert np.abs(out[0] - out[1]).max() > 1e-4


@pytest.mark.parametrize(
  'module',
  [sngan.Discriminator(width=8, num_classes=4), biggan.Discriminator(4, ch=2)],
  ids=['sngan', 'biggan'],
)
def test_projection_discriminator_is_linear_plus_inner_product(module):
  x, y = _images(n=4), np.array([3, 0, 1, 3])
  variables = _init(module, x, y)
  out, sown = _call(
    lambda v: module.apply(v, x, y, train=False, mutable=['intermediates']), variables
  )
  h = np.asarray(sown['intermediates']['features'][0], np.float64)
  head, u = variables['params']['head'], variables['spectral']['head']

  def normalized(w, u):  # W / (v^T W u), v = normalize(W u): the eval-mode estimate.
    w = np.asarray(w, np.float64)
    return w / np.linalg.norm(w.reshape(-1, w.shape[-1]) @ np.asarray(u, np.float64)[0])

  linear = h @ normalized(head['linear']['kernel'], u['linear']['u'])[:, 0]
  if 'bias' in head['linear']:
    linear += head['linear']['bias'][0]
  embed = normalized(head['embed']['embedding'], u['embed']['u'])[y]
  np.testing.assert_allclose(out, linear + np.sum(embed * h, axis=1), rtol=1e-4, atol=1e-4)


def test_cgan_discriminators():
  x = _images(8)
  concat = cgan.Discriminator(3, width=4)
  variables = _init(concat, x, LABELS)
  # The label enters as 3 constant maps next to the 3 image channels.
  assert variables['params']['down0']['kernel'].shape == (4, 4, 6, 4)
  d = _compile(lambda x, y: concat.apply(variables, x, y, train=False), x, LABELS)
  assert np.abs(d(x, LABELS) - d(x, np.array([0, 2, 1]))).max() > 1e-5

  for arch in ('conv', 'mlp'):
    acgan = cgan.Discriminator(3, arch=arch, width=4, hidden=(8,), auxiliary=True)
    variables = _init(acgan, x, None)
    logit, class_logits = _call(lambda v: acgan.apply(v, x, train=False), variables)
    assert logit.shape == (3,) and class_logits.shape == (3, 3)


# ---------------------------------------------------------------- truncation


def test_truncated_latent():
  z = np.asarray(step_lib.sample_latent(jax.random.PRNGKey(1), 20000, 4, 0.5))
  assert z.shape == (20000, 4) and z.dtype == np.float32
  assert np.abs(z).max() <= 0.5
  # The variance of N(0, 1) truncated to [-t, t]: 1 - 2 t pdf(t) / (2 cdf(t) - 1).
  t = 0.5
  var = 1 - 2 * t * stats.norm.pdf(t) / (2 * stats.norm.cdf(t) - 1)
  assert abs(z.var() - var) < 0.02 * var
  assert abs(z.mean()) < 0.01
  plain = np.asarray(step_lib.sample_latent(jax.random.PRNGKey(1), 20000, 1))
  assert abs(plain.std() - 1) < 0.02 and np.abs(plain).max() > 3


# ---------------------------------------------------------------- parameter counts


def test_sngan_parameter_counts():
  """Counts of the reference implementations, derived layer by layer from their code.

  The SNGAN paper prints no parameter counts; the references are chainer-gan-lib
  (`common/net.py`: DCGANGenerator, SNDCGANDiscriminator) for the standard CNN and
  sngan_projection (`gen_models/resnet_32.py`, `dis_models/snresnet_32.py`) for the
  ResNets. Cross-check: the conditional ResNet G has the 4,304,387 parameters that
  BigGAN-PyTorch's CIFAR G has (same architecture, see test_biggan_parameter_counts).
  """
  z, x, y = np.zeros((2, 128), np.float32), np.zeros((2, 32, 32, 3), np.float32), LABELS[:2]
  # G: dense 128*8192+8192, BN over the 8192 outputs 2*8192, deconvs 512->256->128->64
  # (4x4, with biases) and their BNs, conv 3x3 64->3.
  assert _count(sngan.Generator((32, 32, 3), 'cnn'), z) == 3_828_739
  # D: seven convs (3->64 3x3, 64->64 4x4, 64->128, 128->128, 128->256, 256->256, 256->512)
  # with biases, dense 8192 -> 1.
  assert _count(sngan.Discriminator('cnn'), x) == 2_935_873
  # G: dense 128 -> 4*4*256, three up blocks (2 convs 3x3 + 1x1 shortcut + 2 BN), BN, conv.
  assert _count(sngan.Generator((32, 32, 3)), z) == 4_276_739
  # Conditional BN: 2 tables [10, 256] instead of 2 * 256 per BN, six of them.
  assert _count(sngan.Generator((32, 32, 3), num_classes=10), z, y) == 4_276_739 + 6 * 4_608
  # D: optimized block 151,680, down block 311,680, two blocks 295,168, dense 128 (no bias).
  assert _count(sngan.Discriminator(), x) == 1_053_824
  assert _count(sngan.Discriminator(num_classes=10), x, y) == 1_053_824 + 10 * 128


def test_biggan_parameter_counts():
  """Equal to `sum(p.numel() for p in net.parameters())` of BigGAN-PyTorch's `BigGAN.py`
  instantiated with the same settings (counted with torch 2.14 when this was written).
  Paper (Brock et al. 2019, Table 1): 158.3M for G + D at ch=96 and 71.3M at ch=64 at
  128x128; BigGAN-PyTorch gives 158,416,358 and 71,426,886, which are the paper's
  numbers plus the 128,000 weights of the shared class embedding.
  """
  y = LABELS[:2]
  z, x = np.zeros((2, 128), np.float32), np.zeros((2, 32, 32, 3), np.float32)
  # CIFAR-10, `scripts/launch_cifar_ema.sh`: no shared embedding, no skip-z, no attention.
  cifar = dict(num_classes=10, ch=64, shared_dim=0, hierarchical=False)
  assert _count(biggan.Generator((32, 32, 3), **cifar), z, y) == 4_304_387
  assert _count(biggan.Discriminator(10, ch=64), x, y) == 4_207_361
  # The same with shared embedding and hierarchical latents (--G_shared --hier).
  assert _count(biggan.Generator((32, 32, 3), 10), z, y) == 4_373_251
  # ImageNet 128x128, `scripts/launch_BigGAN_bs256x8.sh`: ch 96, z 120, shared 128, attn 64.
  z, x = np.zeros((2, 120), np.float32), np.zeros((2, 128, 128, 3), np.float32)
  assert _count(biggan.Generator((128, 128, 3), 1000, ch=96), z, y) == 70_433_988
  assert _count(biggan.Discriminator(1000, ch=96), x, y) == 87_982_370
