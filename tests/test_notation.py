"""The notation: shorthand and mapping forms, positional args and flags, blocks, repeat,
residual, branches, references, naming, input override, warnings and bundled names."""

import textwrap
from pathlib import Path

import pytest
from helpers import make_divisible

import cnnctl
from cnnctl.graph import INPUT

README = Path(__file__).resolve().parent.parent / "README.md"


def load(text: str, **kw):
    return cnnctl.load_text(textwrap.dedent(text), "net.yaml", **kw)


def paths(graph) -> list[str]:
    return [n.path for n in graph.nodes]


def by_path(graph) -> dict:
    return {n.path: n for n in graph.nodes}


def essence(graph) -> list[tuple]:
    """What a graph means, without source locations."""
    return [
        (n.path, n.kind, dict(n.args), n.inputs, n.shape, n.params, n.buffers, n.mults, n.flops, n.text)
        for n in graph.nodes
    ]


# -- shorthand vs mapping ----------------------------------------------------------------------------
def test_shorthand_and_mapping_forms_give_identical_graphs():
    short = load("""
        input: 32x32x3
        layers:
          - conv f=1x7 s=2 p=same n=16 act=relu bias=false id=c1
          - pool max f=3 s=2 ceil
          - bn act=relu
          - fc 10 act=softmax
    """)
    mapping = load("""
        input: 32x32x3
        layers:
          - conv: {f: 1x7, s: 2, p: same, n: 16, act: relu, bias: false}
            id: c1
          - pool: {op: max, f: 3, s: 2, ceil: true}
          - bn: {act: relu}
          - fc: {units: 10, act: softmax}
    """)
    inline = load("""
        input: 32x32x3
        layers:
          - {conv: "f=1x7 s=2 p=same n=16 act=relu bias=false", id: c1}
          - {pool: "max f=3 s=2 ceil"}
          - {bn: "act=relu"}
          - {fc: 10, act: softmax}
    """)
    assert essence(short) == essence(mapping) == essence(inline)
    # and the numbers are right: ceil(32/2) = 16 rows, ceil(32/2) = 16 cols; 1*7*3*16 = 336 params
    first = short.nodes[0]
    assert first.path == "c1"
    assert first.shape == (16, 16, 16)
    assert first.params == 336


# -- positional args and flags ------------------------------------------------------------------------
def test_positional_args():
    g = load("""
        input: 8x8x2
        layers:
          - pool avg f=2
          - dropout 0.3
          - leaky 0.2
          - upsample 3
          - lrn 3
          - fc 120
    """)
    pool, drop, leaky, up, lrn, fc = g.nodes
    assert pool.args.op == "avg"
    assert drop.args.rate == pytest.approx(0.3)
    assert leaky.args.slope == pytest.approx(0.2)
    assert up.args.scale == 3 and up.shape == (12, 12, 2)  # 4*3
    assert lrn.args.size == 3
    assert fc.args.units == 120 and fc.shape == (120,)
    assert fc.params == 12 * 12 * 2 * 120 + 120  # 288*120 + 120 = 34,680


def test_bare_flags_and_bias_false():
    g = load("""
        input: 112x112x4
        layers:
          - pool max f=3 s=2 ceil
          - conv f=1 n=2 bias=false
          - conv f=1 n=2 bias
          - pool avg global
    """)
    pool, c1, c2, gap = g.nodes
    assert pool.args.ceil is True and pool.shape == (56, 56, 4)  # ceil(109/2) + 1
    assert c1.args.bias is False and c1.params == 8  # 1*1*4*2, no bias
    assert c2.args.bias is True and c2.params == 6  # 1*1*2*2 + 2
    assert gap.args["global"] is True and gap.shape == (1, 1, 2)


def test_unknown_argument_is_an_error_with_hint():
    with pytest.raises(cnnctl.CnnctlError) as exc:
        load("""
            input: 8x8x1
            layers:
              - conv f=3 filters=4
        """)
    assert "no argument `filters`" in str(exc.value)
    assert "did you mean `n`" in str(exc.value)


# -- blocks -------------------------------------------------------------------------------------------
BLOCK_FORMS = {
    "string": "args: n s=1",
    "mapping": "args: {n: null, s: 1}",
    "list": "args: [n, s=1]",
}


@pytest.mark.parametrize("form", sorted(BLOCK_FORMS))
def test_block_args_required_and_default(form):
    g = load(f"""
        input: 8x8x4
        blocks:
          unit:
            {BLOCK_FORMS[form]}
            layers:
              - conv f=3 s=$s p=1 n=${{n*4}} bias=false
              - conv f=1 n=${{n // 2}} bias=false
              - conv f=1 n=${{n / 2}} bias=false
        layers:
          - unit n=4
          - unit n=2 s=2
    """)
    nodes = by_path(g)
    # unit1: s=1 default: 8x8 with n*4 = 16 channels; 4 // 2 = 2; 4 / 2 = 2
    assert nodes["unit1.conv1"].shape == (8, 8, 16)
    assert nodes["unit1.conv2"].shape == (8, 8, 2)
    assert nodes["unit1.conv3"].shape == (8, 8, 2)
    # unit2: s=2: floor((8 + 2 - 3)/2) + 1 = 4; n*4 = 8; 2 // 2 = 1; 2 / 2 = 1
    assert nodes["unit2.conv1"].shape == (4, 4, 8)
    assert nodes["unit2.conv3"].shape == (4, 4, 1)
    # unit2.conv1 params: 3*3*2*8 = 144 (input has 2 channels from unit1.conv3)
    assert nodes["unit2.conv1"].params == 144


