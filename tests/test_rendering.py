"""Renderings at the edges: narrow terminals, non-finite JSON, Markdown markup, CSV headers."""

import csv
import io
import json
import math
import re
import subprocess
import sys
from types import SimpleNamespace

import pytest

import cnnctl
from cnnctl.analysis import summarize
from cnnctl.cli.common import Format, print_json, show_result
from cnnctl.render.table import Column, Table, cells, markdown, markdown_text, num, plain, rich, shown, to_csv
from cnnctl.render.views.bench import bench_json
from cnnctl.render.views.catalog import catalog_table
from cnnctl.render.views.evaluation import evaluation_json, evaluation_tables
from cnnctl.render.views.flops import flops_table
from cnnctl.render.views.summary import summary_table
from cnnctl.render.views.validate import validate_table
from cnnctl.words import json_safe


def draw(table: Table, width: int) -> str:
    buf = io.StringIO()
    rich(table, file=buf, width=width)
    return re.sub(r"\x1b\[[0-9;]*m", "", buf.getvalue())


def assert_numbers_whole(table: Table, out: str) -> None:
    """Each row's numeric cells, whole and in order, end one line of `out`, rows in order."""
    columns = shown(table)
    numeric = [i for i, c in enumerate(columns) if not (c.wrap or c.squeeze)][1:]  # the first one is a name
    header = r"\s+".join(re.escape(columns[i].name) for i in numeric) + "$"
    lines = [ln.rstrip() for ln in out.splitlines()]
    assert any(re.search(header, ln) for ln in lines), f"headers cut:\n{out}"
    assert "…" not in out
    at = 0
    for row in cells(table):
        tail = re.compile(r"(^|\s)" + r"\s+".join(re.escape(row[i]) for i in numeric) + "$")
        while at < len(lines) and not tail.search(lines[at]):
            at += 1
        assert at < len(lines), f"row {row} not whole:\n{out}"
        at += 1


@pytest.fixture(scope="module")
def googlenet():
    return summarize(cnnctl.load("googlenet"))


CLASSIC = ("layer", "shorthand", "output", "params", "mults", "memory")  # the columns before `from` and `field`


@pytest.mark.parametrize("width", [30, 50, 55, 70, 80, 120])
def test_narrow_terminals_never_cut_a_number(googlenet, width):
    # googlenet's widest cells: 112x112x64, 118,013,952, 784.00 KiB (was `784.00 K…` or `784.00 K`)
    for table in (summary_table(googlenet, CLASSIC), summary_table(googlenet), flops_table(googlenet, per_layer=True)):
        out = draw(table, width)
        assert_numbers_whole(table, out)
        assert "784.00 KiB" in out or all(c.name != "Memory" for c in table.columns)
    resnet = summarize(cnnctl.load("resnet50"), depth=2)  # was `118,013,…` at 50 columns
    assert_numbers_whole(summary_table(resnet), draw(summary_table(resnet), width))


def test_a_table_that_can_fit_does_and_keeps_every_column(googlenet):
    # 73: the shorthand column keeps its longest word, `act=softmax` (11), whole (at 70 it was `act=softma`
    # over `x`), the path column its longest piece between dots, `inception5b.` (12): 11 + 12 + 40 + 10 gaps
    out = draw(summary_table(googlenet, CLASSIC), 73)
    lines = out.splitlines()
    assert all(len(ln) <= 73 for ln in lines[: lines.index("")])  # the text columns gave way
    assert "act=softmax" in out
    assert next(ln for ln in lines if ln.startswith("Layer")).split() == [
        "Layer", "Shorthand", "Output", "Params", "Mults", "Memory",
    ]  # fmt: skip


def test_a_table_that_cannot_fit_is_wider_than_the_terminal(googlenet):
    # numbers alone need more than 40 columns: the terminal wraps the line, nothing is cut
    out = draw(summary_table(googlenet, CLASSIC), 40)
    assert max(map(len, out.splitlines())) > 40
    assert re.search(r"\s112x112x64\s+9,472\s+118,013,952\s+3\.06 MiB$", out, re.M)
    assert "Shorthand" in out  # the shorthand column is still there (it vanished at 55 columns)


