"""`python -m gans.sweep summarize runs/x_sweep`: a table and plots over a sweep's seeds.

Members are grouped by their overrides without `seed` (WORKDIR/sweep.json, else each
folder's sweep_member.json). For every group and every metric of the members'
metrics.jsonl the table gives, over the group's seeds, the mean, the standard error
(std with ddof=1 / sqrt(n); '-' for one seed), the minimum and maximum of the metric's
final value (its last logged value) and of its best value over the run, and n.
Members whose loss became non-finite (their failed.json, gans.sweep.definition) are
counted in the `failed` column and listed under the table, not averaged.

Best is the minimum, except for metrics whose last name component ('eval/samples/
modes' -> 'modes') starts with or equals one of HIGHER_IS_BETTER (is, is_classifier,
modes, precision, recall, density, coverage, high_quality, accuracy, psnr, ssim, ...),
whose best is the maximum; FID, KID, losses, reverse KL, errors and any other name
are lower-is-better.

Writes WORKDIR/summary.md (the table), WORKDIR/summary.json (the same numbers) and
WORKDIR/summary_plots/<metric>.png: each group's mean curve over the steps all its
seeds logged, with a band of +-1 standard error.
"""

import json
import math
import os
import re

import numpy as np

from gans import errors
from gans import files
from gans.sweep import definition

HIGHER_IS_BETTER = (
  'is',
  'inception_score',
  'mode_score',
  'modes',
  'precision',
  'recall',
  'density',
  'coverage',
  'high_quality',
  'accuracy',
  'cas',
  'psnr',
  'ssim',
  'steps_per_second',
)


def higher_is_better(name):
  """Whether metric `name` is better when larger (see the module docstring)."""
  last = name.rsplit('/', 1)[-1].lower()
  return any(last == h or last.startswith(h + '_') for h in HIGHER_IS_BETTER)


def _read_json(path):
  with open(path) as f:
    return json.load(f)


def load_members(root):
  """[(name, overrides)] of the sweep in `root`; MissingInputError when there is none."""
  path = os.path.join(root, definition.SWEEP_FILE)
  if os.path.isfile(path):
    return [(m['name'], m['overrides']) for m in _read_json(path)['members']]
  out = []
  for name in sorted(os.listdir(root)) if os.path.isdir(root) else []:
    member = os.path.join(root, name, definition.MEMBER_FILE)
    if os.path.isfile(member):
      out.append((name, _read_json(member)['overrides']))
  if not out:
    raise errors.MissingInputError(
      f'{root} holds no sweep: neither {definition.SWEEP_FILE} nor member folders with '
      f'{definition.MEMBER_FILE}; run launch.py --sweep --workdir {root} first.'
    )
  return out


def read_metrics(workdir):
  """{metric: ([steps], [values])} of workdir/metrics.jsonl ({} when it has none)."""
  path = os.path.join(workdir, 'metrics.jsonl')
  out = {}
  if not os.path.isfile(path):
    return out
  with open(path) as f:
    for line in f:
      try:
        row = json.loads(line)
      except ValueError:
        continue  # A last line cut by a kill.
      step = row.pop('step', None)
      for k, v in row.items():
        if isinstance(v, (int, float)) and step is not None:
          steps, values = out.setdefault(k, ([], []))
          steps.append(int(step))
          values.append(float(v))
  return out


def stats(values):
  """{n, mean, se, min, max} of a list of floats; se is std(ddof=1)/sqrt(n), NaN for n=1."""
  x = np.asarray(values, np.float64)
  n = len(x)
  se = float(np.std(x, ddof=1) / math.sqrt(n)) if n > 1 else float('nan')
  return dict(n=n, mean=float(np.mean(x)), se=se, min=float(np.min(x)), max=float(np.max(x)))


def group_label(overrides):
  """'g_optimizer.lr=0.0002' of the overrides without 'seed' ('(base)' when none)."""
  rest = {k: v for k, v in overrides.items() if k != 'seed'}
  return ','.join(f'{k}={v}' for k, v in rest.items()) or '(base)'