def test_block_missing_required_arg():
    with pytest.raises(cnnctl.CnnctlError, match=r"block `unit` needs `n`"):
        load("""
            input: 8x8x4
            blocks:
              unit:
                args: n s=1
                layers: [conv f=1 n=$n]
            layers:
              - unit s=2
        """)


def test_a_default_may_use_the_arguments_before_it():
    g = load("""
        input: 8x8x3
        blocks:
          wide:
            args: n m=${n*2} k=${m+n}
            layers: [conv f=1 n=$m, conv f=1 n=$k]
        layers:
          - wide 4
          - wide 4 m=5
    """)
    nodes = by_path(g)
    # m = 4*2 = 8, k = 8+4 = 12; given m=5: k = 5+4 = 9
    assert [nodes[p].shape[2] for p in ("wide1.conv1", "wide1.conv2", "wide2.conv1", "wide2.conv2")] == [8, 12, 5, 9]


def test_a_default_using_a_later_argument_says_so():
    with pytest.raises(cnnctl.CnnctlError) as info:
        load("""
            input: 8x8x3
            blocks:
              wide:
                args: m=${n*2} n=3
                layers: [conv f=1 n=$m]
            layers:
              - wide
        """)
    (problem,) = info.value.problems
    # It used to say "`n` expected a whole number, got `${n*2}`" at the use.
    assert "`n` is declared after the argument whose default uses it" in problem.message
    assert (problem.loc.line, problem.loc.col) == (5, 13)  # the `$` of `${n*2}`


def test_floor_division_and_exact_division():
    text = """
        input: 8x8x4
        blocks:
          half:
            args: n
            layers:
              - conv f=1 n=${{{expr}}}
        layers:
          - half n=5
    """
    assert load(text.format(expr="n // 2")).output_shape == (8, 8, 2)  # 5 // 2 = 2
    # 5 / 2 is 2.5 (exact division), and a conv's `n` takes whole numbers only
    with pytest.raises(cnnctl.CnnctlError, match=r"`n` must be a whole number, got 2\.5: use ceil"):
        load(text.format(expr="n / 2"))


def test_short_block_form_and_dollar_outside_block():
    g = load("""
        input: 8x8x4
        blocks:
          cbr: [conv f=3 p=1 n=8, bn act=relu]
        layers:
          - cbr
          - cbr
    """)
    assert paths(g) == ["cbr1.conv1", "cbr1.bn1", "cbr2.conv1", "cbr2.bn1"]
    with pytest.raises(cnnctl.CnnctlError, match="not in a block"):
        load("""
            input: 8x8x4
            layers:
              - conv f=1 n=$n
        """)


# -- repeat ---------------------------------------------------------------------------------------------
def test_repeat_first_overrides_and_paths():
    g = load("""
        input: 16x16x8
        blocks:
          basic:
            args: n s=1 shortcut=identity
            layers:
              - residual:
                  - conv f=3 s=$s p=1 n=$n bias=false
                  - bn act=relu
                  - conv f=3 p=1 n=$n bias=false
                  - bn
                shortcut: $shortcut
                act: relu
        layers:
          - repeat: 2
            id: layer2
            layers: [basic n=16]
            first: s=2 shortcut=projection
    """)
    assert paths(g) == [
        "layer2.1.conv1",
        "layer2.1.bn1",
        "layer2.1.conv2",
        "layer2.1.bn2",
        "layer2.1.shortcut.conv",
        "layer2.1.shortcut.bn",
        "layer2.1.add",
        "layer2.2.conv1",
        "layer2.2.bn1",
        "layer2.2.conv2",
        "layer2.2.bn2",
        "layer2.2.add",
    ]
    nodes = by_path(g)
    # first pass: s=2: floor((16 + 2 - 3)/2) + 1 = 8; second pass keeps s=1
    assert nodes["layer2.1.conv1"].args.s == (2, 2)
    assert nodes["layer2.1.conv1"].shape == (8, 8, 16)
    assert nodes["layer2.2.conv1"].args.s == (1, 1)
    assert nodes["layer2.2.conv1"].shape == (8, 8, 16)


def test_repeat_numbering_and_collapsing():
    g = load("""
        input: 8x8x4
        layers:
          - repeat: 3
            layers: [conv f=1 n=4]
          - repeat: 2
            layers:
              - conv f=1 n=4
              - bn
          - repeat: 2
            first: {n: 6}
            layers: [conv f=1 n=4]
    """)
    assert paths(g) == [
        "repeat1.1",  # a single unnamed item: no extra level
        "repeat1.2",
        "repeat1.3",
        "repeat2.1.conv1",
        "repeat2.1.bn1",
        "repeat2.2.conv1",
        "repeat2.2.bn1",
        "repeat3.1",
        "repeat3.2",
    ]
    nodes = by_path(g)
    assert nodes["repeat3.1"].shape == (8, 8, 6)  # first: n=6
    assert nodes["repeat3.2"].shape == (8, 8, 4)
    assert nodes["repeat3.2"].params == 6 * 4 + 4  # 1*1*6*4 + 4 = 28


def test_repeat_first_unknown_arg():
    with pytest.raises(cnnctl.CnnctlError, match="has no such argument"):
        load("""
            input: 8x8x4
            layers:
              - repeat: 2
                first: {stride: 2}
                layers: [conv f=1 n=4]
        """)


