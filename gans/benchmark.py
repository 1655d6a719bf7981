r"""Benchmark harness: train step, sampling, feature extraction and metric speed.

  python -m gans.benchmark --config experiments/wgan_gp.py --json
  python -m gans.benchmark --config experiments/wgan_gp.py:dataset=cifar10 \
      --config.n_critic=1 --compare-torch --json      # the WGAN-GP DCGAN step vs PyTorch

  python -m gans.benchmark --config experiments/toy.py:size=tiny --sweep_members 8 \
      --sweep_steps 1000 --json    # 8 seeds: one vectorised program vs 8 runs in a row

Times the compiled train step of any experiment config (compile time separately; the
steady-state median over `--steps` steps after `--warmup`), sampling (images/s), feature
extraction with the FID InceptionV3 (random weights unless GANS_INCEPTION_WEIGHTS is
set: speed does not depend on the values) or the offline classifier, and the Frechet
distance on `--fid_samples` x 2048 features, on whatever devices are present. Batches
are synthetic arrays of the config's shape, so the input pipeline is not timed and no
dataset is needed. Writes JSON and a markdown table (hardware named) to `--out`
(default `runs/benchmarks/`, git-ignored: the project's reference figures in
`benchmarks/results/` are rewritten only with `--out benchmarks/results`).

--compare-torch (needs torch, torchvision, pytorch-fid) adds the PyTorch reference step
(benchmarks/torch_wgan_gp.py, channels_last): `torch_seconds_per_step` and `ratio` (ours
/ theirs, lower is better); with Inception features also pytorch-fid's network
(benchmarks/torch_inception.py): `torch_feature_images_per_second` and `feature_ratio`
(ours / theirs images/s, higher is better) for pytorch-fid as it runs (NCHW batches),
and the same with `_channels_last` for torch in its faster CPU layout.

--sweep_members M replaces every other timing with `time_sweep`: M seeds of the config
trained by the sweep runner as one vectorised program and then one after another
(`--sweep_sequential`), in member-steps per second (wall and steady state) and their
ratio (docs/benchmarks.md, "Sweeps: vectorised against sequential").
"""

import json
import os
import platform
import sys
import time

from absl import app
from absl import flags
import jax
import jax.numpy as jnp
from ml_collections import config_flags
import numpy as np

from gans import configs
from gans import data
from gans import parallel
from gans.train import experiment

_CONFIG = config_flags.DEFINE_config_file('config', None, 'Experiment file[:args].')
_STEPS = flags.DEFINE_integer('steps', 20, 'Timed train steps (after warm-up).')
_WARMUP = flags.DEFINE_integer('warmup', 3, 'Untimed steps after compilation.')
_FEATURES = flags.DEFINE_enum(
  'features', 'inception', ['inception', 'classifier', 'none'], 'Feature network to time.'
)
_FEATURE_BATCH = flags.DEFINE_integer('feature_batch', 50, 'Images per extraction batch.')
_FEATURE_BATCHES = flags.DEFINE_integer('feature_batches', 3, 'Timed extraction batches.')
_FID_SAMPLES = flags.DEFINE_integer(
  'fid_samples', 10_000, 'Feature rows per set for the FID timing (50k = protocol).'
)
_COMPARE_TORCH = flags.DEFINE_bool(
  'compare_torch', False, 'Also time the PyTorch reference WGAN-GP DCGAN step.'
)
flags.DEFINE_alias('compare-torch', 'compare_torch')
_JSON = flags.DEFINE_bool('json', False, 'Print the results as JSON on stdout.')
_OUT = flags.DEFINE_string(
  'out',
  'runs/benchmarks',
  'Directory for JSON + markdown (default runs/benchmarks, git-ignored; the reference '
  'figures in benchmarks/results/ change only when named here). Empty: write nothing.',
)
_TINY = flags.DEFINE_bool('tiny', False, 'Seconds-long run (tests): few steps, small FID.')
_SWEEP_MEMBERS = flags.DEFINE_integer(
  'sweep_members',
  0,
  'Instead of the other timings: a sweep of this many seeds as one vectorised program '
  'against the same runs one after another (member-steps per second); 0: off.',
)
_SWEEP_STEPS = flags.DEFINE_integer('sweep_steps', 200, 'Train steps of each sweep member.')

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def hardware():
  d = jax.devices()[0]
  return dict(
    platform=d.platform,
    device_kind=d.device_kind,
    device_count=jax.device_count(),
    cpu_count=os.cpu_count(),
    processor=platform.processor() or platform.machine(),
    jax=jax.__version__,
  )


