"""Sweeps: definitions, member folders, groups, the vectorised group against separate
runs (1 device and 8 devices), SIGKILL and resume, --sweep_index and the summary.

The sweep is tests/sweep/sweep_experiment.py (DCGAN runlocal, widths 8, batch 16).
"""

import json
import os
import signal
import subprocess
import sys
import time

import jax
import numpy as np
import pytest

from gans import configs
from gans import errors
from gans import eval as eval_lib
from gans import sweep
from gans.data import images as image_lib
from gans.sweep import definition
from gans.sweep import runner
from gans.sweep import summarize
from gans.sweep import vectorised
from gans.train import checkpoint as checkpoint_lib
from gans.train import experiment
from gans.train import loop

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SPEC = os.path.join(ROOT, 'tests', 'sweep', 'sweep_experiment.py')


def _members(arg=''):
  spec = f'{SPEC}:{arg}' if arg else SPEC
  return definition.members(spec, configs.load_config_file(spec))


def test_helpers_build_the_members():
  assert sweep.seeds(2, start=3) == [{'seed': 3}, {'seed': 4}]
  assert sweep.product(sweep.seeds(2), sweep.values('lr', [1, 2])) == [
    {'seed': 0, 'lr': 1},
    {'seed': 0, 'lr': 2},
    {'seed': 1, 'lr': 1},
    {'seed': 1, 'lr': 2},
  ]
  assert sweep.zip(sweep.values('a', [1, 2]), sweep.values('b', [3, 4])) == [
    {'a': 1, 'b': 3},
    {'a': 2, 'b': 4},
  ]
  with pytest.raises(errors.UserInputError, match='different lengths'):
    sweep.zip(sweep.values('a', [1, 2]), sweep.values('b', [3]))
  with pytest.raises(errors.UserInputError, match="'a' is set twice"):
    sweep.product(sweep.values('a', [1]), sweep.values('a', [2]))


def test_members_get_named_folders_and_groups():
  members = _members('kind=mixed')
  assert [m.name for m in members] == [
    '000_seed=0,g_optimizer.lr=0.05',
    '001_seed=1,g_optimizer.lr=0.1',
    '002_seed=0,generator.width=16',
  ]
  assert members[1].config.seed == 1 and members[1].config.g_optimizer.lr == 0.1
  assert members[2].config.generator.width == 16
  groups = definition.groups(members)
  assert [([m.index for m in g.members], g.vectorised) for g in groups] == [
    ([0, 1], True),
    ([2], False),
  ]
  assert [len(g.members) for g in definition.groups(members, vectorise=False)] == [1, 1, 1]
  # A switch weight (0 vs > 0) changes the program: another group.
  base = members[0].config
  on = definition.apply_overrides(base, {'r1': 1.0})
  assert definition.group_key(on) != definition.group_key(base)
  assert definition.group_key(definition.apply_overrides(on, {'r1': 5.0})) == (
    definition.group_key(on)
  )
  ema = definition.apply_overrides(base, {'ema_decay': 0.999})
  assert definition.group_key(ema) != definition.group_key(base)
  assert definition.group_key(
    definition.apply_overrides(base, {'d_optimizer.lr': 0.3, 'seed': 9})
  ) == (definition.group_key(base))


def test_bad_definitions_name_the_file_and_key(tmp_path):
  base = configs.load_config_file(SPEC)
  with pytest.raises(errors.UserInputError, match=r"'g_optimizer.lrr' is not a field.*'lr'"):
    definition.apply_overrides(base, {'g_optimizer.lrr': 1e-4}, 'x.py')
  plain = os.path.join(ROOT, 'experiments', 'wgan_gp.py')
  with pytest.raises(errors.UserInputError, match='wgan_gp.py defines no get_sweep'):
    definition.members(plain, configs.load_config_file(plain))
  with pytest.raises(errors.UserInputError, match=r'seed=.x. does not fit the field: it holds'):
    definition.apply_overrides(base, {'seed': 'x'}, 'x.py')
  # An error of the helpers inside get_sweep names the file too.
  bad = tmp_path / 'twice.py'
  bad.write_text(
    'from gans import sweep\n'
    'def get_config(arg=None):\n  return None\n'
    'def get_sweep(arg=None):\n'
    "  return sweep.product(sweep.values('seed', [0]), sweep.values('seed', [1]))\n"
  )
  with pytest.raises(errors.UserInputError, match=r"twice.py: get_sweep: .*'seed' is set twice"):
    definition.sweep_overrides(str(bad))