def assert_tokens_whole(table: Table, out: str, width: int) -> None:
    """Every word of a wrap column (a `key=value` pair, a description's word) is a whole
    token of `out`; a name of a squeeze or paths column is whole, or (a path, in a table that
    fits) its lines are pieces of it that end at a dot."""
    lines = out.splitlines()
    tokens = {t for ln in lines for t in ln.split()}
    fits = all(len(ln.rstrip()) <= width for ln in lines[: lines.index("")] if ln.strip()) if "" in lines else None
    for i, col in enumerate(shown(table)):
        for row in cells(table):
            if col.wrap and not col.paths:
                assert set(row[i].split()) <= tokens, f"{row[i]!r} broken inside a word:\n{out}"
            elif col.squeeze or col.paths:
                for word in row[i].split():
                    if word in tokens:
                        continue
                    assert "." in word and fits is not False, f"{word!r} broken:\n{out}"
                    rest = word
                    while rest:  # the longest token that starts it and ends at a dot, or all of it
                        piece = max((t for t in tokens if rest.startswith(t) and (t == rest or t.endswith("."))),
                                    key=len, default=None)  # fmt: skip
                        assert piece, f"{word!r} broken elsewhere than after a dot:\n{out}"
                        rest = rest[len(piece) :]


@pytest.mark.parametrize("width", [40, 60, 70, 80, 100])
def test_narrow_terminals_break_no_name_and_no_word(width):
    # the trials' cuts: `convnext_tin`/`y` (list, 60), `MobileNetV3-Larg`/`e` (list, 70),
    # `shortcut=pro`/`jection,` (summarize --depth 2, 60), `layer1.1.`/`conv1` in a table 106 wide (flops, 60)
    listed = [("convnext_tiny", "ConvNeXt-T (Liu et al. 2022), as in torchvision, with stochastic depth"),
              ("mobilenet_v3_large", "MobileNetV3-Large (Howard et al. 2019), as in torchvision")]  # fmt: skip
    entries = [{"name": n, "input": "224x224x3", "params": 28_589_128, "mults": 4_457_472_000, "description": d}
               for n, d in listed]  # fmt: skip
    resnet = summarize(cnnctl.load("resnet18"), depth=2)
    tables = [catalog_table(entries), summary_table(resnet), flops_table(summarize(cnnctl.load("resnet18")),
              per_layer=True, top=5), summary_table(summarize(cnnctl.load("googlenet")))]  # fmt: skip
    for table in tables:
        out = draw(table, width)
        assert_tokens_whole(table, out, width)
        if table is not tables[0]:  # the catalog's last column is its description, not a number
            assert_numbers_whole(table, out)


def test_a_path_is_broken_only_where_that_makes_the_table_fit():
    table = Table("t", [Column("Layer", squeeze=True), num("Mults", "{:,}".format)],
                  [["inception3a.branch1.conv1", 10**12]])  # fmt: skip
    # 17 + 2 + 25 = 44: at 40 columns the path breaks after a dot and the table fits
    fitted = draw(table, 40).splitlines()
    assert "inception3a.branch1." in fitted[3].split() and fitted[4].split() == ["conv1"]
    assert max(len(ln.rstrip()) for ln in fitted) <= 40
    # at 25 it cannot fit whatever the path does: the path stays whole, the table is wider
    assert "inception3a.branch1.conv1" in draw(table, 25).split()


def test_plain_prose_wraps_between_words_only():
    table = Table("t", [Column("Name"), Column("Description", wrap=True, prose=True)],
                  [["mobilenet_v3_large", "MobileNetV3-Large (Howard et al. 2019)"]])  # fmt: skip
    out = plain(table, width=30)
    assert "MobileNetV3-Large" in out.split() and "MobileNetV3-Larg" not in out.split()


