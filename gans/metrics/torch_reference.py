"""pytorch-fid's FID InceptionV3 built without a download (needs torch, torchvision and
pytorch-fid; used by the `torch` tests and benchmarks/torch_inception.py).

`pytorch_fid.inception.fid_inception_v3()` builds torchvision's Inception3 with the FID
blocks and then downloads the weights; this builds the same modules and loads a local
weights file, or leaves the weights as initialised.
"""


def fid_inception_network(weights_path=None):
  """torchvision Inception3 (1008 classes, no aux head) with pytorch-fid's FID blocks."""
  import torch  # pylint: disable=g-import-not-at-top
  import torchvision  # pylint: disable=g-import-not-at-top
  from pytorch_fid import inception as fid  # pylint: disable=g-import-not-at-top

  net = torchvision.models.inception.Inception3(
    num_classes=1008, aux_logits=False, init_weights=False
  )
  net.Mixed_5b = fid.FIDInceptionA(192, pool_features=32)
  net.Mixed_5c = fid.FIDInceptionA(256, pool_features=64)
  net.Mixed_5d = fid.FIDInceptionA(288, pool_features=64)
  net.Mixed_6b = fid.FIDInceptionC(768, channels_7x7=128)
  net.Mixed_6c = fid.FIDInceptionC(768, channels_7x7=160)
  net.Mixed_6d = fid.FIDInceptionC(768, channels_7x7=160)
  net.Mixed_6e = fid.FIDInceptionC(768, channels_7x7=192)
  net.Mixed_7b = fid.FIDInceptionE_1(1280)
  net.Mixed_7c = fid.FIDInceptionE_2(2048)
  if weights_path:
    net.load_state_dict(torch.load(weights_path, map_location='cpu'))
  return net
