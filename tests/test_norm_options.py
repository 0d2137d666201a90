"""`eps=` and `momentum=` on the normalisation layers: typed and checked, shown where not
PyTorch's defaults, and carried to the compiled module, the PyTorch source and ONNX (issue 22)."""

import importlib.util
import warnings

import pytest

torch = pytest.importorskip("torch")

from torch import nn  # noqa: E402

from cnnctl.api import load_text, to_torch  # noqa: E402
from cnnctl.errors import CnnctlError  # noqa: E402
from cnnctl.exchange.pytorch_source import class_name, pytorch_source  # noqa: E402
from cnnctl.exchange.schema import notation_schema  # noqa: E402
from cnnctl.train.settings import NAMES  # noqa: E402


def _net(*layers: str, input: str = "4x4x3") -> str:
    return f"input: {input}\nlayers:\n" + "".join(f"  - {layer}\n" for layer in layers)


def _norms(model: nn.Module, kind: type) -> list:
    return [m for m in model.modules() if isinstance(m, kind)]


def test_bn_builds_a_batchnorm_with_the_written_eps_and_momentum():
    model = to_torch(load_text(_net("bn eps=1e-3 momentum=0.01", "flatten", "bn momentum=none")))
    (volume,), (vector,) = _norms(model, nn.BatchNorm2d), _norms(model, nn.BatchNorm1d)
    assert (volume.eps, volume.momentum) == (1e-3, 0.01)
    assert (vector.eps, vector.momentum) == (1e-5, None)  # torch's eps; none is torch's None


def test_layer_and_group_norm_build_with_the_written_eps():
    model = to_torch(load_text(_net("layernorm eps=1e-6", "groupnorm 3 eps=1e-4")))
    (layer,), (group,) = _norms(model, nn.LayerNorm), _norms(model, nn.GroupNorm)
    assert (layer.eps, group.eps) == (1e-6, 1e-4)


def _train(module: nn.Module, batches: list[torch.Tensor]) -> nn.Module:
    """A few SGD steps on a loss that reaches every output value, in training mode."""
    optimizer = torch.optim.SGD(module.parameters(), lr=0.1)
    module.train()
    for x in batches:
        optimizer.zero_grad()
        (module(x) ** 2 * torch.arange(x[0].numel()).view(x[0].shape)).mean().backward()
        optimizer.step()
    return module


def test_bn_trains_as_torchs_batchnorm_with_the_same_eps_and_momentum():
    torch.manual_seed(0)
    # values 0.01 apart: a variance near 1e-4, so an eps of 1e-3 against 1e-5 changes every output
    batches = [0.01 * torch.randn(8, 3, 4, 4) + 0.5 for _ in range(5)]
    mine = _train(to_torch(load_text(_net("bn eps=1e-3 momentum=0.01"))), batches)
    theirs = _train(nn.BatchNorm2d(3, eps=1e-3, momentum=0.01), batches)
    (bn,) = _norms(mine, nn.BatchNorm2d)
    for name in ("weight", "bias", "running_mean", "running_var"):
        assert torch.allclose(getattr(bn, name), getattr(theirs, name), rtol=1e-5, atol=1e-7), name
    x = batches[0]
    with torch.no_grad():
        assert torch.allclose(mine.eval()(x), theirs.eval()(x), rtol=1e-5, atol=1e-6)
        assert torch.allclose(mine.train()(x), theirs.train()(x), rtol=1e-5, atol=1e-6)


def test_bn_momentum_none_keeps_the_plain_average_of_the_batches():
    torch.manual_seed(1)
    batches = [torch.randn(6, 2, 3, 3) * (k + 1) + k for k in range(4)]
    model = to_torch(load_text(_net("bn momentum=none", input="3x3x2"))).train()
    with torch.no_grad():
        for x in batches:
            model(x)
    (bn,) = _norms(model, nn.BatchNorm2d)
    # PyTorch's cumulative average: the mean of the batch means, and of the unbiased variances
    means = torch.stack([x.mean(dim=(0, 2, 3)) for x in batches]).mean(0)
    variances = torch.stack([x.transpose(0, 1).reshape(2, -1).var(dim=1) for x in batches]).mean(0)
    assert torch.allclose(bn.running_mean, means, atol=1e-5)
    assert torch.allclose(bn.running_var, variances, rtol=1e-5)


