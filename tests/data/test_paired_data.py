"""The pairing of the paired family: box downsampling as Pillow does it, Sobel edges,
the bicubic baseline and nearest upsampling."""

import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest
from PIL import Image

from gans import data
from gans.data import images as image_lib
from gans.data import paired


def _digits(n=64):
  config = ml_collections.ConfigDict(dict(dataset='mnist5k', image_size=32))
  return data.load(config, 'train[:4000]').get(np.arange(n))[0]


def test_box_downsample_equals_pillow_box_resize():
  x = _digits()
  got = image_lib.to_uint8(np.asarray(paired.box_downsample(jnp.asarray(x), 4)))
  u = image_lib.to_uint8(x)
  pil = np.stack(
    [np.asarray(Image.fromarray(im[..., 0]).resize((8, 8), Image.Resampling.BOX)) for im in u]
  )
  np.testing.assert_array_equal(got[..., 0], pil)
  assert got.shape == (64, 8, 8, 1)


def test_box_downsample_rounds_each_pass_half_up():
  # One 4x4 block: each row of four averages to (0+0+0+2)/4 = 0.5 -> 1, then 1.
  x = np.zeros((1, 4, 4, 1), np.uint8)
  x[0, :, 3, 0] = 2
  out = paired.box_downsample(jnp.asarray(image_lib.to_model(x)), 4)
  assert image_lib.to_uint8(np.asarray(out))[0, 0, 0, 0] == 1
  with pytest.raises(ValueError, match='divisible'):
    paired.box_downsample(jnp.zeros((1, 6, 6, 1)), 4)


def test_sobel_edges_of_a_square():
  x = -np.ones((1, 12, 12, 1), np.float32)
  x[0, 4:8, 4:8] = 1.0  # White square on black.
  mag = np.asarray(paired.sobel_magnitude(jnp.asarray(x)))[0]
  # A straight vertical step of height 1: gx = 1 + 2 + 1 = 4 -> 1 after scaling.
  assert mag[5, 4] == pytest.approx(1.0) and mag[5, 3] == pytest.approx(1.0)
  assert mag[0, 0] == 0 and mag[5, 5] == 0  # Flat regions.
  edges = np.asarray(paired.sobel_edges(jnp.asarray(x), 0.4))
  assert edges.shape == (1, 12, 12, 1) and set(np.unique(edges)) == {-1.0, 1.0}
  assert edges[0, 5, 3, 0] == 1 and edges[0, 5, 5, 0] == -1


def test_make_input_shapes_and_unknown_pairing():
  x = jnp.asarray(_digits(4))
  assert (
    paired.make_input(x, 'sr', 4).shape
    == (4, 8, 8, 1)
    == (4,) + paired.input_shape('sr', (32, 32, 1), 4)
  )
  assert paired.make_input(x, 'edges').shape == (4, 32, 32, 1)
  with pytest.raises(ValueError, match='Unknown pairing'):
    paired.make_input(x, 'colorize')


def test_bicubic_and_nearest_upsampling():
  u = image_lib.to_uint8(_digits(3))
  small = np.stack([np.asarray(Image.fromarray(im[..., 0]).resize((8, 8))) for im in u])[..., None]
  big = paired.bicubic_upsample(small, 32)
  expected = np.asarray(
    Image.fromarray(small[1, ..., 0]).resize((32, 32), Image.Resampling.BICUBIC)
  )
  np.testing.assert_array_equal(big[1, ..., 0], expected)
  near = paired.nearest_upsample(small, 4)
  assert near.shape == (3, 32, 32, 1) and np.all(near[:, ::4, ::4] == small)
  assert np.all(near[:, 3::4, 3::4] == small)
  with pytest.raises(TypeError):
    paired.bicubic_upsample(small.astype(np.float32), 32)
