"""ADA: adaptive discriminator augmentation, Karras et al. 2020, "Training Generative
Adversarial Networks with Limited Data" (stylegan2-ada-pytorch, training/augment.py and
the p heuristic of training/training_loop.py).

Every image D sees (real or generated) goes through one pipeline; each transform is
applied to an image with probability p (times the transform's strength, 1 in every
pipeline here), its parameters drawn per image. Images are NHWC floats in [-1, 1],
square, 1 or 3 channels. In the order of application:

pixel blitting (exact integer pixel maps, mirror padding)
  xflip      flip left-right, with probability 1/2 once selected
  rotate90   rotation by k * 90 degrees, k uniform in {0, 1, 2, 3}
  xint       integer translation, U(-0.125, 0.125) of the size per axis, rounded
general geometric (one bilinear resampling, mirror padding)
  scale      isotropic, 2^N(0, 0.2^2)
  rotate     arbitrary, U(-180, 180) degrees; applied before and after the
             anisotropic scaling, each with 1 - sqrt(1 - p) (so p in all)
  aniso      anisotropic, x by s and y by 1/s, s = 2^N(0, 0.2^2)
  xfrac      fractional translation, N(0, 0.125^2) of the size per axis
colour (one 4x4 matrix on homogeneous RGB)
  brightness + N(0, 0.2^2)
  contrast   x 2^N(0, 0.5^2)
  lumaflip   Householder reflection across the luma axis, with probability 1/2
  hue        rotation about the luma axis, U(-180, 180) degrees (RGB only)
  saturation deviation from the luma axis x 2^N(0, 1) (RGB only)
Grayscale images take the mean row of the RGB matrix, as the reference does.

Two departures from the reference, both stated in docs/augmentation.md: the
geometric group resamples bilinearly at the image's own resolution (the reference
upsamples 2x with a sym6 wavelet filter first, against aliasing), and the blitting
group is executed on its own before it, exactly (the reference composes both into
one resampling; they agree except where a geometric transform reaches past the
mirror-padded border).

The p heuristic: r_t = E[sign(D(x_real))] over the reals D judged since the last
adjustment; every `interval` steps p += sign(r_t - target) * (images judged) /
(kimg * 1000), clipped to [0, 1], so p can cross [0, 1] in `kimg` thousand images.
"""

import math

import jax
import jax.numpy as jnp

# Probability multipliers of the reference's pipelines (its `augpipe` names).
_BLIT = ('xflip', 'rotate90', 'xint')
_GEOM = ('scale', 'rotate', 'aniso', 'xfrac')
_COLOR = ('brightness', 'contrast', 'lumaflip', 'hue', 'saturation')
PIPELINES = {
  'blit': _BLIT,
  'geom': _GEOM,
  'color': _COLOR,
  'bg': _BLIT + _GEOM,
  'bgc': _BLIT + _GEOM + _COLOR,
}
# The reference's ranges.
XINT_MAX = 0.125
SCALE_STD = 0.2
ROTATE_MAX = 1.0
ANISO_STD = 0.2
XFRAC_STD = 0.125
BRIGHTNESS_STD = 0.2
CONTRAST_STD = 0.5
HUE_MAX = 1.0
SATURATION_STD = 1.0
MODES = ('off', 'fixed', 'adaptive')


def parse_pipeline(name, key='config.ada.pipeline'):
  """'bgc' -> the tuple of its transform names; ValueError naming `key` if unknown."""
  if name not in PIPELINES:
    raise ValueError(f'{key}={name!r} is not an ADA pipeline; known: {", ".join(PIPELINES)}.')
  return PIPELINES[name]


def _chosen(key, n, p, shape=()):
  """[n, *shape] bool: True with probability p (p may be traced)."""
  return jax.random.uniform(key, (n,) + shape) < p


def _mirror(i, size):
  """Integer indices mirrored into [0, size) without repeating the edge (torch 'reflect')."""
  if size == 1:
    return jnp.zeros_like(i)
  period = 2 * (size - 1)
  i = jnp.mod(i, period)
  return jnp.where(i > size - 1, period - i, i)


def _gather(x, rows, cols):
  """x [N, H, W, C] read at integer rows, cols [N, H, W] (already inside the image)."""
  n, h, w, c = x.shape
  flat = x.reshape(n, h * w, c)
  idx = (rows * w + cols).reshape(n, h * w, 1)
  return jnp.take_along_axis(flat, idx, axis=1).reshape(n, h, w, c)


