r"""The feature classifier of the offline metrics (not a GAN): recipe and its accuracy.

A small strided CNN (gans/metrics/classifier.py) trained on the labelled digits the
GANs train on, preprocessed exactly as the GAN sees them (gans.data.load: resize to
image_size, float32 in [-1, 1]). Its 128-d penultimate layer and its class logits are
the feature space of fid_classifier, is_classifier, kid_classifier, mode_count, ... and of
the Stacked MNIST mode count (gans/metrics/stacked_mnist.py).

  python -m gans.metrics.classifier --config experiments/classifier.py \
      --workdir runs/classifier
  python -m gans.metrics.classifier --config experiments/classifier.py:dataset=digits \
      --workdir runs/classifier_digits

writes WORKDIR/classifier.msgpack (use it with --config.evals.samples.classifier_path=...) and
WORKDIR/classifier.json (held-out accuracy, training time). Runs need not do this by
hand: with config.evals.samples.classifier_path empty, evaluation trains this same recipe on
first use and caches it in ~/.cache/gans/classifiers/ (or $GANS_CACHE_DIR,
config.evals.samples.cache_dir).

Hardware: 2-core CPU; about 10 s for mnist5k, 5 s for digits (data loading included).
Held-out accuracy on a fixed stratified 20% of each class, measured with this recipe:
  mnist5k, 32x32: 0.970 (1,000 held-out digits of 5,000; train accuracy 0.999)
  digits,  32x32: 0.969 (359 held-out digits of 1,797)
Arguments: dataset (mnist5k | digits | a labelled TFDS dataset), image_size, epochs, seed,
runlocal (1 epoch, a smoke test).
"""

from gans import configs
from gans.metrics import classifier


def get_config(arg=None):
  arg = configs.parse_arg(arg, dataset='mnist5k', image_size=32, epochs=8, seed=0, runlocal=False)
  return classifier.recipe(
    dataset=arg.dataset,
    image_size=arg.image_size,
    epochs=1 if arg.runlocal else arg.epochs,
    seed=arg.seed,
  )
