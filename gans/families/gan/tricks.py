"""Training tricks of the generic step, each behind a plain config switch.

The switches (defaults in `gans.configs.base_config`, all neutral):
- label_smoothing (Salimans et al. 2016, Sec. 3.4): one-sided; D's real target is
  1 - label_smoothing, the fake target stays 0.
- noisy_labels (ganhacks #6): real targets ~ U[0.7, 1.2], fake targets ~ U[0, 0.3],
  drawn per example and step.
- label_flip (ganhacks #6): each D target is swapped (real <-> fake) with this
  probability, per example and step.
- instance_noise, instance_noise_anneal_steps (Sonderby et al. 2017; Arjovsky &
  Bottou 2017): N(0, sigma^2) added to every input of D, real and fake, in D's and
  G's updates; sigma decays linearly from instance_noise to 0 over the anneal steps
  (0: constant).
- separate_batches (ganhacks #4): D sees real and fake in separate calls (True) or
  in one concatenated batch (False; matters only with batch norm in D).
- pack (PacGAN, Lin et al. 2018): D judges m samples at once; `pack` reshapes the
  batch [B, ...] to [B/m, ...] with the m samples concatenated (features of vectors,
  channels of images), so config.batch_size counts samples and D sees B/m examples.
The label tricks apply to the losses with targets (losses.LABEL_LOSSES); G's loss
keeps the hard targets (one-sided smoothing, as in the paper).
"""

import dataclasses

import jax
import jax.numpy as jnp

NOISY_REAL = (0.7, 1.2)
NOISY_FAKE = (0.0, 0.3)


@dataclasses.dataclass(frozen=True)
class Tricks:
  label_smoothing: float = 0.0
  noisy_labels: bool = False
  label_flip: float = 0.0
  instance_noise: float = 0.0
  instance_noise_anneal_steps: int = 0
  separate_batches: bool = True
  pack: int = 1

  @classmethod
  def from_config(cls, config):
    fields = {f.name: f.default for f in dataclasses.fields(cls)}
    return cls(**{k: type(v)(config.get(k, v)) for k, v in fields.items()})

  @property
  def uses_labels(self):
    return self.label_smoothing > 0 or self.noisy_labels or self.label_flip > 0


def pack(x, m):
  """Concatenates groups of m consecutive samples: [B, ...] -> [B/m, ...].

  Vectors [B, d] -> [B/m, m*d]; images [B, H, W, C] -> [B/m, H, W, m*C] (PacGAN's
  channel concatenation); other ranks concatenate along the last axis too.
  """
  if m == 1:
    return x
  b = x.shape[0]
  if b % m:
    raise ValueError(f'Cannot pack a batch of {b} into groups of {m}.')
  x = x.reshape((b // m, m) + x.shape[1:])
  x = jnp.moveaxis(x, 1, -2)  # [B/m, ..., m, C]
  return x.reshape(x.shape[:-2] + (m * x.shape[-1],))


def unpack(x, m):
  """Inverse of `pack`."""
  if m == 1:
    return x
  x = x.reshape(x.shape[:-1] + (m, x.shape[-1] // m))
  x = jnp.moveaxis(x, -2, 1)
  return x.reshape((x.shape[0] * m,) + x.shape[2:])


def instance_noise_std(tricks, step):
  """sigma at generator step `step`: linear decay to 0 over the anneal steps."""
  sigma = jnp.asarray(tricks.instance_noise, jnp.float32)
  if tricks.instance_noise_anneal_steps > 0:
    frac = jnp.asarray(step, jnp.float32) / tricks.instance_noise_anneal_steps
    sigma = sigma * jnp.clip(1.0 - frac, 0.0, 1.0)
  return sigma


def add_instance_noise(tricks, key, x, step):
  if tricks.instance_noise <= 0:
    return x
  return x + instance_noise_std(tricks, step) * jax.random.normal(key, x.shape, x.dtype)


def discriminator_labels(tricks, key, n):
  """D's targets for n real and n fake examples: (real [n], fake [n]) or scalars."""
  if not tricks.uses_labels:
    return 1.0, 0.0
  noise_key, flip_key = jax.random.split(key)
  if tricks.noisy_labels:
    rk, fk = jax.random.split(noise_key)
    real = jax.random.uniform(rk, (n,), jnp.float32, *NOISY_REAL)
    fake = jax.random.uniform(fk, (n,), jnp.float32, *NOISY_FAKE)
  else:
    real = jnp.full((n,), 1.0 - tricks.label_smoothing, jnp.float32)
    fake = jnp.zeros((n,), jnp.float32)
  if tricks.label_flip > 0:
    flip = jax.random.bernoulli(flip_key, tricks.label_flip, (2, n))
    real, fake = jnp.where(flip[0], fake, real), jnp.where(flip[1], real, fake)
  return real, fake