def synthetic_dataset(config, channels=None):
  """A Dataset of random arrays shaped like config.dataset's examples."""
  try:
    shape = data.load(config).example_shape
  except (ValueError, FileNotFoundError):
    shape = (config.image_size, config.image_size, channels or 3)
  rng = np.random.default_rng(0)
  x = rng.uniform(-1, 1, (256,) + tuple(shape)).astype(np.float32)
  classes = configs.class_count(config) or 10
  y = rng.integers(0, classes, 256).astype(np.int32)
  return data.Dataset('synthetic', 256, tuple(shape), classes, lambda i: (x[i % 256], y[i % 256]))


def _median_time(fn, n):
  times = []
  for _ in range(n):
    t = time.perf_counter()
    jax.block_until_ready(fn())
    times.append(time.perf_counter() - t)
  return float(np.median(times)), times


# Steps whose phases are counted for the amortised time (a multiple of every lazy
# regularization interval in use: StyleGAN2's 4 and 16).
PHASE_CYCLE = 1024


def time_train_step(config, steps, warmup):
  """Times each compiled phase of the experiment's step, and their amortised mean.

  A single-phase family reports `seconds_per_step` of its step. A family with lazy
  phases (StyleGAN2: main, g_reg, d_reg, both_reg) also reports, per phase,
  `phase_<name>_seconds_per_step`, `phase_<name>_compile_seconds` and
  `phase_<name>_fraction` (its share of PHASE_CYCLE steps); `seconds_per_step` is
  then the amortised mean over the phases' shares, `compile_seconds` their sum.
  """
  exp = experiment.build(config, dataset=synthetic_dataset(config))
  state = exp.init()
  it = data.Batches(exp.dataset, config.batch_size, 0, group=exp.batch_group, prefetch=1)
  batch = parallel.to_global(next(it)[1], exp.mesh, 1)
  it.close()
  counts = {}
  for s in range(PHASE_CYCLE):
    counts[exp.phase(s)] = counts.get(exp.phase(s), 0) + 1
  holder = {'state': state}
  phases = {}
  for name in sorted(counts):
    t = time.perf_counter()
    compiled = exp.steps[name].lower(holder['state'], batch).compile()
    compile_seconds = time.perf_counter() - t

    def one(compiled=compiled):
      holder['state'], metrics = compiled(holder['state'], batch)
      return metrics

    for _ in range(warmup):
      jax.block_until_ready(one())
    median, times = _median_time(one, steps)
    phases[name] = dict(
      seconds=median, compile=compile_seconds, lo=min(times), hi=max(times), share=counts[name]
    )
  amortised = sum(p['seconds'] * p['share'] for p in phases.values()) / PHASE_CYCLE
  results = dict(
    seconds_per_step=amortised,
    compile_seconds=sum(p['compile'] for p in phases.values()),
    step_seconds_min=min(p['lo'] for p in phases.values()),
    step_seconds_max=max(p['hi'] for p in phases.values()),
    steps_timed=steps,
    batch_size=config.batch_size,
    n_critic=exp.batch_group,
    example_shape=list(exp.dataset.example_shape),
  )
  if len(phases) > 1:
    for name, p in phases.items():
      results[f'phase_{name}_seconds_per_step'] = p['seconds']
      results[f'phase_{name}_compile_seconds'] = p['compile']
      results[f'phase_{name}_fraction'] = p['share'] / PHASE_CYCLE
  # Sampling speed: one generator forward pass (eval mode) over a batch.
  s = holder['state']
  if exp.sample is not None:
    sample = lambda: exp.sample(s, jax.random.PRNGKey(0), 0, config.batch_size, False)
    jax.block_until_ready(sample())
    sample_seconds, _ = _median_time(sample, max(3, steps // 2))
    results['sample_images_per_second'] = config.batch_size / sample_seconds
  return results, exp


def time_features(kind, batch, batches):
  """Images/s of feature extraction on uint8 32x32x3 images (Inception resizes to 299)."""
  images = np.random.default_rng(0).integers(0, 256, (batch, 32, 32, 3), dtype=np.uint8)
  if kind == 'inception':
    from gans.metrics import inception  # pylint: disable=g-import-not-at-top

    weights = os.environ.get('GANS_INCEPTION_WEIGHTS')
    if weights and os.path.exists(weights):
      extractor = inception.load(weights)
      fn = lambda: extractor(images)
    else:
      module = inception.FIDInceptionV3()
      variables = jax.jit(module.init)(jax.random.PRNGKey(0), jnp.zeros((1, 299, 299, 3)))
      run = jax.jit(inception.extract)
      fn = lambda: run(variables, images)
  else:
    from gans.metrics import classifier  # pylint: disable=g-import-not-at-top

    images = images[..., :1]
    net = classifier.DigitClassifier()
    variables = net.init(jax.random.PRNGKey(0), jnp.zeros((1, 32, 32, 1)))
    run = jax.jit(lambda v, x: net.apply(v, classifier.to_model(x)))
    fn = lambda: run(variables, images)
  t = time.perf_counter()
  jax.block_until_ready(fn())
  first = time.perf_counter() - t
  median, _ = _median_time(fn, batches)
  return dict(
    feature_network=kind,
    feature_images_per_second=batch / median,
    feature_batch=batch,
    feature_first_call_seconds=first,
  )


def time_fid(n, dim=2048):
  from gans import metrics  # pylint: disable=g-import-not-at-top

  rng = np.random.default_rng(0)
  a = rng.standard_normal((n, dim)).astype(np.float32)
  b = rng.standard_normal((n, dim)).astype(np.float32) + 0.1
  t = time.perf_counter()
  stats = [metrics.FeatureStats().update(a), metrics.FeatureStats().update(b)]
  t_stats = time.perf_counter() - t
  t = time.perf_counter()
  metrics.frechet_distance_from_stats(
    stats[0].mean(), stats[0].cov(), stats[1].mean(), stats[1].cov()
  )
  return dict(
    fid_samples=n,
    fid_dim=dim,
    fid_statistics_seconds=t_stats,
    fid_distance_seconds=time.perf_counter() - t,
  )


def check_torch_comparable(config):
  """The PyTorch reference is the WGAN-GP DCGAN step: the config must be the same step."""
  want = {
    'generator.name': 'dcgan',
    'generator.width': 64,
    'discriminator.name': 'dcgan',
    'discriminator.width': 64,
    'discriminator.norm': 'none',
    'image_size': 32,
    'n_critic': 1,
    'gradient_penalty': 10.0,
    'loss': 'wasserstein',
    'latent_dim': 128,
  }
  for key, value in want.items():
    node = config
    for part in key.split('.'):
      node = node[part]
    if node != value:
      raise ValueError(
        f'--compare_torch times the WGAN-GP DCGAN reference step; config.{key}'
        f' is {node!r}, the reference has {value!r}. Use --config '
        f'experiments/wgan_gp.py:dataset=cifar10 --config.n_critic=1.'
      )


def time_torch(config, steps, warmup):
  sys.path.insert(0, os.path.join(ROOT, 'benchmarks'))
  import torch_wgan_gp  # pylint: disable=g-import-not-at-top

  seconds = torch_wgan_gp.time_torch_step(
    batch_size=config.batch_size, channels_last=True, steps=steps, warmup=warmup
  )
  return dict(torch_seconds_per_step=seconds, torch_layout='channels_last')


def time_torch_features(batch, batches):
  sys.path.insert(0, os.path.join(ROOT, 'benchmarks'))
  import torch_inception  # pylint: disable=g-import-not-at-top

  weights = os.environ.get('GANS_INCEPTION_WEIGHTS')
  out = torch_inception.time_torch_inception(batch, batches, weights=weights, layout='nchw')
  fast = torch_inception.time_torch_inception(
    batch, batches, weights=weights, layout='channels_last'
  )
  out['torch_feature_images_per_second_channels_last'] = fast['torch_feature_images_per_second']
  return out


def _last_rate(workdir):
  """The last `steps_per_second` a run logged in workdir/metrics.jsonl (None if none)."""
  from gans.sweep import summarize  # pylint: disable=g-import-not-at-top

  rates = summarize.read_metrics(workdir).get('steps_per_second', ([], []))[1]
  return rates[-1] if rates else None


def time_sweep(config, spec, members=8, steps=200, workdir=None):
  """A sweep of `members` seeds as one vectorised program against the runs one by one.

  Both modes train the same members (config.seed = 0 .. members - 1 of `config`, for
  `steps` steps, logging every steps // 4, one sample grid and one checkpoint at the
  end, no evaluations) through gans.sweep.runner: `vectorised` (one vmapped program,
  gans.sweep.vectorised) and `sequential` (`--sweep_sequential`: each member a normal
  run with its own compilation). The input pipeline, logging and checkpoints are
  included, as a user of `launch.py --sweep` sees them.

  Args:
    config: a `gan`-family config (the vectorised mode needs one; others fall back to
      sequential in both modes and the ratio is about 1).
    spec: its experiment file 'path[:arg]' (recorded in sweep.json).
    members: number of seeds (>= 2 to vectorise).
    steps: train steps of each member (>= 4).
    workdir: where the two sweeps train (default a temporary folder, removed after).

  Returns:
    A flat dict: for mode in (vectorised, sequential): `<mode>_wall_seconds` (whole
    command: compilation, data, checkpoints), `<mode>_member_steps_per_second`
    (members x steps / wall seconds), `<mode>_steady_member_steps_per_second` (from the
    last logged interval, after compilation: members x the group's steps/s, or for the
    sequential runs members / sum of 1 / each run's steps/s); `ratio_wall` and
    `ratio_steady` (vectorised / sequential, higher is better).

  Raises:
    ValueError: members < 1 or steps < 4.
  """
  import shutil  # pylint: disable=g-import-not-at-top
  import tempfile  # pylint: disable=g-import-not-at-top

  from gans import sweep  # pylint: disable=g-import-not-at-top
  from gans.sweep import definition  # pylint: disable=g-import-not-at-top
  from gans.sweep import runner  # pylint: disable=g-import-not-at-top

  if members < 1 or steps < 4:
    raise ValueError(f'time_sweep: members={members} must be >= 1 and steps={steps} >= 4.')
  config = config.copy_and_resolve_references()
  config.total_steps = steps
  config.log_every = steps // 4
  config.sample_every = config.checkpoint_every = steps
  for fragment in config.evals.values():
    fragment.every = 0
  overrides = sweep.seeds(members)
  root = workdir or tempfile.mkdtemp(prefix='sweep_speed_')
  results = dict(sweep_members=members, sweep_steps=steps, batch_size=int(config.batch_size))
  try:
    for mode, vectorise in (('vectorised', True), ('sequential', False)):
      wd = os.path.join(root, mode)
      shutil.rmtree(wd, ignore_errors=True)
      start = time.time()
      runner.run(config, spec, wd, vectorise=vectorise, overrides=overrides)
      wall = time.time() - start
      names = [m.name for m in definition.members(spec, config, overrides)]
      rates = [_last_rate(os.path.join(wd, n)) for n in names]
      if vectorise and members > 1:
        groups = definition.groups(definition.members(spec, config, overrides))
        results['vectorised_groups'] = len(groups)
        steady = members * rates[0]
      else:
        steady = members / sum(1.0 / r for r in rates)
      results[f'{mode}_wall_seconds'] = wall
      results[f'{mode}_member_steps_per_second'] = members * steps / wall
      results[f'{mode}_steady_member_steps_per_second'] = steady
  finally:
    if workdir is None:
      shutil.rmtree(root, ignore_errors=True)
  results['ratio_wall'] = results['sequential_wall_seconds'] / results['vectorised_wall_seconds']
  results['ratio_steady'] = (
    results['vectorised_steady_member_steps_per_second']
    / results['sequential_steady_member_steps_per_second']
  )
  return results


def markdown(name, results):
  hw = results['hardware']
  lines = [
    f'## {name}',
    '',
    f'{hw["device_count"]} x {hw["device_kind"]} ({hw["platform"]}), '
    f'{hw["cpu_count"]} CPU cores, jax {hw["jax"]}',
    '',
    '| measure | value |',
    '| --- | --- |',
  ]
  for k, v in results.items():
    if k != 'hardware':
      lines.append(f'| {k} | {v:.4g} |' if isinstance(v, float) else f'| {k} | {v} |')
  return '\n'.join(lines) + '\n'


def run(
  config,
  name,
  steps=20,
  warmup=3,
  features='inception',
  feature_batch=50,
  feature_batches=3,
  fid_samples=10_000,
  compare_torch=False,
  fid_dim=2048,
):
  """Runs every timing; returns a flat dict (see module docstring)."""
  if compare_torch:
    check_torch_comparable(config)
  results = {'config': name, 'hardware': hardware()}
  step, _ = time_train_step(config, steps, warmup)
  results.update(step)
  if features != 'none':
    results.update(time_features(features, feature_batch, feature_batches))
  if fid_samples:
    results.update(time_fid(fid_samples, fid_dim))
  if compare_torch:
    results.update(time_torch(config, steps, warmup))
    results['ratio'] = results['seconds_per_step'] / results['torch_seconds_per_step']
    if features == 'inception':
      results.update(time_torch_features(feature_batch, feature_batches))
      ours = results['feature_images_per_second']
      results['feature_ratio'] = ours / results['torch_feature_images_per_second']
      results['feature_ratio_channels_last'] = (
        ours / results['torch_feature_images_per_second_channels_last']
      )
  return results


def main(argv):
  del argv
  config = _CONFIG.value
  name = config_flags.get_config_filename(flags.FLAGS['config'])
  if _SWEEP_MEMBERS.value:
    steps = 4 if _TINY.value else _SWEEP_STEPS.value
    results = dict(config=name, hardware=hardware())
    results.update(time_sweep(config, name, _SWEEP_MEMBERS.value, steps))
  elif _TINY.value:
    results = run(config, name, steps=2, warmup=0, features='none', fid_samples=100, fid_dim=64)
  else:
    results = run(
      config,
      name,
      _STEPS.value,
      _WARMUP.value,
      _FEATURES.value,
      _FEATURE_BATCH.value,
      _FEATURE_BATCHES.value,
      _FID_SAMPLES.value,
      _COMPARE_TORCH.value,
    )
  if _OUT.value:
    os.makedirs(_OUT.value, exist_ok=True)
    stem = os.path.join(_OUT.value, os.path.splitext(os.path.basename(name.split(':')[0]))[0])
    if _SWEEP_MEMBERS.value:
      stem += f'_sweep{_SWEEP_MEMBERS.value}'
    with open(stem + '.json', 'w') as f:
      json.dump(results, f, indent=2)
    with open(stem + '.md', 'w') as f:
      f.write(markdown(name, results))
  if _JSON.value:
    print(json.dumps(results))
  else:
    print(markdown(name, results))


if __name__ == '__main__':
  flags.mark_flag_as_required('config')
  app.run(main)
