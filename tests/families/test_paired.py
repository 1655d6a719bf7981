"""The paired family (pix2pix, SRGAN): a real step, the weighting of its losses checked
by hand, its conditioning, phases, validation and the 'paired' evaluator."""

import importlib.util
import os
import types

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gans import configs
from gans import data
from gans import errors
from gans import parallel
from gans.data import images as image_lib
from gans.data import paired as pairs_lib
from gans.eval import paired as paired_eval
from gans.families.paired import content as content_lib
from gans.metrics import psnr_ssim
from gans.metrics import vgg16
from gans.train import experiment

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _config(name):
  return configs.load_config_file(os.path.join(ROOT, 'experiments', name) + ':runlocal')


def _batch(config, n=1):
  ds = data.load(config, split=config.train_split)
  it = data.Batches(ds, config.batch_size, config.seed)
  batches = [next(it)[1] for _ in range(n)]
  it.close()
  return batches


def _one_device():
  return parallel.make_mesh(jax.devices()[:1])


def test_pix2pix_step_is_finite_and_g_loss_is_adv_plus_100_l1():
  config = _config('pix2pix.py')
  assert config.l1_weight == 100.0 and config.conditional_d
  exp = experiment.build(config, mesh=_one_device())
  state = exp.init()
  # D judges concat(edges, image): 1 + 1 input channels.
  assert state.models['discriminator'].params['conv0']['kernel'].shape[2] == 2
  (batch,) = _batch(config)
  state, metrics = exp.train_step(state, parallel.to_global(batch, exp.mesh, 1))
  metrics = {k: float(v) for k, v in jax.device_get(metrics).items()}
  assert all(np.isfinite(v) for v in metrics.values()), metrics
  assert {'d_loss', 'g_loss', 'adv', 'l1', 'mse'} <= set(metrics)
  assert metrics['g_loss'] == pytest.approx(metrics['adv'] + 100.0 * metrics['l1'], rel=1e-5)
  assert int(state.step) == 1


def test_l1_weight_scales_the_generator_update_by_hand():
  # adv_weight 0 and plain SGD: the generator moves by -lr * l1_weight * dL1/dtheta,
  # with dL1/dtheta computed here independently of the family's step.
  config = _config('pix2pix.py')
  config.adv_weight = 0.0
  config.l1_weight = 7.0
  config.optimizer = configs.optimizer('sgd', lr=1e-3)
  exp = experiment.build(config, mesh=_one_device())
  state = exp.init()
  (batch,) = _batch(config)
  target = jnp.asarray(batch['x'][0])
  x = pairs_lib.sobel_edges(target, config.edge_threshold)
  g = jax.device_get(state.models['generator'])
  module = exp.modules['generator']

  def l1(params):
    out, _ = module.apply(
      {'params': params, **g.collections}, x, None, train=True, mutable=['batch_stats']
    )
    return jnp.mean(jnp.abs(out - target))

  grad = jax.grad(l1)(g.params)
  expected = jax.tree.map(lambda p, d: p - 1e-3 * 7.0 * d, g.params, grad)
  new, _ = exp.train_step(state, parallel.to_global(batch, exp.mesh, 1))
  got = jax.device_get(new.models['generator'].params)
  for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(expected)):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-7)


