"""cnnctl.analysis.summarize (depth, memory, batch, dtype), the renderers, and the CLI end to end."""

import csv
import io
import json
import re
import subprocess
import sys

import pytest

import cnnctl
from cnnctl.analysis.diagram import diagram
from cnnctl.analysis.summary import heaviest, summarize
from cnnctl.render.table import Column, Table, markdown, num, plain, rich, to_csv
from cnnctl.render.views.catalog import catalog_table
from cnnctl.render.views.flops import flops_json, flops_table
from cnnctl.render.views.summary import summary_json, summary_table
from cnnctl.words import both, exact, loss, percent, plural, share, short, size

# Published references (see tests/test_architectures.py): torchvision's ResNet-50, LeCun's LeNet-5.
RESNET50_PARAMS = 25_557_032
RESNET50_MULTS = 4_089_184_256
LENET_PARAMS = 61_706
LENET_MULTS = 416_520
# LeNet-5 output values: 28*28*6 + 14*14*6 + 10*10*16 + 5*5*16 + 120 + 84 + 10
#                      = 4,704 + 1,176 + 1,600 + 400 + 120 + 84 + 10 = 8,094
LENET_VALUES = 8_094
# LeNet-5 FLOPs by the documented convention (2*mults + bias adds + element-wise):
#   conv1 2*117,600 + 4,704 bias + 4,704 tanh = 244,608
#   pool1 avg 2x2: 1,176 outputs * 4          =   4,704
#   conv2 2*240,000 + 1,600 + 1,600           = 483,200
#   pool2 400 * 4                             =   1,600
#   fc1   2*48,000 + 120 + 120                =  96,240
#   fc2   2*10,080 + 84 + 84                  =  20,328
#   fc3   2*840 + 10 + 3*10 (softmax)         =   1,720
#   total                                     = 852,400
LENET_FLOPS = 852_400


@pytest.fixture(scope="module")
def resnet50():
    return cnnctl.load("resnet50")


@pytest.fixture(scope="module")
def lenet():
    return cnnctl.load("lenet5")


# -- summarize -----------------------------------------------------------------------------------
def test_full_summary_has_one_row_per_layer(lenet):
    s = summarize(lenet)
    assert [r.path for r in s.rows] == ["conv1", "pool1", "conv2", "pool2", "fc1", "fc2", "fc3"]
    assert (s.params, s.mults, s.flops, s.layers) == (LENET_PARAMS, LENET_MULTS, LENET_FLOPS, 7)
    assert [r.params for r in s.rows] == [156, 0, 2_416, 0, 48_120, 10_164, 850]  # 5*5*6+6, 5*5*6*16+16, ...
    assert s.rows[4].inputs == ("pool2",)
    assert s.rows[0].inputs == ("input",)


def test_depth_1_collapses_resnet50(resnet50):
    s = summarize(resnet50, depth=1)
    # conv1, bn1, maxpool, layer1..layer4, avgpool, fc
    assert [r.path for r in s.rows] == [
        "conv1",
        "bn1",
        "maxpool",
        "layer1",
        "layer2",
        "layer3",
        "layer4",
        "avgpool",
        "fc",
    ]
    layer1 = s.rows[3]
    assert layer1.kind == "group"
    # 3 bottlenecks x (6 layers + add) + projection conv and bn = 23
    assert layer1.layers == 23
    # layer1 params: first block 64*64 + 128 + 9*64*64 + 128 + 64*256 + 512 + (64*256 + 512) = 75,008;
    # the other two 256*64 + 128 + 36,864 + 128 + 64*256 + 512 = 70,400 each -> 75,008 + 140,800
    assert layer1.params == 215_808
    # layer1 mults at 56*56 = 3,136 positions:
    #   block 1: 3136*64*64 + 3136*64*576 + 3136*256*64 + 3136*256*64 (projection) = 231,211,008
    #   blocks 2, 3: 3136*64*256 + 3136*64*576 + 3136*256*64 = 218,365,952 each
    assert layer1.mults == 231_211_008 + 2 * 218_365_952
    assert layer1.shape == (56, 56, 256)
    # groups sum to the totals
    assert sum(r.params for r in s.rows) == RESNET50_PARAMS
    assert sum(r.mults for r in s.rows) == RESNET50_MULTS
    assert sum(r.layers for r in s.rows) == s.layers == 125  # 3 + 16*7 + 4*2 + 2


