"""Each training trick switch of the generic step changes what it should, and only that."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from gans import configs
from gans import data
from gans import nets
from gans import parallel
from gans.nets import pacgan
from gans.train import experiment
from gans.train import health
from gans.train import state as state_lib
from gans.families import gan as gan_family
from gans.families.gan import step as step_lib
from gans.families.gan import tricks


def _config(**overrides):
  c = configs.base_config()
  c.dataset = 'ring8'
  c.batch_size = 8
  c.latent_dim = 4
  c.total_steps = 10
  c.generator = configs.net('pacgan', hidden=(8,), batch_norm=False, weight_init='lecun')
  c.discriminator = configs.net('pacgan', hidden=8, layers=1, pieces=2, weight_init='lecun')
  for key, value in overrides.items():
    parent = c
    *path, last = key.split('.')
    for p in path:
      parent = parent[p]
    parent[last] = value
  configs.validate(c)
  return c


_BUILT = {}


def _build(config):
  """(G, D, initial state, jitted step) for a config; built once per distinct config."""
  key = config.to_json(sort_keys=True)
  if key not in _BUILT:
    _BUILT[key] = _build_uncached(config)
  return _BUILT[key]


def _build_uncached(config):
  g, d = nets.build(config, (2,))
  g_tx, d_tx = gan_family.optimizers(config)
  state = gan_family.init_state(config, g, d, (2,), g_tx, d_tx)
  step = jax.jit(step_lib.make_train_step(config, g, d, g_tx, d_tx))
  return g, d, state, step


def _batch(config, seed=0):
  x = jax.random.normal(jax.random.PRNGKey(seed), (config.n_critic, config.batch_size, 2))
  return {'x': x, 'y': jnp.zeros(x.shape[:2], jnp.int32)}


def _leaves(tree):
  return [np.asarray(v) for v in jax.tree.leaves(tree)]


def test_one_sided_label_smoothing_changes_d_loss_by_the_formula():
  base = _config()
  _, _, state, step = _build(base)
  _, plain = step(state, _batch(base))
  s = 0.2
  _, _, state_s, step_s = _build(_config(label_smoothing=s))
  _, smooth = step_s(state_s, _batch(base))
  # BCE(l, 1 - s) - BCE(l, 1) = s (softplus(l) - softplus(-l)) = s l on real logits only.
  np.testing.assert_allclose(smooth['d_real'], plain['d_real'], rtol=1e-6)
  np.testing.assert_allclose(
    smooth['d_loss'] - plain['d_loss'], s * plain['d_real'], rtol=1e-4, atol=1e-6
  )


def test_noisy_labels_and_label_flips():
  t = tricks.Tricks(noisy_labels=True)
  real, fake = tricks.discriminator_labels(t, jax.random.PRNGKey(0), 20000)
  assert 0.7 <= float(real.min()) and float(real.max()) <= 1.2
  assert 0.0 <= float(fake.min()) and float(fake.max()) <= 0.3
  np.testing.assert_allclose([real.mean(), fake.mean()], [0.95, 0.15], atol=0.01)
  t = tricks.Tricks(label_flip=0.25)
  real, fake = tricks.discriminator_labels(t, jax.random.PRNGKey(1), 20000)
  assert set(np.unique(real)) == {0.0, 1.0} and set(np.unique(fake)) == {0.0, 1.0}
  np.testing.assert_allclose([1 - real.mean(), fake.mean()], [0.25, 0.25], atol=0.01)
  assert tricks.discriminator_labels(tricks.Tricks(), None, 5) == (1.0, 0.0)
  both = tricks.Tricks(label_smoothing=0.1, label_flip=0.5)
  real, fake = tricks.discriminator_labels(both, jax.random.PRNGKey(2), 1000)
  assert set(np.unique(real)) | set(np.unique(fake)) == {0.0, np.float32(0.9)}


def test_instance_noise_anneals_to_zero():
  t = tricks.Tricks(instance_noise=0.5, instance_noise_anneal_steps=100)
  np.testing.assert_allclose(
    [tricks.instance_noise_std(t, s) for s in (0, 50, 100, 300)], [0.5, 0.25, 0.0, 0.0], atol=1e-7
  )
  assert float(
    tricks.instance_noise_std(tricks.Tricks(instance_noise=0.3), 10**6)
  ) == pytest.approx(0.3)
  base = _config()
  noisy = _config(instance_noise=0.5, instance_noise_anneal_steps=100)
  _, _, state, step = _build(base)
  _, _, _, step_n = _build(noisy)
  batch = _batch(base)
  _, a = step(state, batch)
  _, b = step_n(state, batch)
  assert abs(float(a['d_real']) - float(b['d_real'])) > 1e-5  # Noise at step 0.
  late = state.replace(step=jnp.asarray(100, jnp.int32))
  _, a = step(late, batch)
  _, b = step_n(late, batch)
  for k in a:  # Annealed away: exactly the noise-free step.
    np.testing.assert_array_equal(a[k], b[k])


def test_weight_clipping_keeps_critic_weights_in_range():
  c = 0.01
  cfg = _config(
    loss='wasserstein', weight_clip=c, n_critic=2, d_optimizer=configs.optimizer('sgd', lr=1.0)
  )
  _, _, state, step = _build(cfg)
  assert max(np.abs(w).max() for w in _leaves(state.models['discriminator'].params)) > c
  new, _ = step(state, _batch(cfg))
  assert max(np.abs(w).max() for w in _leaves(new.models['discriminator'].params)) <= c
  assert any(
    np.abs(w).max() == pytest.approx(c) for w in _leaves(new.models['discriminator'].params)
  )
  # SGD for D beside Adam for G: D's optimizer keeps no moments, G's does.
  assert optax.tree_utils.tree_get(new.models['discriminator'].opt_state, 'mu', None) is None
  assert optax.tree_utils.tree_get(new.models['generator'].opt_state, 'mu') is not None


def test_pack_reshapes_and_discriminator_sees_m_samples():
  x = jnp.arange(12.0).reshape(6, 2)
  np.testing.assert_array_equal(tricks.pack(x, 2), [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11]])
  np.testing.assert_array_equal(tricks.unpack(tricks.pack(x, 3), 3), x)
  images = jax.random.normal(jax.random.PRNGKey(0), (4, 3, 3, 2))
  packed = tricks.pack(images, 2)
  assert packed.shape == (2, 3, 3, 4)
  np.testing.assert_array_equal(packed[1, ..., :2], images[2])  # Channels concatenated.
  np.testing.assert_array_equal(packed[1, ..., 2:], images[3])
  np.testing.assert_array_equal(tricks.unpack(packed, 2), images)
  with pytest.raises(ValueError, match='pack'):
    tricks.pack(x, 4)
  cfg = _config(pack=2, **{'generator.dropout': 0.5})  # Also: G's dropout gets a key.
  _, d, state, step = _build(cfg)
  assert (
    state.models['discriminator'].params['hidden0']['kernel'].shape[0] == 4
  )  # D's input: 2 samples of 2-D.
  batch = _batch(cfg)
  _, metrics = step(state, batch)
  want = d.apply({'params': state.models['discriminator'].params}, batch['x'][0].reshape(4, 4))
  np.testing.assert_allclose(metrics['d_real'], jnp.mean(want), rtol=1e-5)


def test_separate_and_joint_batches_agree_without_batch_norm():
  a_cfg, b_cfg = _config(), _config(separate_batches=False)
  _, _, state, step_a = _build(a_cfg)
  _, _, _, step_b = _build(b_cfg)
  a, ma = step_a(state, _batch(a_cfg))
  b, mb = step_b(state, _batch(a_cfg))
  np.testing.assert_allclose(ma['d_loss'], mb['d_loss'], rtol=1e-5)
  for x, y in zip(
    _leaves(a.models['discriminator'].params), _leaves(b.models['discriminator'].params)
  ):
    np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-7)


def test_n_critic_ttur_and_sgd_for_d():
  cfg = _config(
    n_critic=3,
    g_optimizer=configs.optimizer('adam', lr=1e-4),
    d_optimizer=configs.optimizer('adam', lr=4e-4),
  )
  _, _, state, step = _build(cfg)
  new, _ = step(state, _batch(cfg))
  assert int(optax.tree_utils.tree_get(new.models['discriminator'].opt_state, 'count')) == 3
  assert int(optax.tree_utils.tree_get(new.models['generator'].opt_state, 'count')) == 1
  # Adam's first update of a parameter is lr * g / |g|: G moves by 1e-4 at most.
  dg = max(
    np.abs(a - b).max()
    for a, b in zip(
      _leaves(new.models['generator'].params), _leaves(state.models['generator'].params)
    )
  )
  np.testing.assert_allclose(dg, 1e-4, rtol=0.02)
  # SGD for D beside Adam for G: plain -lr * grad, no moments.
  sgd = state_lib.make_optimizer(configs.optimizer('sgd', lr=0.5), 10)
  grads = {'w': jnp.array([1.0, -2.0])}
  updates, _ = sgd.update(grads, sgd.init(grads))
  np.testing.assert_allclose(updates['w'], [-0.5, 1.0])


def test_dropout_in_generator_depends_on_the_key():
  g = pacgan.Generator((2,), hidden=(32, 32), batch_norm=False, dropout=0.5)
  z = jax.random.normal(jax.random.PRNGKey(0), (16, 4))
  params = g.init(jax.random.PRNGKey(1), z, train=False)['params']
  a = step_lib.apply_net(g, params, {}, z, None, True, jax.random.PRNGKey(2))[0]
  b = step_lib.apply_net(g, params, {}, z, None, True, jax.random.PRNGKey(3))[0]
  c = step_lib.apply_net(g, params, {}, z, None, True, jax.random.PRNGKey(2))[0]
  assert np.abs(np.asarray(a - b)).max() > 1e-3
  np.testing.assert_array_equal(a, c)
  e1 = step_lib.apply_net(g, params, {}, z, None, False)[0]
  e2 = g.apply({'params': params}, z, train=False)
  np.testing.assert_array_equal(e1, e2)


def test_regularizers_in_the_step():
  cfg = _config(r1=10.0, dragan=10.0, g_ortho_reg=1e-4, d_ortho_reg=1e-4)
  _, _, state, step = _build(cfg)
  _, m = step(state, _batch(cfg))
  for k in ('r1', 'dragan', 'g_ortho', 'd_ortho'):
    assert np.isfinite(float(m[k])) and float(m[k]) > 0, k
  _, p = _build(_config())[3](state, _batch(cfg))
  np.testing.assert_allclose(
    m['d_loss'], p['d_loss'] + 5.0 * m['r1'] + 10.0 * m['dragan'] + 1e-4 * m['d_ortho'], rtol=1e-5
  )


class _AuxD(nn.Module):
  @nn.compact
  def __call__(self, x, y=None, train=True):
    h = nn.relu(nn.Dense(8)(x))
    return nn.Dense(1)(h)[:, 0], nn.Dense(3)(h)


class _CondG(nn.Module):
  out_shape: tuple = (2,)

  @nn.compact
  def __call__(self, z, y=None, train=True):
    return nn.Dense(2)(jnp.concatenate([z, jax.nn.one_hot(y, 3)], -1))


def test_conditional_step_adds_acgan_class_losses():
  cfg = _config(conditional=True, num_classes=3)
  g, d = _CondG(), _AuxD()
  tx = optax.adam(1e-3)
  state = gan_family.init_state(cfg, g, d, (2,), tx, tx)
  step = jax.jit(step_lib.make_train_step(cfg, g, d, tx, tx))
  batch = _batch(cfg)
  batch['y'] = jnp.array([[0, 1, 2, 0, 1, 2, 0, 1]])
  _, m = step(state, batch)
  assert float(m['d_class']) > 0 and float(m['g_class']) > 0
  # Roughly log(3) each for an untrained classifier: real + fake for D.
  np.testing.assert_allclose(m['d_class'], 2 * np.log(3), rtol=0.3)


def test_tricks_one_device_and_eight_devices_agree():
  cfg = _config(pack=2, instance_noise=0.1, label_flip=0.2, batch_size=16)
  ds = data.load(cfg)
  it = data.Batches(ds, cfg.batch_size, cfg.seed, group=cfg.n_critic)
  batches = [next(it)[1]]
  it.close()
  out = []
  for devices in (jax.devices()[:1], jax.devices()):
    mesh = parallel.make_mesh(devices)
    exp = experiment.build(cfg, mesh=mesh, dataset=ds)
    state = exp.init()
    for b in batches:
      state, _ = exp.train_step(state, parallel.to_global(b, mesh, 1))
    out.append(_leaves((state.models['generator'].params, state.models['discriminator'].params)))
  for a, b in zip(*out):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


def test_health_monitor_warns_on_collapsed_d_and_stays_quiet_when_healthy():
  rng = np.random.default_rng(0)
  monitor = health.HealthMonitor(loss='non_saturating', window=5)
  warnings = []
  for i in range(20):
    samples = rng.standard_normal((64, 2))  # Samples keep changing.
    d_loss = 1.3 + 0.05 * rng.standard_normal()
    g_loss = 0.8 + 0.05 * rng.standard_normal()
    warnings += monitor.update(100 * (i + 1), dict(d_loss=d_loss, g_loss=g_loss), samples)
  assert warnings == []
  collapsed = health.HealthMonitor(loss='non_saturating', window=5)
  warnings = []
  for i in range(12):
    d_loss = 1.3 if i < 4 else 1e-4 * (i % 3 + 1)
    warnings += collapsed.update(
      100 * (i + 1), dict(d_loss=d_loss, g_loss=9.0 + i % 2), lambda: rng.standard_normal((8, 2))
    )
  assert [name for name, _ in warnings] == ['d_collapse']  # Once, not at every log.
  assert 'steps 500-900' in warnings[0][1]
  # A Wasserstein critic has no floor at zero.
  w = health.HealthMonitor(loss='wasserstein')
  assert sum((w.update(i, dict(d_loss=0.0, g_loss=1.0)) for i in range(10)), []) == []


def test_health_monitor_warns_when_g_loss_falls_and_samples_freeze():
  frozen = np.random.default_rng(1).standard_normal((64, 2))
  monitor = health.HealthMonitor(window=5)
  warnings = []
  for i in range(8):
    warnings += monitor.update(i, dict(d_loss=1.0, g_loss=3.0 - 0.2 * i), frozen + 1e-6 * i)
  assert [name for name, _ in warnings] == ['g_steady_fall']
  # The same falling loss with moving samples is a healthy G.
  moving = health.HealthMonitor(window=5)
  rng = np.random.default_rng(2)
  for i in range(8):
    assert (
      moving.update(i, dict(d_loss=1.0, g_loss=3.0 - 0.2 * i), rng.standard_normal((64, 2))) == []
    )
  assert health.from_config(_config(health_checks=False)) is None


def test_generator_ema_averages_parameters_and_batch_norm_statistics():
  cfg = _config(ema_decay=0.75, **{'generator.batch_norm': True})
  _, _, state, step = _build(cfg)
  assert jax.tree.leaves(state.ema['generator']['collections'])  # Batch statistics.
  new, _ = step(state, _batch(cfg))
  for field in ('params', 'collections'):
    expected = jax.tree.map(
      lambda e, p: 0.75 * e + 0.25 * p,
      state.ema['generator'][field],
      getattr(new.models['generator'], field),
    )
    for a, b in zip(_leaves(new.ema['generator'][field]), _leaves(expected)):
      np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
  params, collections = new.sampling_variables('generator')
  assert params is new.ema['generator']['params']
  assert collections is new.ema['generator']['collections']
  assert (
    new.sampling_variables('generator', use_ema=False)[1] is new.models['generator'].collections
  )
