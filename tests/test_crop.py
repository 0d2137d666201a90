"""`crop`: a centre crop to a size or to a second input's, the original U-Net's crop-and-copy.
Its shape from the formula (``top = (H - h) // 2``), free, and a small valid-conv U-Net checked
against the same network written in plain PyTorch, through ONNX too."""

import pytest

from cnnctl.api import load_text
from cnnctl.errors import ShapeError
from cnnctl.layers import KINDS
from tests.test_layers import run

# A U-Net of valid convs, as the paper's (572 -> 568 ... crop 64 -> 56 there): 44 -> 42 -> 40
# (c1), pool 20 -> 18 -> 16, deconv 32 (up1); c1's 40x40 cut to 32x32 about its centre,
# rows (40 - 32) // 2 = 4 to 35, then joined with up1.
UNET = """
name: unet_valid
input: 44x44x1
layers:
  - conv f=3 n=8 act=relu
  - conv f=3 n=8 act=relu id=c1
  - pool max f=2
  - conv f=3 n=16 act=relu
  - conv f=3 n=16 act=relu
  - deconv f=2 s=2 n=8 id=up1
  - crop from=c1,up1 id=skip1
  - concat with=up1
  - conv f=3 n=8 act=relu
  - conv f=1 n=2
"""


def test_crop_to_a_size_keeps_the_centre_and_is_free():
    assert run("crop", [(40, 40, 8)], size="32") == ((32, 32, 8), 0, 0, 0, 0)
    assert run("crop", [(9, 10, 3)], size="4x6") == ((4, 6, 3), 0, 0, 0, 0)
    # to a second input's height and width, whatever its channels
    assert run("crop", [(25, 25, 32), (24, 24, 64)]) == ((24, 24, 32), 0, 0, 0, 0)
    assert KINDS["crop"].is_view(None)  # a view: it keeps nothing of its own


def test_crop_offsets_are_the_centre_with_an_odd_row_left_at_the_bottom():
    from cnnctl.layers.crop import crop_offsets

    assert crop_offsets((40, 40), (32, 32)) == (4, 4)  # (40 - 32) // 2
    assert crop_offsets((25, 9), (24, 4)) == (0, 2)  # (25 - 24) // 2, (9 - 4) // 2


@pytest.mark.parametrize(
    ("ins", "size", "said"),
    [
        ([(24, 24, 8)], "25", "only makes a map smaller"),
        ([(24, 24, 8)], None, "needs the size"),
        ([(24, 24, 8), (20, 20, 8)], "20", "both a size and a second input"),
        ([(24,)], "20", "needs a volume"),
    ],
)
def test_crop_mistakes_are_told(ins, size, said):
    with pytest.raises(ShapeError, match=said):
        run("crop", ins, **({"size": size} if size else {}))


def test_a_unet_with_crop_is_the_same_network_in_pytorch():
    torch = pytest.importorskip("torch")
    from torch import nn

    from cnnctl.backend import to_torch

    graph = load_text(UNET)
    shapes = {n.path: n.shape for n in graph.nodes}
    assert shapes["skip1"] == (32, 32, 8) and shapes["concat1"] == (32, 32, 16)
    assert graph.nodes[-1].shape == (30, 30, 2)

    class Reference(nn.Module):  # the same U-Net by hand, the crop as the paper's slice
        def __init__(self):
            super().__init__()
            self.c = nn.ModuleList([nn.Conv2d(1, 8, 3), nn.Conv2d(8, 8, 3), nn.Conv2d(8, 16, 3), nn.Conv2d(16, 16, 3)])
            self.up = nn.ConvTranspose2d(16, 8, 2, stride=2)
            self.d = nn.ModuleList([nn.Conv2d(16, 8, 3), nn.Conv2d(8, 2, 1)])

        def forward(self, x):
            c1 = torch.relu(self.c[1](torch.relu(self.c[0](x))))
            y = nn.functional.max_pool2d(c1, 2)
            up = self.up(torch.relu(self.c[3](torch.relu(self.c[2](y)))))
            y = torch.cat([c1[:, :, 4:36, 4:36], up], dim=1)
            return self.d[1](torch.relu(self.d[0](y)))

    torch.manual_seed(0)
    model, ref = to_torch(graph).eval(), Reference().eval()
    assert sum(p.numel() for p in model.parameters()) == sum(p.numel() for p in ref.parameters()) == graph.params
    with torch.no_grad():
        for mine, theirs in zip(model.parameters(), ref.parameters(), strict=True):
            theirs.copy_(mine)
        x = torch.randn(2, 1, 44, 44)
        assert torch.allclose(model(x), ref(x), atol=1e-5)