def test_depth_2_collapses_resnet50(resnet50):
    s = summarize(resnet50, depth=2)
    # 3 stem rows + 3 + 4 + 6 + 3 blocks + avgpool + fc = 21
    assert len(s.rows) == 21
    rows = {r.path: r for r in s.rows}
    assert rows["layer1.1"].layers == 9  # 6 + projection conv, bn + add
    assert rows["layer1.2"].layers == 7
    assert rows["layer1.2"].params == 70_400
    assert rows["fc"].kind == "fc" and rows["fc"].layers == 1
    assert sum(r.mults for r in s.rows) == RESNET50_MULTS
    # deep enough, nothing collapses
    assert len(summarize(resnet50, depth=10).rows) == 125


def test_memory_lenet_float32(lenet):
    m = summarize(lenet).memory
    assert m.input == 32 * 32 * 1 * 4  # 4,096 bytes
    assert m.activations == LENET_VALUES * 4  # 32,376
    assert m.params == LENET_PARAMS * 4  # 246,824
    assert m.total == 4_096 + 32_376 + 246_824


def test_memory_batch_and_dtype(lenet):
    m = summarize(lenet, batch=8, dtype="float16").memory
    assert (m.batch, m.dtype) == (8, "float16")
    assert m.input == 1024 * 8 * 2  # values x batch x 2 bytes
    assert m.activations == LENET_VALUES * 8 * 2  # 129,504
    assert m.params == LENET_PARAMS * 2  # parameters do not grow with the batch
    assert summarize(lenet, dtype="float64").memory.activations == LENET_VALUES * 8
    assert summarize(lenet, dtype="int8").memory.params == LENET_PARAMS


def test_memory_counts_bn_buffers(resnet50):
    m = summarize(resnet50).memory
    assert resnet50.buffers == sum(n.params for n in resnet50.nodes if n.kind == "bn")  # 2C each
    # params and buffers apart (nu5: the line said `params` of both)
    assert (m.params, m.buffers) == (RESNET50_PARAMS * 4, resnet50.buffers * 4)
    assert m.total == m.input + m.activations + m.params + m.buffers


def test_summarize_memory_line_names_params_and_buffers_apart():
    # ex06: conv 3x3x3x4 without bias (108), bn 2 x 4 (8), fc 36 x 10 + 10 (370): 486 params,
    # 1,944 bytes; bn's running mean and variance, 2 x 4 buffers: 32 bytes
    text = "input: 8x8x3\nlayers: [conv f=3 n=4 bias=false, bn act=relu, pool max f=2, flatten, dropout 0.3, fc 10]"
    s = summarize(cnnctl.load_text(text))
    memory = summary_json(s)["memory"]
    assert (memory["param_bytes"], memory["buffer_bytes"]) == (486 * 4, 8 * 4)
    assert memory["weight_bytes"] == (486 + 8) * 4  # memory's name for the two together
    line = next(n for n in summary_table(s).notes if n.startswith("Memory ("))
    assert "params 1.90 KiB, buffers 32 B," in line


def test_summarize_memory_line_says_what_its_activations_are(lenet):
    # read beside torchinfo's "forward/backward pass size" (about twice): the line says what it counts.
    # LeNet-5's outputs, 8,094 values (conv1 4,704, pool1 1,176, conv2 1,600, pool2 400, fc 120 + 84 + 10) x 4 bytes
    line = next(n for n in summary_table(summarize(lenet)).notes if n.startswith("Memory ("))
    assert f"activations {8_094 * 4 / 1024:.2f} KiB (every layer's output once, one forward pass)" in line
    assert line.endswith("a training step keeps more for the backward pass, and gradients: `cnnctl memory`)")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"depth": 0}, "^error: depth must be at least 1, got 0$"),
        ({"batch": 0}, "^error: batch must be at least 1, got 0$"),
        ({"dtype": "float8"}, "unknown dtype"),
    ],
)
def test_summarize_rejects_bad_options(lenet, kwargs, match):
    with pytest.raises(cnnctl.CnnctlError, match=match):
        summarize(lenet, **kwargs)