def test_only_text_columns_fold_in_a_synthetic_table():
    long = 10**30 + 7
    table = Table(
        "t",
        [Column("name", squeeze=True), Column("note", wrap=True), num("n", "{:,}".format), Column("shape")],
        [["a.very.long.dotted.layer.path", "some words that wrap", long, "1024x1024x1024"]],
    )
    out = draw(table, 20)
    assert f"{long:,}" in out and "1024x1024x1024" in out


# -- JSON: always RFC 8259 -------------------------------------------------------------------------
def strict_loads(text: str):
    def refuse(constant: str):
        raise ValueError(f"not JSON: {constant}")

    return json.loads(text, parse_constant=refuse)


def test_print_json_writes_null_for_nan_and_infinity(capsys):
    nan, inf = float("nan"), float("inf")
    print_json({"a": nan, "b": [1.5, inf, {"c": -inf, "d": (nan, 2)}], "e": 3, "f": True, "g": None, "h": "nan"})
    out = capsys.readouterr().out
    assert "NaN" not in out and "Infinity" not in out
    assert strict_loads(out) == {"format_version": 1, "a": None, "b": [1.5, None, {"c": None, "d": [None, 2]}],
                                 "e": 3, "f": True, "g": None, "h": "nan"}  # fmt: skip


def test_every_json_document_opens_with_its_format_version(capsys):
    print_json({"networks": []})
    out = capsys.readouterr().out
    assert out.startswith('{\n  "format_version": 1,') and strict_loads(out) == {"format_version": 1, "networks": []}


def test_json_safe_keeps_finite_values():
    data = {"x": [0.1, -2.5, 10**30, 1e308, False, "s"], "y": {"z": 0.0}}
    assert json_safe(data) == data
    assert json_safe(math.nan) is None


def test_bench_with_a_nan_peak_is_valid_json(capsys):
    from cnnctl.analysis.timings import BenchResult, Timing

    # 4 steps of 32 images at 0.25 s: 2**34 FLOPs a step is 2**36 FLOP/s, 0.068719476736 TFLOP/s
    measured = Timing("cnnctl", "forward", 32, [0.25] * 4, 2**34)
    result = BenchResult("cpu", [measured], float("nan"), [])
    print_json(bench_json(result))
    data = strict_loads(capsys.readouterr().out)
    assert data["mfu_peak_flops_per_second"] is None and data["timings"][0]["mfu"] is None
    assert data["timings"][0]["flops_per_second"] == 2**36


def evaluation(loss: float = 0.25) -> SimpleNamespace:
    # per-class accuracy (recall) as cnnctl.train.evaluate computes it: correct / examples from the counts;
    # precision correct / predicted (column sums 34, 2, 0), F1 2 TP / (2 TP + FP + FN): 66 / 68, 2 / 4, none
    return SimpleNamespace(loss=loss, accuracy=34 / 36, examples=36, classes=["cat|dog", "*star*", "empty"],
                           per_class=[33 / 34, 1 / 2, None], precision=[33 / 34, 1 / 2, None],
                           f1=[66 / 68, 2 / 4, None],
                           balanced_accuracy=(33 / 34 + 1 / 2) / 2, macro_f1=(66 / 68 + 2 / 4) / 2, top5_accuracy=None,
                           confusion=[[33, 1, 0], [1, 1, 0], [0, 0, 0]], checkpoint="runs/x/best.pt",
                           split="the validation split of shapes (10% held out, seed 0)", data="shapes")  # fmt: skip


def test_evaluation_json_is_valid_with_a_nan_loss_and_exact_per_class(capsys):
    print_json(evaluation_json(evaluation(loss=float("nan"))))
    data = strict_loads(capsys.readouterr().out)
    assert data["loss"] is None
    assert data["per_class_accuracy"] == [33 / 34, 0.5, None]
    assert repr(data["per_class_accuracy"][0]) == "0.9705882352941176"  # not float32's 0.970588207244873


# -- Markdown: names as written, blocks apart ------------------------------------------------------
def unescape_markdown(text: str) -> str:
    """What GitHub shows for backslash escapes: the punctuation character itself."""
    return re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", text)


