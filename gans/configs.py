"""Shared config fragments, `get_config(arg)` argument parsing and validation.

Experiment files (`experiments/<name>.py`) define `get_config(arg=None)` and return an
`ml_collections.ConfigDict`. `arg` is a comma-separated `key=value` string, e.g.
`experiments/wgan_gp.py:dataset=cifar10,arch=resnet,runlocal`; a bare key means True.
"""

import importlib.util
import os

import ml_collections

from gans import errors

# Top-level fields every experiment config must define.
REQUIRED_FIELDS = (
  'seed',
  'dataset',
  'batch_size',
  'total_steps',
  'log_every',
  'sample_every',
  'checkpoint_every',
)


def parse_arg(arg, **defaults):
  """Parses `'k1=v1,k2,k3=v3'` into a ConfigDict with the types of `defaults`.

  A bare key (`runlocal`) sets that key to True. Unknown keys and values that do not
  convert to the default's type raise ValueError naming the key.
  """
  result = ml_collections.ConfigDict(dict(defaults))
  if not arg:
    return result
  for item in arg.split(','):
    item = item.strip()
    if not item:
      continue
    key, has_value, value = item.partition('=')
    key = key.strip()
    if key not in defaults:
      raise errors.UserInputError(
        f'Unknown config argument {key!r} in {arg!r}; '
        f'known arguments: {", ".join(sorted(defaults))}.'
      )
    default = defaults[key]
    if not has_value:
      value = 'True'
    result[key] = _convert(key, value.strip(), default)
  return result


def _convert(key, value, default):
  if isinstance(default, bool):
    if value.lower() in ('true', '1', 'yes'):
      return True
    if value.lower() in ('false', '0', 'no'):
      return False
    raise errors.UserInputError(f'Config argument {key!r} expects a boolean, got {value!r}.')
  if isinstance(default, (int, float)):
    try:
      return type(default)(value)
    except ValueError:
      raise errors.UserInputError(
        f'Config argument {key!r} expects {type(default).__name__}, got {value!r}.'
      ) from None
  return value


def optimizer(name='adam', lr=1e-4, decay='none', **kwargs):
  """Config fragment for one optimizer (see `gans.train.state.make_optimizer`).

  `name` is looked up in optax; the other fields are its keyword arguments. Adam's
  betas default to DCGAN's (0.5, 0.999). `decay='linear'` decays the learning rate to
  0 at the last step (WGAN-GP ResNet).
  """
  if name == 'adam':
    kwargs = dict(dict(b1=0.5, b2=0.999), **kwargs)
  return ml_collections.ConfigDict(dict(name=name, lr=lr, decay=decay, **kwargs))


def ada(mode='off', p=0.0, target=0.6, kimg=500.0, interval=4, pipeline='bgc'):
  """Config fragment of ADA (gans.augment.ada; Karras et al. 2020), the paper's defaults.

  mode: 'off', 'fixed' (every transform with probability p) or 'adaptive' (p starts at
  `p`, moves towards r_t = E[sign D(real)] = `target` by 1 per `kimg` thousand reals,
  adjusted every `interval` steps). pipeline: 'bgc' (blit, geometric, colour), 'bg',
  'blit', 'geom' or 'color'.
  """
  return ml_collections.ConfigDict(
    dict(mode=mode, p=p, target=target, kimg=kimg, interval=interval, pipeline=pipeline)
  )


def net(name, **kwargs):
  """Config fragment naming an architecture in gans.nets and its keyword arguments."""
  return ml_collections.ConfigDict(dict(name=name, **kwargs))


def sample_eval(**overrides):
  """An evaluator of generated samples (gans.eval.samples: FID, IS, KID, ...).

  The one place its defaults are defined. `every`: evaluate every that many steps
  during training (0: only with --mode eval). Unknown fields raise ValueError when the
  evaluator is built.
  """
  c = ml_collections.ConfigDict(
    dict(
      type='samples',
      every=0,
      features='classifier',  # 'classifier' (offline, fid_classifier...) | 'inception'
      # | 'vgg16' (fc2 features, the improved precision/recall protocol; needs vgg_weights).
      metrics=('fid', 'is', 'kid'),  # Also precision_recall, density_coverage,
      # mode_score, mode_count; mode_coverage for 2D toys.
      num_samples=10_000,  # Generated samples per evaluation.
      num_reference=0,  # Real samples; 0: the whole split (at most 50k).
      reference_split='train',
      inception_weights='',  # pytorch-fid's .pth; empty: $GANS_INCEPTION_WEIGHTS.
      vgg_weights='',  # torchvision's vgg16-397923af.pth, for features='vgg16'.
      classifier_path='',  # Empty: train experiments/classifier.py once, cached.
      cache_dir='',  # Empty: $GANS_CACHE_DIR or ~/.cache/gans.
      batch_size=0,  # 0: config.batch_size.
      seed=0,  # Latents of the evaluated samples (same every time).
      use_ema=True,
      kid_subsets=100,
      kid_subset_size=1000,
      is_splits=10,
      precision_recall_k=3,
      density_coverage_k=5,
    )
  )
  c.update(overrides)
  return c


