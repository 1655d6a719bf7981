"""Shared config fragments, `get_config(arg)` argument parsing and validation.

Experiment files (`experiments/<name>.py`) define `get_config(arg=None)` and return an
`ml_collections.ConfigDict`. `arg` is a comma-separated `key=value` string, e.g.
`experiments/wgan_gp.py:dataset=cifar10,arch=resnet,runlocal`; a bare key means True.
"""

import importlib.util
import os

import ml_collections

# Top-level fields every experiment config must define.
REQUIRED_FIELDS = ('seed', 'dataset', 'batch_size', 'total_steps', 'log_every',
                   'sample_every', 'checkpoint_every')


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
      raise ValueError(f'Unknown config argument {key!r} in {arg!r}; '
                       f'known arguments: {", ".join(sorted(defaults))}.')
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
    raise ValueError(f'Config argument {key!r} expects a boolean, got {value!r}.')
  if isinstance(default, (int, float)):
    try:
      return type(default)(value)
    except ValueError:
      raise ValueError(f'Config argument {key!r} expects {type(default).__name__}, '
                       f'got {value!r}.') from None
  return value


def optimizer(name='adam', lr=1e-4, b1=0.5, b2=0.999, **kwargs):
  """Config fragment for one optimizer (see `gans.train.state.make_optimizer`)."""
  kwargs.setdefault('decay', 'none')  # 'linear': to 0 at the last step (WGAN-GP ResNet).
  return ml_collections.ConfigDict(dict(name=name, lr=lr, b1=b1, b2=b2, **kwargs))


def net(name, **kwargs):
  """Config fragment naming an architecture in gans.nets and its keyword arguments."""
  return ml_collections.ConfigDict(dict(name=name, **kwargs))


def eval_config():
  """Defaults of `config.eval` (gans.evaluate); the one place they are defined."""
  return ml_collections.ConfigDict(dict(
      features='classifier',     # 'classifier' (offline, fid_classifier...) | 'inception'.
      metrics=('fid', 'is', 'kid'),  # Also precision_recall, density_coverage,
                                     # mode_score, mode_count; mode_coverage for 2D toys.
      num_samples=10_000,        # Generated samples per evaluation.
      num_reference=0,           # Real samples; 0: the whole split (at most 50k).
      reference_split='train',
      inception_weights='',      # pytorch-fid's .pth; empty: $GANS_INCEPTION_WEIGHTS.
      classifier_path='',        # Empty: train experiments/classifier.py once, cached.
      cache_dir='',              # Empty: $GANS_CACHE_DIR or ~/.cache/gans.
      batch_size=0,              # 0: config.batch_size.
      seed=0,                    # Latents of the evaluated samples (same every time).
      use_ema=True,
      kid_subsets=100,
      kid_subset_size=1000,
      is_splits=10,
      precision_recall_k=3,
      density_coverage_k=5,
  ))


def base_config():
  """Fields shared by every adversarial experiment, with neutral defaults."""
  c = ml_collections.ConfigDict()
  c.seed = 0
  c.dataset = 'mnist5k'
  c.data_dir = ''            # TFDS data_dir; empty means the TFDS default.
  c.image_size = 32          # Images are resized to image_size x image_size.
  c.batch_size = 64          # Global batch, split over all devices and processes.
  c.total_steps = 10_000     # Generator steps.
  c.log_every = 100
  c.sample_every = 1000
  c.checkpoint_every = 1000
  c.keep_checkpoints = 3
  c.num_grid_samples = 64    # Images in each PNG sample grid.
  # Evaluation (gans.evaluate): every eval_every steps (0: never) into metrics.jsonl as
  # eval/*, with the protocol in eval.jsonl; `--mode eval` uses the same settings.
  c.eval_every = 0
  c.eval = eval_config()

  c.latent_dim = 128
  c.generator = ml_collections.ConfigDict(dict(name='dcgan'))
  c.discriminator = ml_collections.ConfigDict(dict(name='dcgan'))

  # Objective: see gans.objectives.losses for the names.
  c.loss = 'non_saturating'
  c.gradient_penalty = 0.0   # WGAN-GP lambda; 0 disables the penalty.
  c.n_critic = 1             # Discriminator steps per generator step.
  c.g_optimizer = optimizer()
  c.d_optimizer = optimizer()
  c.ema_decay = 0.0          # Generator EMA; 0 keeps no EMA.
  c.ema_start = 0            # Generator step from which the EMA is updated.
  c.truncation = 0.0         # Sampling/eval latents truncated to [-t, t] (BigGAN); 0: off.

  # Loss options and regularizers (gans.objectives; weights of 0 disable them).
  c.ls_coding = '0,1,1'      # least_squares labels 'a,b,c' (Mao et al.): or '-1,1,0'.
  c.weight_clip = 0.0        # WGAN: clip D's parameters to [-c, c] after each update.
  c.dragan = 0.0             # DRAGAN penalty lambda (10 in the paper).
  c.r1 = 0.0                 # R1 gamma; adds gamma/2 E||grad D(real)||^2.
  c.g_ortho_reg = 0.0        # BigGAN orthogonal regularization beta on G (1e-4).
  c.d_ortho_reg = 0.0        # The same on D.
  # Training tricks (gans.train.tricks).
  c.label_smoothing = 0.0    # One-sided: D's real target is 1 - label_smoothing.
  c.noisy_labels = False     # D's targets: real ~ U[0.7, 1.2], fake ~ U[0, 0.3].
  c.label_flip = 0.0         # Probability of swapping each of D's targets.
  c.instance_noise = 0.0     # Std of Gaussian noise on D's inputs (real and fake).
  c.instance_noise_anneal_steps = 0  # Linear decay of that std to 0; 0 keeps it.
  c.separate_batches = True  # D sees real and fake in separate calls (else one batch).
  c.pack = 1                 # PacGAN: D judges `pack` samples at once.
  c.conditional = False      # Labels to G and D (real from the data, fake uniform).
  c.num_classes = 0          # Classes of the conditional families.
  c.aux_weight = 1.0         # ACGAN auxiliary classifier loss weight (D -> pair).
  c.health_checks = True     # Warn at log time on collapse signs (gans.train.health).
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
  config.eval_every = 0
  return config


