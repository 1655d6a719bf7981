r"""2D mode-collapse benchmarks: ring of 8 and grid of 25 Gaussians.

Setups (REFERENCES.md, "2D mode-collapse benchmarks"):
- setup=pacgan (default): Lin et al. 2018, "PacGAN", Sec. 5.1 and Table 1;
  fjxmlzn/PacGAN synthetic_data_experiments. G: z ~ N(0, I_2) -> 4 x 400 BN-ReLU ->
  2; D: 3 maxout layers (200 units, 5 pieces) -> 1; N(0, 0.02) init; Adam 1e-4,
  beta1 0.8; batch 100 (packed examples: 100 m samples for PacGAN-m); 400 epochs of
  100k points = 400k steps.
- setup=gdpp: the Unrolled-GAN / GDPP setup (Metz et al. 2017; Elfeki et al. 2019,
  M-Elfeki/GDPP gdppgan_Synthetic.py): G and D 2 x 128 tanh MLPs, orthogonal init
  (gain 1.4), z 256-d, batch 512, G lr 1e-3, D lr 1e-4, beta1 0.5, 25k iterations.
Methods: gan (non-saturating), pacgan2/3/4 (PacGAN packing), wgan_gp (lambda 0.1 and
5 critic steps as in the WGAN-GP toy code, Adam 1e-4, betas (0.5, 0.9)), lsgan
(least squares, 0-1 coding), wgan (weight clipping 0.01, RMSProp 5e-5, 5 critic steps).

Single run (offline, 2-core CPU, minutes at size=small):
  python launch.py --config experiments/toy.py:dataset=grid25,method=pacgan2 \
      --workdir runs/toy_grid_pacgan2
The mode-collapse table (several seeds of several methods, each method a vectorised
sweep; README "Paper tables", docs/tables.md):
  python -m gans.tables run toy2d          (or its old name: python -m gans.toy_table)
Expected (PacGAN Table 1, 10 runs, mean +- s.e.; modes / high-quality % / reverse KL):
  ring8  GAN 6.3 / 98.2 / 0.45, PacGAN2 7.9 / 95.6 / 0.07;
  grid25 GAN 17.3 / 94.8 / 0.70, PacGAN2 23.8 / 91.3 / 0.13.
The CPU table (gans.tables.toy2d: size=tiny, 5k steps, lr 2e-3 decayed, 5 seeds) measured
ring8 GAN 5.2 / 86.8 / 0.57, PacGAN2 8.0 / 90.5 / 0.03; grid25 GAN 13.2 / 13.4 / 1.14,
PacGAN2 21.0 / 7.8 / 0.65 (on the grid 5k steps are too few for sharp modes).
Arguments: dataset (ring8 | grid25), method, setup (pacgan | gdpp), size (paper |
small | tiny: narrower networks for CPU, see gans.tables.toy2d), steps (0: the setup's own),
lr and b1 (0: the setup's own; set both players' Adam learning rate / beta1), decay
(none | linear: learning rates decay linearly to 0), runlocal.

Sweep (get_sweep, docs/sweeps.md): 4 seeds x 2 learning rates of both players, trained
as one vectorised program:
  python launch.py --config experiments/toy.py:size=tiny,steps=2000 \
      --workdir runs/toy_sweep --sweep
  python -m gans.sweep summarize runs/toy_sweep
"""

from gans import configs
from gans import sweep

METHODS = ('gan', 'pacgan2', 'pacgan3', 'pacgan4', 'wgan_gp', 'lsgan', 'wgan')


