"""Feature spaces for SRGAN's content loss: VGG16 when its weights are given, else the
offline digit classifier.

Ledig et al. 2017, Sec. 2.2.1: the content loss is the mean squared difference of
the feature maps phi(G(x)) and phi(y) of a fixed pretrained network (VGG19's phi_5,4,
"after activation"; their feature maps rescaled by 1/12.75). Here:

  VGG16 (`config.vgg_weights`: torchvision's vgg16-397923af.pth, gans.metrics.vgg16):
      one of relu1_2, relu2_2, relu3_3, relu4_3, relu5_3 (`config.content_layer`; relu5_3
      is the closest to the paper's VGG19 phi_5,4), on images mapped to [0, 1], gray ones
      repeated to RGB, ImageNet-normalised as torchvision expects.
  Offline classifier (gans.metrics.classifier, the network of fid_classifier, but
      trained with seed `config.content_classifier_seed` = 1 where fid_classifier's has
      seed 0, so that the generator is not trained against the very features it is
      evaluated in; `config.classifier_path` instead names any classifier file; the
      recipe is trained once on first use, 10-15 s, and cached): conv0, conv1, conv2
      (its three stride-2 convolutions, 16/32/64 channels at 1/2, 1/4, 1/8 of the
      side) or features (the 128-d penultimate layer), each after its ReLU, on the
      model-space image.

Either way the network is fixed (not trained, not in the train state: its weights
are closed over by the step) and differentiable in its input.
"""

import os

import jax
import jax.numpy as jnp

from gans import errors
from gans.metrics import classifier as classifier_lib
from gans.metrics import vgg16

CLASSIFIER_LAYERS = ('conv0', 'conv1', 'conv2', 'features')


def _classifier(config):
  path = config.get('classifier_path', '')
  if path:
    if not os.path.exists(path):
      raise errors.MissingInputError(f'config.classifier_path={path!r} does not exist.')
    return classifier_lib.load(path)
  r = classifier_lib.recipe(
    dataset=config.dataset,
    image_size=config.image_size,
    data_dir=config.get('data_dir', ''),
    seed=int(config.get('content_classifier_seed', 1)),
  )
  return classifier_lib.get_or_train(r, config.get('cache_dir', '') or None)


def feature_fn(config, image_shape):
  """(features(images) -> float32 array, protocol dict) for `config.content_layer`.

  `images` are model-space float32 [B, H, W, C] in [-1, 1] of `image_shape`.

  Raises:
    UserInputError: an unknown layer for the chosen network, images the network does
      not take (the classifier's own shape; VGG's 16x16 minimum).
    MissingInputError: a weights or classifier file that does not exist.
  """
  layer = config.content_layer
  if config.get('vgg_weights', ''):
    if layer not in vgg16.FEATURE_MAPS:
      raise errors.UserInputError(
        f'config.content_layer={layer!r}: with config.vgg_weights use one of '
        f'{", ".join(vgg16.FEATURE_MAPS)}.'
      )
    if min(image_shape[:2]) < vgg16.MIN_SIZE or image_shape[-1] not in (1, 3):
      raise errors.UserInputError(
        f'VGG16 content features need 1 or 3 channels and sides >= {vgg16.MIN_SIZE}; '
        f'the targets are {tuple(image_shape)}.'
      )
    # The convolutions only: fc1/fc2 (470 MB of the file) are not needed, so a
    # features-only state dict is accepted too.
    path, state_dict = vgg16.read_weights(
      config.vgg_weights, 'config.vgg_weights', vgg16.DOWNLOAD_HINT
    )
    variables = vgg16.variables_from_state_dict(state_dict, source=path, include_classifier=False)
    vgg16.warn_if_not_official(path)
    params = jax.tree.map(jnp.asarray, variables['params']['features'])
    net = vgg16.VGG16Features()

    def vgg_features(images):
      x = (images + 1.0) / 2.0
      if x.shape[-1] == 1:
        x = jnp.repeat(x, 3, axis=-1)
      return net.apply({'params': params}, vgg16.imagenet_normalize(x))[layer]

    protocol = dict(content_network='vgg16', content_layer=layer, vgg16_weights=path)
    return vgg_features, protocol
  if layer not in CLASSIFIER_LAYERS:
    raise errors.UserInputError(
      f'config.content_layer={layer!r}: the offline classifier has {", ".join(CLASSIFIER_LAYERS)}'
      ' (VGG16 layers need config.vgg_weights).'
    )
  clf = _classifier(config)
  if tuple(clf.image_shape) != tuple(image_shape):
    raise errors.UserInputError(
      f'The content classifier takes images of shape {clf.image_shape}; the targets are '
      f'{tuple(image_shape)} (set config.classifier_path to one trained on them).'
    )
  module, params = clf.module, jax.tree.map(jnp.asarray, clf.params)

  def classifier_features(images):
    _, state = module.apply(
      {'params': params},
      images,
      capture_intermediates=lambda mdl, _: mdl.name == layer,
      mutable=['intermediates'],
    )
    out = state['intermediates'][layer]['__call__'][0]
    return jax.nn.relu(out)

  protocol = dict(
    content_network='classifier',
    content_layer=layer,
    **{f'content_{k}': v for k, v in clf.protocol().items()},
  )
  return classifier_features, protocol