def load_config_file(path_and_arg):
  """Loads `path/to/file.py[:arg]` the way `--config` does (for tests and tools)."""
  path, _, arg = path_and_arg.partition(':')
  if not os.path.exists(path):
    raise FileNotFoundError(f'Config file {path!r} does not exist.')
  spec = importlib.util.spec_from_file_location(
      os.path.splitext(os.path.basename(path))[0], path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.get_config(arg or None)


def validate(config):
  """Checks fields every run relies on; raises ValueError naming the key."""
  for field in REQUIRED_FIELDS:
    if field not in config:
      raise ValueError(f'Config is missing the required field {field!r}.')
  positive = ('batch_size', 'total_steps', 'log_every', 'sample_every',
              'checkpoint_every', 'n_critic')
  for field in positive:
    if field in config and int(config[field]) <= 0:
      raise ValueError(f'config.{field} must be positive, got {config[field]!r}.')
  if config.get('gradient_penalty', 0) < 0:
    raise ValueError(f'config.gradient_penalty must be >= 0, got '
                     f'{config.gradient_penalty!r}.')
  if not 0.0 <= config.get('ema_decay', 0.0) < 1.0:
    raise ValueError(f'config.ema_decay must be in [0, 1), got {config.ema_decay!r}.')
  _validate_objective_and_tricks(config)


def _validate_objective_and_tricks(config):
  """Checks the loss, regularizer and trick switches (see base_config)."""
  from gans.objectives import losses  # pylint: disable=g-import-not-at-top
  name = config.get('loss', 'non_saturating')
  if name not in losses.LOSSES:
    raise ValueError(f'config.loss={name!r} is not a loss; known: {", ".join(losses.LOSSES)}.')
  if name == 'least_squares':
    losses.parse_coding(config.get('ls_coding', '0,1,1'))
  for field in ('weight_clip', 'dragan', 'r1', 'g_ortho_reg', 'd_ortho_reg',
                'instance_noise', 'instance_noise_anneal_steps', 'aux_weight', 'truncation'):
    if config.get(field, 0) < 0:
      raise ValueError(f'config.{field} must be >= 0, got {config[field]!r}.')
  if not 0.0 <= config.get('label_smoothing', 0.0) < 1.0:
    raise ValueError(f'config.label_smoothing must be in [0, 1), got '
                     f'{config.label_smoothing!r}.')
  if not 0.0 <= config.get('label_flip', 0.0) <= 0.5:
    raise ValueError(f'config.label_flip must be in [0, 0.5], got {config.label_flip!r}.')
  uses_labels = (config.get('label_smoothing', 0.0) > 0 or config.get('noisy_labels', False)
                 or config.get('label_flip', 0.0) > 0)
  if uses_labels and name not in losses.LABEL_LOSSES:
    raise ValueError(f'config.label_smoothing/noisy_labels/label_flip need a loss with '
                     f'targets ({", ".join(losses.LABEL_LOSSES)}), not config.loss={name!r}.')
  pack = config.get('pack', 1)
  if int(pack) < 1 or config.batch_size % int(pack):
    raise ValueError(f'config.pack={pack!r} must be >= 1 and divide config.batch_size='
                     f'{config.batch_size}.')
  if config.get('conditional', False):
    if config.get('num_classes', 0) <= 0:
      raise ValueError('config.conditional needs config.num_classes > 0.')
    if int(pack) > 1:
      raise ValueError('config.pack > 1 is not supported with config.conditional.')
