"""Several outputs (`outputs:`): the main output and heads only training runs (GoogLeNet's and
Inception v3's auxiliary classifiers). The notation and its messages; the heads' counts apart
from the inference totals; the compiled module's outputs in training and evaluation; the loss
main + w * head; export without the heads; fine-tuning resizes the heads with the main one."""

import csv
import io
import json
import re
import shutil

import pytest

import cnnctl
from cnnctl.analysis.summary import summarize
from cnnctl.errors import CnnctlError
from tests.helpers import run_main

# A trunk, a head on it (global average, fc) and the main path on from the trunk. Every layer
# is one a few lines of torch.nn.functional compute by hand below.
TINY = """name: tiny_heads
input: 8x8x3
outputs: [out, {aux: 0.3}]
layers:
  - conv f=3 n=4 p=1 act=relu id=trunk
  - pool avg global id=aux_pool
  - fc 5 id=aux
  - conv f=1 n=6 act=relu id=mid from=trunk
  - pool avg global id=gap
  - fc 5 id=out
"""


def load_text(text: str, tmp_path, name: str = "net.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return cnnctl.load(str(path))


def problems(text: str, tmp_path) -> list[str]:
    with pytest.raises(CnnctlError) as info:
        load_text(text, tmp_path)
    return [p.format() for p in info.value.problems]


# -- the notation --------------------------------------------------------------------------------
def test_without_outputs_a_branch_nothing_reads_is_still_warned_and_counted(tmp_path):
    graph = load_text(TINY.replace("outputs: [out, {aux: 0.3}]\n", ""), tmp_path)
    assert graph.heads == ()
    assert [w.layer for w in graph.warnings] == ["aux"]  # "its output is never used", as before
    assert graph.mults == graph.mults_with_heads  # everything counts at inference


def test_a_declared_head_is_not_warned_and_runs_only_in_training(tmp_path):
    graph = load_text(TINY, tmp_path)
    assert graph.warnings == ()
    (head,) = graph.heads
    assert (head.name, head.weight) == ("aux", 0.3)
    assert [graph.nodes[i].path for i in head.nodes] == ["aux_pool", "aux"]  # not the trunk: the main path's


@pytest.mark.parametrize(
    "outputs, message, col",
    [
        ("[out, {auxx: 0.3}]", "`outputs:` names `auxx`, but no layer is called so", 17),
        ("[out, {input: 0.3}]", "`input` in `outputs:` is the network's input, not a layer", 17),
        ("[aux, {out: 0.3}]", "the main output `aux` (the first of `outputs:`) is not the network's last layer", 11),
        ("[out, {mid: 0.3}]", "`mid` is on the main output's path (`out` reads it), so it is not a head", 17),
        ("[out, {aux: 0}]", "the loss weight of `aux`: must be in (0, 100], got `0`", 22),
        ("[out, {aux: lots}]", "the loss weight of `aux`: expected a number, got `lots`", 22),
        ("[out, {aux: 0.3}, aux]", "`aux` is in `outputs:` twice (first at line 3)", 28),
        ("[{out: 1}, {aux: 0.3}]", "the main output `out` takes no loss weight", 17),
        ("out", "`outputs:` must be a list, the main output first", 10),
        ("[out, {aux_pool: 0.3}]", "the head `aux_pool` gives 1x1x4 and the main output 5", 17),
    ],
)
def test_each_mistake_is_one_located_message(outputs, message, col, tmp_path):
    said = problems(TINY.replace("[out, {aux: 0.3}]", outputs), tmp_path)
    assert len(said) == 1, said
    assert f"net.yaml:3:{col}: {message}" in said[0]


def test_a_head_of_another_shape_is_told_the_main_outputs_own_shape(tmp_path):
    # the hint said `fc 1000` whatever the network: TINY's main output is `fc 5`
    (said,) = problems(TINY.replace("[out, {aux: 0.3}]", "[out, {aux_pool: 0.3}]"), tmp_path)
    assert "hint: end the head in a layer of the main output's shape (`fc 5`)" in said
    dense = "input: 8x8x3\noutputs: [out, {aux: 0.3}]\nlayers:\n  - conv f=3 p=1 n=4 id=trunk\n"
    (said,) = problems(dense + "  - conv f=1 n=4 id=aux\n  - conv f=1 n=2 id=out from=trunk\n", tmp_path)  # per pixel
    assert "the head `aux` gives 8x8x4 and the main output 8x8x2" in said
    assert "hint: end the head in a layer of the main output's shape, 8x8x2" in said


def test_a_misspelt_head_is_told_what_it_may_be(tmp_path):
    (said,) = problems(TINY.replace("{aux: 0.3}", "{axu: 0.3}"), tmp_path)
    assert "hint: did you mean `aux`?" in said


def test_every_problem_of_outputs_in_one_run_with_exit_code_2(tmp_path, monkeypatch, capsys):
    (tmp_path / "net.yaml").write_text(TINY.replace("[out, {aux: 0.3}]", "[out, {aux: -1}, {nope: 0.3}, out]"))
    code, _, err = run_main(monkeypatch, capsys, "summarize", str(tmp_path / "net.yaml"))
    assert code == 2 and "Traceback" not in err
    assert "net.yaml:3:22: " in err and "must be in (0, 100]" in err  # the weight
    assert "net.yaml:3:40: " in err and "`out` is in `outputs:` twice" in err  # the repeat, parsed together


# A layer that fails (a width that is not a number) below the head: its shape, and those after it, unknown.
FAILING = TINY.replace("n=6 act=relu id=mid", "n=six act=relu id=mid")
LAYER_ERROR = "net.yaml:8:16: layer `mid`: `n` expected a whole number, got `six`"


def test_a_layer_error_and_a_wrong_outputs_name_are_told_in_one_run(tmp_path, monkeypatch, capsys):
    (tmp_path / "net.yaml").write_text(FAILING.replace("{aux: 0.3}", "{axu: 0.3}"))
    code, _, err = run_main(monkeypatch, capsys, "summarize", str(tmp_path / "net.yaml"))
    assert code == 2 and "Traceback" not in err
    assert LAYER_ERROR in err
    assert "net.yaml:3:17: `outputs:` names `axu`, but no layer is called so\n  hint: did you mean `aux`?" in err


def test_every_outputs_mistake_is_told_with_the_layer_errors(tmp_path):
    line = "outputs: [out, {auxx: 0.3}, {aux: 0}, {mid: 0.3}, out]"
    said = problems(FAILING.replace("outputs: [out, {aux: 0.3}]", line), tmp_path)
    cols = [line.index("auxx") + 1, line.index("0}") + 1, line.index("mid") + 1, line.rindex("out") + 1]
    assert [p.split(": ")[1].rsplit("/", 1)[1] for p in said] == [*(f"net.yaml:3:{c}" for c in cols), "net.yaml:8:16"]
    assert "`auxx`, but no layer is called so" in said[0] and "must be in (0, 100]" in said[1]
    assert "`mid` is on the main output's path" in said[2]  # the failed layer's place is known: `gap` reads it
    assert "`out` is in `outputs:` twice" in said[3] and LAYER_ERROR in said[4]


def test_a_name_a_failure_may_have_left_unbuilt_is_not_blamed(tmp_path):
    # `blk`'s line is refused (an argument its block does not take): its layers are not built, and
    # `blk.fc1` may exist once it is fixed. `convv` takes the name `convv1`: if it is the first of
    # three convs meant, the third is `conv2` now, so `conv3` may exist too. A name neither explains
    # (`auxx`) is told as before.
    text = TINY.replace("[out, {aux: 0.3}]", "[out, {aux: 0.3}, {blk.fc1: 0.3}, {conv3: 0.3}, {auxx: 0.3}]")
    text = text.replace(
        "  - pool avg global id=gap\n", "  - hd k=5 bad=1 id=blk\n  - convv f=1 n=6\n  - pool avg global id=gap\n"
    )
    text = text.replace("layers:\n", "blocks:\n  hd:\n    args: [k]\n    layers: [fc $k]\nlayers:\n", 1)
    said = problems(text, tmp_path)
    assert not any("blk.fc1" in p or "conv3" in p for p in said), said
    assert any("`outputs:` names `auxx`, but no layer is called so" in p for p in said), said
    assert any("unknown layer kind `convv`" in p for p in said) and any("`bad`" in p for p in said), said


def test_a_wrong_name_is_still_told_in_a_list_no_refused_line_renumbers(tmp_path):
    said = problems(FAILING.replace("{aux: 0.3}", "{conv9: 0.3}"), tmp_path)
    assert len(said) == 2 and "`outputs:` names `conv9`, but no layer is called so" in said[0], said


def test_a_refused_first_entry_makes_no_other_the_main_output(tmp_path):
    (said,) = problems(TINY.replace("[out, {aux: 0.3}]", "[[out], {aux: 0.3}]"), tmp_path)
    assert "net.yaml:3:11: each entry of `outputs:` is a layer's id, or `id: weight`" in said


def test_outputs_stops_at_the_problems_a_file_is_told(tmp_path):
    from cnnctl.limits import MAX_PROBLEMS

    names = ", ".join(f"q{k}x" for k in range(MAX_PROBLEMS + 10))  # each names no layer
    said = problems(TINY.replace("[out, {aux: 0.3}]", f"[out, {names}]"), tmp_path)
    assert len(said) == MAX_PROBLEMS + 1 and f"stopped after {MAX_PROBLEMS} problems" in said[-1]


# -- the counts ----------------------------------------------------------------------------------
def test_the_tiny_heads_counts_by_formula(tmp_path):
    s = summarize(load_text(TINY, tmp_path))
    trunk = 8 * 8 * 4 * 3 * 3 * 3  # 8x8x4 outputs, each 3x3x3
    main = 8 * 8 * 6 * 4 + 6 * 5  # 1x1 conv to 6, fc 6 -> 5
    head = 4 * 5  # fc 4 -> 5
    assert (s.mults, s.mults_with_heads) == (trunk + main, trunk + main + head)
    (h,) = s.heads
    assert (h.params, h.mults, h.layers, h.first, h.path) == (4 * 5 + 5, head, 2, "aux_pool", "aux")
    assert s.params - s.inference_params == 4 * 5 + 5  # the head's weights are the file's, not inference's


def test_googlenets_heads_in_summarize_and_its_json(monkeypatch, capsys):
    # GoogLeNet's auxiliary head on inception4a (14x14x512): avg pool 5x5/3 -> 4x4x512, 1x1 conv to 128
    # (4*4*128*512 = 1,048,576), fc 2048 -> 1024 (2,097,152), fc 1024 -> 1000 (1,024,000): 4,169,728; on
    # inception4d's 528 channels the conv is 4*4*128*528 = 1,081,344: 4,202,496; both 8,372,224.
    first, second = 4 * 4 * 128 * 512 + 2048 * 1024 + 1024 * 1000, 4 * 4 * 128 * 528 + 2048 * 1024 + 1024 * 1000
    assert first + second == 8_372_224
    code, out, err = run_main(monkeypatch, capsys, "summarize", "googlenet")
    assert code == 0, err
    assert "Multiplications: 1,582,671,872 (1.58 G) per image at inference; 1,591,044,096" in out
    # the params' headline at inference too, as list's and draw's (it was 13,378,280, the heads' included)
    assert "Params: 6,998,552 (7.00 M) at inference; 13,378,280 (13.38 M) in training, with the heads, all " \
           "trainable, 0 non-trainable buffers" in out  # fmt: skip
    assert f"Head `aux1` (training only, 0.3 x the main loss): 5 layers aux1.pool1 to aux1.fc2, 3,188,840 params, " \
           f"{first:,} mults" in out  # fmt: skip
    assert "never used" not in out + err
    code, out, err = run_main(monkeypatch, capsys, "summarize", "googlenet", "--format", "json")
    data = json.loads(out)
    assert [(h["name"], h["mults"], h["weight"]) for h in data["heads"]] == [
        ("aux1", first, 0.3),
        ("aux2", second, 0.3),
    ]
    assert data["totals"]["mults_with_heads"] - data["totals"]["mults"] == 8_372_224
    marked = [row["path"] for row in data["layers"] if row.get("training_only")]
    assert marked == [f"aux{k}.{layer}" for k in (1, 2) for layer in ("pool1", "conv1", "fc1", "dropout1", "fc2")]


def test_flops_counts_training_with_the_heads_and_inference_without(monkeypatch, capsys):
    code, out, err = run_main(monkeypatch, capsys, "flops", "googlenet", "--format", "json")
    assert code == 0, err
    data = json.loads(out)
    assert (data["mults"], data["mults_with_heads"]) == (1_582_671_872, 1_582_671_872 + 8_372_224)
    assert data["training"]["step_mults"] == data["mults_with_heads"] + data["training"]["backward_mults"]


def test_the_per_layer_ranking_and_the_forward_roofline_are_inferences(tmp_path, monkeypatch, capsys):
    # The tiny network's head (aux_pool, aux) runs only in training: the forward pass's ranking and
    # roofline leave it out, so the shares add up to the inference total; the training step has it.
    from cnnctl.analysis.roofline import PROFILES, roofline

    path = tmp_path / "net.yaml"
    path.write_text(TINY)
    for args in ([], ["--top", "1"]):  # the table too (it once looked up a roofline time for every row)
        code, out, err = run_main(monkeypatch, capsys, "flops", str(path), "--per-layer", "--profile", "a100", *args)
        assert code == 0, err
        rows = [line.split()[0] for line in out.splitlines() if line.strip()]
        assert "aux_pool" not in rows and "aux" not in rows  # named only in the head's own line
        assert "Head `aux` (training only" in out
    code, out, err = run_main(monkeypatch, capsys, "flops", str(path), "--per-layer", "--profile", "a100", "-f", "json")
    data = json.loads(out)
    # by mults: trunk 8*8*4*27 = 6,912, mid 8*8*6*4 = 1,536, out 6*5 = 30, gap none
    assert [row["path"] for row in data["layers"]] == ["trunk", "mid", "out", "gap"]
    assert sum(row["flops"] for row in data["layers"]) == data["flops"]
    assert sum(row["seconds"] for row in data["layers"]) == pytest.approx(data["roofline"]["seconds"])
    graph = load_text(TINY, tmp_path)
    step = [t.path for t in roofline(graph, PROFILES["a100"], training=True).layers]
    assert {"aux_pool", "aux"} <= set(step)


# -- compare and draw: the counts at inference and with the heads; the heads drawn apart --------
# Published counts (test_architectures): with the heads, and at inference with the heads' multiplications.
def published(net: str) -> dict:
    from test_architectures import HEADS, REFERENCE

    (params, mults), (inference_params, head_mults) = REFERENCE[net][1:], HEADS[net]
    return {"params": params, "inference_params": inference_params, "mults": mults,
            "mults_with_heads": mults + head_mults}  # fmt: skip


@pytest.mark.parametrize("net", ["googlenet", "inception_v3"])
def test_compare_states_params_and_mults_at_inference_and_with_the_heads(net, monkeypatch, capsys):
    # compare gave the params with the heads beside the multiplications without them
    want, resnet18 = published(net), 11_689_512  # torchvision's ResNet-18: no heads, one count
    code, out, err = run_main(monkeypatch, capsys, "compare", net, "resnet18", "-f", "json")
    assert code == 0, err
    a, b = json.loads(out)["networks"]
    assert {k: a[k] for k in want} == want
    assert (b["params"], b["inference_params"], b["heads"]) == (resnet18, resnet18, [])
    code, out, err = run_main(monkeypatch, capsys, "compare", net, "resnet18", "-f", "csv")
    rows = {row[0]: row[1:3] for row in csv.reader(io.StringIO(out)) if row}
    assert rows["params at inference"] == [str(want["inference_params"]), str(resnet18)]
    assert rows["multiplications (forward at inference, per image)"][0] == str(want["mults"])
    assert rows["params with the heads (training)"] == [str(want["params"]), str(resnet18)]
    assert rows["multiplications with the heads (training forward, per image)"][0] == str(want["mults_with_heads"])
    assert "params" not in rows  # one name for one count


@pytest.mark.parametrize("net", ["googlenet", "inception_v3"])
def test_flops_states_params_at_inference_as_list_does_and_with_the_heads(net, monkeypatch, capsys):
    # flops gave the params with the heads beside the multiplications without them, where list
    # gives both at inference: a row at inference and one with the heads, as compare's
    want = published(net)
    code, out, err = run_main(monkeypatch, capsys, "flops", net, "-f", "csv")
    assert code == 0, err
    rows = {row[0]: row[2] for row in csv.reader(io.StringIO(out)) if row}  # by the JSON's key
    words = {row[0]: row[1] for row in csv.reader(io.StringIO(out)) if row}
    assert rows["inference_params"] == str(want["inference_params"]) and words["inference_params"] == "params at " \
        "inference"  # fmt: skip
    # one name for one count: `params` counts the heads, in CSV as in JSON
    assert rows["params"] == str(want["params"]) and words["params"] == "params with the heads (training)"
    assert rows["mults"] == str(want["mults"])
    code, out, err = run_main(monkeypatch, capsys, "flops", net, "-f", "json")
    data = json.loads(out)  # the keys as list's and summarize's: `params` counts the heads
    assert {k: data[k] for k in want} == want
    code, out, err = run_main(monkeypatch, capsys, "list", "-f", "json")
    listed = next(e for e in json.loads(out)["networks"] if e["name"] == net)
    assert (listed["params"], listed["inference_params"]) == (want["params"], want["inference_params"])


def test_flops_of_a_network_without_heads_has_one_params_row(monkeypatch, capsys):
    code, out, err = run_main(monkeypatch, capsys, "flops", "resnet18", "-f", "csv")
    assert code == 0, err
    rows = [row[0] for row in csv.reader(io.StringIO(out)) if row]
    assert rows.count("params") == 1 and not any("with_heads" in r for r in rows) and "inference_params" not in rows


def _dashed(dot: str) -> set[str]:
    """The boxes a DOT text draws dashed (the heads')."""
    return set(re.findall(r'^\s*(\w+) \[label=<.*style="rounded,filled,dashed"', dot, re.M))


@pytest.mark.parametrize("net", ["googlenet", "inception_v3"])
def test_draw_states_both_counts_and_draws_the_heads_dashed_as_training_only(net, tmp_path, monkeypatch, capsys):
    # draw's title gave the params with the heads beside the multiplications without them, and
    # drew the heads as any other layer
    want, graph = published(net), cnnctl.load(net)
    code, out, err = run_main(monkeypatch, capsys, "draw", net, "-o", str(tmp_path / "n.dot"), "-f", "json")
    assert code == 0, err
    data = json.loads(out)
    assert {k: data[k] for k in want} == want
    dot = (tmp_path / "n.dot").read_text()
    title = re.search(r"label=<<table[^>]*><tr><td><b>(.*?)</b><br/>(.*?)</td>", dot)  # the legend under them
    assert title, dot[:500]
    assert f"{want['inference_params']:,} params" in title[1] and "at inference" in title[1]
    assert "training only" in title[2] and f"{want['params']:,} params" in title[2]  # the legend
    heads = {f"n{i}" for i in graph.training_only}
    assert heads and _dashed(dot) == heads
    assert {b["key"] for b in data["boxes"] if b.get("training_only")} == heads
    code, _, err = run_main(monkeypatch, capsys, "draw", net, "-o", str(tmp_path / "n.mmd"))
    mermaid = (tmp_path / "n.mmd").read_text()
    assert code == 0 and "training only" in mermaid.splitlines()[1], err  # the title's legend
    (marked,) = re.findall(r"^  class (\S+) training$", mermaid, re.M)
    assert set(marked.split(",")) == heads


def test_draw_marks_googlenets_aux_layers_and_collapsed_heads(tmp_path, monkeypatch, capsys):
    graph = cnnctl.load("googlenet")
    code, _, err = run_main(monkeypatch, capsys, "draw", "googlenet", "-o", str(tmp_path / "g.dot"))
    assert code == 0, err
    dashed = {graph.nodes[int(key[1:])].path for key in _dashed((tmp_path / "g.dot").read_text())}
    assert dashed == {f"aux{k}.{layer}" for k in (1, 2) for layer in ("pool1", "conv1", "fc1", "dropout1", "fc2")}
    code, out, err = run_main(monkeypatch, capsys, "draw", "googlenet", "-d", "1", "-o", str(tmp_path / "g1.dot"),
                              "-f", "json")  # fmt: skip
    boxes = {b["key"]: b["path"] for b in json.loads(out)["boxes"]}
    assert {boxes[key] for key in _dashed((tmp_path / "g1.dot").read_text())} == {"aux1", "aux2"}
    assert re.search(r"aux1: aux \(training only\)", (tmp_path / "g.dot").read_text())  # the cluster's title


def test_a_network_without_heads_is_drawn_as_before(tmp_path, monkeypatch, capsys):
    code, out, err = run_main(monkeypatch, capsys, "draw", "resnet18", "-o", str(tmp_path / "r.dot"), "-f", "json")
    dot = (tmp_path / "r.dot").read_text()
    assert code == 0 and not _dashed(dot) and "training only" not in dot, err
    assert "<tr><td><b>resnet18: 224x224x3 to 1000, 11,689,512 params, 1.81 G mults</b></td></tr>" in dot


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's `dot` is not installed")
def test_the_heads_are_dashed_in_the_svg_graphviz_draws(tmp_path, monkeypatch, capsys):
    import xml.etree.ElementTree as ET

    (tmp_path / "net.yaml").write_text(TINY)
    code, _, err = run_main(monkeypatch, capsys, "draw", str(tmp_path / "net.yaml"), "-o", str(tmp_path / "n.svg"))
    assert code == 0, err
    svg = "{http://www.w3.org/2000/svg}"
    graph = load_text(TINY, tmp_path)
    dashed = set()
    for g in ET.parse(tmp_path / "n.svg").getroot().iter(f"{svg}g"):
        if g.get("class") == "node" and any(p.get("stroke-dasharray") for p in g.iter(f"{svg}path")):
            dashed.add(g.find(f"{svg}title").text)
    assert dashed == {f"n{i}" for i in graph.training_only} == {"n1", "n2"}  # aux_pool, aux


# -- the module, the loss, export ----------------------------------------------------------------
torch = pytest.importorskip("torch")
F = torch.nn.functional


def by_hand(state: dict, x):
    """The tiny network's main output and its head's, from its weights."""
    trunk = F.relu(F.conv2d(x, state["trunk.weight"], state["trunk.bias"], padding=1))
    aux = F.linear(trunk.mean((2, 3)), state["aux.weight"], state["aux.bias"])
    mid = F.relu(F.conv2d(trunk, state["mid.weight"], state["mid.bias"]))
    return F.linear(mid.mean((2, 3)), state["out.weight"], state["out.bias"]), aux


def test_training_returns_main_and_head_and_the_loss_is_main_plus_weight_times_head(tmp_path):
    from cnnctl.api import to_torch
    from cnnctl.train.metrics import training_loss

    graph = load_text(TINY, tmp_path)
    torch.manual_seed(0)
    model = to_torch(graph, logits=True)
    x, y = torch.randn(4, 3, 8, 8), torch.tensor([0, 1, 2, 4])
    main, aux = by_hand(model.state_dict(), x)
    got_main, got_aux = model.train()(x)
    assert torch.allclose(got_main, main, atol=1e-6) and torch.allclose(got_aux, aux, atol=1e-6)
    loss, logits = training_loss((got_main, got_aux), y, tuple(h.weight for h in graph.heads))
    assert torch.allclose(loss, F.cross_entropy(main, y) + 0.3 * F.cross_entropy(aux, y), atol=1e-6)
    assert logits is got_main  # what accuracy is scored on
    evaluated = model.eval()(x)
    assert isinstance(evaluated, torch.Tensor) and torch.allclose(evaluated, main, atol=1e-6)  # the main output only


def test_export_drops_the_heads(tmp_path):
    pytest.importorskip("onnx")
    import onnx

    from cnnctl.exchange.export import export

    graph = load_text(TINY, tmp_path)
    export(graph, "onnx", str(tmp_path / "net.onnx"))
    names = {t.name for t in onnx.load(str(tmp_path / "net.onnx")).graph.initializer}
    assert names and not any(name.startswith(("aux.", "aux_pool.")) for name in names)
    exported = export(graph, "pytorch", str(tmp_path / "net.py"))
    source = (tmp_path / "net.py").read_text()
    assert exported.checked and "self.aux" not in source and "self.out" in source


def test_fine_tuning_resizes_the_heads_with_the_main_output(tmp_path):
    from cnnctl.train.finetune import made_anew

    path = tmp_path / "net.yaml"
    path.write_text(TINY)
    graph = cnnctl.load(str(path), None, {"out": 3})  # a new head for 3 classes, as a run from weights builds it
    assert graph.output_shape == (3,) and graph.nodes[graph.heads[0].index].shape == (3,)
    assert made_anew(graph, "out") == ("out", "aux")
    assert made_anew(graph, "mid") == ("mid",)  # another layer as the head (--head): the heads stay


def test_weights_without_the_heads_place_the_rest_and_say_the_heads_start_as_initialised(tmp_path):
    from cnnctl.api import to_torch
    from cnnctl.exchange.weights import place_weights
    from cnnctl.graph.outputs import inference_graph
    from cnnctl.train.weights_from import placement_said

    graph = load_text(TINY, tmp_path)
    torch.manual_seed(1)
    source = to_torch(inference_graph(graph)).state_dict()  # the network without its head, trained elsewhere
    torch.save(source, tmp_path / "source.pt")
    model = to_torch(graph)
    head = {k: v.clone() for k, v in model.state_dict().items() if k.startswith("aux.")}
    placement = place_weights(model, str(tmp_path / "source.pt"))
    assert [t.own for t in placement.fresh] == ["aux.weight", "aux.bias"]
    state = model.state_dict()
    assert all(torch.equal(state[k], v) for k, v in source.items())  # every other tensor placed
    assert all(torch.equal(state[k], v) for k, v in head.items())  # the head as it was initialised
    assert "their 2 tensors (`aux` to `aux`) start as initialised" in placement_said(placement, "x")
    # Weights that fit neither are the whole network's message, as before.
    torch.save({k: v for k, v in source.items() if k != "out.bias"}, tmp_path / "bad.pt")
    with pytest.raises(CnnctlError, match="tensors"):
        place_weights(to_torch(graph), str(tmp_path / "bad.pt"))


def test_cnnctl_weights_lists_the_heads_tensors_the_source_has_none_for_as_initialised(tmp_path, monkeypatch, capsys):
    from cnnctl.api import to_torch
    from cnnctl.graph.outputs import inference_graph

    graph = load_text(TINY, tmp_path)
    torch.save(to_torch(inference_graph(graph)).state_dict(), tmp_path / "main.pt")  # no tensor of the head
    args = ("weights", str(tmp_path / "net.yaml"), str(tmp_path / "main.pt"))
    code, out, err = run_main(monkeypatch, capsys, *args)
    assert code == 0, err
    rows = {line.split()[0]: line for line in out.splitlines() if line.startswith("aux")}
    # the head's fc takes the 4 channels of the trunk's global average to 5 classes: 5x4 and 5
    assert set(rows) == {"aux.weight", "aux.bias"}
    assert rows["aux.weight"].split()[1:] == ["(as", "initialised;", "the", "source", "has", "none)", "5x4"]
    assert rows["aux.bias"].split()[1:] == ["(as", "initialised;", "the", "source", "has", "none)", "5"]
    assert "6 tensors from" in out and "2 tensors of the heads only training runs start as initialised" in out
    code, out, err = run_main(monkeypatch, capsys, *args, "--format", "json")
    fresh = [t for t in json.loads(out)["tensors"] if t["from"] is None]
    assert fresh == [{"tensor": "aux.weight", "from": None, "shape": [5, 4]},
                     {"tensor": "aux.bias", "from": None, "shape": [5]}]  # fmt: skip


def test_a_run_trains_the_heads_fine_tunes_them_with_the_main_head_and_resumes(tmp_path, monkeypatch, capsys):
    pytest.importorskip("PIL.Image")
    from cnnctl.api import to_torch
    from tests.test_stream import coded_folder

    seven = TINY.replace("fc 5", "fc 7")  # trained elsewhere for 7 classes, the data has 3
    graph = load_text(seven, tmp_path, "net7.yaml")
    torch.manual_seed(3)
    source = to_torch(graph).state_dict()
    torch.save(source, tmp_path / "source.pt")
    data, run = coded_folder(tmp_path / "imgs", n=24, classes=3), tmp_path / "run"
    args = ("train", str(tmp_path / "net7.yaml"), "--data", str(data), "--weights", str(tmp_path / "source.pt"),
            "--epochs", "1", "--batch-size", "8", "--device", "cpu", "--out", str(run))  # fmt: skip
    code, out, err = run_main(monkeypatch, capsys, *args)
    assert code == 0, err
    assert "head: `out` made anew for the data's 3 classes" in out and "the auxiliary heads' `aux` with it" in out
    # the rows' two losses sum different things: said once, in the set-up lines
    assert " ".join(out.split()).count("train loss: the main output's + 0.3 x aux (the heads run in training only); "
                                       "val loss: the main output's alone") == 1  # fmt: skip
    model = torch.load(run / "last.pt", weights_only=True)["model"]
    assert model["aux.weight"].shape == (3, 4) and model["out.weight"].shape == (3, 6)  # both for the data's classes
    assert not torch.equal(model["aux.weight"], source["aux.weight"][:3])  # made anew and trained, not the source's
    code, out, err = run_main(monkeypatch, capsys, "evaluate", str(run), "--device", "cpu", "--format", "json")
    assert code == 0, err  # the main output only
    code, out, err = run_main(monkeypatch, capsys, "train", "--resume", str(run), "--epochs", "2")
    assert code == 0, err


def test_a_run_from_weights_without_the_heads_lists_them_in_weights_txt(tmp_path, monkeypatch, capsys):
    pytest.importorskip("PIL.Image")
    from cnnctl.api import to_torch
    from cnnctl.graph.outputs import inference_graph
    from tests.test_stream import coded_folder

    seven = TINY.replace("fc 5", "fc 7")  # the main network trained elsewhere for 7 classes, the data has 3
    torch.save(to_torch(inference_graph(load_text(seven, tmp_path, "net7.yaml"))).state_dict(), tmp_path / "main.pt")
    data, run = coded_folder(tmp_path / "imgs", n=12, classes=3), tmp_path / "run"
    code, out, err = run_main(monkeypatch, capsys, "train", str(tmp_path / "net7.yaml"), "--data", str(data),
                              "--weights", str(tmp_path / "main.pt"), "--epochs", "1", "--batch-size", "4",
                              "--device", "cpu", "--out", str(run))  # fmt: skip
    assert code == 0, err
    table = {line.split()[0]: line.split()[1:] for line in (run / "weights.txt").read_text().splitlines()[2:]}
    assert table["out.weight"] == ["(made", "anew;", "out.weight", "of", "7x6", "left", "out)", "3x6"]
    # the head is made anew with the main one, for 3 classes, and the source has nothing for it
    assert table["aux.weight"] == ["(as", "initialised;", "the", "source", "has", "none)", "3x4"]
    assert table["aux.bias"] == ["(as", "initialised;", "the", "source", "has", "none)", "3"]
    assert table["trunk.weight"] == ["trunk.weight", "4x3x3x3"]