# (train, validation, test) splits of the likelihood families and the family table on
# the built-in image datasets: mnist5k 4,000 / 500 / 500, digits 80% / 10% / 10%.
HOLDOUT_SPLITS = {
  'mnist5k': ('train[:4000]', 'train[4000:4500]', 'train[4500:]'),
  'digits': ('train[:80%]', 'train[80%:90%]', 'train[90%:]'),
}


def likelihood_eval(**overrides):
  """An evaluator of held-out log-likelihood (gans.eval.likelihood: nats, bits/dim).

  Averages the family's per-example -log p(x) (exact, or the bounds it reports) over
  `split` of the run's dataset.
  """
  c = ml_collections.ConfigDict(
    dict(
      type='likelihood',
      every=0,
      split='train[4500:]',  # Held out of the likelihood families' 'train[:4000]'.
      num_examples=0,  # 0: the whole split.
      batch_size=0,  # 0: config.batch_size.
      seed=0,  # Randomness of bounds that sample (VAE's IWAE).
      use_ema=True,
    )
  )
  c.update(overrides)
  return c


def ppl_eval(**overrides):
  """A 'ppl' evaluator fragment; the one place its defaults are stated."""
  c = ml_collections.ConfigDict(
    dict(
      type='ppl',
      every=0,
      space='z',  # 'z' (slerp) | 'w' (lerp; families with a mapping network).
      sampling='full',  # 'full': t ~ U(0, 1) | 'end': t = 0.
      num_samples=100_000,  # Paths (Karras et al. 2019; stylegan2-ada-pytorch: 50,000).
      epsilon=1e-4,  # The paper's step.
      crop=False,  # The FFHQ face crop.
      batch_size=0,  # 0: config.batch_size.
      vgg_weights='',  # Both LPIPS files given: LPIPS; else the offline classifier.
      lpips_weights='',
      classifier_path='',  # Offline fallback: as config.evals.samples.classifier_path.
      cache_dir='',
      seed=0,
      use_ema=True,
    )
  )
  c.update(overrides)
  return c


def diversity_eval(**overrides):
  """A 'diversity' evaluator fragment; the one place its defaults are stated."""
  c = ml_collections.ConfigDict(
    dict(
      type='diversity',
      every=0,
      num_pairs=2000,  # Pairs of independent samples (not a paper constant).
      batch_size=0,  # 0: config.batch_size.
      vgg_weights='',
      lpips_weights='',
      classifier_path='',
      cache_dir='',
      seed=0,  # Streams seed and seed + 1.
      use_ema=True,
    )
  )
  c.update(overrides)
  return c


def overfitting_eval(**overrides):
  """A discriminator-overfitting monitor (gans.eval.overfitting): D on training vs
  held-out reals; the one place its defaults are stated."""
  c = ml_collections.ConfigDict(
    dict(
      type='overfitting',
      every=0,
      heldout_split='',  # '': data.default_heldout_split (mnist5k: 'train[4500:]').
      num_examples=1000,  # Per set: training reals, held-out reals, samples.
      batch_size=0,  # 0: config.batch_size.
      seed=0,  # Which training images, and the samples' latents.
      use_ema=True,
    )
  )
  c.update(overrides)
  return c


