"""torchvision's published ImageNet weights for the bundled networks that equal torchvision's:
`--weights torchvision` (or `imagenet`, the same).

The bundled files of these networks define torchvision's parameters and buffers in torchvision's
order, so its state_dicts place by structure (exchange.weights.by_structure) onto them and give
torchvision's logits (benchmarks/torchvision_reference.py checked each against torchvision
itself, and `shapes_digest` keeps the proof: the digest of torchvision's tensors' shapes, in
order, which tests compare with each bundled network's). torchvision is not needed: the file is
fetched by torch.hub's download into its cache, with the hash check torch.hub does on the hash
prefix in the file's name, and a file already there is used without the network, after the
same check.

The weights are IMAGENET1K_V1 (the first published): images normalised with ImageNet's mean
and std, each evaluated with its shorter side resized to 256 (ConvNeXt's: 236), then the
centre 224x224 (the evaluation recipe of photos, cnnctl.data.loader's `centre`).
"""

from __future__ import annotations

import hashlib
import os
import sys
from collections.abc import Mapping

from ..errors import CnnctlError, Loc
from ..records import record
from .weights import COUNTERS, shape_of

SOURCES = ("torchvision", "imagenet")  # what --weights takes for these weights: two names, one thing
IMAGENET_MEAN = (0.485, 0.456, 0.406)  # of pixel values / 255, per RGB channel: what they were trained with
IMAGENET_STD = (0.229, 0.224, 0.225)
IMAGENET_ORIGIN = "torchvision's ImageNet weights"  # where those statistics come from (data.stats.Stats.origin)
CLASSES_FILE = "imagenet_classes.txt"  # in cnnctl/data/: torchvision's class names, in its index order
CROP = 224  # the side of the centre crop every network here was evaluated on


@record
class Pretrained:
    """One network's published weights: where, and the structure they fit."""

    url: str  # the file name ends in `-HASH.pth`: the prefix of its SHA-256 that torch.hub checks
    shapes: str  # shapes_digest of cnnctl's network: the structure they were checked to place onto
    resize: int = 256  # evaluated with the shorter side resized to this, then the centre CROP x CROP

    @property
    def crop_share(self) -> float:
        """The centre crop's share of the resized shorter side (cnnctl.data.decode.centre_box)."""
        return CROP / self.resize


# Written by benchmarks/torchvision_reference.py from torchvision 0.29.1 (its IMAGENET1K_V1
# weights), for the networks whose logits equal torchvision's with its weights placed by
# structure (bit for bit, every tensor random; MobileNetV3's within 2e-5 of the largest logit:
# its hard-swish is computed in another order; ConvNeXt's within 3e-7, its blocks' layer scale
# taken ahead of its turn and its Linear layers as 1x1 convolutions). Not here: lenet5, alexnet
# and googlenet (the course's and the paper's versions, not torchvision's: the paper's
# GoogLeNet has no batch norm); inception_v3, whose file now holds torchvision's auxiliary
# head (AuxLogits) in its place in the order, but whose weights are evaluated on 299x299
# crops (from 342) with torchvision's transform_input, not the CROP here.
# fmt: off
HUB = "https://download.pytorch.org/models/"
TORCHVISION = {
    "vgg16": Pretrained(HUB + "vgg16-397923af.pth", "7175e65bdb98bfcc"),
    "resnet18": Pretrained(HUB + "resnet18-f37072fd.pth", "1559b62731916064"),
    "resnet34": Pretrained(HUB + "resnet34-b627a593.pth", "7012e73d52fbf84b"),
    "resnet50": Pretrained(HUB + "resnet50-0676ba61.pth", "b141acd4a0e00e84"),
    "resnet101": Pretrained(HUB + "resnet101-63fe2227.pth", "9cf4e45b1c20ccf1"),
    "resnet152": Pretrained(HUB + "resnet152-394f9c45.pth", "87deeff10e1cf186"),
    "densenet121": Pretrained(HUB + "densenet121-a639ec97.pth", "7451ee3de2b3c6af"),
    "resnext50_32x4d": Pretrained(HUB + "resnext50_32x4d-7cdf4587.pth", "c652efffa14caa8a"),
    "mobilenet_v2": Pretrained(HUB + "mobilenet_v2-b0353104.pth", "0deae07638e10260"),
    "shufflenet_v2_x1_0": Pretrained(HUB + "shufflenetv2_x1-5666bf0f80.pth", "1f1e2074a07b1cc5"),
    "mobilenet_v3_large": Pretrained(HUB + "mobilenet_v3_large-8738ca79.pth", "6eb39f2abb915710"),
    "efficientnet_b0": Pretrained(HUB + "efficientnet_b0_rwightman-7f5810bc.pth", "e78618e9c4624d6e"),
    "convnext_tiny": Pretrained(HUB + "convnext_tiny-983f1562.pth", "fc3987a8d6111b3e", resize=236),
}
# fmt: on


