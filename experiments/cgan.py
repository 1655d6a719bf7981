r"""Conditional GAN: Mirza & Osindero 2014, "Conditional Generative Adversarial Nets".

G and D both get the class label as a one-hot vector concatenated to their inputs (to
z in G; to the flattened image in the MLP D, or as K constant feature maps in the
convolutional D). Fake labels are drawn uniformly; sample grids show one class per
row. The paper's MNIST nets (MLP G with separate z and y layers, maxout D, SGD with
momentum and dropout) are simplified here to concatenation at the input and Adam 2e-4
(beta1 0.5), the recipe most reimplementations use.

Default (offline, 2-core CPU): 32x32 mnist5k, DCGAN-style convolutional G and D
(arch=conv; arch=mlp gives MLP nets on 28x28).
  python launch.py --config experiments/cgan.py --workdir runs/cgan
Expected: row k of runs/cgan/samples/ shows digit k. Measured (2-core CPU, 3.5 min):
at step 2000 fid_classifier 8.4, is_classifier 8.72, class_accuracy_classifier 0.897
(the offline classifier's agreement with the asked-for digit; chance 0.1); README,
"Conditional models".
Paper: Table 1, Parzen-window log-likelihood on MNIST 132 +- 1.8 (not reproduced:
a high-variance metric the field has dropped).
Arguments: dataset (a labelled built-in or TFDS name), arch (conv | mlp), runlocal.
"""

from gans import configs


def get_config(arg=None):
  arg = configs.parse_arg(arg, dataset='mnist5k', arch='conv', runlocal=False)
  c = configs.base_config()
  c.dataset = arg.dataset
  c.conditional = True
  c.num_classes = 10
  c.batch_size = 64
  c.latent_dim = 100
  c.loss = 'non_saturating'
  c.g_optimizer = configs.optimizer('adam', lr=2e-4, b1=0.5, b2=0.999)
  c.d_optimizer = configs.optimizer('adam', lr=2e-4, b1=0.5, b2=0.999)
  if arg.arch == 'conv':
    c.image_size = 32
    c.generator = configs.net('cgan', arch='conv', width=32)
    c.discriminator = configs.net('cgan', arch='conv', width=32, norm='batch')
  elif arg.arch == 'mlp':
    c.image_size = 28
    c.generator = configs.net('cgan', arch='mlp', hidden=(256, 512, 1024))
    c.discriminator = configs.net('cgan', arch='mlp', hidden=(512, 256))
  else:
    raise ValueError(f"arch={arg.arch!r}: use 'conv' or 'mlp'.")
  c.total_steps = 2_000
  c.num_grid_samples = 100  # 10 rows (classes) of 10.
  c.log_every, c.sample_every, c.checkpoint_every = 50, 250, 250
  configs.offline_evals(c, arg.dataset)
  if arg.runlocal:
    configs.shrink_for_runlocal(c)
    c.num_grid_samples = 20
    if arg.arch == 'conv':
      c.generator.width = c.discriminator.width = 8
    else:
      c.generator.hidden, c.discriminator.hidden = (16,), (16,)
  return c