def test_sweep_index_and_slurm_variable():
  assert runner.sweep_index(None, 3, environ={}) is None
  assert runner.sweep_index(None, 3, environ={'SLURM_ARRAY_TASK_ID': '2'}) == 2
  assert runner.sweep_index(1, 3, environ={'SLURM_ARRAY_TASK_ID': '2'}) == 1
  with pytest.raises(errors.UserInputError, match='--sweep_index=3: the sweep has 3 groups'):
    runner.sweep_index(3, 3, environ={})
  with pytest.raises(errors.UserInputError, match='SLURM_ARRAY_TASK_ID=.x. is not an integer'):
    runner.sweep_index(None, 3, environ={'SLURM_ARRAY_TASK_ID': 'x'})


def _samples(config, state):
  """uint8 samples of the member's generator (fixed latents) from a host state."""
  exp = experiment.build(config)
  state = jax.device_put(state, jax.sharding.NamedSharding(exp.mesh, jax.sharding.PartitionSpec()))
  return image_lib.to_uint8(experiment.generate(exp, state, 32, seed=5)).astype(np.float64)


@pytest.fixture(scope='module')
def separate(tmp_path_factory):
  """The two members trained as two normal runs: {index: (config, final host state)}."""
  root = tmp_path_factory.mktemp('separate')
  return {
    m.index: (m.config, jax.device_get(loop.train(m.config, m.workdir(str(root)))))
    for m in _members()
  }


@pytest.mark.parametrize('num_devices', [1, 8])
def test_vectorised_group_equals_separate_runs(separate, num_devices, tmp_path):
  assert jax.device_count() == 8, 'tests/conftest.py forces 8 CPU devices'
  members = _members()
  final = vectorised.train(members, str(tmp_path), devices=jax.devices()[:num_devices])
  for i, m in enumerate(members):
    config, alone = separate[m.index]
    together = vectorised.unstack(final, i)
    assert int(together.step) == int(alone.step) == config.total_steps
    a, b = _samples(config, together), _samples(config, alone)
    assert np.mean(np.abs(a - b)) <= 1.0, (m.name, np.mean(np.abs(a - b)))
    # Parameters agree up to float32 noise: per array, the difference is below 1% of
    # how far the parameters moved (the check of tests/families/test_contract.py).
    initial = jax.device_get(experiment.build(config).init())
    for name in ('generator', 'discriminator'):
      pairs = zip(*[jax.tree.leaves(s.models[name].params) for s in (together, alone, initial)])
      for x, y, x0 in pairs:
        assert np.abs(x - y).max() <= 1e-2 * np.abs(y - x0).max() + 1e-7, (m.name, name)
    # The member folder is a normal run's.
    workdir = m.workdir(str(tmp_path))
    assert sorted(os.listdir(workdir)) == [
      'checkpoints',
      'config.json',
      'metrics.jsonl',
      'samples',
      'tensorboard',
    ]
    assert json.load(open(os.path.join(workdir, 'config.json')))['seed'] == config.seed
    steps = [json.loads(l)['step'] for l in open(os.path.join(workdir, 'metrics.jsonl'))]
    assert steps == [1, 2, 3, 4]
    _, restored = loop.restore_latest(config, workdir)
    for x, y in zip(jax.tree.leaves(restored), jax.tree.leaves(together)):
      np.testing.assert_array_equal(np.asarray(x), y)
  # The two members did differ.
  g0 = jax.tree.leaves(vectorised.unstack(final, 0).models['generator'].params)
  g1 = jax.tree.leaves(vectorised.unstack(final, 1).models['generator'].params)
  assert any(not np.array_equal(x, y) for x, y in zip(g0, g1))
  if num_devices == 8:
    assert dict(vectorised.make_mesh(2).shape) == {'sweep': 2, 'data': 4}


