"""gans.files: atomic writes leave the old file or the new one, and no temporary file."""

import os
import stat

import pytest

from gans import files


def _listing(directory):
  return sorted(os.listdir(directory))


def test_write_bytes_creates_parent_directories(tmp_path):
  path = tmp_path / 'a' / 'b' / 'out.bin'
  files.atomic_write_bytes(path, b'\x00payload')
  assert path.read_bytes() == b'\x00payload'
  assert _listing(path.parent) == ['out.bin']


def test_replaces_an_existing_file_and_keeps_its_permissions(tmp_path):
  path = tmp_path / 'out.bin'
  path.write_bytes(b'old')
  os.chmod(path, 0o640)
  files.atomic_write_bytes(str(path), bytearray(b'new'))
  assert path.read_bytes() == b'new'
  assert stat.S_IMODE(os.stat(path).st_mode) == 0o640
  assert _listing(tmp_path) == ['out.bin']


def test_new_file_gets_the_permissions_of_open(tmp_path):
  old = os.umask(0o027)
  try:
    files.atomic_write_bytes(tmp_path / 'new.bin', b'x')
    with open(tmp_path / 'plain.bin', 'wb') as f:
      f.write(b'x')
  finally:
    os.umask(old)
  mode = stat.S_IMODE(os.stat(tmp_path / 'new.bin').st_mode)
  assert mode == stat.S_IMODE(os.stat(tmp_path / 'plain.bin').st_mode) == 0o640


def test_text_mode(tmp_path):
  path = tmp_path / 'out.json'
  with files.atomic_open(path, 'w', encoding='utf-8') as f:
    f.write('{"sigma": "\u03c3"}\n')
  assert path.read_text(encoding='utf-8') == '{"sigma": "\u03c3"}\n'


def test_failure_mid_write_leaves_the_old_file_and_no_temporary(tmp_path):
  path = tmp_path / 'out.bin'
  path.write_bytes(b'old contents')
  with pytest.raises(RuntimeError, match='disk on fire'):
    with files.atomic_open(path) as f:
      f.write(b'half of the new')
      f.flush()
      assert len(_listing(tmp_path)) == 2  # The temporary is there meanwhile,
      assert path.read_bytes() == b'old contents'  # and the destination untouched.
      raise RuntimeError('disk on fire')
  assert path.read_bytes() == b'old contents'
  assert _listing(tmp_path) == ['out.bin']


def test_keyboard_interrupt_also_cleans_up(tmp_path):
  with pytest.raises(KeyboardInterrupt):
    with files.atomic_open(tmp_path / 'new.bin') as f:
      f.write(b'partial')
      raise KeyboardInterrupt
  assert _listing(tmp_path) == []


def test_bad_data_leaves_the_old_file(tmp_path):
  path = tmp_path / 'out.bin'
  path.write_bytes(b'old')
  with pytest.raises(TypeError):
    files.atomic_write_bytes(path, 'not bytes')
  assert path.read_bytes() == b'old'
  assert _listing(tmp_path) == ['out.bin']


def test_failed_rename_removes_the_temporary(tmp_path, monkeypatch):
  path = tmp_path / 'out.bin'
  path.write_bytes(b'old')

  def failing_replace(src, dst):
    raise OSError('rename failed')

  monkeypatch.setattr(os, 'replace', failing_replace)
  with pytest.raises(OSError, match='rename failed'):
    files.atomic_write_bytes(path, b'new')
  assert path.read_bytes() == b'old'
  assert _listing(tmp_path) == ['out.bin']


def test_destination_is_a_directory(tmp_path):
  (tmp_path / 'sub').mkdir()
  with pytest.raises(OSError):
    files.atomic_write_bytes(tmp_path / 'sub', b'x')
  assert _listing(tmp_path) == ['sub']


def test_bad_mode_and_bad_open_arguments(tmp_path):
  with pytest.raises(ValueError, match='mode'):
    with files.atomic_open(tmp_path / 'x', 'ab'):
      pass
  with pytest.raises(ValueError):
    with files.atomic_open(tmp_path / 'x', 'wb', encoding='utf-8'):
      pass
  assert _listing(tmp_path) == []


def test_classifier_save_uses_it(tmp_path, monkeypatch):
  from gans.metrics import classifier as classifier_lib  # pylint: disable=g-import-not-at-top

  calls = []
  real = files.atomic_write_bytes
  monkeypatch.setattr(
    files, 'atomic_write_bytes', lambda path, data: calls.append(path) or real(path, data)
  )
  clf = classifier_lib.Classifier({'w': [1.0, 2.0]}, {'num_classes': 2})
  digest = classifier_lib.save(clf, str(tmp_path / 'c' / 'clf.msgpack'))
  assert calls == [str(tmp_path / 'c' / 'clf.msgpack')]
  assert _listing(tmp_path / 'c') == ['clf.msgpack'] and len(digest) == 64
  assert classifier_lib.load(tmp_path / 'c' / 'clf.msgpack').meta == {'num_classes': 2}
