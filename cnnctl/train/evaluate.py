"""`cnnctl evaluate` and `cnnctl predict`: a trained checkpoint on a dataset, or on images."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from ..errors import CnnctlError, Loc
from ..graph import Graph
from ..render.numbers import plural
from .batches import Batches
from .checkpoint import EVALUATE, damaged, load_checkpoint, load_weights, weights_file
from .device import resolve_device
from .loop import check_classes, evaluate_batches


@dataclass
class Evaluation:
    loss: float
    accuracy: float
    classes: list[str]
    per_class: list[float | None]  # accuracy per true class, exactly; None for a class with no examples
    confusion: list[list[int]]  # [true][predicted] counts
    examples: int
    checkpoint: str = ""  # the file whose weights were used
    split: str = ""  # the data they were measured on: "the validation split of mnist"


def load_model(graph: Graph, checkpoint: str | Path, device: torch.device, command: str = "evaluate"):
    """The compiled graph with the checkpoint's weights (logits out), and the checkpoint.

    `command` (evaluate or predict) is named in the hints: neither has an --input option.
    """
    from ..backend import to_torch

    checkpoint = weights_file(checkpoint)
    state = load_checkpoint(checkpoint, EVALUATE)
    model = to_torch(graph, logits=True)
    load_weights(model, state, checkpoint, graph.name, command)
    channels = graph.input_shape[2]
    for key in ("mean", "std"):
        if key in state and len(state[key]) != channels:
            what = f"its `{key}` has {len(state[key])} values for a network of {plural(channels, 'channel')}"
            raise damaged(what, checkpoint, EVALUATE)
    return model.to(device, memory_format=torch.channels_last).eval(), state


def evaluate(
    graph: Graph,
    checkpoint: str | Path,
    data_spec: str | None,
    data_dir: str | None,
    batch_size: int = 256,
    device_name: str = "auto",
) -> Evaluation:
    from ..data import load_data

    device = resolve_device(device_name)
    model, state = load_model(graph, checkpoint, device)
    config = state["config"]
    data = load_data(
        data_spec or config["data"],
        graph.input_shape,
        data_dir=data_dir or config.get("data_dir"),
        val_split=config.get("val_split", 0.1),
        seed=config.get("seed", 0),
    )
    check_classes(graph, data.classes)
    if state.get("classes") and list(state["classes"]) != list(data.classes):
        raise CnnctlError.at(
            f"the checkpoint was trained on the classes {', '.join(state['classes'][:5])}..., "
            f"but `{data.name}` has {', '.join(data.classes[:5])}...",
            hint="evaluate on the data it was trained on",
        )
    split = Batches(data.val, state.get("mean", data.mean), state.get("std", data.std), device)
    k = len(data.classes)
    confusion = torch.zeros(k, k, dtype=torch.int64)
    stats = evaluate_batches(model, split, batch_size, k, confusion)
    counts = confusion.tolist()
    # From the integer counts (`33 / 34 = 0.9705882352941176`), not float32 tensors (`0.970588207244873`).
    per_class = [row[i] / sum(row) if sum(row) else None for i, row in enumerate(counts)]
    held = f"{config.get('val_split', 0.1):.0%} held out, seed {config.get('seed', 0)}"
    measured_on = f"the validation split of {data.name} ({held})"
    used = str(weights_file(checkpoint))
    return Evaluation(stats.loss, stats.accuracy, list(data.classes), per_class, counts, stats.seen, used, measured_on)


def predict(
    graph: Graph, checkpoint: str | Path, images: list[str], top_k: int = 5, device_name: str = "auto"
) -> list[tuple[str, list[tuple[str, float]]]]:
    """Top-k (class, probability) for each image file."""
    device = resolve_device(device_name)
    model, state = load_model(graph, checkpoint, device, "predict")
    classes = state.get("classes") or [str(i) for i in range(graph.output_shape[0])]
    check_classes(graph, classes)
    h, w, c = graph.input_shape
    mean = torch.tensor(state.get("mean", [0.5] * c)).view(1, -1, 1, 1)
    std = torch.tensor(state.get("std", [0.5] * c)).view(1, -1, 1, 1)
    results = []
    for path in images:
        x = read_image(path, h, w, c)
        x = ((x.float() / 255 - mean) / std).to(device)
        with torch.no_grad():
            probs = torch.softmax(model(x)[0, : len(classes)], dim=0)
        values, index = probs.topk(min(top_k, len(classes)))
        results.append((path, [(classes[i], float(v)) for v, i in zip(values, index.tolist(), strict=True)]))
    return results


def read_image(path: str, h: int, w: int, c: int) -> torch.Tensor:
    """An image file as a (1, c, h, w) uint8 tensor, resized and converted as the network needs."""
    from ..data.folder import BILINEAR, open_image

    try:
        with open_image(Path(path), (h, w)) as img:
            # Bilinear, as an image folder is resized for training (Pillow's default is bicubic).
            img = img.convert("L" if c == 1 else "RGB").resize((w, h), resample=BILINEAR)
            data = torch.frombuffer(bytearray(img.tobytes()), dtype=torch.uint8)
    except (OSError, ValueError) as exc:
        raise CnnctlError.at(f"cannot read the image: {exc}", Loc(path)) from None
    if c not in (1, 3):
        raise CnnctlError.at(f"the network takes {c} channels; images have 1 or 3")
    return data.view(h, w, c).permute(2, 0, 1).unsqueeze(0)