def test_sweep_index_runs_exactly_its_group(tmp_path):
  spec = f'{SPEC}:kind=mixed,steps=2'
  runner.run(configs.load_config_file(spec), spec, str(tmp_path), index=1)
  listing = json.load(open(tmp_path / 'sweep.json'))
  assert [g['members'] for g in listing['groups']] == [[0, 1], [2]]
  names = [m['name'] for m in listing['members']]
  trained = sorted(n for n in names if os.path.isdir(tmp_path / n / 'checkpoints'))
  assert trained == ['002_seed=0,generator.width=16']
  member = json.load(open(tmp_path / trained[0] / 'sweep_member.json'))
  assert member['overrides'] == {'seed': 0, 'generator.width': 16}
  # The member folder's own config (its sweep_member.json) is what --mode eval reads.
  config = definition.member_config(configs.load_config_file(spec), str(tmp_path / trained[0]))
  assert config.generator.width == 16
  assert checkpoint_lib.Checkpoints(str(tmp_path / trained[0])).latest_step() == 2


def test_a_stopped_member_stops_the_sweep(tmp_path, monkeypatch):
  # loop.train returns early when SIGTERM / SIGINT stops it (checkpoint saved); the
  # sweep must then stop too instead of training the next member or group.
  spec = f'{SPEC}:kind=mixed,steps=2'
  trained = []

  def stopped_train(config, workdir, **kwargs):
    del kwargs
    trained.append(os.path.basename(workdir))
    exp = experiment.build(config)
    return exp.init().replace(step=1)  # As if stopped after one of its two steps.

  monkeypatch.setattr(runner.loop, 'train', stopped_train)
  runner.run(configs.load_config_file(spec), spec, str(tmp_path), vectorise=False)
  assert len(trained) == 1 and trained[0].startswith('000_seed=0')


def _launch(workdir, *args):
  env = dict(os.environ, XLA_FLAGS='--xla_force_host_platform_device_count=2', JAX_PLATFORMS='cpu')
  cmd = [sys.executable, os.path.join(ROOT, 'launch.py'), f'--config={SPEC}:steps=6']
  cmd += ['--workdir', str(workdir), *args]
  return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


@pytest.mark.slow  # ~100 s on 2 cores: four launch.py processes.
def test_sigkill_and_resume_of_a_sweep_equals_the_uninterrupted_sweep(tmp_path):
  names = [m.name for m in _members()]
  straight = _launch(tmp_path / 'straight', '--sweep')
  killed = _launch(tmp_path / 'killed', '--sweep')
  # Kill once the last member's step-2 checkpoint is complete (steps 3.. in flight).
  done = tmp_path / 'killed' / names[-1] / 'checkpoints' / '2' / 'commit_success.txt'
  deadline = time.time() + 300
  while not os.path.exists(done):
    assert killed.poll() is None, killed.stdout.read()
    assert time.time() < deadline
    time.sleep(0.05)
  killed.send_signal(signal.SIGKILL)
  killed.wait()
  assert straight.wait(timeout=300) == 0, straight.stdout.read()
  resumed = _launch(tmp_path / 'killed', '--sweep')
  out = resumed.communicate(timeout=300)[0]
  assert resumed.returncode == 0, out
  assert 'Resumed the sweep group' in out
  config = configs.load_config_file(f'{SPEC}:steps=6')
  for name in names:
    for run in ('straight', 'killed'):
      steps = [json.loads(l)['step'] for l in open(tmp_path / run / name / 'metrics.jsonl')]
      assert steps == list(range(1, 7)), (run, name)
    member_config = definition.member_config(config, str(tmp_path / 'straight' / name))
    _, a = loop.restore_latest(member_config, str(tmp_path / 'straight' / name))
    _, b = loop.restore_latest(member_config, str(tmp_path / 'killed' / name))
    assert int(a.step) == int(b.step) == 6
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
      np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
  # --mode sample works on a member folder as on any run (its own config applied).
  sample = _launch(tmp_path / 'straight' / names[1], '--mode=sample', '--num_samples=4')
  out = sample.communicate(timeout=300)[0]
  assert sample.returncode == 0, out
  assert np.load(tmp_path / 'straight' / names[1] / 'samples.npz')['images'].shape == (
    4,
    32,
    32,
    1,
  )


