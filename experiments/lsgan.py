r"""LSGAN: Mao et al. 2017, "Least Squares Generative Adversarial Networks".

Least squares loss on D's raw output: D minimises 1/2 E[(D(x) - b)^2] +
1/2 E[(D(G(z)) - a)^2], G minimises 1/2 E[(D(G(z)) - c)^2]. Two codings:
coding=binary (a, b, c) = (0, 1, 1), Eq. 10, and coding=chi2 (-1, 1, 0), Eq. 9 (which
minimises the Pearson chi^2 divergence). Adam 2e-4 with beta1 0.5, batch 64, DCGAN
networks (the paper's own are larger, for 112x112 LSUN scenes).

Default (offline, 2-core CPU): 32x32 mnist5k digits.
  python launch.py --config experiments/lsgan.py --workdir runs/lsgan
  python launch.py --config experiments/lsgan.py:coding=chi2 --workdir runs/lsgan_chi2
Expected: recognisable digits within a few hundred steps, as DCGAN.
Paper setting (accelerator): LSUN scenes (no FID table in the conference paper; the
journal version reports FIDs on LSUN and cats).
Arguments: dataset (any built-in or TFDS name), coding (binary | chi2), runlocal.
"""

from gans import configs

CODINGS = {'binary': '0,1,1', 'chi2': '-1,1,0'}


def get_config(arg=None):
  arg = configs.parse_arg(arg, dataset='mnist5k', coding='binary', runlocal=False)
  if arg.coding not in CODINGS:
    raise ValueError(f'coding={arg.coding!r}: use one of {", ".join(CODINGS)}.')
  c = configs.base_config()
  c.dataset = arg.dataset
  c.image_size = 32
  c.batch_size = 64
  c.latent_dim = 100
  c.loss = 'least_squares'
  c.ls_coding = CODINGS[arg.coding]
  c.g_optimizer = configs.optimizer('adam', lr=2e-4, b1=0.5, b2=0.999)
  c.d_optimizer = configs.optimizer('adam', lr=2e-4, b1=0.5, b2=0.999)
  c.generator = configs.net('dcgan', width=64)
  c.discriminator = configs.net('dcgan', width=64, norm='batch')
  c.total_steps = 50_000 if arg.dataset != 'mnist5k' else 1_500
  c.log_every, c.sample_every, c.checkpoint_every = 50, 250, 250
  if arg.runlocal:
    configs.shrink_for_runlocal(c)
    c.generator.width = c.discriminator.width = 8
  return c
