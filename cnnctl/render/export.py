"""What `cnnctl export` reports, as text lines and as JSON, from the Exported record
(cnnctl.exchange.export): one place, so that the JSON holds what the text says."""

from __future__ import annotations

from ..errors import printable
from ..words import first
from ..writing import is_utf8

IMAGE_FILE = "image.png"  # the image the PyTorch export's how-to-use line feeds it (how_to_use)
NOT_CHECKED = "onnxruntime is not installed (pip install onnxruntime), so the file was not checked"


def export_lines(done, network: str, format_name: str, arch: str, cls: str) -> list[str]:
    """The report: what was written, the input it expects, the check, how to use it. `arch`
    builds the network again; `cls`: the class of the PyTorch export (how_to_use)."""
    lines = [f"wrote {done.file}: {network} as {format_name}, weights {done.weights}"]
    again = ", replacing the one exported for it before"
    lines += [
        f"wrote {extra}: the weights, a state_dict{again if extra in done.replaced else ''}" for extra in done.extra
    ]
    lines.append(f"input: {done.input.text()}")
    if done.input.output:
        lines.append(f"output: {done.input.output}")
    if done.input.adaptation:
        lines.append(f"images: {done.input.adaptation}")
    if done.input.classes:
        lines.append(f"classes: {first(done.input.classes, 10)}, by output index")
    if done.checked:
        lines.append(f"checked: {done.checked} gives PyTorch's output within {done.difference:.1e} on a random batch")
    else:
        lines.append(f"not run: {NOT_CHECKED}")
    lines.append(how_to_use(done, arch, cls))
    return lines


def export_json(done, network: str, arch: str, cls: str) -> dict:
    """The report as JSON: the record's fields, the input as data, why it was not checked (where
    not), how to use the file (the command adds the network's `warnings`, as every command's JSON)."""
    out = {
        **done._asdict(),
        "extra": list(done.extra),
        "replaced": list(done.replaced),
        "input": done.input.as_json(),
        "network": network,
    }
    if not done.checked:
        out["not_checked"] = NOT_CHECKED
    return {**out, "how_to_use": how_to_use(done, arch, cls)}


def how_to_use(done, arch: str, cls: str) -> str:
    """The export report's last line: how the file is loaded and fed (README, *Export*). The
    network is named as `arch`, which builds it again (the settings given on top of a member
    change its weights' shapes); `cls`: the class the PyTorch export defines."""
    module = done.file.rsplit("/", 1)[-1].rsplit(".", 1)[0]
    # the PyTorch export is another file, which this command did not write: said how to make it
    pytorch = f"of the PyTorch export (the same command with -o {module}.py writes it)"
    expects = done.input
    normalized = expects.mean is not None  # the file has MEAN, STD and normalize()
    preprocessed = normalized and bool(expects.adaptation)  # and adapt() and preprocess(): an image's whole way in
    if done.format == "onnx":
        feed = (
            f"; feed it uint8 pixels: adapt(image).permute(0, 2, 3, 1).numpy() {pytorch}"
            if expects.inside
            else f"; feed it preprocess(image).numpy() {pytorch}"
            if preprocessed
            else ""
        )
        return (
            "open it in Netron (https://netron.app) or run it with onnxruntime.InferenceSession; its metadata_props "
            f"state the input (cnnctl.input, cnnctl.preprocessing{', cnnctl.adaptation' if expects.adaptation else ''})"
            + feed
        )
    if done.format == "safetensors":
        return (
            f"start from them with cnnctl train|evaluate|predict {arch} --weights {done.file} (placed by name); "
            f"in PyTorch: net.load_state_dict(safetensors.torch.load_file({_literal(done.file)})), net {pytorch}"
        )
    if done.format == "torchscript":
        feed = (
            f" net(adapt(image).permute(0, 2, 3, 1)) with adapt() {pytorch}"
            if expects.inside
            else f" net(preprocess(image)) with preprocess() {pytorch}"
            if preprocessed
            else ""
        )
        return f"load it with net = torch.jit.load({_literal(done.file)}); no cnnctl needed;{feed}".rstrip(";")
    # Python as printed, pasted where the file is: each name it uses imported, the remark a comment;
    # an image is named IMAGE_FILE ('image.png'), random numbers of the input's shape stand for
    # images already adapted (normalize(): an input that is no image)
    imports, steps = [], [f"net = {cls}()"]
    if done.extra:
        steps.append(f"net.load_state_dict(torch.load({_literal(module + '.pt')}, weights_only=True))")
    use = ""
    if preprocessed:
        imports.append("from PIL import Image")
        use, call = "preprocess", f"preprocess(Image.open({IMAGE_FILE!r}))"
    elif normalized:
        use, call = "normalize", f"normalize(torch.rand(1, {', '.join(map(str, expects.shape))}))"
    if use:
        steps.append(f"print(net.eval()({call}))")
    if done.extra or use == "normalize":
        imports.insert(0, "import torch")
    imports.append(f"from {module} import {cls}{', ' + use if use else ''}")
    said = f"  # {IMAGE_FILE}: your image; " if preprocessed else "  # "
    return "; ".join(imports + steps) + said + "its state_dict keys are cnnctl's"


def _literal(name: str) -> str:
    """A file's name as the Python string of a line to copy (`'net.pt'`). One that is not UTF-8
    is written as every message writes it, its bytes escaped (`'x\\xe9.pt'`, `printable`), not as
    Python's `'x\\udce9.pt'`, which no terminal shows and which names no file either."""
    return repr(name) if is_utf8(name) else f"'{printable(name)}'"
