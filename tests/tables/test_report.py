"""gans.tables.report: mean +- standard error, the verdict rule and the markdown files."""

import json
import math

import numpy as np
import pytest

from gans.tables import report


def test_mean_se_equals_a_direct_computation():
  x = [3.0, 5.0, 10.0, 2.5]
  mean, se = report.mean_se(x)
  assert mean == pytest.approx(sum(x) / 4)
  direct = math.sqrt(sum((v - mean) ** 2 for v in x) / 3) / math.sqrt(4)
  assert se == pytest.approx(direct)
  assert math.isnan(report.mean_se([4.0])[1]) and report.mean_se([4.0])[0] == 4.0
  assert math.isnan(report.mean_se([1.0, np.inf])[1])
  with pytest.raises(ValueError):
    report.mean_se([])


def test_verdict_rule():
  # |6.0 - 6.3| = 0.3 <= 2 sqrt(0.3^2 + 0.5^2) = 1.17.
  assert report.verdict((6.0, 0.3), (6.3, 0.5)) == 'agrees'
  # |11.0 - 17.3| = 6.3 > 2 sqrt(2.7^2 + 0.8^2) = 5.63.
  assert report.verdict((11.0, 2.7), (17.3, 0.8)) == 'differs'
  # Boundary: exactly two standard errors of the difference agrees.
  assert report.verdict((0.0, 3.0), (10.0, 4.0)) == 'agrees'
  assert report.verdict((0.0, 3.0), (10.01, 4.0)) == 'differs'
  # Missing errors count as 0; no published number or a NaN mean gives no verdict.
  assert report.verdict((1000.0, float('nan')), (1000.0, None)) == 'agrees'
  assert report.verdict((999.0, None), (1000.0, None)) == 'differs'
  assert report.verdict((5.0, 1.0), None) == '-'
  assert report.verdict((float('nan'), 1.0), (5.0, 1.0)) == '-'
  assert report.verdict((float('inf'), float('nan')), (0.45, 0.09)) == 'differs'


def test_fmt_and_files(tmp_path):
  assert report.fmt((6.04, 0.31)) == '6.0 +- 0.3'
  assert report.fmt((0.456, None), 2) == '0.46'
  assert report.fmt((float('inf'), float('nan'))) == 'inf' and report.fmt(None) == '-'
  table = report.markdown_table(['a', 'b'], [[1, 'x'], [2, 'y']])
  assert table.splitlines() == ['| a | b |', '|---|---|', '| 1 | x |', '| 2 | y |']
  text = report.write(str(tmp_path / 't'), 'T', table, ['note one'], [dict(v=float('nan'))])
  assert (tmp_path / 't' / 'table.md').read_text() == text
  assert text.startswith('# T\n\n| a | b |') and 'note one' in text
  assert json.load(open(tmp_path / 't' / 'results.json')) == [dict(v=None)]
