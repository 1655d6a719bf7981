r"""DCGAN: Radford et al. 2015, "Unsupervised Representation Learning with Deep
Convolutional Generative Adversarial Networks".

All-convolutional G and D with batch norm (not on D's first layer), ReLU in G,
LeakyReLU(0.2) in D, tanh output, non-saturating loss, Adam 2e-4 with beta1 0.5,
batch 128, z of 100 dimensions.

Default (offline, 2-core CPU): 32x32 mnist5k digits.
  python launch.py --config experiments/dcgan.py --workdir runs/dcgan
Expected: recognisable digits in runs/dcgan/samples/ within a few hundred steps.

Paper setting (accelerator): experiments/dcgan.py:dataset=cifar10. The paper reports no
CIFAR-10 FID/IS of its own; WGAN-GP Table 3 lists DCGAN at IS 6.16 +- .07.
Arguments: dataset (any built-in or TFDS name), image_size, runlocal.
"""

from gans import configs
from gans import sweep


def get_config(arg=None):
  arg = configs.parse_arg(arg, dataset='mnist5k', image_size=32, runlocal=False)
  c = configs.base_config()
  c.dataset = arg.dataset
  c.image_size = arg.image_size
  c.batch_size = 128
  c.latent_dim = 100
  c.loss = 'non_saturating'
  c.n_critic = 1
  c.g_optimizer = configs.optimizer('adam', lr=2e-4, b1=0.5, b2=0.999)
  c.d_optimizer = configs.optimizer('adam', lr=2e-4, b1=0.5, b2=0.999)
  c.generator = configs.net('dcgan', width=64)
  c.discriminator = configs.net('dcgan', width=64, norm='batch')
  c.total_steps = 50_000 if arg.dataset == 'cifar10' else 1_500
  if arg.dataset != 'cifar10':
    c.log_every, c.sample_every, c.checkpoint_every = 50, 250, 250
  configs.offline_evals(c, arg.dataset)
  if arg.runlocal:
    configs.shrink_for_runlocal(c)
    c.generator.width = c.discriminator.width = 8
  return c


def get_sweep(arg=None):
  """3 seeds x G learning rate 1e-4 / 2e-4 (one vectorised group; docs/sweeps.md):
  python launch.py --config experiments/dcgan.py --workdir runs/dcgan_sweep --sweep"""
  return sweep.product(sweep.seeds(3), sweep.values('g_optimizer.lr', [1e-4, 2e-4]))
