import glob
import os

import pytest

from gans import configs
from gans.train import experiment

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Every GAN experiment; classifier.py is the offline feature network's recipe
# (tested in tests/metrics/test_classifier.py).
EXPERIMENTS = sorted(
  p
  for p in glob.glob(os.path.join(ROOT, 'experiments', '*.py'))
  if os.path.basename(p) != 'classifier.py'
)


def test_parse_arg_types_and_bare_keys():
  arg = configs.parse_arg(
    'dataset=cifar10,runlocal,steps=7,lr=0.5', dataset='mnist5k', runlocal=False, steps=1, lr=1.0
  )
  assert arg.dataset == 'cifar10'
  assert arg.runlocal is True
  assert arg.steps == 7 and isinstance(arg.steps, int)
  assert arg.lr == 0.5


def test_parse_arg_unknown_key_names_it():
  with pytest.raises(ValueError, match=r"'datset'.*known arguments: dataset, runlocal"):
    configs.parse_arg('datset=cifar10', dataset='mnist5k', runlocal=False)


def test_parse_arg_bad_value_names_key():
  with pytest.raises(ValueError, match="'steps' expects int"):
    configs.parse_arg('steps=many', steps=1)


@pytest.mark.parametrize('path', EXPERIMENTS, ids=os.path.basename)
def test_every_experiment_builds_and_validates(path):
  config = configs.load_config_file(path + ':runlocal')
  experiment.validate(config)
  for field in configs.REQUIRED_FIELDS:
    assert field in config
  assert config.total_steps <= 5  # runlocal shrinks the run.
  full = configs.load_config_file(path)
  assert full.total_steps > config.total_steps


def test_validate_names_bad_field():
  config = configs.load_config_file(os.path.join(ROOT, 'experiments/wgan_gp.py'))
  config.n_critic = 0
  with pytest.raises(ValueError, match='config.n_critic must be positive'):
    experiment.validate(config)


def test_wgan_gp_paper_defaults():
  c = configs.load_config_file(os.path.join(ROOT, 'experiments/wgan_gp.py'))
  assert (c.gradient_penalty, c.n_critic, c.loss) == (10.0, 5, 'wasserstein')
  assert (c.g_optimizer.lr, c.g_optimizer.b1, c.g_optimizer.b2) == (1e-4, 0.5, 0.9)
  r = configs.load_config_file(os.path.join(ROOT, 'experiments/wgan_gp.py:arch=resnet'))
  assert r.generator.name == 'resnet' and r.g_optimizer.decay == 'linear'
  d = configs.load_config_file(os.path.join(ROOT, 'experiments/dcgan.py'))
  assert (d.loss, d.g_optimizer.lr, d.g_optimizer.b1) == ('non_saturating', 2e-4, 0.5)
  assert d.discriminator.norm == 'batch'