# -- residual -------------------------------------------------------------------------------------------
def test_residual_identity():
    g = load("""
        input: 8x8x4
        layers:
          - residual:
              - conv f=3 p=1 n=4
            act: relu
    """)
    assert paths(g) == ["residual1.conv1", "residual1.add"]
    conv, add = g.nodes
    assert add.inputs == (conv.index, INPUT)  # main path + the input itself
    assert add.args.act == "relu"
    assert add.flops == 2 * 256  # 8*8*4 = 256 adds + 256 relu


def test_residual_projection_stride_derived():
    g = load("""
        input: 9x9x4
        layers:
          - residual:
              - conv f=3 s=3 n=8
            shortcut: projection
    """)
    nodes = by_path(g)
    # main path: floor((9 - 3)/3) + 1 = 3 -> 3x3x8; projection stride ceil(9/3) = 3: (9-1)//3 + 1 = 3
    conv = nodes["residual1.shortcut.conv"]
    assert conv.args.f == (1, 1) and conv.args.s == (3, 3) and conv.args.bias is False
    assert conv.inputs == (INPUT,)
    assert conv.shape == (3, 3, 8)
    assert conv.params == 32  # 1*1*4*8, no bias
    bn = nodes["residual1.shortcut.bn"]
    assert bn.inputs == (conv.index,)
    assert bn.params == 16 and bn.buffers == 16
    assert nodes["residual1.add"].inputs == (nodes["residual1.conv1"].index, bn.index)


def test_residual_identity_with_changed_shape_is_an_error():
    with pytest.raises(cnnctl.CnnctlError) as exc:
        load("""
            input: 8x8x4
            layers:
              - residual:
                  - conv f=3 s=2 p=1 n=8
        """)
    assert "4x4x8" in str(exc.value) and "8x8x4" in str(exc.value)
    assert "projection" in str(exc.value)


def test_residual_custom_shortcut():
    g = load("""
        input: 8x8x4
        layers:
          - residual:
              - conv f=3 p=1 n=8
            shortcut:
              - conv f=1 n=8
              - bn
    """)
    assert paths(g) == ["residual1.conv1", "residual1.shortcut.conv1", "residual1.shortcut.bn1", "residual1.add"]
    assert by_path(g)["residual1.shortcut.conv1"].inputs == (INPUT,)


# -- branches -------------------------------------------------------------------------------------------
def test_concat_named_and_unnamed_branches():
    g = load("""
        input: 28x28x192
        layers:
          - concat:
              b1x1: [conv f=1 n=64]
              b3x3:
                - conv f=1 n=96
                - conv f=3 p=same n=128
              pool: [pool max f=3 s=1 p=1, conv f=1 n=32]
          - concat:
              - conv f=1 n=8
              - []
    """)
    assert paths(g) == [
        "concat1.b1x1.conv1",
        "concat1.b3x3.conv1",
        "concat1.b3x3.conv2",
        "concat1.pool.pool1",
        "concat1.pool.conv1",
        "concat1.concat",
        "concat2.branch1.conv1",
        "concat2.concat",
    ]
    nodes = by_path(g)
    # 64 + 128 + 32 = 224 channels
    assert nodes["concat1.concat"].shape == (28, 28, 224)
    # an empty branch is the identity: 8 + 224 = 232, and the concat's second input is concat1's output
    assert nodes["concat2.concat"].shape == (28, 28, 232)
    assert nodes["concat2.concat"].inputs == (nodes["concat2.branch1.conv1"].index, nodes["concat1.concat"].index)
    # every branch starts from the same input
    assert nodes["concat1.b1x1.conv1"].inputs == nodes["concat1.b3x3.conv1"].inputs == (INPUT,)


def test_add_branches_with_act():
    g = load("""
        input: 8x8x4
        layers:
          - add:
              - [conv f=3 p=1 n=4]
              - [conv f=1 n=4]
              - []
            act: relu
    """)
    add = by_path(g)["add1.add"]
    assert add.args.act == "relu"
    assert len(add.inputs) == 3
    assert add.flops == 2 * 256 + 256  # (3 - 1) adds per value + relu, 8*8*4 = 256 values


def test_concat_branch_size_mismatch_is_located():
    with pytest.raises(cnnctl.CnnctlError) as exc:
        load("""
            input: 8x8x4
            layers:
              - concat:
                  - [conv f=3 n=4]
                  - [conv f=1 n=4]
        """)
    (problem,) = exc.value.problems
    assert problem.layer == "concat1.concat"
    assert "`concat1.branch1.conv1` 6x6x4, `concat1.branch2.conv1` 8x8x4" in problem.message


# -- references -----------------------------------------------------------------------------------------
def test_unet_like_skip_with_from_and_with():
    g = load("""
        input: 16x16x1
        layers:
          - conv f=3 p=same n=4 id=enc
          - pool max f=2
          - conv f=3 p=same n=8
          - deconv f=2 s=2 n=4 id=up
          - concat with=enc id=cat
          - conv f=1 n=2 from=enc id=side
          - add from=input,input id=twice
    """)
    nodes = by_path(g)
    assert nodes["up"].shape == (16, 16, 4)  # (8-1)*2 + 2 = 16
    assert nodes["cat"].inputs == (nodes["up"].index, nodes["enc"].index)  # previous output, then `with`
    assert nodes["cat"].shape == (16, 16, 8)  # 4 + 4 channels
    assert nodes["side"].inputs == (nodes["enc"].index,)  # `from` replaces the previous output
    assert nodes["twice"].inputs == (INPUT, INPUT)
    assert nodes["twice"].shape == (16, 16, 1)