NAME = "a|b *c* _d_ [x](http://e) <b> `code` ~~s~~ &amp; $m$ # \\"


def test_markdown_escapes_what_would_be_markup():
    table = Table(NAME, [Column(NAME), num("n", "{:,}".format), Column("mem")], [[NAME, 1234567, "3.06 MiB"]],
                  [f"note {NAME}", "max pool f*f-1 and avg pool f*f"])  # fmt: skip
    out = markdown(table)
    lines = out.splitlines()
    assert lines[0] == f"**{markdown_text(NAME, cell=False)}**"  # a title is no table cell: its `|` stays
    row = next(ln for ln in lines if ln.endswith("| 1,234,567 | 3.06 MiB |"))  # numbers unescaped
    assert re.sub(r"\\.", "", row).count("|") == 4  # only the cell separators are bare pipes
    cell = row[2 : row.index(" | 1,234,567")]
    bare = re.sub(r"\\.", "", cell)  # what is left once every escaped pair is taken out
    assert not set(bare) & set("\\*_[]<`~&$|"), bare
    assert unescape_markdown(cell) == NAME  # shown as written
    assert "f\\*f-1 and avg pool f\\*f" in out  # a note is no emphasis either
    assert "\n\nmax pool" in out  # each note its own paragraph


@pytest.mark.parametrize(
    ("note", "written"),
    [
        ("input 32x32x3 -> output 10", "input 32x32x3 -> output 10"),  # was `-\>`: `>` is markup only starting a line
        ("pytorch PR #183405 (see #12)", "pytorch PR #183405 (see #12)"),  # a heading needs `# ` at the start
        ("a | b", "a | b"),  # a cell separator only in a table
        ("> quoted", "\\> quoted"),  # these would make the line a block: a quote, a heading, a list, a rule
        ("# heading", "\\# heading"),
        ("- item", "\\- item"),
        ("+ item", "\\+ item"),
        ("2. item", "2\\. item"),
        ("---", "\\---"),
        ("-3 dB", "-3 dB"),
    ],
)
def test_a_markdown_note_escapes_only_what_its_place_needs(note, written):
    out = markdown(Table("", [Column("a")], [[note]], [note]))
    assert out.endswith(f"\n\n{written}\n"), out
    cell = markdown_text(note)  # in a cell: block markup cannot start, only `|` more
    assert cell == (note.replace("|", "\\|"))


def test_evaluate_markdown_separates_the_tables(capsys):
    show_result(Format.markdown, lambda: None, lambda: evaluation_tables(evaluation()))
    out = capsys.readouterr().out
    assert "\n\n**confusion matrix (rows: true class, columns: predicted)**\n\n| true |" in out
    assert "| cat\\|dog | 34 | 97.06% |" in out
    show_result(Format.table, lambda: None, lambda: evaluation_tables(evaluation()))
    assert "\n\nconfusion matrix" in capsys.readouterr().out  # plain text: a blank line too


# -- CSV: one table, distinct headers --------------------------------------------------------------
def test_flops_per_layer_csv_headers_are_distinct():
    rows = list(csv.reader(io.StringIO(to_csv(flops_table(summarize(cnnctl.load("lenet5")), per_layer=True)))))
    assert rows[0] == ["layer", "shorthand", "mults", "mults_share", "flops", "flops_share"]  # the JSON's keys
    assert rows[1][3] == str(240_000 / 416_520) and rows[1][5] == str(483_200 / 852_400)
    assert "Share" in plain(flops_table(summarize(cnnctl.load("lenet5")), per_layer=True))  # text keeps `Share`


def test_flops_per_layer_csv_from_the_cli():
    r = subprocess.run([sys.executable, "-m", "cnnctl", "flops", "lenet5", "--per-layer", "-f", "csv"],
                       capture_output=True, text=True, timeout=60)  # fmt: skip
    assert r.returncode == 0, r.stderr
    header = next(csv.reader(io.StringIO(r.stdout)))
    assert len(set(header)) == len(header) == 7  # the six of the forward pass and the backward multiplications
    assert header[-1] == "backward_mults"  # as the JSON names it


