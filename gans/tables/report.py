"""What every paper table shares: mean +- standard error, the verdict rule, markdown.

Statistics over seeds: the mean and the standard error of the mean, std with ddof=1
divided by sqrt(n) (as gans.sweep.summarize; NaN for one seed or a non-finite value).
Published numbers are (mean, standard error or None) pairs in the table's units.

The verdict rule (VERDICT_RULE, written under every table that has a verdict column):
ours 'agrees' with a published number when |ours - published| <= 2 sqrt(se_ours^2 +
se_published^2), i.e. the difference lies within two standard errors of the difference
(about a two-sided 95% test for independent estimates); a missing standard error counts
as 0, so with one seed and no published error only equality agrees. It 'differs'
otherwise. '-' (no verdict) where the paper gives no number or where the protocols
are not comparable (each table says why).
"""

import json
import math
import os

import numpy as np

from gans import files

VERDICT_RULE = (
  "Verdict: 'agrees' when |ours - published| <= 2 sqrt(se_ours^2 + se_published^2) (two "
  "standard errors of the difference; a missing standard error counts as 0), else 'differs' "
  '(also for an infinite value of ours); '
  "'-' where the paper has no number or the protocols are not comparable."
)


def mean_se(values):
  """(mean, standard error) of a sequence of floats over seeds.

  Args:
    values: numbers, one per seed (any float-convertible sequence, [n]).

  Returns:
    (mean, se): float64 Python floats; se = std(ddof=1) / sqrt(n), NaN when n == 1 or
    when a value is not finite (the mean is then inf or NaN as numpy computes it).

  Raises:
    ValueError: when `values` is empty.
  """
  x = np.asarray(list(values), np.float64)
  if x.size == 0:
    raise ValueError('mean_se: no values.')
  mean = float(np.mean(x))
  if x.size < 2 or not np.all(np.isfinite(x)):
    return mean, float('nan')
  return mean, float(np.std(x, ddof=1) / math.sqrt(x.size))


def _se(se):
  return 0.0 if se is None or not math.isfinite(se) else float(se)


def verdict(ours, published):
  """'agrees', 'differs' or '-' for ours against a published number (VERDICT_RULE).

  Args:
    ours: (mean, standard error or None) of our seeds.
    published: (mean, standard error or None), or None when the paper has no number.

  Returns:
    '-' when `published` is None, ours is NaN or the published mean is not finite;
    'differs' when ours is infinite (a finite number was published); else 'agrees' when
    |mean_ours - mean_published| <= 2 sqrt(se_ours^2 + se_published^2), else 'differs'.
  """
  if published is None or ours is None:
    return '-'
  (m, s), (pm, ps) = ours, published
  if math.isnan(m) or not math.isfinite(pm):
    return '-'
  if not math.isfinite(m):  # E.g. an infinite reverse KL (no high-quality sample).
    return 'differs'
  return 'agrees' if abs(m - pm) <= 2.0 * math.hypot(_se(s), _se(ps)) else 'differs'


def fmt(value, digits=1):
  """'m +- s' of a (mean, se) pair with `digits` decimals ('m' when se is missing, '-' for None)."""
  if value is None:
    return '-'
  mean, se = value
  if not math.isfinite(mean):
    return 'inf' if mean > 0 else str(mean)
  if se is None or not math.isfinite(se):
    return f'{mean:.{digits}f}'
  return f'{mean:.{digits}f} +- {se:.{digits}f}'


def markdown_table(header, rows):
  """A markdown table: `header` [str] and `rows` [[cell]] (cells formatted with str)."""
  lines = ['| ' + ' | '.join(header) + ' |', '|' + '---|' * len(header)]
  lines += ['| ' + ' | '.join(str(c) for c in row) + ' |' for row in rows]
  return '\n'.join(lines) + '\n'


def write(workdir, title, table, notes, results):
  """Writes WORKDIR/table.md (title, table, notes) and WORKDIR/results.json atomically.

  Args:
    workdir: the table's folder (created).
    title: the first heading line's text.
    table: markdown of the table (markdown_table).
    notes: list of paragraphs under it (protocol, published source, verdict rule).
    results: JSON-able rows (NaN and inf written as null by gans.files.json_safe).

  Returns:
    The markdown written.
  """
  os.makedirs(workdir, exist_ok=True)
  text = f'# {title}\n\n{table}\n' + ''.join(f'{n}\n\n' for n in notes)
  with files.atomic_open(os.path.join(workdir, 'table.md'), 'w') as f:
    f.write(text)
  with files.atomic_open(os.path.join(workdir, 'results.json'), 'w') as f:
    json.dump(files.json_safe(results), f, indent=1, default=float, allow_nan=False)
  return text
