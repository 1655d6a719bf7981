"""A small sweep for tests/sweep: the DCGAN runlocal config (widths 8, batch 16).

kind=vector: 2 members that differ in the seed and G's learning rate (one vectorised
group); kind=mixed: those two and a third with a wider generator (a group of its own).
SGD, not Adam: its updates are proportional to the gradients, so a member trained
vectorised and alone agree to float noise in the parameters too (Adam turns the noise
of near-zero gradients into +-lr steps; tests/families/test_contract.py).
"""

import os

from gans import configs
from gans import sweep

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _arg(arg):
  return configs.parse_arg(arg, kind='vector', steps=4)


def get_config(arg=None):
  arg = _arg(arg)
  c = configs.load_config_file(os.path.join(ROOT, 'experiments', 'dcgan.py:runlocal'))
  c.total_steps = arg.steps
  c.log_every, c.sample_every, c.checkpoint_every = 1, 2, 2
  c.g_optimizer = configs.optimizer('sgd', lr=0.05)
  c.d_optimizer = configs.optimizer('sgd', lr=0.05)
  return c


def get_sweep(arg=None):
  arg = _arg(arg)
  members = sweep.zip(sweep.seeds(2), sweep.values('g_optimizer.lr', [0.05, 0.1]))
  if arg.kind == 'mixed':
    members.append({'seed': 0, 'generator.width': 16})
  return members
