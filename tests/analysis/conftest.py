"""Runs the analysis tests share: each trained once per session with runlocal settings."""

import os

import pytest

from gans import configs
from gans.train import loop

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def experiment_config(name, arg='runlocal'):
  """experiments/<name>.py:<arg> as --config loads it."""
  return configs.load_config_file(os.path.join(ROOT, 'experiments', name) + ':' + arg)


def _trained(tmp_path_factory, name, arg='runlocal', **overrides):
  workdir = tmp_path_factory.mktemp(name.replace('.py', '') + '_run')
  config = experiment_config(name, arg)
  config.update(overrides)
  loop.train(config, str(workdir))
  return config, str(workdir)


@pytest.fixture(scope='session')
def dcgan_run(tmp_path_factory):
  """(config, workdir) of a 3-step runlocal DCGAN on mnist5k's train[:4000] (unconditional;
  train[4000:] is held out)."""
  return _trained(tmp_path_factory, 'dcgan.py', train_split='train[:4000]')


@pytest.fixture(scope='session')
def cgan_run(tmp_path_factory):
  """(config, workdir) of a 3-step runlocal conditional GAN on mnist5k (10 classes)."""
  return _trained(tmp_path_factory, 'cgan.py')


@pytest.fixture(scope='session')
def hash_ae_run(tmp_path_factory):
  """(config, workdir) of a 3-step runlocal DCGAN hashing autoencoder (1024-128-1024)."""
  return _trained(tmp_path_factory, 'ae.py', 'arch=dcgan_hash,runlocal')
