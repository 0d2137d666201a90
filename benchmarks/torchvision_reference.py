"""Reference facts from torchvision for `--weights torchvision` (cnnctl/exchange/pretrained.py).

Run once, where torchvision is installed (it is not cnnctl's dependency):

    PYTHONPATH=. python benchmarks/torchvision_reference.py

For each bundled network that has torchvision's ImageNet weights it builds torchvision's model
(random weights, seeded), places its state_dict into cnnctl's compiled network by structure
(exchange.weights.by_structure, as `--weights` does) and compares the logits of both on the
same random batch: a network whose logits differ (by more than TOLERANCE) is left out of the table. It prints, for
each network kept, the row of `pretrained.TORCHVISION`: the weights' URL (its file name
carries the hash prefix torch.hub checks) and the digest of its tensors' shapes in order
(`pretrained.shapes_digest`); each is checked to be evaluated at 256 -> 224 (the loader's
`centre` recipe), and writes the 1,000 ImageNet
class names, in torchvision's index order, to cnnctl/data/imagenet_classes.txt.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torchvision.models as tv

from cnnctl.api import load, to_torch
from cnnctl.exchange.pretrained import CROP, shapes_digest
from cnnctl.exchange.weights import by_structure

CANDIDATES = (  # bundled networks whose files say they follow torchvision
    "vgg16", "resnet18", "resnet34", "resnet50", "resnet101", "resnet152", "densenet121", "resnext50_32x4d",
    "mobilenet_v2", "shufflenet_v2_x1_0", "mobilenet_v3_large", "efficientnet_b0", "convnext_tiny", "inception_v3",
)  # fmt: skip
# Logits at most this far apart, relative to the largest (most are bit-equal; MobileNetV3's
# hard-swish is computed in another order, 1.5e-5 apart with every tensor random, ConvNeXt's
# layer norm 3e-7). A tensor placed in another's place moves them by far more: every tensor
# that starts constant is made random first (`distinct`).
TOLERANCE = 1e-4
CLASSES_FILE = Path(__file__).resolve().parents[1] / "cnnctl" / "data" / "imagenet_classes.txt"


def distinct(model: torch.nn.Module) -> None:
    """Every tensor that starts constant (batch norm's scales, shifts and statistics, ConvNeXt's
    layer scales of 1e-6, zero biases) made random: tensors of one shape placed in each other's
    places then change the logits, which the comparison would otherwise not see."""
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            if tensor.is_floating_point() and tensor.numel() > 1 and tensor.std() == 0:
                low, high = (-0.1, 0.1) if name.endswith(("bias", "running_mean")) else (0.5, 1.5)
                tensor.uniform_(low, high)


def compare(name: str) -> tuple[bool, str]:
    """Whether torchvision's `name` placed by structure into cnnctl's gives its logits, and how far apart."""
    torch.manual_seed(0)
    theirs = tv.get_model(name, weights=None, num_classes=1000).eval()
    distinct(theirs)
    graph = load(name)
    ours = to_torch(graph, logits=True).eval()
    given, own = theirs.state_dict(), ours.state_dict()
    try:
        placed = by_structure(given, own, name)
    except Exception as exc:  # noqa: BLE001 -- reported, the network left out
        return False, str(exc).splitlines()[0]
    ours.load_state_dict({p.own: given[p.given].reshape(own[p.own].shape) for p in placed}, strict=False)
    h, w, c = graph.input_shape
    x = torch.randn(2, c, h, w)
    with torch.no_grad():
        a, b = theirs(x), ours(x)
    difference = (a - b).abs().max().item() / max(1.0, a.abs().max().item())  # relative to the largest logit
    return difference <= TOLERANCE, f"{len(placed)} tensors, largest logit difference {difference:g} (relative)"


def main() -> None:
    rows = []
    for name in CANDIDATES:
        weights = tv.get_model_weights(name).IMAGENET1K_V1
        same, said = compare(name)
        print(f"# {name}: {'same' if same else 'DIFFERENT'}: {said}")
        if same:
            transform = weights.transforms()  # evaluated as cnnctl.data.loader's `centre` recipe does
            if transform.crop_size != [224]:  # Inception v3's 299 (from 342): pretrained.CROP is one size for all
                print(f"# {name}: left out: evaluated on a {transform.crop_size[0]} crop, not {CROP}")
                continue
            resize = "" if transform.resize_size == [256] else f", resize={transform.resize_size[0]}"
            # The structure the weights place onto: cnnctl's network, in its order (torchvision's own
            # but for ConvNeXt, whose layer scales come first and 1x1 convolutions are Linear layers).
            digest = shapes_digest(to_torch(load(name), logits=True).state_dict())
            rows.append(f'    "{name}": Pretrained(HUB + "{weights.url.rsplit("/", 1)[1]}", "{digest}"{resize}),')
    print("TORCHVISION = {\n" + "\n".join(rows) + "\n}")
    categories = tv.ResNet18_Weights.IMAGENET1K_V1.meta["categories"]
    assert len(categories) == 1000
    CLASSES_FILE.write_text("\n".join(categories) + "\n")
    print(f"wrote {CLASSES_FILE}: {len(categories)} class names")


if __name__ == "__main__":
    main()