def test_a_crops_receptive_field_follows_the_cropped_input_alone():
    from cnnctl.analysis.receptive import map_reaches

    graph = load_text(UNET)
    at = {n.path: i for i, n in enumerate(graph.nodes)}
    reaches = map_reaches(graph)
    # c1 position i reads image rows i to i + 4; the crop keeps c1's rows 4 to 35: image rows 4 to 39
    # (up1's whole field, 0 to 43, is no part of it: it gives the size alone)
    assert reaches[at["c1"]][0] == (0, 43)
    assert reaches[at["skip1"]] == ((4, 39), (4, 39))


def test_a_unet_with_crop_exports_to_onnx_as_pytorch_runs_it(tmp_path, monkeypatch, capsys):
    torch = pytest.importorskip("torch")
    pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    from cnnctl.backend import to_torch
    from tests.helpers import run_main

    net = tmp_path / "unet.yaml"
    net.write_text(UNET)
    torch.manual_seed(0)
    model = to_torch(load_text(UNET)).eval()
    monkeypatch.setattr("cnnctl.exchange.export.to_torch", lambda g: model)
    code, _, err = run_main(monkeypatch, capsys, "export", str(net), "-o", str(tmp_path / "unet.onnx"))
    assert code == 0, err
    x = torch.randn(3, 1, 44, 44)
    session = ort.InferenceSession(str(tmp_path / "unet.onnx"), providers=["CPUExecutionProvider"])
    got = torch.from_numpy(session.run(None, {"image": x.numpy()})[0])
    with torch.no_grad():
        assert (got - model(x)).abs().max().item() <= 1e-4
    # ... and `cnnctl import` reads that file back: each Slice of rows or columns about the centre a `crop`
    back_file = tmp_path / "back.yaml"
    code, _, err = run_main(monkeypatch, capsys, "import", str(tmp_path / "unet.onnx"), "-o", str(back_file))
    assert code == 0, err
    back, original = load_text(back_file.read_text()), load_text(UNET)
    assert "crop" in {n.kind for n in back.nodes}
    assert (back.output_shape, back.params, back.mults) == (original.output_shape, original.params, original.mults)
    from cnnctl.exchange.weights import place_weights

    imported = to_torch(back).eval()
    place_weights(imported, str(tmp_path / "back.safetensors"))
    with torch.no_grad():
        assert (imported(x) - model(x)).abs().max().item() <= 1e-4


def test_a_slice_of_rows_not_about_the_centre_is_refused_at_its_node(tmp_path, monkeypatch, capsys):
    # a crop is about the centre: rows 0 to 5 of 8 are not a cnnctl layer, told at the Slice
    pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    from tests.helpers import run_main

    consts = [helper.make_tensor(n, TensorProto.INT64, [1], [v]) for n, v in (("s", 0), ("e", 6), ("a", 2))]
    node = helper.make_node("Slice", ["x", "s", "e", "a"], ["y"], name="top")
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], consts)  # fmt: skip
    path = tmp_path / "top.onnx"
    path.write_bytes(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString())
    code, _, err = run_main(monkeypatch, capsys, "import", str(path))
    assert code == 2 and "rows 0 to 5 of 8: not about the centre" in err and "Traceback" not in err, err


def test_a_unet_with_crop_is_written_as_pytorch_source_that_gives_the_same_outputs(tmp_path):
    torch = pytest.importorskip("torch")
    import importlib.util

    from cnnctl.backend import to_torch
    from cnnctl.exchange.pytorch_source import class_name, pytorch_source

    graph = load_text(UNET)
    path = tmp_path / "unet.py"
    path.write_text(pytorch_source(graph))
    assert "[:, :, 4:36, 4:36]" in path.read_text()  # (40 - 32) // 2 = 4 rows and columns off each map's top and left
    spec = importlib.util.spec_from_file_location("unet_crop_source", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    torch.manual_seed(0)
    model = to_torch(graph).eval()
    written = getattr(module, class_name(graph.name))().eval()
    written.load_state_dict(model.state_dict())
    x = torch.randn(2, 1, 44, 44)
    with torch.no_grad():
        assert torch.allclose(written(x), model(x), atol=1e-5)


def test_a_crops_own_mistake_keeps_its_own_hint_not_a_joins():
    from cnnctl.errors import CnnctlError

    text = UNET.replace("  - crop from=c1,up1 id=skip1", "  - crop 20 from=c1,up1 id=skip1")
    with pytest.raises(CnnctlError) as info:
        load_text(text)
    problem = info.value.problems[0]
    assert problem.layer == "skip1" and problem.message.startswith("crop has both a size and a second input")
    assert problem.hint == "write the size (`crop 56`) or the second input (`from=A,B`, `with=B`), not both"