def test_heaviest_orders_by_mults(lenet):
    rows = heaviest(summarize(lenet))
    assert [r.path for r in rows[:3]] == ["conv2", "conv1", "fc1"]  # 240,000 > 117,600 > 48,000
    # the pools tie at 0 mults, broken by FLOPs: pool1 4,704 > pool2 1,600
    assert [r.path for r in rows[-2:]] == ["pool1", "pool2"]


# -- numbers and tables ----------------------------------------------------------------------------
def test_numbers():
    assert exact(15_470_264_320) == "15,470,264,320"
    assert short(15_470_264_320) == "15.47 G"
    assert short(61_706) == "61.71 K"
    assert short(999) == "999"
    assert both(61_706) == "61,706 (61.71 K)"
    assert both(850) == "850"
    assert size(1024) == "1.00 KiB"
    assert size(512) == "512 B"
    assert size(3 * 1024 * 1024) == "3.00 MiB"
    assert percent(1, 4) == "25.0%"
    assert percent(1, 0) == "-"


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [(1.008e-08, "10.1 ns"), (2.01e-07, "201 ns"), (6.9e-06, "6.90 µs"), (9.996e-06, "10.0 µs"),
     (0.99996e-3, "1.00 ms"), (2.5e-3, "2.50 ms"), (0.0999996, "100 ms"), (1.0, "1.00 s"), (1234.4, "1,234 s"),
     (5e-10, "0.500 ns"), (0.0, "0 s")],
)  # fmt: skip
def test_durations_in_the_unit_that_fits_to_three_significant_digits(seconds, shown):
    from cnnctl.words import duration

    assert duration(seconds) == shown


@pytest.mark.parametrize(
    ("x", "shown"),
    [(1_814_073_344 / 416_520, "4,355x"), (1.25, "1.25x"), (29.699, "29.7x"), (9.996, "10.0x"), (0.0123456, "0.0123x"),
     (314.004, "314x"), (99.96, "100x"), (1000.4, "1,000x")],
)  # fmt: skip
def test_ratios_to_three_significant_digits_with_an_x(x, shown):
    from cnnctl.words import ratio

    assert ratio(x) == shown


def test_sizes_in_a_unit_given():
    from cnnctl.words import size_in, size_unit

    # 1,014.30 MiB beside 1.02 GiB: in GiB, 1014.3 / 1024 = 0.9905...
    assert size_in(round(1014.3 * 2**20), "GiB") == "0.99 GiB" and size_unit(round(1014.3 * 2**20)) == "MiB"
    assert size_in(3 * 2**20, "MiB") == size(3 * 2**20) == "3.00 MiB"
    assert size_in(512, "B") == "512 B" and size_unit(1024 * 1024 - 1) == "MiB"


def test_short_numbers_round_into_the_next_unit():
    # 999,999 is 1.00 M to two decimals, not 1000.00 K; 1,048,575 bytes is 1.00 MiB, not 1024.00 KiB
    assert short(999_999) == "1.00 M"
    assert short(999_995_000) == "1.00 G"
    assert size(1024 * 1024 - 1) == "1.00 MiB"


def test_plain_table_has_thousands_separators(lenet):
    text = plain(summary_table(summarize(lenet)))
    assert "61,706" in text  # params total
    assert "416,520" in text  # mults total
    assert "117,600" in text  # conv1: (28*28*6) x (5*5*1)
    lines = text.splitlines()
    header = next(i for i, ln in enumerate(lines) if ln.startswith("Layer"))
    assert set(lines[header + 1].replace(" ", "")) == {"-"}


def test_plain_table_alignment():
    t = Table("t", [Column("name"), num("n", exact)], [["a", 1], ["bbb", 1000]])
    assert plain(t) == "t\nname      n\n----  -----\na         1\nbbb   1,000\n"