@pytest.mark.parametrize(
    ("written", "shown"),
    [
        ("bn eps=1e-5 momentum=0.1", "bn"),  # PyTorch's defaults: not shown
        ("bn momentum=0.01", "bn momentum=0.01"),
        ("bn momentum=None act=relu", "bn act=relu momentum=none"),
        ("bn eps=0.001 momentum=0", "bn eps=0.001 momentum=0"),
        ("layernorm eps=1e-05", "layernorm"),
        ("groupnorm 3 eps=1e-4", "groupnorm 3 eps=0.0001"),
    ],
)
def test_the_shorthand_shows_eps_and_momentum_only_where_not_the_default(written, shown):
    (node,) = load_text(_net(written)).nodes
    assert node.text == shown


@pytest.mark.parametrize(
    ("written", "message"),
    [
        ("bn momentum=1.5", "`momentum` must be in [0, 1], got `1.5`"),
        ("bn momentum=-0.1", "`momentum` must be in [0, 1], got `-0.1`"),
        ("bn momentum=fast", "`momentum` expected a number, got `fast`"),
        ("bn eps=0", "`eps` must be in (0, 1], got `0`"),
        ("groupnorm 3 eps=-1e-5", "`eps` must be in (0, 1], got `-1e-5`"),
        ("layernorm momentum=0.1", "`layernorm` has no argument `momentum`"),  # it tracks no statistics
    ],
)
def test_eps_and_momentum_outside_their_range_are_refused(written, message):
    with pytest.raises(CnnctlError) as info:
        load_text(_net(written), "net.yaml")
    (problem,) = info.value.problems
    assert problem.message == message
    assert (problem.loc.file, problem.loc.line) == ("net.yaml", 3)


def test_momentum_out_of_range_hints_at_none():
    with pytest.raises(CnnctlError) as info:
        load_text(_net("bn momentum=2"))
    assert info.value.problems[0].hint == "`momentum` is a number in [0, 1] or none"


def test_the_schema_takes_momentum_on_bn_only():
    defs = notation_schema(NAMES)["definitions"]
    jsonschema = pytest.importorskip("jsonschema")
    momentum = {"$schema": "http://json-schema.org/draft-07/schema#", **defs["kind_bn"]["properties"]["momentum"]}
    for good in (0.01, 0, 1, "none", "1e-2", "$m"):
        jsonschema.validate(good, momentum)
    for bad in (1.5, -0.1, "fast", True):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(bad, momentum)
    assert "momentum" not in defs["kind_layernorm"]["properties"]
    assert "momentum" not in defs["kind_groupnorm"]["properties"]


def test_the_pytorch_source_builds_the_same_eps_and_momentum(tmp_path):
    graph = load_text(_net("bn eps=1e-3 momentum=0.01", "bn momentum=none", "groupnorm 3 eps=1e-4", "bn"))
    path = tmp_path / "net.py"
    path.write_text(pytorch_source(graph))
    spec = importlib.util.spec_from_file_location("norm_options_net", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    written = getattr(module, class_name(graph.name))()
    bns = [(m.eps, m.momentum) for m in _norms(written, nn.BatchNorm2d)]
    assert bns == [(1e-3, 0.01), (1e-5, None), (1e-5, 0.1)]
    assert [m.eps for m in _norms(written, nn.GroupNorm)] == [1e-4]


def test_onnx_keeps_eps_and_the_import_reads_it_back(tmp_path):
    onnx = pytest.importorskip("onnx")
    from cnnctl.exchange.export import export
    from cnnctl.exchange.onnx_import import import_onnx

    graph = load_text(_net("conv f=1 n=4", "bn eps=1e-3 momentum=0.01 act=relu", "layernorm eps=1e-4", "bn"))
    path = tmp_path / "net.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        export(graph, "onnx", str(path))
    written = {
        node.name: {a.name: a.f for a in node.attribute if a.name == "epsilon"}
        for node in onnx.load(str(path)).graph.node
        if node.op_type in ("BatchNormalization", "LayerNormalization")
    }
    assert sorted(e["epsilon"] for e in written.values()) == pytest.approx([1e-5, 1e-4, 1e-3], rel=1e-6)
    back = load_text(import_onnx(str(path)))
    assert [n.text for n in back.nodes if n.kind in ("bn", "layernorm")] == [
        "bn act=relu eps=0.001 momentum=0.01",  # ONNX's momentum attribute is 1 - torch's: read back
        "layernorm eps=0.0001",
        "bn",
    ]
