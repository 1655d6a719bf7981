r"""CycleGAN: Zhu et al. 2017, "Unpaired Image-to-Image Translation using Cycle-Consistent
Adversarial Networks" (family `cyclegan`; gans/families/cyclegan, gans/nets/cyclegan.py,
docs/cyclegan.md).

Default (offline, 2-core CPU): 'digits2mnist' at 32x32, two real digit datasets of
different style and no pairs: A = scikit-learn's 8x8 digits bilinearly upscaled
(train[:80%], 1,438 images), B = mnist5k (train[:4000]). ResNet generators with 2
downsamplings and 6 residual blocks at width 16 (the paper's 128px net at width 64),
70x70 PatchGANs (n_layers 3; a 2x2 grid of logits on 32x32) at width 16, instance norm,
LSGAN, lambda 10, identity 0.5 lambda, a pool of 50 images per D, Adam 2e-4 (beta1
0.5), batch 4 (the paper: 1), the rate constant for half the steps, then linear to 0.
  python launch.py --config experiments/cyclegan.py --workdir runs/cyclegan
Measured (2026-12-01, 2-core CPU shared with other jobs): 8.7 min wall (524 s) for
3,000 steps, the 'translation' evaluator every 1,000 steps (2 s each). At step 3,000,
on all held-out digits (180 of A, 500 of B), the target domain's offline classifier
judging (chance 0.1):
  a2b (digits -> MNIST)  label preservation 0.611 (identity map 0.528, untrained 0.100),
                         fid_classifier 77.4 (identity map 301), cycle error 0.089;
  b2a (MNIST -> digits)  label preservation 0.532 (identity map 0.218, untrained 0.118),
                         fid_classifier 65.5 (identity map 620), cycle error 0.077.
Grids: docs/cyclegan_digits2mnist_step3000.png; details in docs/cyclegan.md.
Translate files: `--mode sample --input PATH(.npz or PNG folder) --direction a2b|b2a`.
Paper setting (`:dataset=horse2zebra`, or any TFDS cycle_gan config, prepared with
`tfds build cycle_gan/horse2zebra --file_format=array_record`; accelerator): images
resized to 286 and randomly cropped to 256 with random flips, 9 residual blocks at width
64, batch 1, 100 epochs at 2e-4 then 100 epochs of linear decay, expressed in steps for
the dataset's size (horse2zebra's larger domain has 1,334 images: 133,400 + 133,400);
Inception FID per direction with --mode eval (needs the pytorch-fid weights).
Not run here (no accelerator); the config is validated by tests/families/test_cyclegan.py.
Arguments: dataset (digits2mnist or a cycle_gan config name, e.g. horse2zebra), steps (0:
the paper's 200 epochs for TFDS, 3,000 offline), runlocal (tiny nets, 3 steps, pool 20).
"""

from gans import configs
from gans.families import cyclegan

# Training images of the larger domain of TFDS's cycle_gan configs (trainA, trainB):
# the paper's epoch is max(|A|, |B|) iterations of batch 1. horse2zebra's counts are
# checked (trainA 1,067 + trainB 1,334 + tests 120 + 140 = 2,661 images, as a mirror of
# the authors' zip holds); the others are the authors' folder sizes, not checked here:
# set `steps` explicitly when it matters.
EPOCH_IMAGES = {
  'horse2zebra': 1334,
  'apple2orange': 1019,
  'summer2winter_yosemite': 1231,
  'monet2photo': 6287,
  'cezanne2photo': 6287,
  'ukiyoe2photo': 6287,
  'vangogh2photo': 6287,
  'maps': 1096,
  'cityscapes': 2975,
  'facades': 400,
  'iphone2dslr_flower': 3325,
}


def get_config(arg=None):
  arg = configs.parse_arg(arg, dataset='digits2mnist', steps=0, runlocal=False)
  c = cyclegan.cyclegan_config()
  if arg.dataset == 'digits2mnist':
    c.dataset = 'digits2mnist'
    c.image_size = 32
    c.batch_size = 4
    c.total_steps = arg.steps or 3000
    c.generator = configs.net('cyclegan', width=16, num_blocks=6, num_downs=2, norm='instance')
    c.discriminator = configs.net('patchgan', width=16, n_layers=3, norm='instance')
    c.evals.translation.update(every=1000)
    c.log_every, c.sample_every, c.checkpoint_every = 50, 500, 500
  else:
    name = arg.dataset.removeprefix('cycle_gan/')
    c.dataset = f'cycle_gan/{name}'
    c.image_size = 286  # Loaded at 286, randomly cropped to 256 in the step.
    c.crop_size = 256
    c.flip = True
    c.batch_size = 1
    epoch = EPOCH_IMAGES.get(name, 1000)
    c.total_steps = arg.steps or 200 * epoch
    c.generator = configs.net('cyclegan', width=64, num_blocks=9, num_downs=2, norm='instance')
    c.discriminator = configs.net('patchgan', width=64, n_layers=3, norm='instance')
    c.evals.translation.update(features='inception')
    c.log_every, c.sample_every, c.checkpoint_every = 100, 5000, 5000
  c.lr_decay_start = c.total_steps // 2
  if arg.runlocal:
    configs.shrink_for_runlocal(c)
    c.lr_decay_start = 1
    c.pool_size = 20  # Full after two runlocal steps (batch 16): the swaps are exercised.
    c.generator.update(width=4, num_blocks=1)
    c.discriminator.width = 4
    if c.crop_size:
      c.image_size, c.crop_size = 36, 32
  return c
