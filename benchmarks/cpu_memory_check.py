"""`cnnctl memory --device cpu`'s peak against the peak a CPU training step really reaches.

    python benchmarks/cpu_memory_check.py [--batch 2] [--input 64x64x3] [NAME ...]

For each network (the bundled ones named, by default ResNet-18 and -50, VGG-16, DenseNet-121,
EfficientNet-B0, MobileNetV2, ShuffleNetV2, ConvNeXt-tiny on `--input`, and LeNet-5 on its own
32x32x1; a path to a .yaml file is read as such): two training steps as `cnnctl train` runs
them on the CPU (`measured_peak`), against `training_memory(..., device="cpu").peak`. The goal
(issue 23): measured <= predicted <= 1.08 x measured. tests/test_training_memory.py measures
small networks the same way (it imports `measured_peak` from here).
"""

from __future__ import annotations

import argparse
import datetime
import sys
import warnings
from pathlib import Path

import torch

import cnnctl
from cnnctl.analysis.memory import training_memory
from cnnctl.backend import to_torch

warnings.filterwarnings("ignore", message="Failed to initialize NumPy")

NETWORKS = ("resnet18", "resnet50", "vgg16", "densenet121", "efficientnet_b0", "mobilenet_v2",
            "shufflenet_v2_x1_0", "convnext_tiny", "lenet5")  # fmt: skip
OWN_INPUT = ("lenet5",)  # measured on the input they are written for


def measured_peak(graph, batch: int) -> int:
    """The most bytes alive on the CPU over two training steps as `cnnctl train` runs them
    (channels_last, Adam with fused=True as train/step.py makes it, the forward pass, then
    zero_grad, backward and the step), from the profiler's allocation events: the weights,
    buffers and batch made before, and every block the steps allocate (the gradients and
    Adam's state made in them, so that each is seen freed)."""
    from torch.profiler import ProfilerActivity, profile

    torch.manual_seed(0)
    model = to_torch(graph, logits=True).train().to(memory_format=torch.channels_last)
    h, w, c = graph.input_shape
    x = torch.randn(batch, c, h, w).contiguous(memory_format=torch.channels_last)
    y = torch.zeros(batch, dtype=torch.long)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, fused=True)

    def step():
        out = model(x)
        loss = sum(torch.nn.functional.cross_entropy(o, y) for o in (out if isinstance(out, tuple) else (out,)))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    before = sum(t.numel() * t.element_size() for t in [*model.parameters(), *model.buffers(), x])
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        step()
        step()
    events = []

    def walk(nodes):
        for e in nodes:
            if e.tag == torch._C._profiler._EventType.Allocation:
                events.append((e.start_time_ns, e.extra_fields.alloc_size))
            walk(e.children)

    walk(prof.profiler.kineto_results.experimental_event_tree())
    alive = most = 0
    for _, nbytes in sorted(events):
        alive += nbytes
        most = max(most, alive)
    return before + most


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", default=NETWORKS, help="bundled networks or .yaml files")
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--input", default="64x64x3", help="HxWxC the bundled networks are measured on")
    options = parser.parse_args()
    print(f"CPU, torch {torch.__version__}, {torch.get_num_threads()} threads, batch {options.batch}, "
          f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC")  # fmt: skip
    print(f"{'network':<20} {'measured bytes':>15} {'predicted bytes':>16} {'ratio':>7}")
    worst = []
    for name in options.names:
        if name.endswith((".yaml", ".yml")):
            graph, label = cnnctl.load_text(Path(name).read_text()), Path(name).stem
        else:
            graph, label = cnnctl.load(name, input=None if name in OWN_INPUT else options.input), name
        got = measured_peak(graph, options.batch)
        predicted = training_memory(graph, options.batch, device="cpu").peak
        ratio = predicted / got
        mark = "" if got <= predicted <= 1.08 * got else "  (outside 1..1.08)"
        worst.append(mark)
        print(f"{label:<20} {got:>15,} {predicted:>16,} {ratio:>7.3f}{mark}", flush=True)
    sys.exit(1 if any(worst) else 0)


if __name__ == "__main__":
    main()
