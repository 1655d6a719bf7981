"""The import graph has no circle: metrics are pure, evaluation and the loop do not
import each other. Checked in fresh interpreters, since this test process has already
imported everything."""

import subprocess
import sys

import pytest


def _imported_after(statement):
  code = (
    f'import sys\n{statement}\n'
    'print(" ".join(sorted(m for m in sys.modules if m.startswith("gans"))))'
  )
  out = subprocess.run(
    [sys.executable, '-c', code],
    capture_output=True,
    text=True,
    check=True,
    env={'JAX_PLATFORMS': 'cpu', 'PATH': ''},
  )
  return set(out.stdout.split())


def test_metrics_load_nothing_from_training_or_evaluation():
  loaded = _imported_after(
    'import gans.metrics, gans.metrics.classifier, '
    'gans.metrics.inception, gans.metrics.stacked_mnist'
  )
  assert 'gans.metrics' in loaded
  above = sorted(
    m
    for m in loaded
    if m.startswith(('gans.train', 'gans.eval', 'gans.families', 'gans.run', 'gans.tools'))
  )
  assert above == []


@pytest.mark.parametrize(
  'module, forbidden',
  [
    ('gans.eval', 'gans.train.loop'),
    ('gans.train.loop', 'gans.eval'),
    ('gans.families.gan', 'gans.eval'),
  ],
)
def test_evaluation_and_loop_do_not_import_each_other(module, forbidden):
  loaded = _imported_after(f'import {module}')
  assert module in loaded
  assert not any(m == forbidden or m.startswith(forbidden + '.') for m in loaded)
