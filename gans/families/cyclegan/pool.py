"""The image history buffer of CycleGAN (Shrivastava et al. 2017; Zhu et al. 2017, Sec. 4).

The discriminators are updated with a history of generated images rather than only the
latest ones, to reduce model oscillation. The reference code's `ImagePool`
(junyanz/pytorch-CycleGAN-and-pix2pix, util/image_pool.py) decides per image, in batch
order: while fewer than `size` images are stored, the new image is stored and
returned; once the buffer is full, with probability 0.5 a uniformly drawn stored image
is returned and replaced by the new one, else the new image is returned (the buffer
unchanged). This is that rule in JAX, as a `lax.scan` over the batch inside the
jitted step: the buffer and its fill count live in `TrainState.extras` (so they are
checkpointed and a resumed run draws exactly what an uninterrupted one draws), and
the randomness comes from a key the step derives from the state's key and step.
"""

import jax
import jax.numpy as jnp


def init(size, image_shape):
  """An empty pool: {'images': float32 zeros [size, *image_shape], 'count': int32 0}.

  Args:
    size: int >= 0, images kept (50 in the paper; 0 disables the pool).
    image_shape: (H, W, C) of the images.
  """
  return dict(
    images=jnp.zeros((int(size),) + tuple(image_shape), jnp.float32),
    count=jnp.zeros((), jnp.int32),
  )


def query(pool, images, key):
  """Stores `images` in `pool` and returns the images for the discriminator (module doc).

  Args:
    pool: {'images': float32 [size, H, W, C], 'count': int32 []} (`init`).
    images: float32 [B, H, W, C], the newly generated images (gradients stopped).
    key: PRNG key; image i uses split(key, B)[i] (one uniform draw for "return a
      stored one?", one integer for which).

  Returns:
    (new pool, float32 [B, H, W, C]). With size 0, (pool, images) unchanged.
  """
  size = pool['images'].shape[0]
  images = jax.lax.stop_gradient(images)
  if size == 0:
    return pool, images
  keys = jax.random.split(key, images.shape[0])

  def one(carry, inputs):
    buffer, count = carry
    image, k = inputs
    k_coin, k_slot = jax.random.split(k)
    full = count >= size
    swap = full & (jax.random.uniform(k_coin) > 0.5)
    slot = jnp.where(full, jax.random.randint(k_slot, (), 0, size), count)
    stored = buffer[slot]
    out = jnp.where(swap, stored, image)
    buffer = buffer.at[slot].set(jnp.where(full & ~swap, stored, image))
    return (buffer, count + jnp.where(full, 0, 1).astype(count.dtype)), out

  (buffer, count), out = jax.lax.scan(one, (pool['images'], pool['count']), (images, keys))
  return dict(images=buffer, count=count), out