def test_reference_errors():
    with pytest.raises(cnnctl.CnnctlError, match="defined later"):
        load("""
            input: 8x8x4
            layers:
              - conv f=1 n=2 from=later
              - conv f=1 n=2 id=later
        """)
    with pytest.raises(cnnctl.CnnctlError, match="no layer with id `enk`") as exc:
        load("""
            input: 8x8x4
            layers:
              - conv f=1 n=2 id=enc
              - concat with=enk
        """)
    assert "did you mean `enc`" in str(exc.value)


def test_a_reference_with_another_number_lists_those_not_a_slip():
    # `with=enc3` was told "did you mean `enc2`?": another layer, not a typo of it
    with pytest.raises(cnnctl.CnnctlError, match="no layer with id `enc3`") as exc:
        load("""
            input: 8x8x4
            layers:
              - conv f=1 n=2 id=enc1
              - conv f=1 n=2 id=enc2
              - concat with=enc3
        """)
    assert exc.value.problems[0].hint == "the same name with other numbers: `enc1`, `enc2`"


@pytest.mark.parametrize(
    ("line", "hint"),
    [
        # the name summarize shows, which is no id
        (
            "add with=conv1",
            "`conv1` is the name cnnctl gives the layer at line 4, not an id: write `id=conv1` on "
            "that line (or another id) to take its output",
        ),
        ("concat with=enc", "an id names one layer: `enc1`, `enc2`; several are joined with `from=enc1,enc2`"),
        ("concat from=enc1, enc2", "drop the space after the comma: ids are written `from=enc1,enc2`"),
        ("concat from=[enc1,enc2]", "no brackets: `from=enc1,enc2`"),  # was told `[enc1` and `from=a,b`
        (
            "concat from=[enc1, enc2]",
            "no brackets, and drop the space after the comma: ids are written `from=enc1,enc2`",
        ),
        ("concat from=enc1, enc2, enc3", "drop the space after the comma: ids are written `from=enc1,enc2,enc3`"),
        ('concat: {from: "[enc1,enc2]"}', "no brackets: `from=enc1,enc2`"),
        # a full-width comma (U+FF0C), as an input method types it: `enc1，enc2` was one id no layer has
        (
            "concat from=enc1\uff0cenc2",
            "write `from=enc1,enc2` in ASCII: `\uff0c` (U+FF0C) is not `,` "
            "(a character from a slide or a word processor)",
        ),
        (
            "add with=enc1\uff0cenc2",
            "write `with=enc1,enc2` in ASCII: `\uff0c` (U+FF0C) is not `,` "
            "(a character from a slide or a word processor)",
        ),
    ],
)
def test_a_reference_that_is_no_id_says_what_to_write(line, hint):
    with pytest.raises(cnnctl.CnnctlError) as exc:
        load(f"""
            input: 8x8x4
            layers:
              - conv f=1 n=4
              - conv f=1 n=4 id=enc1
              - conv f=1 n=4 id=enc2
              - {line}
        """)
    assert exc.value.problems[0].hint == hint


def test_ids_listed_with_a_full_width_comma_are_one_problem_and_read_in_ascii():
    # told once at the reference, then read as `enc1,enc9`: `enc9`, no layer's id, is told too
    with pytest.raises(cnnctl.CnnctlError) as exc:
        load("""
            input: 8x8x4
            layers:
              - conv f=1 n=4 id=enc1
              - concat from=enc1\uff0cenc9
        """)
    comma, missing = exc.value.problems
    assert comma.message == "`from=enc1\uff0cenc9`: ids and the commas between them are ASCII"
    assert (comma.loc.line, comma.loc.col) == (5, 17)  # `  - concat from=` is 16 characters
    assert "no layer with id `enc9`" in missing.message and (missing.loc.line, missing.loc.col) == (5, 22)


def test_ids_listed_in_brackets_are_one_problem_and_each_id_is_still_checked():
    # `from=[enc1,enc9]`: the brackets told once (not as an id `[enc1`), then the ids read
    # without them: `enc9`, no layer's id, is told at its own column.
    with pytest.raises(cnnctl.CnnctlError) as exc:
        load("""
            input: 8x8x4
            layers:
              - conv f=1 n=4 id=enc1
              - concat from=[enc1,enc9]
        """)
    brackets, missing = exc.value.problems
    line = "  - concat from=[enc1,enc9]"  # as the file's line 5 reads once dedented; columns 1-based
    assert brackets.message == "`from=[enc1,enc9]`: ids are listed without brackets"
    assert (brackets.loc.line, brackets.loc.col) == (5, line.index("[") + 1)
    assert missing.message == "no layer with id `enc9` before this one"
    assert (missing.loc.line, missing.loc.col) == (5, line.index("enc9") + 1)


def test_auto_names_avoid_explicit_ids():
    g = load("""
        input: 8x8x4
        layers:
          - conv f=1 n=2 id=conv2
          - conv f=1 n=2
          - conv f=1 n=2
          - pool max f=2
          - {fc: 10, id: fc1}
          - fc 5
    """)
    assert paths(g) == ["conv2", "conv1", "conv3", "pool1", "fc1", "fc2"]


def test_duplicate_id_is_an_error():
    with pytest.raises(cnnctl.CnnctlError, match="duplicate id `a`"):
        load("""
            input: 8x8x4
            layers:
              - conv f=1 n=2 id=a
              - conv f=1 n=2 id=a
        """)