def test_memory_per_layer_csv_is_the_per_layer_table_and_top_sums_the_rest(monkeypatch, capsys):
    # CSV writes one table: with --per-layer it was the totals', the table asked for dropped
    from helpers import run_main

    code, out, err = run_main(monkeypatch, capsys, "memory", "lenet5", "--per-layer", "-f", "csv")
    assert code == 0, err
    every = list(csv.reader(io.StringIO(out)))
    assert every[0] == ["layer", "saved_bytes"] and len(every) > 4  # the size only restates the bytes: text alone
    code, out, err = run_main(monkeypatch, capsys, "memory", "lenet5", "--per-layer", "--top", "3", "-f", "csv")
    top = list(csv.reader(io.StringIO(out)))
    assert top[1:4] == every[1:4] and top[4][0] == f"({len(every) - 4} other layers)"
    assert int(top[4][1]) == sum(int(row[1]) for row in every[4:])  # the column still adds up


def test_evaluate_csv_is_one_table(capsys):
    show_result(Format.csv, lambda: None, lambda: evaluation_tables(evaluation()))
    rows = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    split = "the validation split of shapes (10% held out, seed 0)"
    # snake_case headers, a class's name as written after `predicted_`; the data by name, and in words
    assert rows == [
        ["row", "class", "examples", "accuracy", "precision", "f1", "predicted_cat|dog", "predicted_*star*",
         "predicted_empty", "balanced_accuracy", "macro_f1", "top5_accuracy", "loss", "split", "data", "data_words",
         "weights", "images_skipped", "samples_lost_to_cuts"],
        ["class", "cat|dog", "34", str(33 / 34), str(33 / 34), str(66 / 68), "33", "1", "0", *[""] * 10],
        ["class", "*star*", "2", "0.5", "0.5", "0.5", "1", "1", "0", *[""] * 10],
        ["class", "empty", "0", "", "", "", "0", "0", "0", *[""] * 10],
        # every image: 36 = 33 + 1 + 1 + 1, correct 33 + 1 of them; predicted: the matrix's column sums; the
        # means over the classes present of recall and F1; no top-5 with 3 classes
        ["overall", "", "36", str(34 / 36), "", "", str(33 + 1 + 0), str(1 + 1 + 0), "0", str((33 / 34 + 0.5) / 2),
         str((66 / 68 + 0.5) / 2), "", "0.25", "val", "shapes", split, "runs/x/best.pt", "0", "0"],
    ]  # fmt: skip


def test_evaluate_csv_writes_class_names_exactly_as_json_does(capsys, monkeypatch):
    # CSV wrote `\\x1b[31mred` for a class named with an ESC: data for a program holds the name
    # as written (the csv module quotes the line break), as JSON does; a terminal sees it escaped
    e = evaluation()
    e.classes = ["\x1b[31mred\nline", "rtl\u202egnp.exe", "zero\u200bwidth"]
    print_json(evaluation_json(e))
    assert json.loads(capsys.readouterr().out)["classes"] == e.classes
    show_result(Format.csv, lambda: None, lambda: evaluation_tables(e))
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [r["class"] for r in rows[:3]] == e.classes
    assert [f"predicted_{name}" in rows[0] for name in e.classes] == [True] * 3
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)  # the same CSV on a terminal
    show_result(Format.csv, lambda: None, lambda: evaluation_tables(e))
    shown_csv = capsys.readouterr().out
    assert "\x1b" not in shown_csv and "\\x1b[31mred\\nline" in shown_csv and "rtl\\u202egnp" in shown_csv


def test_evaluate_csv_tells_a_class_named_overall_from_the_summary_row(capsys):
    # The summary row was told by `class` = `overall` alone: a class of that name made the CSV
    # ambiguous. The `row` column says which is which, and the summary row has no class.
    e = evaluation()
    e.classes = ["overall", "other", "empty"]
    show_result(Format.csv, lambda: None, lambda: evaluation_tables(e))
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [(r["row"], r["class"]) for r in rows] == [
        ("class", "overall"), ("class", "other"), ("class", "empty"), ("overall", "")]  # fmt: skip
    assert [r["examples"] for r in rows] == ["34", "2", "0", "36"]


