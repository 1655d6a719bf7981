"""gans.data.image_files: every image mode, file and array layout a user brings.

Each file is written inside the test with Pillow from known uint8 pixels; the reader
must give those pixels back (or the documented 8-bit values), or refuse with a message
that starts with the file's path and names the reason.
"""

import io
import struct
import zlib

import numpy as np
from PIL import Image
import pytest

from gans import data
from gans.data import image_files
from gans.data import images as image_lib

RNG = np.random.default_rng(0)
GRAY = RNG.integers(0, 256, (12, 10), dtype=np.uint8)  # 12 high, 10 wide: not square.
RGB = RNG.integers(0, 256, (12, 10, 3), dtype=np.uint8)


def _save(path, image, **kwargs):
  image.save(path, **kwargs)
  return str(path)


def _png_16_bit_rgb(values):
  """A 16-bit RGB PNG (Pillow cannot write one) of uint16 values [H, W, 3]."""
  h, w, _ = values.shape
  raw = b''.join(b'\x00' + values[i].astype('>u2').tobytes() for i in range(h))

  def chunk(kind, payload):
    body = kind + payload
    return struct.pack('>I', len(payload)) + body + struct.pack('>I', zlib.crc32(body))

  header = struct.pack('>IIBBBBB', w, h, 16, 2, 0, 0, 0)
  return (
    b'\x89PNG\r\n\x1a\n'
    + chunk(b'IHDR', header)
    + chunk(b'IDAT', zlib.compress(raw))
    + chunk(b'IEND', b'')
  )


def _with_alpha(pixels, alpha):
  mode = 'LA' if pixels.ndim == 2 else 'RGBA'
  bands = [pixels] if pixels.ndim == 2 else [pixels[..., i] for i in range(3)]
  return Image.merge(mode, [Image.fromarray(b) for b in bands] + [Image.fromarray(alpha)])


OPAQUE = np.full(GRAY.shape, 255, np.uint8)
HALF = np.full(GRAY.shape, 128, np.uint8)