def test_summary_mean_and_standard_error_equal_a_direct_computation(tmp_path):
  rng = np.random.default_rng(0)
  members, finals, bests = [], {}, {}
  for i, (seed, lr) in enumerate([(s, lr) for lr in (1e-4, 2e-4) for s in range(3)]):
    overrides = {'seed': seed, 'g_optimizer.lr': lr}
    name = definition.member_name(i, overrides)
    members.append(dict(index=i, name=name, overrides=overrides, group=0))
    os.makedirs(tmp_path / name)
    fid = rng.uniform(10, 100, size=5)
    modes = rng.uniform(0, 25, size=5)
    with open(tmp_path / name / 'metrics.jsonl', 'w') as f:
      for step in range(5):
        row = {'step': step + 1, 'eval/samples/fid': fid[step], 'eval/samples/modes': modes[step]}
        f.write(json.dumps(row) + '\n')
    finals.setdefault(lr, []).append((fid[-1], modes[-1]))
    bests.setdefault(lr, []).append((fid.min(), modes.max()))
  with open(tmp_path / 'sweep.json', 'w') as f:
    json.dump(dict(members=members, groups=[]), f)
  rows = summarize.write(str(tmp_path))
  assert len(rows) == 4
  for row in rows:
    lr = float(row['group'].split('=')[1])
    column = 0 if row['metric'].endswith('fid') else 1
    for kind, values in (('final', finals[lr]), ('best', bests[lr])):
      x = np.array([v[column] for v in values])
      got = row[kind]
      assert got['n'] == 3
      np.testing.assert_allclose(got['mean'], x.mean(), rtol=1e-12)
      np.testing.assert_allclose(got['se'], x.std(ddof=1) / np.sqrt(3), rtol=1e-12)
      assert (got['min'], got['max']) == (x.min(), x.max())
  assert summarize.higher_is_better('eval/samples/modes')
  assert not summarize.higher_is_better('eval/samples/fid')
  text = open(tmp_path / 'summary.md').read()
  assert 'g_optimizer.lr=0.0001' in text and 'eval/samples/fid' in text
  with pytest.raises(errors.UserInputError, match='fid_typo not logged.*logged: eval/samples/fid'):
    summarize.write(str(tmp_path), metrics=['fid_typo'])
  assert sorted(os.listdir(tmp_path / 'summary_plots')) == [
    'eval_samples_fid.png',
    'eval_samples_modes.png',
  ]
  summarize.write(str(tmp_path), metrics=['eval/samples/fid'])  # No stale plots left.
  assert os.listdir(tmp_path / 'summary_plots') == ['eval_samples_fid.png']


@pytest.mark.parametrize('vectorise', [True, False])
def test_a_diverging_member_stops_alone(vectorise, tmp_path):
  # Member 1's critic learning rate makes its losses overflow within a few steps; it
  # must stop alone with failed.json (vectorised group and one-run-per-member path
  # alike), the other member must train to the end, a second run must skip the failed
  # member, and the summary must leave it out of the statistics.
  spec = f'{SPEC}:steps=4'
  config = configs.load_config_file(spec)
  overrides = [{'seed': 0}, {'seed': 1, 'd_optimizer.lr': 1e30}]
  runner.run(config, spec, str(tmp_path), vectorise=vectorise, overrides=overrides)
  healthy, diverged = definition.members(spec, config, overrides)
  listing = json.load(open(tmp_path / 'sweep.json'))
  assert [g['vectorised'] for g in listing['groups']] == ([True] if vectorise else [False, False])
  info = definition.failed(diverged.workdir(str(tmp_path)))
  assert info is not None and 1 <= info['step'] <= 4, info
  assert 'is nan' in info['message'] or 'is inf' in info['message'] or 'is -inf' in info['message']
  assert definition.failed(healthy.workdir(str(tmp_path))) is None
  assert checkpoint_lib.Checkpoints(healthy.workdir(str(tmp_path))).latest_step() == 4
  # The diverged member keeps only checkpoints from before its failure.
  kept = checkpoint_lib.Checkpoints(diverged.workdir(str(tmp_path))).steps()
  assert all(s < info['step'] for s in kept), (kept, info)
  rows = [json.loads(l) for l in open(tmp_path / healthy.name / 'metrics.jsonl')]
  assert [r['step'] for r in rows] == [1, 2, 3, 4]
  assert all(np.isfinite(v) for r in rows for v in r.values())
  # Its logged rows are those before the failure, all finite.
  path = tmp_path / diverged.name / 'metrics.jsonl'
  rows = [json.loads(l) for l in open(path)] if path.exists() else []
  assert all(r['step'] < info['step'] for r in rows)
  # Running the sweep again trains nothing and keeps the failure.
  again = runner.run(config, spec, str(tmp_path), vectorise=vectorise, overrides=overrides)
  assert definition.failed(diverged.workdir(str(tmp_path))) == info
  if not vectorise:
    assert sorted(again) == [healthy.index]
  assert int(np.asarray(again[healthy.index].step).reshape(-1)[0]) == 4
  # The summary counts it as failed and leaves it out.
  summary = summarize.write(str(tmp_path), plots=False)
  assert {tuple(r['members']) for r in summary} == {(healthy.name,)}
  text = open(tmp_path / 'summary.md').read()
  assert f'- {diverged.name}: ' in text and 'left out of the statistics' in text