def test_evaluate_csv_of_dense_prediction_has_the_mean_iou_on_its_overall_row(capsys):
    # per class, IoU = TP / (TP + FP + FN): background 6 / (6 + 1 + 2) = 2/3, shape 3 / (3 + 2 + 1) = 1/2;
    # precision 6 / 7, 3 / 5; F1 = 2 TP / (2 TP + FP + FN): 12 / 15, 6 / 9
    e = SimpleNamespace(loss=0.5, accuracy=9 / 12, examples=2, classes=["background", "shape"],
                        per_class=[6 / 8, 3 / 4], precision=[6 / 7, 3 / 5], f1=[12 / 15, 6 / 9],
                        balanced_accuracy=(6 / 8 + 3 / 4) / 2, macro_f1=(12 / 15 + 6 / 9) / 2, top5_accuracy=None,
                        confusion=[[6, 2], [1, 3]], checkpoint="runs/seg/best.pt",
                        split="all of masks", split_name="all", iou=[2 / 3, 1 / 2], pixels=12, data="masks",
                        mean_iou=(2 / 3 + 1 / 2) / 2)  # fmt: skip
    show_result(Format.csv, lambda: None, lambda: evaluation_tables(e))
    rows = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    assert rows[0][:7] == ["row", "class", "pixels", "accuracy", "precision", "f1", "iou"]
    assert rows[1][:7] == ["class", "background", "8", str(6 / 8), str(6 / 7), str(12 / 15), str(2 / 3)]
    assert rows[-1] == ["overall", "", "12", str(9 / 12), "", "", str((2 / 3 + 1 / 2) / 2), "7", "5", "0.75",
                        str((12 / 15 + 6 / 9) / 2), "", "0.5", "all", "masks", "all of masks",
                        "runs/seg/best.pt", "0", "0"]  # fmt: skip
    text = plain(evaluation_tables(e)[0])
    assert "overall" not in text  # the text says it in its title


def test_csv_only_columns_stay_out_of_text_tables():
    text = plain(evaluation_tables(evaluation())[0])
    assert "predicted" not in text and "97.06%" in text and "-" in text.splitlines()[-1]


# -- validate as a table ---------------------------------------------------------------------------
def test_validate_table_renders_in_every_format():
    results = [
        {"named": "lenet5", "file": "lenet5.yaml", "bundled": True, "ok": True, "layers": 7, "params": 61_706,
         "mults": 416_520, "problems": []},
        {"named": "b|ad.yaml", "file": "b|ad.yaml", "bundled": False, "ok": False,
         "problems": ["error: b.yaml:3:5: too big\n  hint: p=same", "error: x"]},
    ]  # fmt: skip
    table = validate_table(results)
    rows = list(csv.reader(io.StringIO(to_csv(table))))
    assert rows == [  # CSV: the JSON's `file` and `bundled`, the file read; Markdown, as named
        ["file", "bundled", "status", "layers", "params", "mults", "problems"],
        ["lenet5.yaml", "true", "ok", "7", "61706", "416520", ""],
        ["b|ad.yaml", "false", "fail", "", "", "", "error: b.yaml:3:5: too big hint: p=same; error: x"],
    ]
    md = markdown(table)
    assert "| lenet5 | ok | 7 | 61,706 | 416,520 |  |" in md and "| b\\|ad.yaml | fail | - | - | - |" in md
    assert table.title == "1 valid, 1 invalid: b|ad.yaml"


def test_catalog_at_a_narrow_width_keeps_numbers_whole():
    entries = [{"name": "resnet152", "input": "224x224x3", "params": 60_192_808, "mults": 11_513_626_624,
                "description": "torchvision v1.5, the stride on the 3x3 conv"}]  # fmt: skip
    table = catalog_table(entries)
    out = draw(table, 40)
    assert "224x224x3" in out and "60,192,808" in out and "11.51 G" in out