# -- input override, warnings, bundled names ------------------------------------------------------------------
def test_input_override():
    text = """
        input: 32x32x3
        layers:
          - conv f=5 n=6
    """
    assert load(text).output_shape == (28, 28, 6)  # 32 - 5 + 1
    assert load(text, input="64x64x1").output_shape == (60, 60, 6)  # 64 - 5 + 1
    assert load(text, input="64x64x1").nodes[0].params == 156  # 5*5*1*6 + 6
    assert load(text, input=(10, 10, 3)).output_shape == (6, 6, 6)
    g = cnnctl.load("lenet5", input="36x36x1")
    assert g.input_shape == (36, 36, 1)
    assert g.nodes[0].shape == (32, 32, 6)  # 36 - 5 + 1


def test_missing_input_needs_override():
    text = "layers:\n  - conv f=1 n=1\n"
    with pytest.raises(cnnctl.CnnctlError, match="no `input:`"):
        cnnctl.load_text(text)
    assert cnnctl.load_text(text, input="4x4x2").output_shape == (4, 4, 1)


def test_uneven_same_padding_warns():
    g = load("""
        input: 8x8x3
        layers:
          - conv f=3 p=same n=4
          - conv f=2 p=same n=4
          - conv f=3 s=2 p=same n=4
    """)
    # f=3 s=1: total 2 -> 1/1 even; f=2 s=1: total 7 + 2 - 8 = 1 -> 0/1; f=3 s=2: total 3*2 + 3 - 8 = 1 -> 0/1
    assert [w.layer for w in g.warnings] == ["conv2", "conv3"]
    assert all("p=same" in w.message for w in g.warnings)
    assert g.nodes[1].notes and not g.nodes[0].notes
    assert g.nodes[2].shape == (4, 4, 4)  # ceil(8/2)


@pytest.mark.parametrize(
    ("name", "resolved", "params"),
    [("resnet", "resnet50", 25_557_032), ("lenet.yaml", "lenet5", 61_706), ("lenet5", "lenet5", 61_706)],
)
def test_bundled_aliases(name, resolved, params):
    g = cnnctl.load(name)
    assert g.name == resolved
    assert g.params == params


def test_unknown_bundled_name_suggests():
    with pytest.raises(cnnctl.CnnctlError, match="did you mean"):
        cnnctl.load("resnte50")


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("n*4+1", 29),  # 7*4 + 1: * before +
        ("(n+1)*2", 16),  # parentheses: 8*2
        ("n%3", 1),  # 7 mod 3
        ("10-n-1", 2),  # left-associative: (10 - 7) - 1
        ("n//2*2", 6),  # (7 // 2) * 2 = 3*2
        ("n*3/7", 3),  # 21 / 7, exact
    ],
)
def test_block_expressions(expr, expected):
    g = load(f"""
        input: 4x4x1
        blocks:
          b:
            args: n
            layers:
              - conv f=1 n=${{{expr}}}
        layers:
          - b n=7
    """)
    assert g.output_shape == (4, 4, expected)


@pytest.mark.parametrize("shape", [(8, 8, 0), (8, 8, -3)])
def test_input_override_tuple_is_validated(shape):
    # load_text(..., input="8x8x0") is refused ("must be at least 1"); the same volume as a tuple is
    # accepted and gives nonsense counts (for (8, 8, -3): conv params 1*1*(-3)*2 + 2 = -4)
    with pytest.raises(cnnctl.CnnctlError, match="input"):
        load(
            """
            input: 8x8x3
            layers:
              - conv f=1 n=2
            """,
            input=shape,
        )


def test_input_override_string_is_validated():
    with pytest.raises(cnnctl.CnnctlError, match="must be at least 1"):
        load("input: 8x8x3\nlayers:\n  - conv f=1 n=2\n", input="8x8x0")
    with pytest.raises(cnnctl.CnnctlError, match="not a volume"):
        load("input: 8x8x3\nlayers:\n  - conv f=1 n=2\n", input="8x8")


def test_a_residual_whose_main_path_is_one_block_adds_no_level():
    g = load("""
        input: 8x8x4
        blocks:
          two: [conv f=3 p=1 n=4, conv f=3 p=1 n=4]
        layers:
          - residual: [two]
          - residual: [conv f=3 p=1 n=4]
    """)
    # The README's rule: a residual whose body is a single unnamed item adds no level; a single
    # plain layer keeps its own name beside the add (both cannot be called `residual2`).
    assert paths(g) == ["residual1.conv1", "residual1.conv2", "residual1.add", "residual2.conv1", "residual2.add"]


def test_ceil_pooling_takes_a_window_that_hangs_over_the_input():
    # PyTorch: ceil((3 - 4) / 2) + 1 = 1 output value, its window starting inside the input.
    g = load("""
        input: 3x3x2
        layers:
          - pool max f=4 s=2 ceil
    """)
    assert g.output_shape == (1, 1, 2)
    with pytest.raises(cnnctl.CnnctlError, match="larger than its padded input"):  # floor mode: 0 values
        load("""
            input: 3x3x2
            layers:
              - pool max f=4 s=2
        """)


# -- the constructs of the last ten years ------------------------------------------------------------
def readme_snippet(after: str) -> str:
    """The first ```yaml block of the README after the text `after`, as written there."""
    text = README.read_text(encoding="utf-8")
    start = text.index("```yaml\n", text.index(after)) + len("```yaml\n")
    return text[start : text.index("```", start)]


