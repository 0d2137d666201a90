"""`affine`: a fixed scale and shift per channel (issue 22, item 3c): its counts by formula, its
compiled module against x * scale + shift computed here, torchvision's transform_input in the
notation, and a wrong number of values told at its line."""

import pytest

import cnnctl
from cnnctl.analysis.receptive import receptive_fields
from tests.helpers import run_main

H, W, C = 8, 8, 3


def net(*layers: str) -> str:
    return "version: 1\nname: t\ninput: 8x8x3\nlayers:\n" + "".join(f"  - {x}\n" for x in layers)


@pytest.mark.parametrize(
    ("written", "buffers", "per_value"),
    [
        ("affine scale=0.5,0.25,2 shift=1", 3 + 1, 2),  # both: 2 FLOPs per value
        ("affine scale=2", 1, 1),  # only a scale
        ("affine shift=-1,0,1", 3, 1),  # only a shift
        ("affine scale=1 shift=0,0,0", 0, 0),  # nothing it does is held or counted
    ],
)
def test_counts_by_formula(written, buffers, per_value):
    graph = cnnctl.load_text(net("conv f=3 n=3", written), "t.yaml")
    affine = graph.nodes[1]
    assert affine.shape == (6, 6, 3)
    assert (affine.params, affine.buffers, affine.mults) == (0, buffers, 0)
    assert affine.flops == per_value * 6 * 6 * 3
    fields = receptive_fields(graph)
    assert fields[1] == fields[0]  # a per-position operation: the conv's 3x3 field, unchanged


def test_the_module_is_x_times_scale_plus_shift_and_holds_its_values_as_buffers():
    torch = pytest.importorskip("torch")
    scale, shift = [0.5, -2.0, 3.0], [1.0, 0.0, -1.5]
    model = cnnctl.to_torch(cnnctl.load_text(net("affine scale=0.5,-2,3 shift=1,0,-1.5"), "t.yaml")).eval()
    assert list(model.parameters()) == []  # nothing trains
    assert sorted(model.state_dict()) == ["affine1.scale", "affine1.shift"]  # weights carry them
    x = torch.randn(2, C, H, W)
    expected = torch.stack([x[:, c] * scale[c] + shift[c] for c in range(C)], dim=1)
    with torch.no_grad():
        assert torch.allclose(model(x), expected, atol=1e-6)


def test_torchvisions_transform_input_in_the_notation():
    """Inception v3's transform_input: channel c as x * (std_c / 0.5) + (mean_c - 0.5) / 0.5."""
    torch = pytest.importorskip("torch")
    mean, std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
    written = "affine scale=0.458,0.448,0.45 shift=-0.03,-0.088,-0.188"  # the numbers, worked by hand
    graph = cnnctl.load_text(net(written), "t.yaml")
    model = cnnctl.to_torch(graph).eval()
    x = torch.rand(1, C, H, W)
    expected = torch.cat([x[:, c : c + 1] * (std[c] / 0.5) + (mean[c] - 0.5) / 0.5 for c in range(C)], dim=1)
    with torch.no_grad():
        assert torch.allclose(model(x), expected, atol=1e-6)
    assert graph.nodes[0].buffers == 6 and graph.nodes[0].flops == 2 * H * W * C


def test_a_wrong_number_of_values_is_one_message_at_its_line(tmp_path, monkeypatch, capsys):
    path = tmp_path / "bad.yaml"
    path.write_text(net("conv f=3 n=4", "affine scale=1,2,3"))
    code, out, err = run_main(monkeypatch, capsys, "validate", str(path))
    assert code == 2 and "Traceback" not in err
    assert f"{path}:6:" in err and "3 values of `scale` for 4 channels" in err, err
    assert "one number for every channel or one per channel (4)" in err