def test_a_table_that_fits_keeps_its_natural_width():
    out = draw(summary_table(summarize(cnnctl.load("lenet5"))), 160)
    rule = next(ln for ln in out.splitlines() if ln.startswith("─"))
    row = "conv1  conv f=5 n=6 act=tanh    28x28x6     156  117,600      5"  # as in the README
    assert row in out.splitlines() and len(rule.rstrip()) == len(row)  # not stretched to 160


def test_the_confusion_matrix_names_its_columns_or_numbers_them_where_names_would_collide():
    from cnnctl.render.views.evaluation import evaluation_tables

    short = SimpleNamespace(loss=0.1, accuracy=0.5, examples=4, classes=["background", "shape"], per_class=[0.5, 0.5],
                            precision=[0.5, 0.5], f1=[0.5, 0.5], balanced_accuracy=0.5, macro_f1=0.5,
                            top5_accuracy=None, confusion=[[1, 1], [1, 1]], checkpoint="c", split="s")  # fmt: skip
    matrix = evaluation_tables(short)[1]
    assert [c.name for c in matrix.columns] == ["true", "background", "shape"]
    long = SimpleNamespace(**{**vars(short), "classes": ["category_0001", "category_0002"]})
    matrix = evaluation_tables(long)[1]
    assert [c.name for c in matrix.columns] == ["true", "0", "1"]  # cut to 8 they were both `category`
    assert [row[0] for row in matrix.rows] == ["0 category_0001", "1 category_0002"]


def test_the_field_legend_gives_the_reasons_in_the_table_and_defines_each_column_shown():
    """nu5: the legend blamed an upsample for `~` where only adaptive pooling (10 -> 7) made the
    positions' fields differ, and explained Field but not Jump, Start or Memory."""

    def notes(text: str, columns: tuple[str, ...]) -> list[str]:
        return summary_table(summarize(cnnctl.load_text(text)), columns).notes

    def field_line(text: str) -> str:
        (line,) = [n for n in notes(text, ("layer", "field")) if n.startswith("Field:")]
        return line

    adaptive = field_line("input: 10x10x1\nlayers: [pool avg out=7]")
    assert "~: " in adaptive and "adaptive pooling" in adaptive and "upsample" not in adaptive
    # every position's field 2 wide, two positions at each place: placed unevenly, sizes alike (`~` once said
    # they differed)
    upsample = field_line("input: 4x4x1\nlayers: [conv f=2 s=2 n=1, upsample 2]")
    assert "~: " not in upsample
    assert "an upsample a field unmarked is every position's size, placed unevenly" in upsample
    assert "adaptive" not in upsample
    shown = summary_table(summarize(cnnctl.load_text("input: 4x4x1\nlayers: [conv f=2 s=2 n=1, upsample 2]")))
    assert [row[-1] for row in cells(shown)] == ["2", "2"]
    # deconv f=3 s=2 after conv f=3 p=1: positions see 4 and 3 pixels in turn (test_receptive_field, by the gradient)
    deconv = field_line("input: 8x8x1\nlayers: [conv f=3 p=1 n=1, deconv f=3 s=2 p=1 n=1]")
    assert "~: the largest of the positions' fields, which differ in size after a deconv;" in deconv
    assert "unmarked" not in deconv
    assert "~" not in field_line("input: 13x13x1\nlayers: [pool avg out=6]")  # evenly placed windows
    assert "larger than the image" in upsample  # the padding, counted in a field
    text = "input: 8x8x1\nlayers: [conv f=3 n=2]"
    shown = notes(text, ("layer", "field", "jump", "start", "memory"))
    assert [n.split(":")[0] for n in shown[-4:]] == ["Field", "Jump", "Start", "Memory"]
    assert not [n for n in notes(text, ("layer", "field")) if n.split(":")[0] in ("Jump", "Start", "Memory")]