def summarize(root, metrics=None):
  """The summary of the sweep in `root`: ([{group, metric, final, best, members, failed}],
  curves).

  `metrics`: names to keep (default every metric logged). `final` and `best` are the
  `stats` over the group's members that logged the metric and did not fail; `failed`
  names the group's members whose loss became non-finite (their failed.json), which
  the statistics leave out (a run's last values before it diverged are not its result).
  Raises MissingInputError when `root` holds no sweep, UserInputError naming the
  metrics of `metrics` that no member logged.
  """
  groups = {}
  for name, overrides in load_members(root):
    groups.setdefault(group_label(overrides), []).append(name)
  rows, curves, seen = [], {}, set()
  for label, names in groups.items():
    failed = sorted(n for n in names if definition.failed(os.path.join(root, n)) is not None)
    runs = {n: read_metrics(os.path.join(root, n)) for n in names if n not in failed}
    all_metrics = sorted({m for r in runs.values() for m in r})
    seen.update(all_metrics)
    for metric in all_metrics:
      if metrics and metric not in metrics:
        continue
      logged = {n: r[metric] for n, r in runs.items() if metric in r and r[metric][1]}
      if not logged:
        continue
      pick = max if higher_is_better(metric) else min
      finals = [v[-1] for _, v in logged.values()]
      bests = [pick(v) for _, v in logged.values()]
      rows.append(
        dict(
          group=label,
          metric=metric,
          higher_is_better=higher_is_better(metric),
          members=sorted(logged),
          failed=failed,
          final=stats(finals),
          best=stats(bests),
        )
      )
      curves.setdefault(metric, {})[label] = list(logged.values())
  missing = [m for m in metrics or () if m not in seen]
  if missing:
    raise errors.UserInputError(
      f'--metrics: {", ".join(missing)} not logged by any member of {root}; logged: '
      f'{", ".join(sorted(seen)) or "nothing yet"}.'
    )
  return rows, curves


def _cell(s):
  if math.isnan(s['se']):
    return f'{s["mean"]:.4g}', '-'
  return f'{s["mean"]:.4g}', f'{s["se"]:.2g}'


def table(rows):
  """The markdown table of `summarize`'s rows."""
  lines = [
    '| group | metric | seeds | failed | final mean | final s.e. | final min | final max | best | '
    'best mean | best s.e. | best min | best max |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
  ]
  for r in rows:
    f, b = r['final'], r['best']
    lines.append(
      f'| {r["group"]} | {r["metric"]} | {f["n"]} | {len(r.get("failed", ()))} | '
      f'{" | ".join(_cell(f))} | {f["min"]:.4g} | '
      f'{f["max"]:.4g} | {"max" if r["higher_is_better"] else "min"} | {" | ".join(_cell(b))} | '
      f'{b["min"]:.4g} | {b["max"]:.4g} |'
    )
  return '\n'.join(lines) + '\n'


def plot(curves, directory):
  """Writes one PNG per metric into `directory` (replacing the PNGs there): each group's
  mean over its seeds at the steps all of them logged, with a +-1 standard error band.
  Returns the paths."""
  import matplotlib  # pylint: disable=g-import-not-at-top

  matplotlib.use('Agg')
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top

  os.makedirs(directory, exist_ok=True)
  for old in os.listdir(directory):  # Plots of an earlier summary (other metrics).
    if old.endswith('.png'):
      os.remove(os.path.join(directory, old))
  paths = []
  for metric, by_group in sorted(curves.items()):
    fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
    for label, runs in by_group.items():
      common = sorted(set.intersection(*[set(s) for s, _ in runs]))
      if not common:
        continue
      values = np.array([[dict(zip(s, v))[t] for t in common] for s, v in runs])
      mean = values.mean(0)
      se = values.std(0, ddof=1) / math.sqrt(len(runs)) if len(runs) > 1 else 0 * mean
      # Markers when there are few points (a run that logged once is one point, not
      # an invisible line).
      marker = 'o' if len(common) <= 30 else None
      ax.plot(common, mean, marker=marker, markersize=3, label=f'{label} (n={len(runs)})')
      ax.fill_between(common, mean - se, mean + se, alpha=0.25)
    ax.set_xlabel('step')
    ax.set_ylabel(metric)
    ax.legend(fontsize=7)
    fig.tight_layout()
    path = os.path.join(directory, re.sub(r'[^A-Za-z0-9._-]', '_', metric) + '.png')
    fig.savefig(path)
    plt.close(fig)
    paths.append(path)
  return paths


def write(root, metrics=None, plots=True):
  """Writes summary.md, summary.json and summary_plots/ into `root`; returns the rows."""
  rows, curves = summarize(root, metrics)
  failures = []
  for name, _ in load_members(root):
    info = definition.failed(os.path.join(root, name))
    if info is not None:
      failures.append(f'- {name}: {info["message"]}')
  with files.atomic_open(os.path.join(root, 'summary.md'), 'w') as f:
    f.write(f'# Sweep {os.path.basename(os.path.abspath(root))}\n\n' + table(rows))
    if failures:
      f.write('\nFailed members (non-finite loss; left out of the statistics):\n\n')
      f.write('\n'.join(failures) + '\n')
  with files.atomic_open(os.path.join(root, 'summary.json'), 'w') as f:
    json.dump(rows, f, indent=1)
  if plots:
    plot(curves, os.path.join(root, 'summary_plots'))
  return rows