def test_json_round_trips_totals(lenet):
    data = json.loads(json.dumps(summary_json(summarize(lenet, batch=2))))
    assert data["totals"]["params"] == LENET_PARAMS
    assert data["totals"]["mults"] == LENET_MULTS
    assert data["totals"]["flops"] == LENET_FLOPS
    assert data["totals"]["layers"] == 7
    assert data["input"] == "32x32x1" and data["output"] == "10"
    assert data["memory"]["activation_bytes"] == LENET_VALUES * 2 * 4
    assert [row["output"] for row in data["layers"]] == ["28x28x6", "14x14x6", "10x10x16", "5x5x16", "120", "84", "10"]


def test_csv_header_and_rows(lenet):
    chosen = ("layer", "shorthand", "output", "params", "mults", "field", "memory")
    text = to_csv(summary_table(summarize(lenet), chosen))
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0][:5] == ["layer", "shorthand", "output", "params", "mults"]
    assert to_csv(summary_table(summarize(lenet))).splitlines()[0] == "layer,shorthand,output,params,mults,field"
    assert len(rows) == 1 + 7
    # raw values for scripts: no thousands separators, memory in bytes (28*28*6 values * 4);
    # the field of a first 5x5 conv is its filter, 5 pixels
    assert rows[1] == ["conv1", "conv f=5 n=6 act=tanh", "28x28x6", "156", "117600", "5", str(28 * 28 * 6 * 4)]


def test_markdown_pipes(lenet):
    text = markdown(summary_table(summarize(lenet)))
    table_lines = [ln for ln in text.splitlines() if ln.startswith("|")]
    assert len(table_lines) == 2 + 7  # header, separator, one per layer
    assert all(ln.endswith("|") for ln in table_lines)
    assert "---:" in table_lines[1]  # numeric columns right-aligned
    cols = table_lines[0].count("|")
    assert all(ln.count("|") == cols for ln in table_lines)
    assert markdown(Table("", [Column("a|b")], [["x|y"]])).splitlines()[0] == "| a\\|b |"


def test_flops_json_shares(lenet):
    data = flops_json(summarize(lenet), per_layer=True)
    assert data["mults"] == LENET_MULTS and data["flops"] == LENET_FLOPS
    assert sum(r["mults"] for r in data["layers"]) == LENET_MULTS
    assert sum(r["mults_share"] for r in data["layers"]) == pytest.approx(1.0)
    assert data["layers"][0]["path"] == "conv2"
    assert data["layers"][0]["mults_share"] == pytest.approx(240_000 / 416_520)


def test_flops_json_top_keeps_the_rest_in_one_entry_as_the_table_does(lenet):
    # --top cut the JSON's layers silently while the table summed the rest in an "(N other layers)" row
    s = summarize(lenet)
    data = flops_json(s, per_layer=True, top=2)
    # conv2 10x10x16 x 5x5x6 = 240,000 and conv1 28x28x6 x 5x5x1 = 117,600 multiplications
    assert [r["path"] for r in data["layers"]] == ["conv2", "conv1"]
    rest = data["others"]
    assert rest["layers"] == len(heaviest(s)) - 2
    assert (
        rest["mults"] == LENET_MULTS - 240_000 - 117_600
        and rest["flops"] + sum(r["flops"] for r in data["layers"]) == LENET_FLOPS
    )
    other_row = plain(flops_table(s, per_layer=True, top=2)).split(f"({rest['layers']} other layers)")[1]
    assert f"{rest['mults']:,}" in other_row.splitlines()[0]
    assert "others" not in flops_json(s, per_layer=True)  # nothing left over without --top


def test_big_numbers_have_units_above_tera():
    assert short(416_520 * 10**12) == "416.52 P"  # LeNet mults x a batch of 1e12, was `416520.00 T`
    assert short(1_500 * 10**15) == "1.50 E"
    assert short(999_999 * 10**9) == "1.00 P"
    assert short(10**24) == "1.00 Y"
    assert short(1234 * 10**24) == "1234.00 Y"  # past the last unit, still in it