def test_evaluators_run_on_each_member_of_a_vectorised_group(tmp_path):
  # A scheduled evaluator (config.evals.samples.every) runs on every member's own slice
  # of the stacked state: its values in each member's metrics.jsonl and eval.jsonl equal
  # the evaluator run afterwards on that member's restored checkpoint.
  spec = f'{SPEC}:steps=4'
  config = configs.load_config_file(spec)
  common = {'evals.samples.every': 4, 'evals.samples.num_samples': 256}
  overrides = [{'seed': s, **common} for s in (0, 1)]
  runner.run(config, spec, str(tmp_path), overrides=overrides)
  assert json.load(open(tmp_path / 'sweep.json'))['groups'][0]['vectorised']
  logged = []
  for m in definition.members(spec, config, overrides):
    workdir = m.workdir(str(tmp_path))
    rows = [json.loads(l) for l in open(os.path.join(workdir, 'metrics.jsonl'))]
    row = [r for r in rows if 'eval/samples/fid_classifier' in r]
    assert [r['step'] for r in row] == [4], m.name
    evals = [json.loads(l) for l in open(os.path.join(workdir, 'eval.jsonl'))]
    assert [e['step'] for e in evals] == [4]
    exp, state = loop.restore_latest(m.config, workdir)
    again = eval_lib.evaluate(m.config, exp, state, names=['samples'])['samples']
    for name in ('fid_classifier', 'is_classifier'):
      np.testing.assert_allclose(row[0][f'eval/samples/{name}'], again[name], rtol=1e-4)
      np.testing.assert_allclose(evals[0]['metrics'][name], again[name], rtol=1e-4)
    logged.append(row[0]['eval/samples/fid_classifier'])
  assert logged[0] != logged[1]  # Each member's own generator, not member 0's.


def test_ada_probability_and_target_vectorise(tmp_path):
  # Members that differ in ADA's starting p and its r_t target are one vectorised group
  # (p set per member at init, the target an input of the step), and each member's p
  # follows its own settings as when the member trains alone. With kimg 0.16 and a
  # batch of 16, p moves by 0.1 per step: down unless r_t = 1 for target 0.99, up unless
  # r_t = -1 for target -0.99.
  spec = f'{SPEC}:steps=2'
  config = configs.load_config_file(spec)
  common = {'ada.mode': 'adaptive', 'ada.interval': 1, 'ada.kimg': 0.16}
  overrides = [
    {'seed': 0, 'ada.p': 0.25, 'ada.target': 0.99, **common},
    {'seed': 1, 'ada.p': 0.5, 'ada.target': -0.99, **common},
  ]
  members = definition.members(spec, config, overrides)
  assert [g.vectorised for g in definition.groups(members)] == [True]
  final = vectorised.train(members, str(tmp_path / 'together'))
  together = np.asarray(final.extras['ada_p'])
  alone = [
    float(jax.device_get(loop.train(m.config, str(tmp_path / m.name)).extras['ada_p']))
    for m in members
  ]
  np.testing.assert_allclose(together, alone, atol=1e-6)
  # Member 1 rose twice from its own start; member 0 (its target above any r_t but 1)
  # did not: with one start or one target for both, these could not both hold.
  assert together[0] < 0.4 and together[1] > 0.6, together