# (name, writer(path) -> file, expected uint8 [H, W, C], transparent)
LOSSLESS = [
  ('L.png', lambda p: _save(p, Image.fromarray(GRAY)), GRAY[..., None], False),
  (
    '1.png',
    lambda p: _save(p, Image.fromarray(GRAY > 127)),
    np.where(GRAY > 127, 255, 0).astype(np.uint8)[..., None],
    False,
  ),
  (
    'I16.png',  # Pillow mode I;16; the case: read as 0/255 before.
    lambda p: _save(p, Image.fromarray(GRAY.astype(np.uint16) * 257)),
    GRAY[..., None],
    False,
  ),
  (
    'I16B.tif',  # Big-endian 16-bit gray, mode I;16B.
    lambda p: _save(p, Image.frombytes('I;16B', (10, 12), (GRAY.astype('>u2') * 257).tobytes())),
    GRAY[..., None],
    False,
  ),
  (
    'I16_odd.png',  # 16-bit values that are not multiples of 257: round(v / 257).
    lambda p: _save(p, Image.fromarray(np.arange(120, dtype=np.uint16).reshape(12, 10) * 546)),
    np.round(np.arange(120).reshape(12, 10) * 546 / 257).astype(np.uint8)[..., None],
    False,
  ),
  (
    'I.pgm',  # 16-bit PGM: Pillow mode I.
    lambda p: _save(p, Image.fromarray(GRAY.astype(np.uint16) * 257)),
    GRAY[..., None],
    False,
  ),
  ('LA_opaque.png', lambda p: _save(p, _with_alpha(GRAY, OPAQUE)), GRAY[..., None], False),
  ('LA_half.png', lambda p: _save(p, _with_alpha(GRAY, HALF)), GRAY[..., None], True),
  (
    'P_gray.png',
    lambda p: _save(p, Image.fromarray(GRAY).convert('P')),
    GRAY[..., None],
    False,
  ),
  (
    'P_gray_transparent.png',
    lambda p: _save(p, Image.fromarray(GRAY).convert('P'), transparency=int(GRAY[0, 0])),
    GRAY[..., None],
    True,
  ),
  (
    'P_colour.gif',  # At most 256 colours: a palette holds them exactly.
    lambda p: _save(p, Image.fromarray(RGB[:, :, :] // 64 * 85).quantize(256)),
    RGB // 64 * 85,
    False,
  ),
  ('RGB.png', lambda p: _save(p, Image.fromarray(RGB)), RGB, False),
  ('RGB.bmp', lambda p: _save(p, Image.fromarray(RGB)), RGB, False),
  ('RGB.tiff', lambda p: _save(p, Image.fromarray(RGB)), RGB, False),
  ('RGB.webp', lambda p: _save(p, Image.fromarray(RGB), lossless=True), RGB, False),
  ('RGB.ppm', lambda p: _save(p, Image.fromarray(RGB)), RGB, False),
  (
    'RGB_colour_key.png',
    lambda p: _save(p, Image.fromarray(RGB), transparency=tuple(RGB[0, 0].tolist())),
    RGB,
    True,
  ),
  ('RGBA_opaque.png', lambda p: _save(p, _with_alpha(RGB, OPAQUE)), RGB, False),
  ('RGBA_half.png', lambda p: _save(p, _with_alpha(RGB, HALF)), RGB, True),
  ('UPPER.PNG', lambda p: _save(p, Image.fromarray(RGB)), RGB, False),
  (
    'RGB16.png',  # Pillow keeps the high byte: v // 256, exact for 8-bit data x 257.
    lambda p: p.write_bytes(_png_16_bit_rgb(RGB.astype(np.uint16) * 257)) and str(p),
    RGB,
    False,
  ),
]


@pytest.mark.parametrize('name,write,expected,transparent', LOSSLESS, ids=[c[0] for c in LOSSLESS])
def test_every_mode_reads_to_its_8_bit_values(tmp_path, name, write, expected, transparent):
  path = write(tmp_path / name)
  got, alpha = image_files.read_image(path, with_transparency=True)
  assert got.dtype == np.uint8
  np.testing.assert_array_equal(got, expected)
  assert alpha == transparent


def test_sixteen_bit_values_round_to_the_nearest_level():
  values = np.array([0, 128, 129, 257, 385, 386, 32767, 65278, 65535], np.uint16)
  np.testing.assert_array_equal(image_files._from_16_bit(values), [0, 0, 1, 1, 1, 2, 127, 254, 255])
  np.testing.assert_array_equal(
    image_files._from_16_bit(np.arange(65536)), np.round(np.arange(65536) / 257)
  )


@pytest.mark.parametrize('extension', ['.jpg', '.JPG', '.jpeg'])
def test_jpeg_rgb_and_cmyk_read_as_rgb(tmp_path, extension):
  smooth = np.stack(
    list(np.meshgrid(np.arange(0, 240, 10), np.arange(0, 240, 10))) + [np.full((24, 24), 100)], -1
  ).astype(np.uint8)
  rgb = image_files.read_image(
    _save(tmp_path / f'rgb{extension}', Image.fromarray(smooth), quality=95)
  )
  cmyk = image_files.read_image(
    _save(tmp_path / f'cmyk{extension}', Image.fromarray(smooth).convert('CMYK'), quality=95)
  )
  assert rgb.shape == cmyk.shape == (24, 24, 3)
  # JPEG is lossy: within a few levels of the pixels, in both colour spaces.
  assert np.abs(rgb.astype(int) - smooth).mean() < 2
  assert np.abs(cmyk.astype(int) - smooth).mean() < 2


@pytest.mark.parametrize('extension', ['.png', '.jpg'])
def test_exif_orientation_is_applied(tmp_path, extension):
  stored = np.repeat(np.repeat(RGB[:4, :6], 4, axis=0), 4, axis=1)  # 16 x 24, blocky.
  image = Image.fromarray(stored)
  exif = image.getexif()
  exif[0x0112] = 6  # "Rotate 90 CW to display".
  path = _save(
    tmp_path / f'rotated{extension}',
    image,
    exif=exif,
    **({'quality': 100, 'subsampling': 0} if extension == '.jpg' else {}),
  )
  got = image_files.read_image(path)
  assert got.shape == (24, 16, 3)
  shown = np.rot90(stored, k=-1)
  assert np.abs(got.astype(int) - shown).mean() < (0.01 if extension == '.png' else 3)


def _refusal(path):
  with pytest.raises(image_files.ImageFileError) as info:
    image_files.read_image(path)
  message = str(info.value)
  assert message.startswith(str(path) + ': ')
  assert '\n' not in message
  return message


def test_modes_without_a_known_8_bit_scale_are_refused(tmp_path):
  message = _refusal(_save(tmp_path / 'f.tif', Image.fromarray(GRAY.astype(np.float32) / 255)))
  assert 'mode F (floating-point pixels, values 0..0.97' in message
  message = _refusal(_save(tmp_path / 'i32.tif', Image.fromarray(GRAY.astype(np.int32) * 70000)))
  assert 'mode I' in message and '32 bits declared' in message
  frames = [Image.fromarray(RGB), Image.fromarray(255 - RGB)]
  path = tmp_path / 'animated.gif'
  frames[0].save(path, save_all=True, append_images=frames[1:])
  assert '2 frames' in _refusal(path)
  path = tmp_path / 'animated.png'
  frames[0].save(path, save_all=True, append_images=frames[1:])
  assert '2 frames' in _refusal(path)


def test_camera_jpegs_with_a_second_picture_read_the_photo(tmp_path):
  # Phones write MPO JPEGs (the photo plus a preview or depth map): Pillow sees 2 frames.
  photo = np.full((16, 12, 3), (200, 120, 40), np.uint8)
  path = tmp_path / 'IMG_0001.JPG'
  Image.fromarray(photo).save(
    path, format='MPO', save_all=True, append_images=[Image.fromarray(photo[:4, :4] // 4)]
  )
  with Image.open(path) as img:
    assert (img.format, img.n_frames) == ('MPO', 2)
  got = image_files.read_image(path)
  assert got.shape == (16, 12, 3) and np.abs(got.astype(int) - photo).max() <= 3


def test_corrupt_files_name_the_file_and_the_reason(tmp_path):
  buffer = io.BytesIO()
  Image.fromarray(RNG.integers(0, 256, (32, 32), dtype=np.uint8)).save(buffer, 'PNG')
  png = buffer.getvalue()
  (tmp_path / 'half.png').write_bytes(png[: len(png) // 2])
  assert _refusal(tmp_path / 'half.png').endswith(': image file is truncated')
  (tmp_path / 'text.png').write_text('not an image\n')
  assert 'not an image file' in _refusal(tmp_path / 'text.png')
  (tmp_path / 'empty.png').write_bytes(b'')
  assert 'not an image file' in _refusal(tmp_path / 'empty.png')
  broken = bytearray(png)
  broken[40] ^= 0xFF  # Inside IHDR/IDAT: a CRC or decoder failure.
  (tmp_path / 'crc.png').write_bytes(bytes(broken))
  _refusal(tmp_path / 'crc.png')
  buffer = io.BytesIO()
  Image.fromarray(RGB).save(buffer, 'JPEG')
  (tmp_path / 'half.jpg').write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
  assert 'truncated' in _refusal(tmp_path / 'half.jpg').lower()


def test_truncated_files_are_refused_even_if_a_library_allowed_them(tmp_path, monkeypatch):
  from PIL import ImageFile

  buffer = io.BytesIO()
  Image.fromarray(GRAY).save(buffer, 'PNG')
  (tmp_path / 'half.png').write_bytes(buffer.getvalue()[:-30])
  monkeypatch.setattr(ImageFile, 'LOAD_TRUNCATED_IMAGES', True)
  assert 'truncated' in _refusal(tmp_path / 'half.png')
  assert ImageFile.LOAD_TRUNCATED_IMAGES is True  # Restored for whoever set it.


def test_folder_reads_sorted_image_files_and_mixes_gray_with_colour(tmp_path):
  _save(tmp_path / 'b.PNG', Image.fromarray(RGB))
  _save(tmp_path / 'a.png', Image.fromarray(GRAY))
  _save(tmp_path / 'c.png', _with_alpha(RGB, HALF))
  (tmp_path / '._a.png').write_bytes(b'\x00\x05\x16\x07')  # macOS metadata: skipped.
  (tmp_path / 'notes.txt').write_text('skipped')
  (tmp_path / 'sub.png').mkdir()  # A folder: skipped.
  with pytest.warns(
    UserWarning, match=r'1 of the 3 images .* transparent pixels \(first: c\.png\)'
  ):
    images = image_files.read_folder(tmp_path)
  assert images.shape == (3, 12, 10, 3)
  np.testing.assert_array_equal(images[0], np.repeat(GRAY[..., None], 3, axis=-1))
  np.testing.assert_array_equal(images[1], RGB)
  np.testing.assert_array_equal(images[2], RGB)


def test_folder_errors_name_the_files(tmp_path):
  with pytest.raises(ValueError, match='No image files .* in folder'):
    image_files.read_folder(tmp_path)
  _save(tmp_path / 'a.png', Image.fromarray(GRAY))
  _save(tmp_path / 'b.png', Image.fromarray(GRAY[:8]))
  with pytest.raises(ValueError, match=r'b\.png is 8x10 pixels .* a\.png is 12x10'):
    image_files.read_folder(tmp_path)


def test_array_files_and_their_layouts(tmp_path):
  images = RNG.integers(0, 256, (5, 6, 7, 3), dtype=np.uint8)
  np.savez(tmp_path / 'nhwc.npz', images=images)
  np.testing.assert_array_equal(image_files.load_images(tmp_path / 'nhwc.npz'), images)
  np.save(tmp_path / 'nhwc.npy', images)
  np.testing.assert_array_equal(image_files.load_images(tmp_path / 'nhwc.npy'), images)
  np.savez(tmp_path / 'nhw.npz', images=images[..., 0])
  np.testing.assert_array_equal(image_files.load_images(tmp_path / 'nhw.npz'), images[..., :1])

  def refused(array, match, name='x.npz'):
    np.savez(tmp_path / name, images=array)
    with pytest.raises(ValueError, match=match):
      image_files.load_images(tmp_path / name)

  as_float = images / 255.0
  refused(as_float, r"x\.npz: 'images' is float64 \(values 0\.\.1\).*np\.round\(x \* 255\)")
  refused(as_float * 2 - 1, r'values -1\.\.1\).*to_uint8')
  with_nan = as_float.copy()
  with_nan[2, 0, 0, 0] = np.nan
  refused(with_nan, r'1 of the 5 images hold NaN/inf')
  refused(images.astype(np.uint16) * 257, r'uint16 \(values \d+\.\.\d+\).*\+ 128\) // 257')
  refused(images > 127, r'bool.*\* 255')
  refused(images.transpose(0, 3, 1, 2), r'looks channels-first .*transpose\(0, 2, 3, 1\)')
  refused(np.concatenate([images, images[..., :1]], -1), r'4 channels .*x\[\.\.\., :3\]')
  refused(images[0, 0], r'shape \(7, 3\); images must be \[N, H, W, C\]')
  refused(images[:0], r'holds no image pixels')


def test_unreadable_array_files_name_the_file(tmp_path):
  np.savez(tmp_path / 'good.npz', images=np.zeros((2, 4, 4, 1), np.uint8))
  payload = (tmp_path / 'good.npz').read_bytes()
  (tmp_path / 'cut.npz').write_bytes(payload[: len(payload) // 2])
  with pytest.raises(image_files.ImageFileError, match=r'cut\.npz: not a readable NumPy file'):
    image_files.load_images(tmp_path / 'cut.npz')
  np.savez(tmp_path / 'objects.npz', images=np.array([None, 1], dtype=object))
  with pytest.raises(image_files.ImageFileError, match=r'objects\.npz: .*allow_pickle'):
    image_files.load_images(tmp_path / 'objects.npz')
  np.savez(tmp_path / 'other.npz', pictures=np.zeros((2, 4, 4, 1), np.uint8))
  with pytest.raises(ValueError, match=r"other\.npz has no 'images' array .*'pictures'"):
    image_files.load_images(tmp_path / 'other.npz')
  with pytest.raises(FileNotFoundError, match='does not exist'):
    image_files.load_images(tmp_path / 'absent.npz')


def test_uint8_values_spanning_only_0_and_1_are_refused(tmp_path):
  binary = (RNG.random((4, 8, 8, 1)) > 0.5).astype(np.uint8)  # [0, 1] floats cast to uint8.
  np.savez(tmp_path / 'binary.npz', images=binary)
  with pytest.raises(ValueError, match=r'binary\.npz: values span 0\.\.1: were \[0, 1\] floats'):
    image_files.load_images(tmp_path / 'binary.npz')
  folder = tmp_path / 'pngs'
  folder.mkdir()
  for i, x in enumerate(binary):
    _save(folder / f'{i}.png', Image.fromarray(x[..., 0]))
  with pytest.raises(ValueError, match=r'pngs: values span 0\.\.1'):
    image_files.load_images(folder)
  np.savez(tmp_path / 'black.npz', images=np.zeros((4, 8, 8, 1), np.uint8))  # Valid, if dull.
  assert image_files.load_images(tmp_path / 'black.npz').max() == 0
  np.savez(tmp_path / 'bw.npz', images=binary * 255)
  assert image_files.load_images(tmp_path / 'bw.npz').max() == 255


def test_model_space_conversions_refuse_the_other_side():
  with pytest.raises(TypeError, match='to_model takes uint8 images .* got float32'):
    image_lib.to_model(np.zeros((1, 2, 2, 1), np.float32))
  with pytest.raises(TypeError, match='to_model takes uint8 images .* got uint16'):
    image_lib.to_model(np.zeros((1, 2, 2, 1), np.uint16))
  with pytest.raises(TypeError, match='to_uint8 takes float images in \\[-1, 1\\]; got uint8'):
    image_lib.to_uint8(np.zeros((1, 2, 2, 1), np.uint8))


def test_tfds_pixels_refuse_dtypes_that_would_wrap():
  np.testing.assert_array_equal(data.tfds_pixels(GRAY, 'x', 0), GRAY)
  np.testing.assert_array_equal(data.tfds_pixels(GRAY > 9, 'x', 0), np.where(GRAY > 9, 255, 0))
  np.testing.assert_array_equal(
    data.tfds_pixels((GRAY > 9).astype(np.uint8), 'binarized_mnist', 0, binary=True),
    np.where(GRAY > 9, 255, 0),
  )
  with pytest.raises(
    ValueError, match=r"'depth16': example 7 has uint16 pixels \(values 0\.\.\d+\)"
  ):
    data.tfds_pixels(GRAY.astype(np.uint16) * 257, 'depth16', 7)
  with pytest.raises(ValueError, match=r"'masks': the values of its first 2 images span 0\.\.1"):
    data.check_binary_head([(GRAY > 9).astype(np.uint8), (GRAY > 99).astype(np.uint8)], 'masks')
  data.check_binary_head([(GRAY > 9).astype(np.uint8)], 'binarized_mnist', binary=True)
  data.check_binary_head([GRAY], 'mnist')