def test_big_sizes_have_binary_units_up_to_yobibytes():
    # A batch of 1e14 images of a large network used to print `465661287308466.88 TiB`.
    assert size(3 * 2**50) == "3.00 PiB"
    assert size(5 * 2**60) == "5.00 EiB"
    assert size(2**80) == "1.00 YiB"
    assert size(2048 * 2**80) == "2,048.00 YiB"
    assert size(1000 * 2**20) == "1,000.00 MiB"  # thousands separated, as every number in a table


def test_plural():
    assert plural(1, "layer") == "1 layer"
    assert plural(2, "layer") == "2 layers"
    assert plural(1000, "layer") == "1,000 layers"
    assert share(0.25) == "25.0%" and share(None) == "-"


def test_a_group_of_one_layer_reads_as_that_layer():
    # a block whose one layer is named keeps its level: one1.c collapses into `one1`, which
    # shows that layer's shorthand (it said `(1 layer)`)
    one = "input: 8x8x1\nblocks:\n  one:\n    layers:\n      - conv f=3 n=2 id=c\nlayers:\n  - one\n"
    rows = summarize(cnnctl.load_text(one), depth=1).rows
    assert [(r.path, r.kind, r.text) for r in rows] == [("one1", "conv", "conv f=3 n=2")]
    two = "input: 8x8x1\nlayers:\n  - residual:\n      - conv f=3 p=1 n=1\n"
    assert summarize(cnnctl.load_text(two), depth=1).rows[0].text == "residual identity (2 layers)"


# ResNet-50's bottleneck (architectures/resnet50.yaml), used once at the top level as written below
BOTTLENECK_ONCE = """input: 56x56x64
blocks:
  bottleneck:
    args: n s=1 shortcut=identity
    layers:
      - residual:
          - conv f=1 n=$n bias=false
          - bn act=relu
          - conv f=3 s=$s p=1 n=$n bias=false
          - bn act=relu
          - conv f=1 n=${n*4} bias=false
          - bn
        shortcut: $shortcut
        act: relu
layers:
  - bottleneck n=64 shortcut=projection
  - concat:
      - [conv f=1 n=8]
      - [conv f=1 n=8, bn]
"""


def test_a_collapsed_row_says_what_was_written_then_its_count(resnet50):
    """--depth 1: a row that is one use of a block (or a construct) shows the call as written,
    as draw's collapsed box does, then its count; a path where nothing was written (a branch)
    keeps only the count."""
    graph = cnnctl.load_text(BOTTLENECK_ONCE)
    rows = {r.path: r for r in summarize(graph, depth=1).rows}
    # 3 convs + 3 bns in the body, the projection's conv + bn, the add: 9 layers
    assert rows["bottleneck1"].text == "bottleneck n=64 shortcut=projection, residual projection (9 layers)"
    assert rows["concat1"].text == "concat of 2 branches (4 layers)"
    shown = {r["path"]: r["shorthand"] for r in summary_json(summarize(graph, depth=1))["layers"]}
    assert shown["bottleneck1"] == rows["bottleneck1"].text  # JSON says the same
    branches = {r.path: r.text for r in summarize(graph, depth=2).rows}
    assert branches["concat1.branch2"] == "(2 layers)"  # a branch: nothing written there
    # draw's collapsed box says the same (one wording for both)
    box = next(b for b in diagram(graph, depth=1).boxes if b.path == "bottleneck1")
    assert f"{box.text} ({box.layers} layers)" == rows["bottleneck1"].text
    # a repeat of one block: layer1 = 3 x (3 convs + 3 bns + add) + the first's projection conv + bn = 23
    stages = {r.path: r.text for r in summarize(resnet50, depth=1).rows}
    assert stages["layer1"] == "3 x bottleneck (23 layers)"
    assert stages["layer3"] == "6 x bottleneck (44 layers)"  # 6 x 7 + 2


