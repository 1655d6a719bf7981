r"""SRGAN: Ledig et al. 2017, "Photo-Realistic Single Image Super-Resolution Using a
Generative Adversarial Network" (family `paired`, model 'srgan').

Default (offline, 2-core CPU): 4x super-resolution of mnist5k digits, 8x8 -> 32x32
(train[:4000]; the 8x8 inputs are the 32x32 targets box-downsampled as Pillow's BOX
does, rounded to 8 bits). SRResNet generator (width 64, 16 residual blocks, two x2
pixel-shuffle stages, as the paper), SRGAN discriminator at width 32 (the paper's 64
halved for the CPU), content loss = MSE of the offline classifier's conv1 feature maps
(VGG16 relu5_3 with `:vgg_weights=/path/to/vgg16-397923af.pth`), adversarial weight
1e-3, Adam 1e-4 (beta1 0.9), batch 16, the first `pretrain` steps SRResNet on pixel MSE.
Evaluated ('paired' evaluator) on the 500 held-out digits train[4500:]: PSNR, SSIM and
fid_classifier beside Pillow's bicubic upsampling, and on scikit-learn's 8x8 digits
as unpaired low-res inputs.
  python launch.py --config experiments/srgan.py --workdir runs/srgan
Measured (2-core CPU shared with other jobs, load average 9-15, 2026-12-01): 15.0 min
wall for 1,000 steps; on the 500 held-out digits PSNR 21.37 dB, SSIM 0.885,
fid_classifier 2.01, against bicubic 16.74 dB, 0.543, 217.3; on scikit-learn's digits
fid_classifier 195.8 (bicubic 228.2). SRResNet alone (`--config.adv_weight=0
--config.content_weight=0 --config.mse_weight=1`): 22.50 dB, 0.902, fid_classifier 3.73.
Grid: docs/srgan_mnist5k_step1000.png; details in docs/paired.md.
Paper setting: 96x96 HR crops of ImageNet at scale 4, VGG19 phi_5,4 content loss,
10^5 SRResNet-MSE steps then 10^5 + 10^5 SRGAN steps (lr 1e-4 then 1e-5). A TFDS image
dataset works the same way (`:dataset=celeb_a,image_size=64` gives 16x16 -> 64x64).
Arguments: dataset, image_size, steps, pretrain, vgg_weights, content_layer, runlocal.
"""

from gans import configs
from gans.families import paired


def get_config(arg=None):
  arg = configs.parse_arg(
    arg,
    dataset='mnist5k',
    image_size=32,
    steps=1000,
    pretrain=400,
    vgg_weights='',
    content_layer='',
    runlocal=False,
  )
  c = paired.paired_config('srgan')
  c.dataset = arg.dataset
  c.image_size = arg.image_size
  c.train_split = configs.HOLDOUT_SPLITS.get(arg.dataset, ('train',))[0]
  c.pairs, c.scale = 'sr', 4
  c.batch_size = 16
  c.total_steps = arg.steps
  c.pretrain_steps = arg.pretrain
  c.generator = configs.net('srgan', width=64, num_blocks=16)
  c.discriminator = configs.net('srgan', width=32)
  c.vgg_weights = arg.vgg_weights
  c.content_layer = arg.content_layer or ('relu5_3' if arg.vgg_weights else 'conv1')
  builtin = arg.dataset in ('mnist5k', 'digits')
  c.unpaired_dataset = 'digits' if arg.dataset == 'mnist5k' and arg.image_size == 32 else ''
  c.evals.paired.update(every=500 if builtin else 0, unpaired_dataset=c.unpaired_dataset)
  c.log_every, c.sample_every, c.checkpoint_every = 50, 250, 500
  if arg.runlocal:
    configs.shrink_for_runlocal(c)
    c.pretrain_steps = 1
    c.generator.update(width=8, num_blocks=2)
    c.discriminator.width = 4
  return c
