r"""Vector arithmetic on averaged latents (Radford et al. 2015, Sec. 6.3.2 and Fig. 7).

  python -m gans.analysis.arithmetic --config experiments/dcgan.py --workdir runs/dcgan \
      --a '7+' --b '7-' --c '1-' [--per_group 3 --candidates 2000 --seed 0]

Draws `candidates` latents, generates their images and sorts them into the three groups
a, b, c by a predicate of the image; averages the latents of the first `per_group` of
each group (the paper averages three exemplars: "experiments working on only single
samples per concept were unstable"), forms Y = mean_a - mean_b + mean_c, and decodes Y
and 8 neighbours Y + U(-0.25, 0.25)^d (the paper's uniform noise). A group is given as
  LABEL     images the run's feature network (the offline classifier for the digit
            datasets) labels LABEL; '*' for any label;
  LABEL+    of those, the ones brighter than their median (mean pixel value: on the
            white-on-black digits, more ink: thicker or larger strokes);
  LABEL-    the darker half.
So '7+' - '7-' + '1-' asks for "thick seven minus thin seven plus thin one", a thick one.
Writes WORKDIR/analysis/arithmetic.png, the DCGAN Fig. 7 layout turned on its side: rows
a, b, c hold the group's exemplars, a blank cell, then the decoded group mean; the last
three rows are the 3 x 3 result with decode(Y) in the centre. arithmetic.json holds the
groups (how many candidates matched, which were used), the classifier labels and the
brightness of the group means and of the results.
Conditional generators use one class for every image (--class_label, default 0).
"""

from absl import app
from absl import flags
from absl import logging
import jax
import numpy as np

from gans import errors
from gans.analysis import common
from gans.data import images as image_lib
from gans.train import loop


def brightness(images):
  """Mean pixel value in [0, 1] of float images [N, H, W, C] in [-1, 1] -> float64 [N]."""
  images = np.asarray(images, np.float64)
  return (images.reshape(len(images), -1).mean(1) + 1.0) / 2.0


def parse_group(spec):
  """'7', '7+', '7-', '*', '*+', '*-' -> (label int or None, '+' / '-' / '').

  Raises UserInputError for anything else.
  """
  text = str(spec).strip()
  sign = text[-1] if text[-1:] in ('+', '-') else ''
  label = text[: len(text) - len(sign)]
  if label == '*':
    return None, sign
  if not label.isdigit():
    raise errors.UserInputError(
      f'Group {spec!r}: use a class label, or * for any, optionally followed by + '
      "(brighter half) or - (darker half), e.g. '7+'."
    )
  return int(label), sign


def group_predicate(spec):
  """The predicate of a group spec (see the module docstring): a function
  (images float [N, H, W, C] in [-1, 1], outputs {'logits': [N, K], ...}) -> bool [N].

  The brighter/darker halves are split at the median brightness of the images with the
  label. Raises UserInputError for a bad spec, or (when called) for a label without
  logits from the feature network or outside its classes.
  """
  label, sign = parse_group(spec)

  def predicate(images, outputs):
    mask = np.ones(len(images), bool)
    if label is not None:
      logits = outputs.get('logits')
      if logits is None:
        raise errors.UserInputError(
          f'Group {spec!r} names a label, but the feature network gives no class logits.'
        )
      if label >= logits.shape[1]:
        raise errors.UserInputError(
          f'Group {spec!r}: label {label} is not one of the {logits.shape[1]} classes.'
        )
      mask = np.asarray(logits).argmax(1) == label
    if sign and mask.any():
      b = brightness(images)
      median = np.median(b[mask])
      mask &= (b > median) if sign == '+' else (b < median)
    return mask

  return predicate