def test_csv_is_raw_for_flops_and_list(lenet):
    rows = list(csv.reader(io.StringIO(to_csv(flops_table(summarize(lenet, batch=3), per_layer=False)))))
    # every column named; the short column only restates `exact`; a row by its JSON key first (the words
    # beside it change with the settings: `x batch 3`)
    assert rows[0] == ["key", "count", "exact"]
    assert {key: value for key, _, value in rows[1:]} == {
        "mults": str(LENET_MULTS),
        "flops": str(LENET_FLOPS),
        "batch_mults": str(3 * LENET_MULTS),
        "batch_flops": str(3 * LENET_FLOPS),
        "params": str(LENET_PARAMS),
    }
    assert rows[3][1] == "multiplications x batch 3"
    rows = list(csv.reader(io.StringIO(to_csv(flops_table(summarize(lenet), per_layer=True)))))
    assert rows[1][:4] == ["conv2", "conv f=5 n=16 act=tanh", "240000", str(240_000 / LENET_MULTS)]
    entry = {"name": "lenet5", "input": "32x32x1", "params": LENET_PARAMS, "mults": LENET_MULTS, "description": "d"}
    rows = list(csv.reader(io.StringIO(to_csv(catalog_table([entry])))))
    assert rows == [["name", "input", "inference_params", "mults", "description"],
                    ["lenet5", "32x32x1", "61706", "416520", "d"]]  # fmt: skip
    assert "416.52 K" in plain(catalog_table([entry]))  # the text table keeps the short form


def test_flops_batch_shows_flops_too(lenet):
    s = summarize(lenet, batch=4)
    text = plain(flops_table(s, per_layer=False))
    assert re.search(rf"\nFLOPs x batch 4 +{exact(4 * LENET_FLOPS)} +3\.41 M\n", text)
    assert re.search(rf"\nmultiplications x batch 4 +{exact(4 * LENET_MULTS)} +1\.67 M\n", text)
    assert exact(4 * LENET_FLOPS) in plain(flops_table(s, per_layer=True))
    data = flops_json(s, per_layer=False)
    assert (data["batch_mults"], data["batch_flops"]) == (4 * LENET_MULTS, 4 * LENET_FLOPS)
    assert flops_json(summarize(lenet), per_layer=False)["batch_flops"] == LENET_FLOPS


# -- hostile and awkward names: never markup, never control characters -------------------------------
HOSTILE = 'name: "test [/v2] my net [v2] [bold]b[/bold] \\e[31mred"\ninput: 8x8x1\nlayers:\n  - conv f=3 n=2\n'
SHOWN = "test [/v2] my net [v2] [bold]b[/bold] \\x1b[31mred"


def draw(table: Table, width: int) -> str:
    buf = io.StringIO()
    rich(table, file=buf, width=width)
    return buf.getvalue()


def strip_ansi(text: str) -> str:
    return re.sub(r"\x1b\[[0-9;]*m", "", text)


@pytest.mark.parametrize("width", [80, 160])
def test_rich_shows_markup_and_escapes_control_characters(width):
    s = summarize(cnnctl.load_text(HOSTILE))
    for table in (summary_table(s), flops_table(s, per_layer=True), flops_table(s, per_layer=False)):
        out = draw(table, width)
        assert "\x1b[31mred" not in out  # the file's ESC never reaches the terminal
        assert SHOWN in strip_ansi(out)  # markup shown as written, nothing lost


def test_every_text_renderer_escapes_control_characters():
    from cnnctl.render.table import markdown_text

    s = summarize(cnnctl.load_text(HOSTILE))
    for render, shown in ((plain, SHOWN), (markdown, markdown_text(SHOWN))):  # Markdown: `[` escaped as `\[`
        out = render(summary_table(s))
        assert "\x1b" not in out and shown in out
    # CSV to a terminal too; to a file or a pipe it is data, written as it is (test_rendering)
    assert "\x1b" not in to_csv(Table("t", [Column("a")], [["x\x1by\nz"]]), terminal=True)
    assert to_csv(Table("t", [Column("a")], [["x\x1by\nz"]]), terminal=True).splitlines()[1] == "x\\x1by\\nz"
    assert to_csv(Table("t", [Column("a")], [["x\x1by\nz"]])).splitlines()[1:] == ['"x\x1by', 'z"']


