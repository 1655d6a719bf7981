"""Reading `torch.save` files without PyTorch (gans/metrics/pth.py).

The fixtures were written once by PyTorch (tests/metrics/fixtures/make_fixtures.py);
these tests need no PyTorch.
"""

import os
import pickle
import struct
import zipfile

import numpy as np
import pytest

from gans.metrics import pth

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'fixtures')
FORMATS = {'zip': 'state_zip.pth', 'legacy': 'state_legacy.pth'}

EXPECTED_DTYPES = {
  '0.weight': 'float32',
  '0.bias': 'float32',
  '1.weight': 'float32',
  '1.bias': 'float32',
  '1.running_mean': 'float32',
  '1.running_var': 'float32',
  '1.num_batches_tracked': 'int64',
  'base': 'float64',
  'base_transposed': 'float64',
  'base_slice': 'float64',
  'half': 'float16',
  'long_every_other': 'int64',
  'bfloat16': 'bfloat16',
  'bool': 'bool',
  'scalar': 'float32',
  'empty': 'float32',
  'parameter': 'float32',
}


def fixture_path(fmt):
  return os.path.join(FIXTURES, FORMATS[fmt])


@pytest.fixture(scope='module')
def expected():
  with np.load(os.path.join(FIXTURES, 'state_expected.npz')) as data:
    return {key: data[key] for key in data.files}


@pytest.mark.parametrize('fmt', sorted(FORMATS))
def test_reads_fixture_exactly(fmt, expected):
  state = pth.read_state_dict(fixture_path(fmt))
  assert list(state) == list(EXPECTED_DTYPES)  # file order kept
  assert set(expected) == set(EXPECTED_DTYPES)
  for key, dtype in EXPECTED_DTYPES.items():
    value = state[key]
    assert value.dtype.name == dtype, key
    assert value.shape == expected[key].shape, key
    assert value.flags.c_contiguous and value.flags.owndata, key
    np.testing.assert_array_equal(value.astype(expected[key].dtype), expected[key], err_msg=key)


def test_views_come_back_as_views_of_the_same_values():
  state = pth.read_state_dict(fixture_path('zip'))
  np.testing.assert_array_equal(state['base_transposed'], state['base'].T)
  np.testing.assert_array_equal(state['base_slice'], state['base'][1:3, 2:])
  np.testing.assert_array_equal(state['long_every_other'], np.arange(12).reshape(3, 4)[:, ::2])
  assert state['scalar'].shape == () and state['scalar'] == 3.25
  assert state['1.num_batches_tracked'] == 7
  # Independent copies: writing one does not change another sharing its storage.
  state['base'][0, 0] = 1e9
  assert state['base_transposed'][0, 0] != 1e9


def write_truncated(source, destination, fraction):
  with open(source, 'rb') as f:
    data = f.read()
  with open(destination, 'wb') as f:
    f.write(data[: int(len(data) * fraction)])
  return str(destination)


@pytest.mark.parametrize('fmt', sorted(FORMATS))
@pytest.mark.parametrize('fraction', [0.0, 0.1, 0.5, 0.97])
def test_truncated_file_names_the_file(fmt, fraction, tmp_path):
  path = write_truncated(fixture_path(fmt), tmp_path / f'cut_{fmt}.pth', fraction)
  with pytest.raises(pth.PthError, match=f'cut_{fmt}.pth'):
    pth.read_state_dict(path)


def test_truncated_legacy_data_names_the_tensor(tmp_path):
  # The last storage written is the one with the largest key; cutting its final
  # bytes must name a tensor that uses it.
  with open(fixture_path('legacy'), 'rb') as f:
    data = f.read()
  path = tmp_path / 'cut.pth'
  path.write_bytes(data[:-3])
  with pytest.raises(
    pth.PthError,
    match=r'cut\.pth: file ends inside the data of storage '
    r"'\d+' \(tensors? '[\w.]+'.*\)",
  ):
    pth.read_state_dict(str(path))