def group_means(z, masks, per_group, names=None):
  """Means of the first `per_group` latents of each group.

  Args:
    z: float [N, d] latents.
    masks: bool [G, N], group g's members.
    per_group: latents averaged per group (>= 1).
    names: G names of the groups for messages (default 'group g').
  Returns:
    (means float64 [G, d], indices int [G, per_group]: the rows of z averaged).
  Raises:
    UserInputError: a group with fewer than per_group members (the message counts them).
  """
  z = np.asarray(z, np.float64)
  masks = np.asarray(masks, bool)
  indices = []
  names = names or [f'group {g}' for g in range(len(masks))]
  for name, mask in zip(names, masks):
    found = np.flatnonzero(mask)
    if len(found) < per_group:
      raise errors.UserInputError(
        f'{name} has {len(found)} members among {len(z)} candidates; {per_group} are '
        'averaged. Draw more candidates or choose another group.'
      )
    indices.append(found[:per_group])
  indices = np.stack(indices)
  return z[indices].mean(1), indices


def combine(means):
  """Y = a - b + c of group means [3, d] -> [d] (float64)."""
  a, b, c = np.asarray(means, np.float64)
  return a - b + c


def arithmetic(
  gen,
  predicates,
  net,
  candidates=2000,
  per_group=3,
  neighbours=8,
  noise_scale=0.25,
  seed=0,
  class_label=0,
  names=None,
):
  """Vector arithmetic a - b + c on the mean latents of three groups of samples.

  Args:
    gen: a `common.LatentGenerator`.
    predicates: three functions (images float [N, H, W, C], outputs of `net`) -> bool [N]
      choosing the members of groups a, b, c among the candidates (`group_predicate`
      makes them from specs; any function of the image works).
    net: the feature network whose outputs the predicates see.
    candidates: latents drawn (PRNGKey(seed)) and sorted into the groups.
    per_group: latents averaged per group.
    neighbours: decoded latents Y + U(-noise_scale, noise_scale)^d around Y.
    class_label: the class of every image of a conditional generator.
    names: the three groups' names in messages.
  Returns:
    dict: 'z' [N, d] candidates, 'indices' [3, per_group], 'means' [3, d], 'result' [d]
    (= Y), 'neighbourhood' [neighbours, d]; images float32 in [-1, 1]: 'exemplars'
    [3, per_group, H, W, C], 'mean_images' [3, H, W, C], 'result_images'
    [neighbours + 1, H, W, C] (index neighbours // 2 is decode(Y), the others its
    neighbours in order); 'matched' [3] candidates in each group; 'outputs' of `net` on
    the mean and result images.
  Raises:
    UserInputError: a group with fewer than per_group candidates.
  """
  if len(predicates) != 3:
    raise ValueError(f'Vector arithmetic takes three groups (a - b + c), got {len(predicates)}.')
  key_z, key_n = jax.random.split(jax.random.PRNGKey(seed))
  z = np.asarray(gen.draw(key_z, candidates), np.float64)
  y = np.full(candidates, class_label, np.int32) if gen.num_classes else None
  images = gen.decode(z, y)
  outs = common.outputs(net, images)
  masks = np.stack([np.asarray(p(images, outs), bool) for p in predicates])
  means, indices = group_means(z, masks, per_group, names)
  result = combine(means)
  noise = np.asarray(
    jax.random.uniform(key_n, (neighbours, z.shape[1]), minval=-noise_scale, maxval=noise_scale),
    np.float64,
  )
  around = result + noise
  centre = neighbours // 2
  latents = np.concatenate([around[:centre], result[None], around[centre:]])
  labels = (lambda n: np.full(n, class_label, np.int32)) if gen.num_classes else (lambda n: None)
  mean_images = gen.decode(means, labels(3))
  result_images = gen.decode(latents, labels(len(latents)))
  decoded = np.concatenate([mean_images, result_images])
  return dict(
    z=z,
    indices=indices,
    means=means,
    result=result,
    neighbourhood=around,
    exemplars=images[indices],
    mean_images=mean_images,
    result_images=result_images,
    matched=masks.sum(1),
    outputs=common.outputs(net, decoded),
  )


