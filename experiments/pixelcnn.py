r"""PixelCNN: van den Oord et al. 2016, "Conditional Image Generation with PixelCNN
Decoders" (gated PixelCNN), over 256-way discrete pixels.

Exact maximum likelihood; held-out NLL in nats and bits/dim, samples drawn pixel by
pixel with cached features (Ramachandran et al. 2017).

Default (offline, 2-core CPU): mnist5k at 32x32, trained on train[:4000], evaluated on
the 500 held-out digits train[4500:]; 5 gated layers of 32 features, kernel 5, head 64,
Adam 1e-3, batch 32, 2,000 steps.
  python launch.py --config experiments/pixelcnn.py --workdir runs/pixelcnn
Measured (python -m gans.tools.family_table, 2026-11-30, 2-core CPU shared with other
jobs): held-out NLL 1034 nats = 1.457 bits/dim (exact, 256 levels); 82 samples/s (100
samples in about 1.2 s); fid_classifier 252.5: samples are still stroke fragments
(README, "Generative-model families").

Paper settings (accelerator, TFDS):
  :dataset=cifar10,size=paper   15 layers of 128 features (the gated PixelCNN paper's
      CIFAR-10 model is 20 layers of 384; 3.03 bits/dim), batch 64.
  :conditional                  class-conditional (a class embedding per layer).
Arguments: dataset, size (small | paper), conditional, runlocal.
"""

from gans import configs
from gans.families import pixelcnn


def get_config(arg=None):
  arg = configs.parse_arg(arg, dataset='mnist5k', size='small', conditional=False, runlocal=False)
  c = pixelcnn.pixelcnn_config()
  c.dataset = arg.dataset
  c.image_size = 32
  if arg.size == 'small':
    c.pixelcnn = configs.net('pixelcnn', features=32, num_layers=5, kernel_size=5, head_features=64)
    c.batch_size, c.total_steps = 32, 2_000
  elif arg.size == 'paper':
    c.pixelcnn = configs.net(
      'pixelcnn', features=128, num_layers=15, kernel_size=5, head_features=512
    )
    c.batch_size, c.total_steps = 64, 200_000
    c.ema_decay = 0.9995
  else:
    raise ValueError(f"size={arg.size!r}: use 'small' or 'paper'.")
  if arg.conditional:
    c.conditional, c.num_classes = True, 10
    c.num_grid_samples = 20
  if arg.dataset in ('mnist5k', 'digits'):
    c.train_split, _, test = configs.HOLDOUT_SPLITS[arg.dataset]
    c.evals.likelihood.update(every=500, split=test)
    c.evals.samples.update(every=0, num_samples=1000, kid_subsets=10)
  else:
    c.train_split = 'train'
    c.evals.likelihood.update(every=5000, split='test')
    c.evals.samples.update(features='inception', num_samples=50_000)
  c.log_every, c.sample_every, c.checkpoint_every = 50, 500, 500
  if arg.runlocal:
    configs.shrink_for_runlocal(c)
    c.pixelcnn = configs.net('pixelcnn', features=8, num_layers=2, kernel_size=3, head_features=8)
    c.num_grid_samples = 4
    c.evals.likelihood.num_examples = 16
  return c
