r"""WGAN-GP: Gulrajani et al. 2017, "Improved Training of Wasserstein GANs".

Wasserstein loss with a gradient penalty (lambda 10) on interpolates, 5 critic steps
per generator step, Adam 1e-4 with betas (0.5, 0.9), batch 64, no batch norm in the
critic.

Default (offline, 2-core CPU): 32x32 mnist5k digits, DCGAN-style G and critic at half
the paper's width (32; `--config.generator.width=64 --config.discriminator.width=64`
restores it).
  python launch.py --config experiments/wgan_gp.py --workdir runs/wgan_gp
Expected: see README ("Quickstart") for the time and the sample grid; digits become
recognisable in runs/wgan_gp/samples/ well before the last step.

Paper settings (accelerator; CIFAR-10 prepared with TFDS):
  --config experiments/wgan_gp.py:dataset=cifar10              DCGAN-style, 200k steps
  --config experiments/wgan_gp.py:dataset=cifar10,arch=resnet  ResNet, 100k steps,
      lr 2e-4 decayed linearly to 0: Table 3, unsupervised IS 7.86 +- .07.
Arguments: dataset (any built-in or TFDS name), arch (dcgan | resnet), runlocal.
"""

from gans import configs


def get_config(arg=None):
  arg = configs.parse_arg(arg, dataset='mnist5k', arch='dcgan', runlocal=False)
  c = configs.base_config()
  c.dataset = arg.dataset
  c.image_size = 32
  c.batch_size = 64
  c.latent_dim = 128
  c.loss = 'wasserstein'
  c.gradient_penalty = 10.0
  c.n_critic = 5
  c.g_optimizer = configs.optimizer('adam', lr=1e-4, b1=0.5, b2=0.9)
  c.d_optimizer = configs.optimizer('adam', lr=1e-4, b1=0.5, b2=0.9)
  if arg.arch == 'dcgan':
    # Width 64 is the paper's; the offline default halves it to fit a 2-core CPU.
    width = 64 if arg.dataset == 'cifar10' else 32
    c.generator = configs.net('dcgan', width=width)
    c.discriminator = configs.net('dcgan', width=width, norm='none')
    c.total_steps = 200_000 if arg.dataset == 'cifar10' else 2_000
  elif arg.arch == 'resnet':
    c.generator = configs.net('resnet', width=128)
    c.discriminator = configs.net('resnet', width=128)
    c.total_steps = 100_000 if arg.dataset == 'cifar10' else 2_000
    for opt in (c.g_optimizer, c.d_optimizer):
      opt.lr = 2e-4
      opt.decay = 'linear'
  else:
    raise ValueError(f"arch={arg.arch!r}: use 'dcgan' or 'resnet'.")
  if arg.dataset != 'cifar10':
    c.log_every, c.sample_every, c.checkpoint_every = 50, 250, 250
  configs.offline_evals(c, arg.dataset)
  if arg.runlocal:
    configs.shrink_for_runlocal(c)
    c.generator.width = c.discriminator.width = 8
    c.n_critic = 2
  return c