def test_the_readmes_gate_builds_wherever_it_is_used():
    # `${in_c}` is the input of the block a layer is in: the README's gate, once written bare in
    # `layers:`, failed there ("not in a block") and, pasted inside a block after a layer that
    # changes the channels, squeezed the block's input channels instead of its own.
    snippet = readme_snippet("**gate** computes a path")
    g = cnnctl.load_text("input: 32x32x3\n" + snippet, "readme.yaml")
    squeeze = make_divisible(40 // 4)  # torchvision's rounding: 10 -> 16
    assert [n.shape for n in g.nodes] == [(32, 32, 40), (1, 1, 40), (1, 1, squeeze), (1, 1, 40), (32, 32, 40)]
    assert g.params == (3 * 3 * 3 * 40 + 40) + (40 * squeeze + squeeze) + (squeeze * 40 + 40)
    # the same block after other layers, inside another block too: each use follows what it is given
    blocks = snippet[: snippet.index("layers:")]
    g = cnnctl.load_text(
        "input: 32x32x3\n" + blocks + "  stage:\n    - conv f=1 n=96\n    - se\n"
        "layers: [conv f=3 p=same n=24, se, stage, conv f=1 n=8, se]\n",
        "readme.yaml",
    )
    muls = [n for n in g.nodes if n.kind == "mul"]
    squeezes = [g.nodes[n.inputs[1] - 1].shape[2] for n in muls]  # the conv before each gate's last
    assert [n.shape[2] for n in muls] == [24, 96, 8]
    assert squeezes == [make_divisible(24 // 4), make_divisible(96 // 4), make_divisible(8 // 4)]


def test_gate_multiplies_its_input_by_its_paths_output():
    g = load("""
        input: 14x14x16
        layers:
          - gate:
              - pool avg global
              - conv f=1 n=4 act=relu
              - conv f=1 n=16 act=hardsigmoid
    """)
    nodes = by_path(g)
    assert paths(g) == ["gate1.pool1", "gate1.conv1", "gate1.conv2", "gate1.mul"]
    assert nodes["gate1.mul"].inputs == (INPUT, nodes["gate1.conv2"].index)
    # the two 1x1 convs: 16*4 + 4 and 4*16 + 16 params; 64 multiplications each; the mul none
    assert g.params == 68 + 80 and g.mults == 64 + 64
    # FLOPs: pool 14*14*16 = 3,136; conv1 2*64 + 4 + 4 = 136; conv2 2*64 + 16 + 16 = 160; mul 3,136
    assert g.flops == 3136 + 136 + 160 + 3136
    with pytest.raises(cnnctl.CnnctlError, match=r"cannot multiply 14x14x16 and 1x1x8: the channels differ"):
        load("""
            input: 14x14x16
            layers:
              - gate: [pool avg global, conv f=1 n=8]
        """)


def test_blocks_read_their_input_size_and_round_channels():
    g = load("""
        input: 56x56x24
        blocks:
          inverted:
            args: n e=${in_c*6}
            layers:
              - conv f=1 n=$e
              - conv f=3 p=1 groups=$e n=$e
              - conv f=1 n=${divisible(in_h + in_w, 8)}
        layers:
          - inverted 24
          - fc 10
    """)
    nodes = by_path(g)
    assert nodes["inverted1.conv1"].shape == (56, 56, 144)  # 24 x 6
    assert nodes["inverted1.conv2"].params == 3 * 3 * 1 * 144 + 144  # depthwise
    assert nodes["inverted1.conv3"].shape == (56, 56, 112)  # 56 + 56 = 112, a multiple of 8 already


@pytest.mark.parametrize(("v", "d", "expected"), [(18, 8, 24), (30, 8, 32), (168, 8, 168), (3, 8, 8), (100, 16, 96)])
def test_divisible_is_torchvisions_make_divisible(v, d, expected):
    # torchvision: max(d, int(v + d/2) // d * d), plus d if that is below 90% of v.
    # 18: (18+4)//8*8 = 16 < 16.2 -> 24; 30 -> 32; 168 -> 168; 3 -> max(8, 0) = 8; 100 -> 96 (not < 90)
    g = load(f"input: 4x4x1\nblocks:\n  b:\n    - conv f=1 n=${{divisible({v}, {d})}}\nlayers: [b]\n")
    assert g.output_shape[2] == expected


def test_repeat_zero_is_a_pass_through():
    g = load("""
        input: 8x8x4
        blocks:
          stage:
            args: c n
            layers:
              - conv f=3 p=1 n=$c
              - repeat: ${n - 1}
                layers: [conv f=3 p=1 n=$c]
        layers:
          - stage c=8 n=1
          - stage c=8 n=3
    """)
    assert paths(g) == ["stage1.conv1", "stage2.conv1", "stage2.repeat1.1", "stage2.repeat1.2"]


SCHEDULE = """
    input: 8x8x4
    droppath: {{rate: 0.3, blocks: [down, res], last: {last}}}
    blocks:
      down: [conv f=3 p=1 n=4]
      res:
        - residual: [conv f=3 p=1 n=4, droppath]
    layers: [down, res, res, down, res]
"""


@pytest.mark.parametrize(("last", "rates"), [("full", [0.075, 0.15, 0.3]), ("below", [0.06, 0.12, 0.24])])
def test_droppath_schedule_grows_with_the_blocks_place(last, rates):
    # five listed uses, k = 0..4; the residual ones are k = 1, 2 and 4.
    # full (the last drops at the rate): 0.3 * k / 4; below (torchvision's EfficientNet): 0.3 * k / 5
    g = load(SCHEDULE.format(last=last))
    drops = [n for n in g.nodes if n.kind == "droppath"]
    assert [n.args.rate for n in drops] == pytest.approx(rates)
    assert drops[0].text == f"droppath {rates[0]:g}"
    assert g.mults == 5 * (8 * 8 * 4) * (3 * 3 * 4)
    assert all(n.flops == 0 for n in drops)  # free: the identity at inference


def test_droppath_without_a_rate_needs_a_schedule():
    with pytest.raises(cnnctl.CnnctlError, match="`droppath` needs a rate, or a `droppath:` schedule"):
        load("input: 8x8x4\nlayers:\n  - residual: [conv f=3 p=1 n=4, droppath]\n")
    with pytest.raises(cnnctl.CnnctlError, match="`droppath: blocks` names `ress`, which is not a block") as exc:
        load(SCHEDULE.format(last="full").replace("blocks: [down, res]", "blocks: [down, ress]"))
    assert "did you mean `res`?" in str(exc.value)
    with pytest.raises(cnnctl.CnnctlError, match="not inside a block the `droppath:` schedule lists"):
        load(SCHEDULE.format(last="full").replace("blocks: [down, res]", "blocks: [down]"))
    g = load("input: 8x8x4\nlayers:\n  - residual: [conv f=3 p=1 n=4, droppath 0.1]\n")
    assert g.nodes[1].args.rate == 0.1


def test_swish_is_accepted_as_silu():
    g = load("input: 4x4x1\nlayers: [swish, conv f=1 n=2 act=swish]\n")
    assert [n.text for n in g.nodes] == ["silu", "conv f=1 n=2 act=silu"]


@pytest.mark.parametrize(
    ("written", "meant"),
    [
        ("ln", "`layernorm`"),  # was `lrn`: the nearest spelling, not the layer meant
        ("layer_norm", "`layernorm`"),
        ("gn", "`groupnorm`"),
        ("drop_path", "`droppath`"),
        ("stochastic_depth", "`droppath`"),
        ("channel_shuffle", "`shuffle`"),
        ("se", "`gate:`"),
    ],
)
def test_other_frameworks_names_of_the_modern_layers_are_recognised(written, meant):
    with pytest.raises(cnnctl.CnnctlError) as exc:
        cnnctl.load_text(f"input: 8x8x4\nlayers:\n  - {written}\n")
    assert f"did you mean {meant}" in str(exc.value)


def test_words_bind_by_the_spec_alone():
    """`bind` knows no kind: positionals in order, flags as bare words, references, and each
    word with no place a problem, by the spec given."""
    from cnnctl.errors import Loc
    from cnnctl.layers import ArgSpec
    from cnnctl.notation.bind import bind
    from cnnctl.notation.spec import Value

    spec = ArgSpec(("a", "b", "on"), positional=("a", "b"), flags=("on",))

    def words(*pairs):
        return [(key, Value(text, Loc("f", 1, col)), Loc("f", 1, col)) for col, (key, text) in enumerate(pairs, 1)]

    bound = bind("k", spec, words((None, "1"), (None, "on"), ("id", "x"), (None, "2")))
    assert bound.ok and bound.problems == []
    assert {k: v.text for k, v in bound.args.items()} == {"a": "1", "on": "true", "b": "2"}
    assert {k: v.text for k, v in bound.refs.items()} == {"id": "x"}

    bound = bind("k", spec, words(("b", "1"), (None, "2"), (None, "3"), (None, "4"), ("c", "5"), ("a", "6")))
    messages = [m for m, _, _ in bound.problems]
    assert not bound.ok
    assert messages == [
        "`k` has no argument `c`",
        "argument `a` is given twice",
        "unexpected `3 4` in `k`: `a`, `b`, its arguments without a name, are given already (`2`, `1`); "
        "its flags: `on`",
    ]
    assert bound.problems[2][1] == Loc("f", 1, 3)  # at the first word with no place


def test_the_readmes_first_network_file_gives_the_counts_it_states():
    # the quickstart's file, and the numbers its text quotes, worked out by hand
    g = cnnctl.load_text(readme_snippet("## Your first network file"), "first.yaml")
    conv1, conv2, fc = 3 * 3 * 1 * 8 + 8, 3 * 3 * 8 * 16 + 16, 7 * 7 * 16 * 10 + 10
    assert [n.shape for n in g.nodes] == [(28, 28, 8), (14, 14, 8), (14, 14, 16), (7, 7, 16), (10,)]
    assert g.params == conv1 + conv2 + fc == 9_098
    assert g.mults == 28 * 28 * 8 * 9 + 14 * 14 * 16 * 9 * 8 + 7 * 7 * 16 * 10 == 290_080
    text = README.read_text(encoding="utf-8")
    quick = text[text.index("## Your first network file") : text.index("## Commands")]
    assert "`3·3·1·8 + 8 = 80`" in quick and "`28·28·8 · 3·3·1 = 56,448`" in quick
    assert "9,098 params, 290,080" in quick.replace("\n", " ")
    assert len(quick.splitlines()) <= 35  # short: the reference follows


def test_every_nested_list_is_walked_and_its_block_uses_found():
    # A block used in each kind of nested list: a repeat's body, a residual's main path and its
    # shortcut, a gate, a branch, a split's path and its attention. Each is reached by `walk`
    # and by the search for blocks using themselves (one item type's `lists` says them all).
    from cnnctl.graph.blocks import cycles
    from cnnctl.notation.parse import parse_file_text
    from cnnctl.notation.spec import LayerItem, walk

    lists = [
        "{repeat: 1, layers: [USE]}",
        "{residual: [USE]}",
        "{residual: [conv f=1 n=4], shortcut: [USE]}",
        "{gate: [USE]}",
        "{concat: [[USE], [conv f=1 n=4]]}",
        "{split: [[USE], [conv f=1 n=4]], attention: [USE]}",
    ]
    for written in lists:
        item = written.replace("USE", "loop n=4")
        text = f"input: 8x8x4\nblocks:\n  loop:\n    args: n\n    layers:\n      - {item}\nlayers: [loop n=4]\n"
        spec = parse_file_text(text, "x.yaml")
        uses = [i for i in walk(spec.blocks["loop"].body) if isinstance(i, LayerItem) and i.is_block]
        assert len(uses) == written.count("USE") and all(i.kind == "loop" for i in uses), written
        found = cycles(spec)
        assert len(found) == len(uses), written
        assert all("block `loop` uses itself (loop -> loop)" in p.message for p in found), written


def test_a_layer_written_over_several_lines_is_located_in_the_source():
    """A folded (`>`), literal (`|`) or quoted string continued on the next line: its value is
    not the source's text (breaks folded, indentation dropped), yet each mistake points at the
    value as written (its line, and its column in that line, counted here from the text)."""
    text = (
        "input: 32x32x3\nlayers:\n  - >\n    conv f=3\n    n=0 s=1\n"
        '  - "conv f=3 \\\n     n=-2"\n  - |\n    add\n    with=zz\n'
    )
    lines = text.splitlines()
    with pytest.raises(cnnctl.CnnctlError) as info:
        cnnctl.load_text(text)
    where = [(p.loc.line, p.loc.col) for p in info.value.problems]
    assert where == [
        (5, lines[4].index("n=0") + 3),  # 5:7, the value after `n=`, as on one line
        (7, lines[6].index("n=-2") + 3),
        (10, lines[9].index("zz") + 1),
    ]


def test_an_id_is_ascii_and_one_refused_is_never_suggested():
    """`é` is a letter to Python, not to the notation: the hint says ASCII, names the
    character, and a reference spelt nearly the same is not told to use the refused id."""
    with pytest.raises(cnnctl.CnnctlError) as exc:
        load("""
            input: 8x8x3
            layers:
              - conv f=1 n=4 id=couche_é
              - relu
              - add with=couche_e
              - add with=couche_é
        """)
    first, second = exc.value.problems  # the use of the refused id is not blamed again
    assert "(`é` is not ASCII)" in first.hint and "ASCII letter" in first.hint
    assert "couche_é" not in second.hint


def test_a_block_whose_name_ends_in_a_digit_is_numbered_after_an_underscore():
    """`stage1` used once is `stage1_1`, not `stage11` (the eleventh `stage`?); `conv1`, a
    block, `conv1_1`. A layer kind keeps its numbers (`relu61`), as the bundled networks' paths
    (and the weights saved under them) always had them."""
    g = load("""
        input: 8x8x3
        blocks:
          stage1: [conv f=3 p=same n=4]
          stage2: [conv f=3 p=same n=4, relu]
          conv1: [conv f=1 n=4]
        layers:
          - stage1
          - stage2
          - stage2
          - conv1
          - relu6
    """)
    assert [n.path for n in g.nodes] == [
        "stage1_1", "stage2_1.conv1", "stage2_1.relu1", "stage2_2.conv1", "stage2_2.relu1", "conv1_1", "relu61",
    ]  # fmt: skip


def test_a_refused_use_of_a_block_ending_in_a_digit_is_named_as_it_would_be():
    with pytest.raises(cnnctl.CnnctlError) as exc:
        load("""
            input: 8x8x3
            blocks:
              stage1:
                args: n
                layers: [conv f=1 n=$n]
            layers:
              - stage1 4 m=3
        """)
    assert exc.value.problems[0].layer == "stage1_1"


# -- long user text, quoted cut -------------------------------------------------------------------------
@pytest.mark.parametrize(
    "text, said",
    [
        ("input: 28x28x1\nlayers:\n  - conv " + "z" * 5000 + "=3 n=1\n", "`conv` has no argument"),
        ("input: 28x28x1\nlayers:\n  - fc 10\n" + "z" * 1000 + ": 1\n", "unknown top-level key"),
        ("input: 8x8x1\nblocks:\n  b:\n    - conv n=${" + "z" * 5000 + "}\nlayers:\n  - b\n", "has no argument"),
    ],
)
def test_a_long_unknown_name_is_quoted_cut_as_an_unknown_kind_is(text, said):
    with pytest.raises(cnnctl.CnnctlError) as exc:
        cnnctl.load_text(text, "net.yaml")
    message = str(exc.value)
    assert said in message
    # the first 57 characters, then how long it is: never the name whole (a key of YAML's at most 1,024)
    assert f"`{'z' * 57}...` ({text.count('z'):,} characters)" in message
    assert "z" * 58 not in message


@pytest.mark.parametrize("length, long", [(1024, False), (1100, True)])
def test_a_key_past_yamls_1024_character_limit_is_told_as_such(length, long):
    # YAML 1.1 reads an implicit key of at most 1,024 characters: past that, its `:` is not looked for
    text = "input: 28x28x1\nlayers:\n  - fc 10\n" + "k" * length + ": 1\n"
    with pytest.raises(cnnctl.CnnctlError) as exc:
        cnnctl.load_text(text, "net.yaml")
    message = str(exc.value)
    if long:
        assert "net.yaml:4:1: YAML syntax error: a key longer than 1,024 characters (YAML's limit), of 1,100" in message
        assert "shorten it" in message
    else:  # read as a key, then told as an unknown one
        assert "unknown top-level key" in message
        assert "YAML syntax error" not in message