def figure(out):
  """The uint8 figure of an `arithmetic` result (layout in the module docstring)."""
  to8 = image_lib.to_uint8
  blank = np.zeros((1,) + out['mean_images'].shape[1:], np.uint8) + 255
  rows = [
    np.concatenate([to8(out['exemplars'][g]), blank, to8(out['mean_images'][g : g + 1])])
    for g in range(3)
  ]
  results = to8(out['result_images'])
  cols = int(np.ceil(np.sqrt(len(results))))
  rows += [results[i : i + cols] for i in range(0, len(results), cols)]
  return common.framed(rows)


def write_figure(
  config,
  workdir,
  groups=('7+', '7-', '1-'),
  per_group=3,
  candidates=2000,
  seed=0,
  class_label=0,
  use_ema=True,
):
  """Restores the latest checkpoint of `workdir`, runs `arithmetic` on the three group
  specs and writes analysis/arithmetic.png and arithmetic.json; returns the numbers.

  Raises MissingInputError without a checkpoint, UserInputError for a bad group spec, a
  group with too few candidates or a run without an explicit latent.
  """
  predicates = [group_predicate(g) for g in groups]  # Bad specs fail before restoring.
  exp, state = loop.restore_latest(config, workdir)
  gen = common.latent_generator(exp, state, use_ema)
  net = common.feature_network(exp.config, exp.dataset)
  names = [f'Group {n} ({g!r})' for n, g in zip('abc', groups)]
  out = arithmetic(
    gen, predicates, net, candidates, per_group, seed=seed, class_label=class_label, names=names
  )
  logits = out['outputs'].get('logits')
  labels = logits.argmax(1).tolist() if logits is not None else None
  bright = brightness(np.concatenate([out['mean_images'], out['result_images']]))
  centre = len(out['result_images']) // 2
  numbers = dict(
    step=int(state.step),
    groups=[
      dict(spec=str(s), matched=int(m), candidate_indices=i.tolist())
      for s, m, i in zip(groups, out['matched'], out['indices'])
    ],
    candidates=candidates,
    per_group=per_group,
    seed=seed,
    noise='uniform(-0.25, 0.25) per latent dimension',
    mean_labels=labels[:3] if labels else None,
    result_labels=labels[3:] if labels else None,
    result_centre_label=labels[3 + centre] if labels else None,
    mean_brightness=bright[:3].tolist(),
    result_brightness=bright[3:].tolist(),
    feature_network=net.name,
    protocol=dict(gen.protocol, **net.protocol),
  )
  if gen.num_classes:
    numbers['class_label'] = class_label
  out_dir = common.output_dir(workdir)
  common.write_png(f'{out_dir}/arithmetic.png', figure(out))
  common.write_json(f'{out_dir}/arithmetic.json', numbers)
  logging.info(
    'Wrote %s/arithmetic.png (step %d): %s - %s + %s, centre labelled %s',
    out_dir,
    numbers['step'],
    *groups,
    numbers['result_centre_label'],
  )
  return numbers


def define_flags():
  """The command's flags and main (defined only when run as a command)."""
  config, workdir = common.define_common_flags()
  a = flags.DEFINE_string('a', '7+', 'Group a of a - b + c (LABEL, *, with + or -).')
  b = flags.DEFINE_string('b', '7-', 'Group b.')
  c = flags.DEFINE_string('c', '1-', 'Group c.')
  per_group = flags.DEFINE_integer('per_group', 3, 'Latents averaged per group.')
  candidates = flags.DEFINE_integer('candidates', 2000, 'Latents drawn and sorted into groups.')
  seed = flags.DEFINE_integer('seed', 0, 'Seed of the candidates and the neighbourhood noise.')
  class_label = flags.DEFINE_integer('class_label', 0, 'Class of a conditional generator.')
  ema = flags.DEFINE_bool('ema', True, "Use the generator's EMA weights when the run keeps them.")

  def main(argv):
    del argv
    common.run_command(
      lambda: write_figure(
        config=config.value,
        workdir=workdir.value,
        groups=(a.value, b.value, c.value),
        per_group=per_group.value,
        candidates=candidates.value,
        seed=seed.value,
        class_label=class_label.value,
        use_ema=ema.value,
      )
    )

  return main


if __name__ == '__main__':
  app.run(define_flags())