def test_corrupt_zip_record_names_the_tensor(tmp_path):
  source = zipfile.ZipFile(fixture_path('zip'))
  path = tmp_path / 'corrupt.pth'
  prefix = source.namelist()[0].split('/')[0]
  # Rewrite the archive with one storage record one element short.
  with zipfile.ZipFile(path, 'w', zipfile.ZIP_STORED) as out:
    for name in source.namelist():
      data = source.read(name)
      if name == f'{prefix}/data/7':
        data = data[:-1]
      out.writestr(name, data)
  with pytest.raises(
    pth.PthError, match=r"corrupt\.pth: storage '7' \(tensors? '[\w.]+'.*\) has \d+ bytes, expected"
  ):
    pth.read_state_dict(str(path))
  # A flipped byte inside an (uncompressed) record is caught by the zip CRC.
  data = bytearray(open(fixture_path('zip'), 'rb').read())
  info = source.getinfo(f'{prefix}/data/0')
  name_length, extra_length = struct.unpack_from('<HH', data, info.header_offset + 26)
  data[info.header_offset + 30 + name_length + extra_length + 2] ^= 0xFF
  flipped = tmp_path / 'flipped.pth'
  flipped.write_bytes(bytes(data))
  with pytest.raises(
    pth.PthError,
    match=r"flipped\.pth: record '[\w/]+data/0' "
    r"\(storage '0' \(tensor '0\.weight'\)\) is corrupt",
  ):
    pth.read_state_dict(str(flipped))


def legacy_file(path, obj_pickle: bytes, keys=()):
  """A legacy-format file around a hand-made object pickle (no storages)."""
  with open(path, 'wb') as f:
    f.write(pickle.dumps(pth.LEGACY_MAGIC_NUMBER, protocol=2))
    f.write(pickle.dumps(pth.LEGACY_PROTOCOL_VERSION, protocol=2))
    f.write(
      pickle.dumps(
        {
          'protocol_version': 1001,
          'little_endian': True,
          'type_sizes': {'short': 2, 'int': 4, 'long': 4},
        },
        protocol=2,
      )
    )
    f.write(obj_pickle)
    f.write(pickle.dumps(list(keys), protocol=2))
  return str(path)


class _CallsGetcwd:
  def __reduce__(self):
    return (os.getcwd, ())


def test_refuses_arbitrary_globals(tmp_path):
  path = legacy_file(tmp_path / 'evil.pth', pickle.dumps({'x': _CallsGetcwd()}, protocol=2))
  with pytest.raises(pth.PthError, match=r'evil\.pth: refusing to load global \w+\.getcwd'):
    pth.read_state_dict(path)


def test_rejects_non_state_dicts(tmp_path):
  path = legacy_file(tmp_path / 'list.pth', pickle.dumps([1, 2], protocol=2))
  assert pth.load_pickled_object(path) == [1, 2]
  with pytest.raises(pth.PthError, match=r'list\.pth: holds a list, not a state dict'):
    pth.read_state_dict(path)
  path = legacy_file(tmp_path / 'nested.pth', pickle.dumps({'a': {'b': 1}}, protocol=2))
  with pytest.raises(pth.PthError, match=r"nested\.pth: entry 'a' is a dict, not a tensor"):
    pth.read_state_dict(path)


def test_not_a_torch_file(tmp_path):
  path = tmp_path / 'text.pth'
  path.write_text('hello')
  with pytest.raises(pth.PthError, match=r'text\.pth: not a torch.save file'):
    pth.read_state_dict(str(path))
  path = tmp_path / 'magic.pth'
  path.write_bytes(pickle.dumps(12345, protocol=2) + struct.pack('<q', 0))
  with pytest.raises(pth.PthError, match=r'magic\.pth: not a torch.save file \(wrong magic'):
    pth.read_state_dict(str(path))
  with pytest.raises(FileNotFoundError):
    pth.read_state_dict(str(tmp_path / 'absent.pth'))
