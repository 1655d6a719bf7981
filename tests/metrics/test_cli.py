"""`python -m gans.tools.metrics_cli`: metrics between two image sets (.npz or PNG folders)."""

import contextlib
import io
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from gans import metrics
from gans.data import images as image_lib
from gans.metrics import classifier as classifier_lib
from gans.tools import metrics_cli as cli

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
METRICS = 'fid,kid,is,precision_recall,mode_count'


@pytest.fixture(scope='session')
def cache_dir(tmp_path_factory):
  # Shared with tests/metrics/test_classifier.py, which trains the classifier there.
  return str(tmp_path_factory.getbasetemp() / 'gans-cache')


@pytest.fixture(scope='module')
def clf(cache_dir):
  return classifier_lib.get_or_train(classifier_lib.recipe(), cache_dir)


@pytest.fixture(scope='module')
def image_sets(tmp_path_factory):
  """Two uint8 sets: 300 real digits, and 200 other digits blurred into a GAN-ish mess."""
  x, _, _ = classifier_lib.load_dataset(classifier_lib.recipe())
  perm = np.random.default_rng(0).permutation(len(x))
  real = image_lib.to_uint8(x[perm[:300]])
  other = x[perm[300:500]]
  fake = image_lib.to_uint8(0.5 * other + 0.5 * np.roll(other, 3, axis=2))
  root = tmp_path_factory.mktemp('cli')
  paths = {}
  for name, images in (('real', real), ('fake', fake)):
    paths[name + '.npz'] = str(root / f'{name}.npz')
    np.savez(paths[name + '.npz'], images=images)
    folder = root / name
    folder.mkdir()
    for i, image in enumerate(images):
      image_lib.save_png(str(folder / f'{i:04d}.png'), image)
    paths[name] = str(folder)
  return real, fake, paths


def _direct(clf, real, fake):
  """The same numbers from the metric functions on the classifier's features."""
  fr, lr = clf.features(real)
  ff, lf = clf.features(fake)
  is_mean, is_std = metrics.inception_score(lf, splits=10)
  kid, kid_std = metrics.kernel_inception_distance(fr, ff, num_subsets=100, subset_size=1000)
  pr = metrics.precision_recall(fr, ff, k=3)
  counts = np.bincount(np.argmax(lf, 1), minlength=10)
  return {
    'fid_classifier': metrics.frechet_distance(fr, ff),
    'kid_classifier': kid,
    'kid_classifier_std': kid_std,
    'is_classifier': is_mean,
    'is_classifier_std': is_std,
    'precision_classifier': pr['precision'],
    'recall_classifier': pr['recall'],
    'modes_classifier': float(np.count_nonzero(counts)),
  }


def _check(result, expected):
  for name, value in expected.items():
    assert result[name] == pytest.approx(value, rel=1e-4, abs=1e-6), name


def test_npz_files_from_the_command_line(clf, image_sets, cache_dir):
  real, fake, paths = image_sets
  cmd = [
    sys.executable,
    '-m',
    'gans.tools.metrics_cli',
    paths['real.npz'],
    paths['fake.npz'],
    '--features',
    'classifier',
    '--metrics',
    METRICS,
    '--classifier',
    clf.path,
  ]
  done = subprocess.run(
    cmd,
    cwd=ROOT,
    capture_output=True,
    text=True,
    env=dict(os.environ, GANS_CACHE_DIR=cache_dir),
    timeout=300,
  )
  assert done.returncode == 0, done.stderr
  result = json.loads(done.stdout)
  _check(result, _direct(clf, real, fake))
  assert result['fid_classifier'] > 1  # The sets differ: the comparison is not trivial.
  protocol = result['protocol']
  assert protocol['num_real'] == 300 and protocol['num_fake'] == 200
  assert protocol['feature_network'] == 'classifier'
  assert protocol['classifier_sha256'] == clf.sha256
  assert protocol['path_real'] == paths['real.npz'] and protocol['kid_subset_size'] == 200


def _main(argv):
  out = io.StringIO()
  with contextlib.redirect_stdout(out):
    code = cli.main(argv)
  return code, out.getvalue()


def test_png_folders_give_the_numbers_of_the_npz_files(clf, image_sets):
  real, fake, paths = image_sets
  np.testing.assert_array_equal(cli.load_images(paths['real']), real)
  code, out = _main([paths['real'], paths['fake'], '--metrics', METRICS, '--classifier', clf.path])
  assert code == 0
  from_png = json.loads(out)
  _check(from_png, _direct(clf, real, fake))
  code, out = _main(
    [paths['real.npz'], paths['fake.npz'], '--metrics', METRICS, '--classifier', clf.path]
  )
  from_npz = json.loads(out)
  assert {k: v for k, v in from_png.items() if k != 'protocol'} == {
    k: v for k, v in from_npz.items() if k != 'protocol'
  }


def test_images_of_another_size_are_resized_for_the_classifier(clf, image_sets, tmp_path):
  real, fake, _ = image_sets
  np.savez(tmp_path / 'a.npz', images=image_lib.resize(real, 28)[..., 0])  # [N, H, W]
  np.savez(tmp_path / 'b.npz', images=image_lib.resize(fake, 28))
  code, out = _main(
    [str(tmp_path / 'a.npz'), str(tmp_path / 'b.npz'), '--metrics', 'fid', '--classifier', clf.path]
  )
  assert code == 0
  result = json.loads(out)
  assert result['protocol']['resized_to'] == [32, 32, 1]
  assert result['protocol']['image_shape_real'] == [28, 28, 1]
  expected = metrics.frechet_distance(
    clf.features(image_lib.resize(image_lib.resize(real, 28), 32))[0],
    clf.features(image_lib.resize(image_lib.resize(fake, 28), 32))[0],
  )
  assert result['fid_classifier'] == pytest.approx(expected, rel=1e-4)


def test_errors_are_reported_without_a_traceback(image_sets, tmp_path, monkeypatch, capsys):
  _, _, paths = image_sets
  assert cli.main([str(tmp_path / 'missing'), paths['fake.npz']]) == 2
  assert 'neither a folder of images nor an .npz file' in capsys.readouterr().err
  np.savez(tmp_path / 'bad.npz', pictures=np.zeros((2, 4, 4, 1), np.uint8))
  assert cli.main([str(tmp_path / 'bad.npz'), paths['fake.npz']]) == 2
  assert "no 'images' array" in capsys.readouterr().err
  monkeypatch.delenv('GANS_INCEPTION_WEIGHTS', raising=False)
  assert cli.main([paths['real.npz'], paths['fake.npz'], '--features', 'inception']) == 2
  assert 'GANS_INCEPTION_WEIGHTS' in capsys.readouterr().err
  assert (
    cli.main(
      [
        paths['real.npz'],
        paths['fake.npz'],
        '--features',
        'inception',
        '--weights',
        str(tmp_path / 'w.pth'),
      ]
    )
    == 2
  )
  assert 'w.pth' in capsys.readouterr().err
