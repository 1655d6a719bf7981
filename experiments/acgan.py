r"""ACGAN: Odena et al. 2017, "Conditional Image Synthesis with Auxiliary Classifier GANs".

G is conditioned on the class (one-hot concatenated to z); D does not see the label
but has a second head, a K-way classifier, whose cross-entropy on real and fake
images is added to D's loss and on fake images to G's loss (`aux_weight`, 1).
DCGAN-style convolutional nets (transposed convolutions with batch norm in G; strided
convolutions, LeakyReLU 0.2 and batch norm in D), Adam 2e-4 with beta1 0.5, z of 100
dimensions, batch 100, the paper's CIFAR-10 settings; the paper's D also uses dropout
0.5, not here.

Default (offline, 2-core CPU): 32x32 mnist5k at half width (32).
  python launch.py --config experiments/acgan.py --workdir runs/acgan
Expected: row k of runs/acgan/samples/ shows digit k. Measured (2-core CPU, 4.7 min):
at step 2000 fid_classifier 31.9, is_classifier 8.00, class_accuracy_classifier 0.799;
README, "Conditional models".
Paper setting (accelerator): experiments/acgan.py:dataset=cifar10 (width 64):
  CIFAR-10 Inception Score 8.25 +- 0.07 (Table 1).
Arguments: dataset (a labelled built-in or TFDS name), runlocal.
"""

from gans import configs


def get_config(arg=None):
  arg = configs.parse_arg(arg, dataset='mnist5k', runlocal=False)
  c = configs.base_config()
  c.dataset = arg.dataset
  c.image_size = 32
  c.conditional = True
  c.num_classes = 10
  c.aux_weight = 1.0
  c.batch_size = 100
  c.latent_dim = 100
  c.loss = 'non_saturating'
  c.g_optimizer = configs.optimizer('adam', lr=2e-4, b1=0.5, b2=0.999)
  c.d_optimizer = configs.optimizer('adam', lr=2e-4, b1=0.5, b2=0.999)
  width = 64 if arg.dataset == 'cifar10' else 32
  c.generator = configs.net('cgan', arch='conv', width=width)
  c.discriminator = configs.net('cgan', arch='conv', width=width, norm='batch', auxiliary=True)
  c.num_grid_samples = 100  # 10 rows (classes) of 10.
  if arg.dataset == 'cifar10':
    c.total_steps = 50_000
  else:
    c.total_steps = 2_000
    c.log_every, c.sample_every, c.checkpoint_every = 50, 250, 250
  configs.offline_evals(c, arg.dataset)
  if arg.runlocal:
    configs.shrink_for_runlocal(c)
    c.num_grid_samples = 20
    c.generator.width = c.discriminator.width = 8
  return c
