r"""SNGAN: Miyato et al. 2018, "Spectral Normalization for Generative Adversarial
Networks"; with conditional=True, the projection discriminator of Miyato & Koyama
2018, "cGANs with Projection Discriminator".

Spectral norm on every layer of D (one power iteration per step, its vector kept in
the 'spectral' collection), hinge loss, no normalization in D, batch norm in G
(class-conditional batch norm in the conditional G).
- arch=cnn, the "standard CNN" (Table 3): Adam with one of the paper's Table 1
  settings, setting=A (lr 1e-4, betas 0.5/0.9, 5 D steps), B (1e-4, 0.5/0.999, 1) or
  C (2e-4, 0.5/0.999, 1). Table 2 reports each method at its best setting; we default
  to C (one D step: the cheapest). Batch 64, 100k generator steps.
- arch=resnet, the CIFAR ResNets (Table 4, sngan_projection's cifar10 configs): Adam
  2e-4 with betas 0/0.9, 5 D steps, batch 64, 50k generator steps, learning rate
  decayed linearly to 0. conditional=True adds conditional BN to G and the projection
  term <embed(y), h> to D.

Default (offline, 2-core CPU): 32x32 mnist5k, arch=cnn at quarter width (G 128, D 16).
  python launch.py --config experiments/sngan.py --workdir runs/sngan
Expected: recognisable digits in runs/sngan/samples/. Measured (2-core CPU, 6.0 min):
fid_classifier 563 (step 250), 200 (1000), 39.1 (2000); is_classifier 7.16 at 2000.
Paper settings (accelerator; CIFAR-10 prepared with TFDS), Table 2, IS / FID:
  --config experiments/sngan.py:dataset=cifar10             standard CNN, 7.58 / 25.5
  --config experiments/sngan.py:dataset=cifar10,arch=resnet ResNet, 8.22 / 21.7
Arguments: dataset, arch (cnn | resnet), setting (A | B | C, cnn only), conditional,
runlocal.
"""

from gans import configs

_SETTINGS = {'A': (1e-4, 0.5, 0.9, 5), 'B': (1e-4, 0.5, 0.999, 1), 'C': (2e-4, 0.5, 0.999, 1)}


def get_config(arg=None):
  arg = configs.parse_arg(
    arg, dataset='mnist5k', arch='cnn', setting='C', conditional=False, runlocal=False
  )
  c = configs.base_config()
  c.dataset = arg.dataset
  c.image_size = 32
  c.batch_size = 64
  c.latent_dim = 128
  c.loss = 'hinge'
  c.conditional = bool(arg.conditional)
  c.num_classes = 10 if c.conditional else 0
  paper = arg.dataset == 'cifar10'
  if arg.arch == 'cnn':
    if arg.setting not in _SETTINGS:
      raise ValueError(f'setting={arg.setting!r}: use A, B or C (Table 1 of the paper).')
    if c.conditional:
      raise ValueError('conditional=True needs arch=resnet (the projection discriminator).')
    lr, b1, b2, c.n_critic = _SETTINGS[arg.setting]
    c.generator = configs.net('sngan', arch='cnn', width=0 if paper else 128)
    c.discriminator = configs.net('sngan', arch='cnn', width=0 if paper else 16)
    c.total_steps = 100_000 if paper else 2_000
  elif arg.arch == 'resnet':
    lr, b1, b2, c.n_critic = 2e-4, 0.0, 0.9, 5
    c.generator = configs.net('sngan', arch='resnet', width=0 if paper else 64)
    c.discriminator = configs.net('sngan', arch='resnet', width=0 if paper else 64)
    c.total_steps = 50_000 if paper else 2_000
  else:
    raise ValueError(f"arch={arg.arch!r}: use 'cnn' or 'resnet'.")
  decay = 'linear' if arg.arch == 'resnet' else 'none'
  c.g_optimizer = configs.optimizer('adam', lr=lr, b1=b1, b2=b2, decay=decay)
  c.d_optimizer = configs.optimizer('adam', lr=lr, b1=b1, b2=b2, decay=decay)
  if c.conditional:
    c.num_grid_samples = 100
  if not paper:
    c.log_every, c.sample_every, c.checkpoint_every = 50, 250, 250
  configs.offline_evals(c, arg.dataset)
  if arg.runlocal:
    configs.shrink_for_runlocal(c)
    c.generator.width = c.discriminator.width = 16
    c.n_critic = min(c.n_critic, 2)
  return c