def test_srgan_phases_inputs_and_unconditional_discriminator():
  config = _config('srgan.py')
  exp = experiment.build(config, mesh=_one_device())
  assert [exp.phase(i) for i in range(3)] == ['pretrain', 'main', 'main']
  state = exp.init()
  assert state.models['discriminator'].params['conv0']['kernel'].shape[2] == 1
  targets = data.load(config, split='train[4500:]').get(np.arange(4))[0]
  inputs = exp.functions['make_input'](targets)
  assert inputs.shape == (4, 8, 8, 1)
  assert exp.functions['translate'](state, inputs).shape == (4, 32, 32, 1)
  b0, b1 = _batch(config, 2)
  state, m0 = exp.steps['pretrain'](state, parallel.to_global(b0, exp.mesh, 1))
  d_before = jax.device_get(state.models['discriminator'].params)
  state, m1 = exp.steps['main'](state, parallel.to_global(b1, exp.mesh, 1))
  m0, m1 = jax.device_get(m0), jax.device_get(m1)
  assert set(m0) == {'pretrain_mse', 'l1'}
  assert all(np.isfinite(float(v)) for v in m1.values())
  # Perceptual loss: content + 1e-3 * adversarial (pixel terms weighted 0).
  assert float(m1['g_loss']) == pytest.approx(
    float(m1['content']) + 1e-3 * float(m1['adv']), rel=1e-5
  )
  d_after = jax.device_get(state.models['discriminator'].params)
  assert not np.allclose(d_before['logit']['kernel'], d_after['logit']['kernel'])
  assert exp.protocol['content_network'] == 'classifier'


def test_pix2pix_paper_test_mode_uses_batch_statistics_and_dropout():
  config = _config('pix2pix.py')
  targets = data.load(config, split='train[4500:]').get(np.arange(4))[0]
  outputs = {}
  for mode in ('eval', 'paper'):
    config.test_mode = mode
    exp = experiment.build(config, mesh=_one_device())
    assert exp.protocol['test_mode'] == mode
    state = exp.init()
    x = exp.functions['make_input'](targets)
    whole = np.asarray(exp.functions['translate'](state, x))
    first = np.asarray(exp.functions['translate'](state, x[:1]))
    np.testing.assert_array_equal(whole, exp.functions['translate'](state, x))  # Fixed key.
    outputs[mode] = (whole, first)
  eval_whole, eval_first = outputs['eval']
  paper_whole, paper_first = outputs['paper']
  np.testing.assert_allclose(eval_first[0], eval_whole[0], atol=1e-5)  # Per-example.
  assert np.abs(paper_first[0] - paper_whole[0]).max() > 1e-3  # Batch statistics.
  assert np.abs(paper_whole - eval_whole).max() > 1e-3


def _vgg16_test_module():
  """tests/metrics/test_vgg16.py (tests are not a package): its torch-free writer."""
  path = os.path.join(ROOT, 'tests', 'metrics', 'test_vgg16.py')
  spec = importlib.util.spec_from_file_location('_gans_tests_paired_vgg16', path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def test_srgan_vgg16_content_loss_runs_on_random_weights(tmp_path):
  # A features-only torchvision-layout state dict (random, written without torch):
  # the content features equal VGG16's relu2_2 of the same images, and one SRGAN step
  # trains on them.
  vgg_tests = _vgg16_test_module()
  state_dict = vgg_tests.random_state_dict(seed=3, include_classifier=False)
  path = vgg_tests.write_state_dict(tmp_path / 'random_vgg16.pth', state_dict)
  config = _config('srgan.py')
  config.vgg_weights = str(path)
  config.content_layer = 'relu2_2'
  targets = data.load(config, split='train[4500:]').get(np.arange(4))[0]
  with pytest.warns(UserWarning, match='not comparable'):
    features, protocol = content_lib.feature_fn(config, targets.shape[1:])
  assert protocol['content_network'] == 'vgg16' and protocol['vgg16_weights'] == str(path)
  variables = vgg16.variables_from_state_dict(state_dict, include_classifier=False)
  uint8 = np.round((np.asarray(targets) + 1.0) * 127.5).astype(np.uint8)
  expected = vgg16.from_variables(variables)(uint8, outputs=('relu2_2',))['relu2_2']
  got = features(jnp.asarray(uint8, jnp.float32) / 127.5 - 1.0)
  assert got.shape == (4, 16, 16, 128)
  np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)

  with pytest.warns(UserWarning, match='not comparable'):
    exp = experiment.build(config, mesh=_one_device())
  assert exp.protocol['content_network'] == 'vgg16'
  state = exp.init()
  (batch,) = _batch(config)
  state, metrics = exp.steps['main'](state, parallel.to_global(batch, exp.mesh, 1))
  metrics = {k: float(v) for k, v in jax.device_get(metrics).items()}
  assert all(np.isfinite(v) for v in metrics.values()), metrics
  assert metrics['content'] > 0
  assert metrics['g_loss'] == pytest.approx(metrics['content'] + 1e-3 * metrics['adv'], rel=1e-5)

  config.content_layer = 'conv1'  # A classifier layer is refused with VGG weights.
  with pytest.raises(errors.UserInputError, match='config.content_layer'):
    content_lib.feature_fn(config, targets.shape[1:])