def cas_eval(**overrides):
  """A Classification Accuracy Score evaluator (gans.eval.cas; Ravuri & Vinyals 2019):
  the classifier recipe trained on generated images only, scored on held-out reals;
  the one place its defaults are stated."""
  c = ml_collections.ConfigDict(
    dict(
      type='cas',
      every=0,
      num_samples=0,  # Generated training images; 0: as many as the training split has.
      num_real=0,  # Real images of the baseline; 0: num_samples (at most the split).
      heldout_split='',  # '': data.default_heldout_split (mnist5k: 'train[4500:]').
      num_heldout=0,  # Held-out images scored; 0: the whole split.
      steps=1000,  # Classifier optimizer steps (batch 64), whatever the image count.
      seeds=(0,),  # One classifier per seed: latents, real subset, initialisation.
      batch_size=0,  # Generation batch; 0: config.batch_size.
      use_ema=True,
    )
  )
  c.update(overrides)
  return c


def paired_eval(**overrides):
  """A 'paired' evaluator fragment (gans.eval.paired: PSNR, SSIM and fid_classifier of
  the paired family's translations beside bicubic upsampling); the one place its
  defaults are stated."""
  c = ml_collections.ConfigDict(
    dict(
      type='paired',
      every=0,
      split='',  # Held-out targets; '': data.default_heldout_split ('train[4500:]').
      num_examples=0,  # 0: the whole split.
      unpaired_dataset='',  # E.g. 'digits': its images as inputs (no targets).
      batch_size=0,  # 0: config.batch_size.
      max_psnr_db=100.0,  # Cap of one pair's PSNR (identical images: +inf).
      classifier_path='',  # fid_classifier's network; '': the cached default recipe.
      cache_dir='',
    )
  )
  c.update(overrides)
  return c


def translation_eval(**overrides):
  """A 'translation' evaluator fragment (gans.eval.translation: per direction of a
  two-domain translation run, FID of the translations against held-out images of the
  target domain, label preservation and cycle error); the one place its defaults are
  stated."""
  c = ml_collections.ConfigDict(
    dict(
      type='translation',
      every=0,
      split='',  # Held-out images of both domains; '': config.heldout_split ('test').
      num_examples=0,  # Per domain; 0: the whole split.
      features='classifier',  # 'classifier': offline digit classifiers (the target
      # domain's for FID and labels) | 'inception' (FID only; needs the weights).
      inception_weights='',  # pytorch-fid's .pth; empty: $GANS_INCEPTION_WEIGHTS.
      batch_size=0,  # 0: config.batch_size.
      cache_dir='',
    )
  )
  c.update(overrides)
  return c


def offline_evals(c, dataset):
  """Sets the usual evaluation of a GAN experiment for `dataset`.

  Built-in digit datasets: the offline classifier's FID/IS/KID on 2,000 samples every
  250 steps. Others: Inception metrics on 50,000 samples with --mode eval.
  """
  if dataset in ('mnist5k', 'digits'):
    c.evals.samples.update(every=250, num_samples=2000, kid_subsets=10)
  else:
    c.evals.samples.update(features='inception', num_samples=50_000)
  return c


def run_config():
  """Fields of every run, whatever its family."""
  c = ml_collections.ConfigDict()
  c.family = 'gan'  # A package of gans/families/.
  c.seed = 0
  c.dataset = 'mnist5k'
  c.data_dir = ''  # TFDS data_dir; empty means the TFDS default.
  c.train_split = 'train'  # TFDS-style split string, also for built-in datasets.
  c.image_size = 32  # Images are resized to image_size x image_size.
  c.batch_size = 64  # Global batch, split over all devices and processes.
  c.total_steps = 10_000
  c.log_every = 100
  c.sample_every = 1000
  c.checkpoint_every = 1000
  c.keep_checkpoints = 3
  c.num_grid_samples = 64  # Images in each PNG sample grid.
  # Evaluators (gans.eval): name -> fragment with `type` and `every`; values go to
  # metrics.jsonl as eval/<name>/<metric>, with the protocol in eval.jsonl;
  # `--mode eval` runs every one of them on the latest checkpoint.
  c.evals = ml_collections.ConfigDict({'samples': sample_eval()})
  c.conditional = False  # Labels to the networks (families that use them).
  c.num_classes = 0  # Classes of the conditional families.
  return c