def get_config(arg=None):
  arg = configs.parse_arg(
    arg,
    dataset='grid25',
    method='gan',
    setup='pacgan',
    size='paper',
    steps=0,
    lr=0.0,
    b1=0.0,
    decay='none',
    runlocal=False,
  )
  if arg.method not in METHODS:
    raise ValueError(f'method={arg.method!r}: use one of {", ".join(METHODS)}.')
  if arg.size not in ('paper', 'small', 'tiny'):
    raise ValueError(f"size={arg.size!r}: use 'paper', 'small' or 'tiny'.")
  c = configs.base_config()
  c.dataset = arg.dataset
  pack = int(arg.method[len('pacgan') :]) if arg.method.startswith('pacgan') else 1
  if arg.setup == 'pacgan':
    c.latent_dim = 2
    c.batch_size = 100 * pack
    c.total_steps = 400_000
    width, d_width = {'paper': (400, 200), 'small': (128, 64), 'tiny': (64, 32)}[arg.size]
    c.generator = configs.net('pacgan', hidden=(width,) * 4)
    # N(0, 0.02) suits the paper's 200-400 wide layers; in the narrower CPU networks it
    # leaves D almost constant (its signal shrinks ~sqrt(width) per layer) and D stalls
    # at chance, so they scale D's initial weights by fan-in (LeCun normal) instead.
    c.discriminator = configs.net(
      'pacgan',
      hidden=d_width,
      layers=3,
      pieces=5,
      weight_init='normal' if arg.size == 'paper' else 'lecun',
    )
    c.g_optimizer = configs.optimizer('adam', lr=1e-4, b1=0.8, b2=0.999)
    c.d_optimizer = configs.optimizer('adam', lr=1e-4, b1=0.8, b2=0.999)
  elif arg.setup == 'gdpp':
    c.latent_dim = 256
    c.batch_size = 512 * pack
    c.total_steps = 25_000
    width = {'paper': 128, 'small': 64, 'tiny': 32}[arg.size]
    c.generator = configs.net(
      'pacgan',
      hidden=(width, width),
      activation='tanh',
      batch_norm=False,
      weight_init='orthogonal',
      init_scale=1.4,
    )
    c.discriminator = configs.net(
      'pacgan',
      hidden=width,
      layers=2,
      pieces=1,
      activation='tanh',
      weight_init='orthogonal',
      init_scale=1.4,
    )
    c.g_optimizer = configs.optimizer('adam', lr=1e-3, b1=0.5, b2=0.999)
    c.d_optimizer = configs.optimizer('adam', lr=1e-4, b1=0.5, b2=0.999)
  else:
    raise ValueError(f"setup={arg.setup!r}: use 'pacgan' or 'gdpp'.")

  c.loss = 'non_saturating'
  c.pack = pack
  if arg.method == 'wgan_gp':
    # gan_toy.py of igul222/improved_wgan_training: lambda 0.1 ("smaller lambda seems
    # to help for toy tasks"), 5 critic iterations, Adam 1e-4 with betas (0.5, 0.9).
    c.loss = 'wasserstein'
    c.gradient_penalty = 0.1
    c.n_critic = 5
    c.g_optimizer = configs.optimizer('adam', lr=1e-4, b1=0.5, b2=0.9)
    c.d_optimizer = configs.optimizer('adam', lr=1e-4, b1=0.5, b2=0.9)
  elif arg.method == 'wgan':
    c.loss = 'wasserstein'
    c.weight_clip = 0.01
    c.n_critic = 5
    c.g_optimizer = configs.optimizer('rmsprop', lr=5e-5)
    c.d_optimizer = configs.optimizer('rmsprop', lr=5e-5)
  elif arg.method == 'lsgan':
    c.loss = 'least_squares'
    c.ls_coding = '0,1,1'
  if arg.steps:
    c.total_steps = arg.steps
  if arg.lr:
    c.g_optimizer.lr = c.d_optimizer.lr = arg.lr
  if arg.b1:
    c.g_optimizer.b1 = c.d_optimizer.b1 = arg.b1
  c.g_optimizer.decay = c.d_optimizer.decay = arg.decay
  c.log_every = 500
  c.sample_every = 5000
  c.checkpoint_every = 10_000
  c.num_grid_samples = 2500
  # --mode eval: the PacGAN / VEEGAN protocol on 2,500 samples (modes, high-quality %,
  # reverse KL) and FID of the raw points; IS does not apply to 2-D points.
  c.evals.samples.update(metrics=('mode_coverage', 'fid'), num_samples=2500)
  if arg.runlocal:
    configs.shrink_for_runlocal(c)
    c.batch_size = 16 * pack
    c.num_grid_samples = 64
    c.generator.hidden = (16, 16)
    c.discriminator.hidden = 16
  return c


def get_sweep(arg=None):
  """4 seeds x 2 learning rates (both players' Adam, moved together): 8 members."""
  lrs = (1e-4, 2e-4)
  return sweep.product(
    sweep.seeds(4),
    sweep.zip(sweep.values('g_optimizer.lr', lrs), sweep.values('d_optimizer.lr', lrs)),
  )
