"""`python -m gans.tools.metrics_cli`: metrics between two image sets (.npz or PNG folders)."""

import contextlib
import io
import json
import os
import subprocess
import sys

import jax
import numpy as np
from PIL import Image
import pytest

from gans import metrics
from gans.data import builtin
from gans.data import images as image_lib
from gans.metrics import classifier as classifier_lib
from gans.metrics import inception
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
  err = capsys.readouterr().err
  assert 'missing' in err and 'neither a folder of images nor an .npz or .npy file' in err
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


# ------------------------------------------------------------------ hard inputs (issue 15)


def _digits_32(n=200, seed=1):
  """n mnist5k digits at 32x32, uint8 [n, 32, 32, 1]."""
  raw, _ = builtin.mnist5k()
  return image_lib.resize(raw[np.random.default_rng(seed).permutation(len(raw))[:n]], 32)


def test_16_bit_gray_pngs_score_like_their_8_bit_copies(clf, tmp_path):
  digits = _digits_32()
  (tmp_path / 'gray8').mkdir()
  (tmp_path / 'gray16').mkdir()
  for i, x in enumerate(digits):
    image_lib.save_png(str(tmp_path / 'gray8' / f'{i:03d}.png'), x)
    Image.fromarray(x[..., 0].astype(np.uint16) * 257).save(tmp_path / 'gray16' / f'{i:03d}.png')
  with Image.open(tmp_path / 'gray16' / '000.png') as img:
    assert img.mode == 'I;16'
    # What the CLI did before: Pillow's convert('L') saturates 16-bit values to 0/255.
    assert set(np.unique(np.asarray(img.convert('L')))) <= {0, 255}
  np.testing.assert_array_equal(cli.load_images(str(tmp_path / 'gray16')), digits)
  code, out = _main(
    [
      str(tmp_path / 'gray8'),
      str(tmp_path / 'gray16'),
      '--metrics',
      'fid',
      '--classifier',
      clf.path,
    ]
  )
  assert code == 0
  assert 0.0 <= json.loads(out)['fid_classifier'] < 1e-9  # Was about 94.


def test_identical_sets_score_zero_never_negative(clf, image_sets):
  _, _, paths = image_sets
  code, out = _main(
    [paths['real.npz'], paths['real'], '--metrics', 'fid,kid', '--classifier', clf.path]
  )
  assert code == 0
  assert 0.0 <= json.loads(out)['fid_classifier'] < 1e-9  # Was -2.27e-11.