def is_pretrained(weights: str | None) -> bool:
    """Whether a --weights value names torchvision's ImageNet weights rather than a file."""
    return weights in SOURCES


def shapes_digest(state: Mapping[str, object]) -> str:
    """The first 16 hex digits of the SHA-256 of the shapes of `state`'s tensors in order, batch
    norm's step counters aside: equal for two state_dicts that place onto each other by structure."""
    # not format_shape: a digest is not wording, and a stored one stays equal (a scalar's shape is "")
    shapes = ";".join("x".join(map(str, shape_of(v))) for name, v in state.items() if not name.endswith(COUNTERS))
    return hashlib.sha256(shapes.encode()).hexdigest()[:16]


def published(network: str) -> Pretrained:
    """The published weights of the bundled network `network`; one message listing those there are otherwise."""
    if network in TORCHVISION:
        return TORCHVISION[network]
    raise CnnctlError.at(
        f"torchvision publishes no ImageNet weights for `{network}` that fit cnnctl's network",
        hint=f"--weights torchvision (or imagenet) is for the bundled {', '.join(TORCHVISION)}; or give a weights file",
    )


def cached_file(url: str) -> str:
    """Where torch.hub keeps the file of `url`: $TORCH_HOME/hub/checkpoints/NAME."""
    import torch.hub

    return os.path.join(torch.hub.get_dir(), "checkpoints", os.path.basename(url))


def _hash_prefix(url: str) -> str:
    """The hex digits between '-' and the extension in the file's name: the start of its SHA-256
    (torch.hub's HASH_REGEX, which its check_hash and download use)."""
    import torch.hub

    return torch.hub.HASH_REGEX.search(os.path.basename(url)).group(1)


def _check_cached(path: str, prefix: str) -> None:
    """A file already in the cache is checked as the download is: its SHA-256 begins with
    `prefix`. Hashed each time it is used (about 1 GB/s, 0.2 s for ResNet-50's 98 MB,
    0.6 s for VGG-16's 528 MB; loading it reads the whole file anyway), no record kept."""
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            while chunk := f.read(1 << 20):
                digest.update(chunk)
    except OSError as exc:
        raise CnnctlError.at(f"cannot read the cached download: {exc.strerror or exc}", Loc(path)) from None
    if not digest.hexdigest().startswith(prefix):
        raise CnnctlError.at(
            f"the cached download {path} is damaged or not torchvision's: its SHA-256 begins "
            f"{digest.hexdigest()[: len(prefix)]}, not {prefix} as its name says",
            Loc(path),
            hint="delete it to download again",
        )


def fetch(network: str) -> str:
    """The file of `network`'s published weights in torch.hub's cache, downloaded there first
    when it is not; its hash checked either way. Offline, one message with the URL and where
    to put it."""
    import torch.hub

    url = published(network).url
    path = cached_file(url)
    prefix = _hash_prefix(url)
    if os.path.isfile(path):
        _check_cached(path, prefix)
        return path
    os.makedirs(os.path.dirname(path), exist_ok=True)
    try:
        # A bar on a terminal (tens to hundreds of MB); nothing in a log.
        torch.hub.download_url_to_file(url, path, hash_prefix=prefix, progress=sys.stderr.isatty())
    except Exception as exc:  # no network, a proxy, a refused or damaged download: said, never a traceback
        reason = str(getattr(exc, "reason", "") or exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise CnnctlError.at(
            f"cannot download torchvision's ImageNet weights for `{network}` from {url}: {reason}",
            Loc(path),
            hint=f"download {url} on a machine that can and put the file at {path} (torch.hub's cache, "
            "$TORCH_HOME/hub/checkpoints/); it is used from there without the network",
        ) from None
    return path


def imagenet_classes() -> list[str]:
    """ImageNet's 1,000 class names, in the order of torchvision's outputs."""
    from importlib.resources import files

    return (files("cnnctl.data") / CLASSES_FILE).read_text().splitlines()