def test_rich_at_82_columns_keeps_every_column_and_number_whole():
    s = summarize(cnnctl.load("googlenet"))
    # 82: the text columns at their narrowest without a word broken: `inception5b.` (12), `act=softmax` (11),
    # From's `inception3a.` (12), beside 10 + 9 + 11 + 5 of numbers and 12 of gaps (at 80 the old table
    # fitted by folding `inception3a.concat` and `act=softmax` inside)
    out = strip_ansi(draw(summary_table(s), 82))
    lines = out.splitlines()
    header = next(ln for ln in lines if ln.startswith("Layer"))
    assert header.split() == ["Layer", "Shorthand", "Output", "From", "Params", "Mults", "Field"]
    assert "…" not in out
    assert all(len(ln) <= 82 for ln in lines[: lines.index("")])  # the table fits
    assert "112x112x64" in out and "118,013,952" in out  # no number truncated or broken
    wider = strip_ansi(draw(summary_table(s), 86))
    assert "inception3a." in wider.split() and "branch1.conv1" in wider.split()  # a long path breaks after a dot
    # notes are not re-wrapped by rich: each is one logical line (the terminal wraps it)
    assert any(ln.startswith("Memory (float32, batch 1): input 588.00 KiB") and ln.endswith("memory`)") for ln in lines)
    wide = strip_ansi(draw(summary_table(s), 160))
    assert re.search(r"\ninception3a\.branch1\.conv1 +conv f=1 n=64 act=relu +28x28x64 ", wide)  # no wrap at 160


def test_rich_flops_per_layer_at_80_columns_wraps_shorthand_at_spaces():
    out = strip_ansi(draw(flops_table(summarize(cnnctl.load("googlenet")), per_layer=True), 80))
    assert "…" not in out
    assert "inception3b.branch2.conv2" in out  # fits whole: the layer column is not squeezed
    assert "346,816,512  21.9%  694,837,248  21.8%" in out
    assert "conv f=3" in out and "\n" + " " * 27 + "p=same" in out  # wrapped at a space, not one token a line


def test_show_uses_rich_only_on_a_terminal(monkeypatch, capsys):
    table = summary_table(summarize(cnnctl.load_text(HOSTILE)))
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    from cnnctl.render.table import show

    show(table, "table")
    assert SHOWN in strip_ansi(capsys.readouterr().out)


# -- the CLI, end to end ---------------------------------------------------------------------------
def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cnnctl", *args], capture_output=True, text=True, timeout=60)


def test_cli_summarize_json():
    r = cli("summarize", "resnet50", "--format", "json")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["totals"]["params"] == RESNET50_PARAMS
    assert data["totals"]["mults"] == RESNET50_MULTS
    assert data["output"] == "1000"
    assert len(data["layers"]) == 125


def test_cli_summarize_depth_batch_json():
    r = cli("summarize", "lenet5", "--depth", "1", "--batch", "4", "--format", "json")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["memory"]["activation_bytes"] == LENET_VALUES * 4 * 4
    assert data["memory"]["batch"] == 4


def test_cli_flops_per_layer_json():
    r = cli("flops", "lenet5", "--per-layer", "--format", "json")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert (data["mults"], data["flops"], data["params"]) == (LENET_MULTS, LENET_FLOPS, LENET_PARAMS)
    assert [row["path"] for row in data["layers"]][:3] == ["conv2", "conv1", "fc1"]


def test_cli_flops_resnet50_json():
    r = cli("flops", "resnet50", "--format", "json")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["mults"] == RESNET50_MULTS and data["params"] == RESNET50_PARAMS


