r"""BigGAN: Brock et al. 2019, "Large Scale GAN Training for High Fidelity Natural
Image Synthesis".

Class-conditional residual G and D (gans/nets/biggan.py) with spectral norm in both,
conditional batch norm in G, a projection D, hinge loss, Adam with beta1 0 and beta2
0.999, and an EMA of G's weights used for sampling and evaluation. Sampling latents can
be truncated (`truncation`, the truncation trick; 0 is off and is how the CIFAR numbers
are reported).
- CIFAR-10 (arch=cifar; BigGAN-PyTorch `launch_cifar_ema.sh`): 32x32, ch 64, per-layer
  class tables (no shared embedding, no hierarchical z), N(0, 0.02) init, no attention,
  latent 128, batch 50, 4 D steps per G step, lr 2e-4 for both, EMA decay 0.9999 from
  step 1000, 500 epochs (125k G steps: each step reads 4 batches). Paper (Table 5):
  conditional IS 9.22, FID 14.73.
- ImageNet 128x128 (arch=imagenet128; `launch_BigGAN_bs256x8.sh`): ch 96, shared class
  embedding 128, hierarchical latent of 120, self-attention at 64x64, orthogonal init
  and orthogonal regularization 1e-4 on G, G lr 1e-4, D lr 4e-4, 2 D steps, batch 2048
  (BigGAN-PyTorch accumulates 256 x 8), EMA 0.9999 from step 20k. Paper: IS 166.5,
  FID 7.4 (with truncation chosen for the best FID).

Default (offline, 2-core CPU): arch=cifar on 32x32 mnist5k at ch 8 with 2 D steps,
batch 64 and 1000 steps, EMA 0.99 from step 500 (0.9999 would still average the
early weights at this length); about 0.5 s per step here.
  python launch.py --config experiments/biggan.py --workdir runs/biggan
Expected: row k of runs/biggan/samples/ shows digit k. Measured (2-core CPU, 9.5 min):
at step 1000 with the EMA generator fid_classifier 29.4, is_classifier 9.59,
class_accuracy_classifier 0.995 (live weights: 51.8, 9.47, 0.994); README,
"Conditional models".
Paper settings (accelerator; data prepared with TFDS):
  --config experiments/biggan.py:dataset=cifar10
  --config experiments/biggan.py:dataset=imagenet2012,arch=imagenet128
Arguments: dataset, arch (cifar | imagenet128), runlocal.
"""

from gans import configs


def get_config(arg=None):
  arg = configs.parse_arg(arg, dataset='mnist5k', arch='cifar', runlocal=False)
  c = configs.base_config()
  c.dataset = arg.dataset
  c.conditional = True
  c.loss = 'hinge'
  offline = arg.dataset in ('mnist5k', 'digits')
  if arg.arch == 'cifar':
    c.image_size = 32
    c.num_classes = 10
    c.latent_dim = 128
    ch = 8 if offline else 64
    c.generator = configs.net(
      'biggan', ch=ch, shared_dim=0, hierarchical=False, attention=(), weight_init='N02'
    )
    c.discriminator = configs.net('biggan', ch=ch, attention=(), weight_init='N02')
    c.batch_size, c.n_critic = 50, 4
    g_lr = d_lr = 2e-4
    c.ema_decay, c.ema_start = 0.9999, 1000
    c.total_steps = 125_000
  elif arg.arch == 'imagenet128':
    c.image_size = 128
    c.num_classes = 1000
    c.latent_dim = 120
    c.generator = configs.net(
      'biggan', ch=96, shared_dim=128, hierarchical=True, attention=(64,), weight_init='ortho'
    )
    c.discriminator = configs.net('biggan', ch=96, attention=(64,), weight_init='ortho')
    c.batch_size, c.n_critic = 2048, 2
    g_lr, d_lr = 1e-4, 4e-4
    c.g_ortho_reg = 1e-4
    c.ema_decay, c.ema_start = 0.9999, 20_000
    c.total_steps = 150_000
  else:
    raise ValueError(f"arch={arg.arch!r}: use 'cifar' or 'imagenet128'.")
  c.g_optimizer = configs.optimizer('adam', lr=g_lr, b1=0.0, b2=0.999)
  c.d_optimizer = configs.optimizer('adam', lr=d_lr, b1=0.0, b2=0.999)
  c.num_grid_samples = 100 if c.num_classes <= 10 else 64
  if offline:
    c.batch_size, c.n_critic = 64, 2
    c.ema_decay, c.ema_start = 0.99, 500
    c.total_steps = 1_000
    c.log_every, c.sample_every, c.checkpoint_every = 50, 250, 250
    c.evals.samples.update(every=250, num_samples=2000, kid_subsets=10)
  else:
    c.evals.samples.update(features='inception', num_samples=50_000)
  if arg.runlocal:
    configs.shrink_for_runlocal(c)
    c.num_grid_samples = 20
    c.generator.ch = c.discriminator.ch = 4
    c.n_critic = min(c.n_critic, 2)
    c.ema_start = 1
  return c