def base_config():
  """The `gan` family's fields over run_config(), with neutral defaults."""
  c = run_config()
  c.latent_dim = 128
  c.generator = ml_collections.ConfigDict(dict(name='dcgan'))
  c.discriminator = ml_collections.ConfigDict(dict(name='dcgan'))

  # Objective: see gans.objectives.losses for the names.
  c.loss = 'non_saturating'
  c.gradient_penalty = 0.0  # WGAN-GP lambda; 0 disables the penalty.
  c.n_critic = 1  # Discriminator steps per generator step.
  c.g_optimizer = optimizer()
  c.d_optimizer = optimizer()
  c.ema_decay = 0.0  # Generator EMA; 0 keeps no EMA.
  c.ema_start = 0  # Generator step from which the EMA is updated.
  c.truncation = 0.0  # Sampling/eval latents truncated to [-t, t] (BigGAN); 0: off.

  # Loss options and regularizers (gans.objectives; weights of 0 disable them).
  c.ls_coding = '0,1,1'  # least_squares labels 'a,b,c' (Mao et al.): or '-1,1,0'.
  c.weight_clip = 0.0  # WGAN: clip D's parameters to [-c, c] after each update.
  c.dragan = 0.0  # DRAGAN penalty lambda (10 in the paper).
  c.r1 = 0.0  # R1 gamma; adds gamma/2 E||grad D(real)||^2.
  c.g_ortho_reg = 0.0  # BigGAN orthogonal regularization beta on G (1e-4).
  c.d_ortho_reg = 0.0  # The same on D.
  # Training tricks (gans.families.gan.tricks).
  c.label_smoothing = 0.0  # One-sided: D's real target is 1 - label_smoothing.
  c.noisy_labels = False  # D's targets: real ~ U[0.7, 1.2], fake ~ U[0, 0.3].
  c.label_flip = 0.0  # Probability of swapping each of D's targets.
  c.instance_noise = 0.0  # Std of Gaussian noise on D's inputs (real and fake).
  c.instance_noise_anneal_steps = 0  # Linear decay of that std to 0; 0 keeps it.
  c.separate_batches = True  # D sees real and fake in separate calls (else one batch).
  c.pack = 1  # PacGAN: D judges `pack` samples at once.
  # DiffAugment policy for every image D sees (gans.augment.diffaugment): '' (off) or a
  # subset of 'color,translation,cutout' (Zhao et al. 2020).
  c.augment = ''
  # ADA (gans.augment.ada): mode 'off', 'fixed' or 'adaptive'; at most one of augment/ada.
  c.ada = ada()
  c.aux_weight = 1.0  # ACGAN auxiliary classifier loss weight (D -> pair).
  c.health_checks = True  # Warn at log time on collapse signs (gans.train.health).
  return c


def class_count(config):
  """K of a class-conditional config (`conditional` and `num_classes`), else 0."""
  return int(config.num_classes) if config.get('conditional', False) else 0


def shrink_for_runlocal(config):
  """Turns any config into a seconds-long run for tests and smoke checks."""
  config.batch_size = 16
  config.total_steps = 3
  config.log_every = 1
  config.sample_every = 2
  config.checkpoint_every = 2
  config.num_grid_samples = 16
  for evaluator in config.get('evals', {}).values():
    evaluator.every = 0
  return config


def load_config_file(path_and_arg):
  """Loads `path/to/file.py[:arg]` the way `--config` does (for tests and tools)."""
  path, _, arg = path_and_arg.partition(':')
  if not os.path.exists(path):
    raise errors.MissingInputError(f'Config file {path!r} does not exist.')
  spec = importlib.util.spec_from_file_location(os.path.splitext(os.path.basename(path))[0], path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.get_config(arg or None)


def validate(config):
  """Checks the fields every run relies on; raises ValueError naming the key.

  Each family checks its own fields when it builds (gans/families/<family>/).
  """
  for field in REQUIRED_FIELDS:
    if field not in config:
      raise errors.UserInputError(f'Config is missing the required field {field!r}.')
  for field in ('batch_size', 'total_steps', 'log_every', 'sample_every', 'checkpoint_every'):
    if int(config[field]) <= 0:
      raise errors.UserInputError(f'config.{field} must be positive, got {config[field]!r}.')
  if config.get('conditional', False) and config.get('num_classes', 0) <= 0:
    raise errors.UserInputError('config.conditional needs config.num_classes > 0.')
  for name, evaluator in config.get('evals', {}).items():
    if 'type' not in evaluator:
      raise errors.UserInputError(f'config.evals.{name} has no `type` (e.g. samples, likelihood).')
    if int(evaluator.get('every', 0)) < 0:
      raise errors.UserInputError(
        f'config.evals.{name}.every must be >= 0, got {evaluator.every!r}.'
      )