def test_cli_validate_json(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("input: 4x4x1\nlayers:\n  - conv f=5 n=1\n")
    r = cli("validate", "lenet5", "resnet50", "--format", "json")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["ok"] is True
    assert [(f["params"], f["mults"]) for f in data["files"]] == [
        (LENET_PARAMS, LENET_MULTS),
        (RESNET50_PARAMS, RESNET50_MULTS),
    ]
    r = cli("validate", "lenet5", str(bad), "--format", "json")
    assert r.returncode == 2
    data = json.loads(r.stdout)
    assert data["ok"] is False
    assert [f["ok"] for f in data["files"]] == [True, False]
    assert "larger than its padded input" in data["files"][1]["problems"][0]


def test_cli_list_json():
    r = cli("list", "--format", "json")
    assert r.returncode == 0, r.stderr
    listed = json.loads(r.stdout)
    # an object, as every command's JSON is, not a bare array; its layout's version first
    assert list(listed) == ["format_version", "networks"]
    entries = {e["name"]: e for e in listed["networks"]}
    assert entries["resnet50"]["params"] == RESNET50_PARAMS
    assert entries["resnet50"]["mults"] == RESNET50_MULTS
    assert entries["lenet5"]["flops"] == LENET_FLOPS
    assert entries["lenet5"]["input"] == "32x32x1"


def test_cli_list_gives_params_on_the_base_of_its_multiplications():
    # GoogLeNet's 13,378,280 params counted the aux heads beside 1.58 G multiplications without them;
    # summarize: "13,378,280 trainable; 6,998,552 at inference, without the heads"
    entries = {e["name"]: e for e in json.loads(cli("list", "--format", "json").stdout)["networks"]}
    googlenet = entries["googlenet"]
    assert (googlenet["params"], googlenet["inference_params"]) == (13_378_280, 6_998_552)
    assert entries["resnet50"]["inference_params"] == RESNET50_PARAMS  # no heads: the same
    row = next(ln for ln in cli("list").stdout.splitlines() if ln.startswith("googlenet "))
    assert "6,998,552" in row and "13,378,280" not in row


def test_cli_error_exit_code(tmp_path):
    r = cli("summarize", "no_such_network_xyz")
    assert r.returncode == 2
    assert "error:" in r.stderr and "Traceback" not in r.stderr


def test_a_diverging_loss_keeps_to_its_column():
    assert loss(0.12345) == "0.1235" and loss(2.302585) == "2.3026"
    assert loss(7637695449003273630805009629184.0) == "7.638e+30"
    assert loss(float("nan")) == "nan" and loss(float("inf")) == "inf"


def test_no_color_means_no_escape_codes_at_all(monkeypatch):
    # rich drops colours for NO_COLOR but kept bold: `^[[1m` on a terminal (https://no-color.org)
    s = summarize(cnnctl.load("lenet5"))
    assert "\x1b[1m" in draw(summary_table(s), 80)  # bold on a terminal
    monkeypatch.setenv("NO_COLOR", "1")
    out = draw(summary_table(s), 80)
    assert "\x1b" not in out and "lenet5  (bundled: lenet5.yaml)" in out
    from cnnctl.terminal import stderr_console

    assert stderr_console().color_system is None


def test_a_narrow_terminal_wraps_a_shorthand_between_its_words_only():
    # at 40 columns fc3's shorthand was broken inside a word: `act=softma` over `x`
    s = summarize(cnnctl.load("lenet5"))
    out = strip_ansi(draw(summary_table(s), 40))
    assert "act=softmax" in out and "softma\n" not in out.replace(" ", "")
    written = {w for line in out.splitlines() for w in line.split()}
    assert {"f=5", "n=6", "act=tanh", "act=softmax", "f=2", "s=2"} <= written


def test_diagram_and_training_memory_name_their_parameters_not_flags():
    """From Python no `--depth` or `--batch` was given: the analysis names its own parameter (it
    said `--depth must be at least 1`); the CLI refuses the option first, in its own words."""
    from cnnctl.analysis.memory import training_memory

    graph = cnnctl.load("lenet5")
    with pytest.raises(cnnctl.CnnctlError, match="^error: depth must be at least 1, got 0$"):
        diagram(graph, depth=0)
    with pytest.raises(cnnctl.CnnctlError, match="^error: batch must be at least 1, got 0$"):
        training_memory(graph, batch=0)