@pytest.mark.parametrize(
  'field, value, match',
  [
    ('model', 'cyclegan', 'config.model'),
    ('pairs', 'colorize', 'config.pairs'),
    ('loss', 'hinge', 'config.loss'),
    ('pretrain_steps', 3, 'pretrain_steps'),
    ('l1_weight', -1.0, 'l1_weight'),
    ('test_mode', 'train', 'config.test_mode'),
  ],
)
def test_bad_fields_are_refused_by_name(field, value, match):
  config = _config('srgan.py')
  config[field] = value
  with pytest.raises(errors.UserInputError, match=match):
    experiment.validate(config)


def test_scale_is_the_familys_not_the_generators():
  config = _config('srgan.py')
  config.generator.scale = 2
  with pytest.raises(errors.UserInputError, match='generator.scale'):
    experiment.validate(config)


def test_evaluator_of_a_perfect_translation_and_the_bicubic_baseline():
  config = _config('srgan.py')
  config.evals.paired.num_examples = 40
  heldout = data.load(config, split='train[4500:]')
  targets = heldout.get(np.arange(40))[0]
  inputs = np.asarray(pairs_lib.box_downsample(jnp.asarray(targets), 4))
  lookup = {inputs[i].tobytes(): targets[i] for i in range(40)}
  perfect = types.SimpleNamespace(
    config=config,
    dataset=heldout,
    protocol={},
    functions=dict(
      make_input=lambda t: pairs_lib.box_downsample(jnp.asarray(t), 4),
      # Held-out inputs map to their targets; other inputs (the unpaired digits) are
      # nearest-upsampled.
      translate=lambda state, x: np.stack(
        [lookup.get(np.asarray(v).tobytes(), pairs_lib.nearest_upsample(v[None], 4)[0]) for v in x]
      ),
    ),
  )
  evaluator = paired_eval.PairedEvaluator(config, heldout, dict(config.evals.paired), exp=perfect)
  result = evaluator(perfect, types.SimpleNamespace(step=0))
  assert result['psnr'] == 100.0 and result['ssim'] == pytest.approx(1.0)
  assert result['fid_classifier'] == pytest.approx(0.0, abs=1e-6)
  bicubic = pairs_lib.bicubic_upsample(image_lib.to_uint8(inputs), 32)
  u = image_lib.to_uint8(targets)
  assert result['bicubic_psnr'] == pytest.approx(float(np.mean(psnr_ssim.psnr(bicubic, u))))
  assert result['bicubic_ssim'] == pytest.approx(float(np.mean(psnr_ssim.ssim(bicubic, u))))
  # scikit-learn's 1,797 8x8 digits as unpaired inputs, against the same held-out targets.
  assert result['protocol']['num_unpaired'] == 1797
  assert result['unpaired_fid_classifier'] > 0 and result['unpaired_bicubic_fid_classifier'] > 0
  assert result['protocol']['num_examples'] == 40
  with pytest.raises(errors.UserInputError, match='overlaps'):
    paired_eval.PairedEvaluator(config, heldout, dict(split='train[:100]'), exp=perfect)
