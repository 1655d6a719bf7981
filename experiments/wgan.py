r"""WGAN: Arjovsky et al. 2017, "Wasserstein Generative Adversarial Networks".

Wasserstein loss with the critic's weights clipped to [-0.01, 0.01] after every
update (Algorithm 1: c = 0.01), RMSProp with learning rate 5e-5 for both players,
n_critic = 5, batch 64, DCGAN networks (the paper's LSUN experiments; batch norm in G,
none in the critic here). The reference code also runs 100 critic steps for the first
25 generator steps and every 500th; that warm-up is not reproduced.

Default (offline, 2-core CPU): 32x32 mnist5k digits.
  python launch.py --config experiments/wgan.py --workdir runs/wgan
Expected: the critic's estimate -d_loss of the Wasserstein distance falls as digits
form (the paper's Figs. 3-4: the loss tracks sample quality); WGAN trains slower than
WGAN-GP (WGAN-GP paper, Fig. 3).
Paper setting (accelerator): experiments/wgan.py:dataset=cifar10 (the paper reports
curves, not an IS/FID table).
Arguments: dataset (any built-in or TFDS name), runlocal.
"""

from gans import configs


def get_config(arg=None):
  arg = configs.parse_arg(arg, dataset='mnist5k', runlocal=False)
  c = configs.base_config()
  c.dataset = arg.dataset
  c.image_size = 32
  c.batch_size = 64
  c.latent_dim = 100
  c.loss = 'wasserstein'
  c.weight_clip = 0.01
  c.n_critic = 5
  c.g_optimizer = configs.optimizer('rmsprop', lr=5e-5)
  c.d_optimizer = configs.optimizer('rmsprop', lr=5e-5)
  c.generator = configs.net('dcgan', width=64)
  c.discriminator = configs.net('dcgan', width=64, norm='none')
  c.total_steps = 100_000 if arg.dataset == 'cifar10' else 2_000
  if arg.dataset != 'cifar10':
    c.log_every, c.sample_every, c.checkpoint_every = 50, 250, 250
  if arg.runlocal:
    configs.shrink_for_runlocal(c)
    c.generator.width = c.discriminator.width = 8
    c.n_critic = 2
  return c