def test_a_corrupt_file_stops_the_command_with_one_line_naming_it(
  clf, image_sets, tmp_path, capsys
):
  _, _, paths = image_sets
  folder = tmp_path / 'real'
  folder.mkdir()
  for name in sorted(os.listdir(paths['real']))[:20]:
    (folder / name).write_bytes(open(os.path.join(paths['real'], name), 'rb').read())
  cut = folder / '0007.png'
  cut.write_bytes(cut.read_bytes()[: len(cut.read_bytes()) // 2])
  argv = [str(folder), paths['fake.npz'], '--classifier', clf.path]
  assert cli.main(argv) == 2
  captured = capsys.readouterr()
  assert captured.out == ''  # Nothing printed half.
  assert captured.err == f'error: {cut}: image file is truncated\n'
  cut.write_text('this is not an image\n')
  assert cli.main(argv) == 2
  captured = capsys.readouterr()
  assert captured.out == ''
  assert captured.err == f'error: {cut}: not an image file Pillow can read (cannot identify it)\n'


def test_a_nan_weight_in_the_classifier_file_is_refused_naming_it(
  clf, image_sets, tmp_path, capsys
):
  _, _, paths = image_sets
  params = jax.tree.map(np.array, clf.params)
  params['conv1']['kernel'][0, 0, 0, 0] = np.nan
  bad = tmp_path / 'nan.msgpack'
  classifier_lib.save(classifier_lib.Classifier(params, dict(clf.meta)), str(bad))
  argv = [paths['real.npz'], paths['fake.npz'], '--metrics', METRICS, '--classifier', str(bad)]
  assert cli.main(argv) == 2
  captured = capsys.readouterr()
  assert captured.out == ''
  size = params['conv1']['kernel'].size
  assert captured.err == (
    f"error: {bad}: 1 of the {size} values of 'params/conv1/kernel' are non-finite (NaN/inf)\n"
  )


def test_a_nan_weight_in_the_inception_file_is_refused_naming_it(
  image_sets, tmp_path, monkeypatch, capsys
):
  _, _, paths = image_sets
  shapes = inception._abstract_variables()
  state = inception.state_dict_from_variables(
    jax.tree.map(lambda leaf: np.ones(leaf.shape, np.float32), shapes)
  )
  state['Mixed_6c.branch7x7_2.conv.weight'][3, 2, 0, 1] = np.nan
  monkeypatch.setattr(inception.pth, 'read_state_dict', lambda path: state)
  weights = tmp_path / 'nan.pth'
  weights.write_bytes(b'read by the patched reader')
  argv = [
    paths['real.npz'],
    paths['fake.npz'],
    '--features',
    'inception',
    '--weights',
    str(weights),
  ]
  assert cli.main(argv) == 2
  captured = capsys.readouterr()
  assert captured.out == ''
  size = state['Mixed_6c.branch7x7_2.conv.weight'].size
  assert captured.err == (
    f"error: {weights}: 1 of the {size} values of 'Mixed_6c.branch7x7_2.conv.weight' are "
    'non-finite (NaN/inf)\n'
  )


def test_uint8_values_spanning_0_1_are_refused(image_sets, tmp_path, capsys):
  real, _, paths = image_sets
  np.savez(tmp_path / 'cast.npz', images=(real > 127).astype(np.uint8))  # Scored 1669 before.
  assert cli.main([str(tmp_path / 'cast.npz'), paths['fake.npz']]) == 2
  assert capsys.readouterr().err == (
    f'error: {tmp_path / "cast.npz"}: values span 0..1: were [0, 1] floats cast to uint8? '
    'Images must use 0..255 (for black/white images: 0 and 255).\n'
  )
  np.savez(tmp_path / 'float.npz', images=real / 255.0)
  assert cli.main([str(tmp_path / 'float.npz'), paths['fake.npz']]) == 2
  assert "float.npz: 'images' is float64 (values 0..1)" in capsys.readouterr().err


def test_sets_of_different_sizes_warn_that_one_is_resampled(clf, image_sets, tmp_path, capsys):
  real, fake, paths = image_sets
  np.savez(tmp_path / 'real28.npz', images=image_lib.resize(real, 28))
  wide = np.concatenate([fake, fake[:, :, :8]], axis=2)  # 32 x 40: center-cropped.
  np.savez(tmp_path / 'wide.npz', images=wide)
  argv = [
    str(tmp_path / 'real28.npz'),
    paths['fake.npz'],
    '--metrics',
    'fid',
    '--classifier',
    clf.path,
  ]
  assert cli.main(argv) == 0
  err = capsys.readouterr().err
  assert err.startswith(
    f'warning: the two sets differ in size: {tmp_path / "real28.npz"} is 28x28, '
    f'{paths["fake.npz"]} is 32x32 pixels; {tmp_path / "real28.npz"} resized to 32x32 for '
    'the classifier.'
  )
  assert len(err.splitlines()) == 1
  assert cli.main([paths['real.npz'], str(tmp_path / 'wide.npz')] + argv[2:]) == 0
  err = capsys.readouterr().err
  assert 'differ in size' in err
  assert f'{tmp_path / "wide.npz"}: 32x40 images are center-cropped to 32x32' in err


def test_gray_images_stored_as_rgb_are_read_as_gray(clf, image_sets, tmp_path, capsys):
  real, fake, paths = image_sets
  np.savez(tmp_path / 'rgb.npz', images=np.repeat(real, 3, axis=-1))
  code, out = _main(
    [str(tmp_path / 'rgb.npz'), paths['fake.npz'], '--metrics', 'fid', '--classifier', clf.path]
  )
  assert code == 0
  expected = metrics.frechet_distance(clf.features(real)[0], clf.features(fake)[0])
  assert json.loads(out)['fid_classifier'] == pytest.approx(expected, rel=1e-6)
  colour = np.repeat(real, 3, axis=-1)
  colour[:, :, :, 0] //= 2
  np.savez(tmp_path / 'colour.npz', images=colour)
  assert cli.main([str(tmp_path / 'colour.npz'), paths['fake.npz'], '--classifier', clf.path]) == 2
  assert '3 channels that differ' in capsys.readouterr().err


def test_json_output_is_strict_json(clf, image_sets, tmp_path):
  _, _, paths = image_sets
  meta = dict(clf.meta, heldout_accuracy=float('nan'))  # What an empty hold-out records.
  path = tmp_path / 'nan_meta.msgpack'
  classifier_lib.save(classifier_lib.Classifier(clf.params, meta), str(path))
  code, out = _main([paths['real.npz'], paths['fake.npz'], '--classifier', str(path)])
  assert code == 0

  def refuse(constant):
    raise AssertionError(f'{constant} in the JSON output')

  result = json.loads(out, parse_constant=refuse)
  assert result['protocol']['classifier_heldout_accuracy'] is None
  assert result['fid_classifier'] > 1


def test_training_the_default_classifier_is_announced(
  clf, image_sets, tmp_path, monkeypatch, capsys
):
  _, _, paths = image_sets
  trained = []
  monkeypatch.setattr(
    classifier_lib, 'get_or_train', lambda recipe, cache_dir: trained.append(recipe) or clf
  )
  cache = tmp_path / 'empty_cache'
  assert cli.main([paths['real.npz'], paths['fake.npz'], '--cache_dir', str(cache)]) == 0
  err = capsys.readouterr().err
  assert err.startswith('Training the offline digit classifier (mnist5k at 32x32) once, 10 to 15 s')
  assert str(cache) in err and len(trained) == 1


@pytest.mark.parametrize(
  'option,message',
  [
    (['--metrics', 'fid,nope'], "argument --metrics: unknown metric 'nope'"),
    (['--num_samples', '-1'], 'argument --num_samples: -1 is below 0'),
    (['--batch_size', '0'], 'argument --batch_size: 0 is below 1'),
    (['--kid_subset_size', 'many'], "argument --kid_subset_size: 'many' is not an integer"),
  ],
)
def test_bad_options_name_the_option(image_sets, capsys, option, message):
  _, _, paths = image_sets
  with pytest.raises(SystemExit) as info:
    cli.main([paths['real.npz'], paths['fake.npz']] + option)
  assert info.value.code == 2
  assert message in capsys.readouterr().err
