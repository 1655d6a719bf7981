r"""GAN: Goodfellow et al. 2014, "Generative Adversarial Nets".

MLP generator (two ReLU layers of 1200 units) and maxout discriminator (two maxout
layers of 240 units with 5 pieces), the MNIST networks of the paper's code
(goodfeli/adversarial mnist.yaml), trained with the non-saturating generator loss
the paper recommends in practice (Sec. 3). Deviations: Adam 2e-4 (beta1 0.5) instead
of SGD with momentum and learning-rate decay, no dropout in D, tanh outputs in [-1, 1].

Default (offline, 2-core CPU): 28x28 mnist5k digits.
  python launch.py --config experiments/gan.py --workdir runs/gan
Expected: blurry but recognisable digits in runs/gan/samples/ after ~2k steps.
Paper: Table 1, Parzen-window log-likelihood on MNIST 225 +- 2 (a metric the paper
itself calls high-variance; not reproduced here).
Arguments: dataset (any built-in or TFDS name), loss (non_saturating | minimax), runlocal.
"""

from gans import configs


def get_config(arg=None):
  arg = configs.parse_arg(arg, dataset='mnist5k', loss='non_saturating', runlocal=False)
  c = configs.base_config()
  c.dataset = arg.dataset
  c.image_size = 28
  c.batch_size = 100
  c.latent_dim = 100
  c.loss = arg.loss
  c.generator = configs.net('pacgan', hidden=(1200, 1200), batch_norm=False, weight_init='lecun')
  c.discriminator = configs.net('pacgan', hidden=240, layers=2, pieces=5, weight_init='lecun')
  c.g_optimizer = configs.optimizer('adam', lr=2e-4, b1=0.5, b2=0.999)
  c.d_optimizer = configs.optimizer('adam', lr=2e-4, b1=0.5, b2=0.999)
  c.total_steps = 5_000
  c.log_every, c.sample_every, c.checkpoint_every = 100, 500, 1000
  if arg.runlocal:
    configs.shrink_for_runlocal(c)
    c.generator.hidden = (16,)
    c.discriminator.hidden = 8
  return c