def _centred_grid(size, doubled=False):
  """Pixel centres relative to the image centre: j - (size - 1) / 2 (times 2 if doubled)."""
  j = jnp.arange(size)
  return 2 * j - (size - 1) if doubled else j - (size - 1) / 2.0


def blit(x, flip, quarter_turns, tx, ty):
  """Exact pixel blitting: out(p) = x(F R (p - t)) with mirror padding.

  The reference's inverse map G_inv = scale2d_inv(1 - 2 flip, 1) @ rotate2d_inv(-pi/2
  k) @ translate2d_inv(t), in coordinates centred on the image; quarter_turns = k turns
  the image as np.rot90(image, k) does (counter-clockwise as displayed), and a positive
  tx (ty) moves the content right (down).

  Args:
    x: [N, S, S, C] float, square images.
    flip: [N] int32 0/1; quarter_turns: [N] int32 in 0..3; tx, ty: [N] int32 pixels.
  Returns:
    [N, S, S, C], differentiable in x.
  """
  n, h, w, _ = x.shape
  # Doubled centred coordinates are odd (even sizes) or even integers: exact arithmetic.
  ys = jnp.broadcast_to(_centred_grid(h, True)[None, :, None], (n, h, w))
  xs = jnp.broadcast_to(_centred_grid(w, True)[None, None, :], (n, h, w))
  xs = xs - 2 * tx[:, None, None]
  ys = ys - 2 * ty[:, None, None]
  k = quarter_turns[:, None, None]
  # rotate2d(pi/2 k) applied to (x, y): k=1 -> (-y, x), 2 -> (-x, -y), 3 -> (y, -x).
  rx = jnp.select([k == 0, k == 1, k == 2], [xs, -ys, -xs], ys)
  ry = jnp.select([k == 0, k == 1, k == 2], [ys, xs, -ys], -xs)
  rx = jnp.where(flip[:, None, None] == 1, -rx, rx)
  cols = _mirror((rx + (w - 1)) // 2, w)
  rows = _mirror((ry + (h - 1)) // 2, h)
  return _gather(x, rows, cols)


def _translate(tx, ty):
  one, zero = jnp.ones_like(tx), jnp.zeros_like(tx)
  return jnp.stack(
    [
      jnp.stack([one, zero, tx], -1),
      jnp.stack([zero, one, ty], -1),
      jnp.stack([zero, zero, one], -1),
    ],
    -2,
  )


def _scale(sx, sy):
  zero, one = jnp.zeros_like(sx), jnp.ones_like(sx)
  return jnp.stack(
    [
      jnp.stack([sx, zero, zero], -1),
      jnp.stack([zero, sy, zero], -1),
      jnp.stack([zero, zero, one], -1),
    ],
    -2,
  )


def _rotate(theta):
  c, s = jnp.cos(theta), jnp.sin(theta)
  zero, one = jnp.zeros_like(theta), jnp.ones_like(theta)
  return jnp.stack(
    [jnp.stack([c, -s, zero], -1), jnp.stack([s, c, zero], -1), jnp.stack([zero, zero, one], -1)],
    -2,
  )


def resample(x, g_inv):
  """Bilinear resampling out(p) = x(g_inv p) with mirror padding.

  Args:
    x: [N, H, W, C] float.
    g_inv: [N, 3, 3] homogeneous maps from output to input pixel coordinates, both
      centred on the image (pixel j at j - (size - 1) / 2; x is the column, y the row).
  Returns:
    [N, H, W, C], differentiable in x (and in g_inv almost everywhere). The identity
    matrix returns x exactly.
  """
  n, h, w, _ = x.shape
  ys, xs = jnp.meshgrid(_centred_grid(h), _centred_grid(w), indexing='ij')
  points = jnp.stack([xs, ys, jnp.ones_like(xs)], 0).reshape(3, h * w)
  src = jnp.einsum('nij,jp->nip', g_inv.astype(jnp.float32), points)  # [N, 3, HW]
  col = (src[:, 0] + (w - 1) / 2.0).reshape(n, h, w)
  row = (src[:, 1] + (h - 1) / 2.0).reshape(n, h, w)
  c0, r0 = jnp.floor(col), jnp.floor(row)
  fc, fr = (col - c0)[..., None], (row - r0)[..., None]
  c0, r0 = c0.astype(jnp.int32), r0.astype(jnp.int32)

  def at(r, c):
    return _gather(x, _mirror(r, h), _mirror(c, w))

  top = at(r0, c0) * (1 - fc) + at(r0, c0 + 1) * fc
  bottom = at(r0 + 1, c0) * (1 - fc) + at(r0 + 1, c0 + 1) * fc
  return (top * (1 - fr) + bottom * fr).astype(x.dtype)


def _luma_axis():
  return jnp.array([1.0, 1.0, 1.0, 0.0]) / math.sqrt(3.0)


def _rotate_about(v, theta):
  """[N, 4, 4] rotation by theta [N] about the unit axis v [4] (Rodrigues)."""
  vx, vy, vz = v[0], v[1], v[2]
  c, s = jnp.cos(theta), jnp.sin(theta)
  cc = 1 - c
  zero, one = jnp.zeros_like(theta), jnp.ones_like(theta)
  rows = [
    [vx * vx * cc + c, vx * vy * cc - vz * s, vx * vz * cc + vy * s, zero],
    [vy * vx * cc + vz * s, vy * vy * cc + c, vy * vz * cc - vx * s, zero],
    [vz * vx * cc - vy * s, vz * vy * cc + vx * s, vz * vz * cc + c, zero],
    [zero, zero, zero, one],
  ]
  return jnp.stack([jnp.stack(r, -1) for r in rows], -2)


def apply_color(x, c):
  """Applies homogeneous colour matrices c [N, 4, 4] to x [N, H, W, C], C in {1, 3}.

  RGB: out = C[:3, :3] rgb + C[:3, 3]. Grayscale: the mean of the three rows, out =
  sum(row[:3]) * v + row[3] (stylegan2-ada's rule).
  """
  channels = x.shape[-1]
  if channels == 3:
    return jnp.einsum('nij,nhwj->nhwi', c[:, :3, :3], x) + c[:, None, None, :3, 3]
  row = jnp.mean(c[:, :3, :], axis=1)  # [N, 4]
  return x * jnp.sum(row[:, :3], axis=1)[:, None, None, None] + row[:, None, None, 3:]


def augment(key, x, p, pipeline='bgc'):
  """The ADA pipeline on a batch, each transform with probability p per image.

  Args:
    key: PRNG key.
    x: [N, S, S, C] float images in [-1, 1], square, C in {1, 3}.
    p: scalar probability in [0, 1] (float or traced); p = 0 returns x exactly.
    pipeline: a PIPELINES name or a tuple of its transform names.
  Returns:
    [N, S, S, C] of x's dtype, differentiable in x.
  Raises:
    ValueError: x is not a batch of square 1- or 3-channel images; unknown pipeline.
  """
  ops = parse_pipeline(pipeline) if isinstance(pipeline, str) else tuple(pipeline)
  if x.ndim != 4 or x.shape[1] != x.shape[2] or x.shape[3] not in (1, 3):
    raise ValueError(
      f'ADA needs square 1- or 3-channel images [N, S, S, C]; got shape {tuple(x.shape)}.'
    )
  n, size = x.shape[0], x.shape[1]
  keys = iter(jax.random.split(key, 32))
  p = jnp.asarray(p, jnp.float32)

  def draw(value, neutral):
    """`value` per image where its transform is selected (probability p), else `neutral`."""
    return jnp.where(_chosen(next(keys), n, p), value, neutral)

  def uniform(low, high, shape=()):
    return jax.random.uniform(next(keys), (n,) + shape, jnp.float32, low, high)

  def normal(shape=()):
    return jax.random.normal(next(keys), (n,) + shape, jnp.float32)

  # Pixel blitting.
  if set(ops) & set(_BLIT):
    zeros = jnp.zeros((n,), jnp.int32)
    flip = zeros
    if 'xflip' in ops:
      flip = draw(jax.random.randint(next(keys), (n,), 0, 2), zeros)
    turns = zeros
    if 'rotate90' in ops:
      turns = draw(jax.random.randint(next(keys), (n,), 0, 4), zeros)
    tx = ty = zeros
    if 'xint' in ops:
      t = jnp.round(uniform(-XINT_MAX, XINT_MAX, (2,)) * size).astype(jnp.int32)
      t = jnp.where(_chosen(next(keys), n, p, (1,)), t, 0)
      tx, ty = t[:, 0], t[:, 1]
    x = blit(x, flip, turns, tx, ty)

  # General geometric transformations, composed as the reference's G_inv.
  if set(ops) & set(_GEOM):
    ones, zeros = jnp.ones((n,)), jnp.zeros((n,))
    g_inv = jnp.broadcast_to(jnp.eye(3), (n, 3, 3))
    if 'scale' in ops:
      s = draw(jnp.exp2(normal() * SCALE_STD), ones)
      g_inv = g_inv @ _scale(1 / s, 1 / s)
    p_rot = 1 - jnp.sqrt(jnp.clip(1 - p, 0, 1))
    if 'rotate' in ops:
      theta = uniform(-math.pi * ROTATE_MAX, math.pi * ROTATE_MAX)
      theta = jnp.where(_chosen(next(keys), n, p_rot), theta, zeros)
      g_inv = g_inv @ _rotate(theta)
    if 'aniso' in ops:
      s = draw(jnp.exp2(normal() * ANISO_STD), ones)
      g_inv = g_inv @ _scale(1 / s, s)
    if 'rotate' in ops:
      theta = uniform(-math.pi * ROTATE_MAX, math.pi * ROTATE_MAX)
      theta = jnp.where(_chosen(next(keys), n, p_rot), theta, zeros)
      g_inv = g_inv @ _rotate(theta)
    if 'xfrac' in ops:
      t = normal((2,)) * XFRAC_STD
      t = jnp.where(_chosen(next(keys), n, p, (1,)), t, 0.0) * size
      g_inv = g_inv @ _translate(-t[:, 0], -t[:, 1])
    x = resample(x, g_inv)

  # Colour transformations: C @ [r, g, b, 1].
  if set(ops) & set(_COLOR):
    eye = jnp.eye(4)
    c = jnp.broadcast_to(eye, (n, 4, 4))
    v = _luma_axis()
    vv = jnp.outer(v, v)
    ones, zeros = jnp.ones((n,)), jnp.zeros((n,))
    if 'brightness' in ops:
      b = draw(normal() * BRIGHTNESS_STD, zeros)
      shift = jnp.zeros((n, 4, 4)).at[:, :3, 3].set(b[:, None])
      c = (eye + shift) @ c
    if 'contrast' in ops:
      k = draw(jnp.exp2(normal() * CONTRAST_STD), ones)
      c = jnp.stack([k, k, k, ones], -1)[:, :, None] * c  # scale3d(k, k, k) @ c
    if 'lumaflip' in ops:
      i = draw(jax.random.randint(next(keys), (n,), 0, 2).astype(jnp.float32), zeros)
      c = (eye - 2 * vv * i[:, None, None]) @ c
    if x.shape[-1] > 1 and 'hue' in ops:
      theta = draw(uniform(-math.pi * HUE_MAX, math.pi * HUE_MAX), zeros)
      c = _rotate_about(v, theta) @ c
    if x.shape[-1] > 1 and 'saturation' in ops:
      s = draw(jnp.exp2(normal() * SATURATION_STD), ones)
      c = (vv + (eye - vv) * s[:, None, None]) @ c
    x = apply_color(x, c.astype(x.dtype)).astype(x.dtype)
  return x


def adjust_p(p, sign_sum, count, target, kimg):
  """One step of the p heuristic (stylegan2-ada training_loop.py).

  Args:
    p: scalar float32, the current probability.
    sign_sum: scalar, sum of sign(D(x_real)) over the reals judged since the last call.
    count: scalar, how many reals that was (> 0).
    target: r_t target (the paper's 0.6).
    kimg: thousands of images for p to move by 1 (the paper's 500).
  Returns:
    (new p clipped to [0, 1], r_t = sign_sum / count), float32 scalars.
  """
  count = jnp.maximum(jnp.asarray(count, jnp.float32), 1.0)
  r_t = jnp.asarray(sign_sum, jnp.float32) / count
  new_p = p + jnp.sign(r_t - target) * count / (kimg * 1000.0)
  return jnp.clip(new_p, 0.0, 1.0).astype(jnp.float32), r_t
