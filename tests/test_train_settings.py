"""Training settings: checked in one place (cnnctl.train.config) for the file, the command line
and `validate`; data folders stored absolute so a run is found again from anywhere."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import run_main

import cnnctl
from cnnctl import CnnctlError
from cnnctl.train.config import MAX_SEED, absolute_data_paths, resolve_config

ROOT = Path(__file__).resolve().parents[1]


def cli(*args, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "cnnctl", *args], capture_output=True, text=True, timeout=300, cwd=cwd)


def col(line: str, text: str) -> int:
    return line.index(text) + 1  # editors count columns from 1


# -- the file's `train:` section ------------------------------------------------------------


def test_every_problem_of_a_train_section_is_reported_at_its_place():
    line = "train: {epochs: abc, lr: -1, optimizer: foo}"
    graph = cnnctl.load_text(f"input: 8x8x1\n{line}\nlayers: [fc 2]", "net.yaml")
    with pytest.raises(CnnctlError) as info:
        resolve_config(graph.train, {})
    problems = info.value.problems
    assert [(p.loc.line, p.loc.col) for p in problems] == [(2, col(line, "abc")), (2, col(line, "-1")), (2, 41)]
    assert col(line, "foo") == 41
    assert "`train: epochs`" in problems[0].message and "`train: lr`" in problems[1].message
    assert "`train: optimizer`" in problems[2].message and "sgd, adam, adamw" in problems[2].message


def test_a_device_in_the_file_is_checked_there_with_its_location():
    line = "train: {device: gpu}"
    graph = cnnctl.load_text(f"input: 8x8x1\n{line}\nlayers: [fc 2]", "net.yaml")
    with pytest.raises(CnnctlError) as info:
        resolve_config(graph.train, {})
    text = str(info.value)
    assert text.startswith(f"error: net.yaml:2:{col(line, 'gpu')}: `train: device` `gpu` is not a device"), text
    assert "did you mean `cuda`" in text and "--device" not in text
    for good in ("cpu", "cuda", "cuda:1", "mps", "auto", "CPU"):
        ok = cnnctl.load_text(f"input: 8x8x1\ntrain: {{device: {good}}}\nlayers: [fc 2]")
        assert resolve_config(ok.train, {}).device == good


@pytest.mark.parametrize(
    ("setting", "words"),
    [
        ("lr: nan", "`train: lr`"),
        ("lr: .inf", "`train: lr`"),
        ("weight_decay: nan", "`train: weight_decay`"),
        ("momentum: nan", "`train: momentum`"),
        (f"seed: {MAX_SEED + 1}", "`train: seed` must be from 0 to 4,294,967,295"),
        ("seed: -1", "`train: seed`"),
    ],
)
def test_non_finite_and_out_of_range_file_settings_are_refused(setting, words):
    graph = cnnctl.load_text(f"input: 8x8x1\ntrain:\n  {setting}\nlayers: [fc 2]", "net.yaml")
    with pytest.raises(CnnctlError) as info:
        resolve_config(graph.train, {})
    assert info.value.problems[0].loc.line == 3 and words in str(info.value)


def test_the_largest_seed_is_taken():
    assert MAX_SEED == 4_294_967_295
    graph = cnnctl.load_text("input: 8x8x1\ntrain: {seed: 4294967295}\nlayers: [fc 2]")
    assert resolve_config(graph.train, {}).seed == 2**32 - 1
    # the epoch order seeds a generator with seed * 1_000_003 + epoch: it must fit a signed 64-bit integer
    assert MAX_SEED * 1_000_003 + 10_000 < 2**63


# -- the command line -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "words"),
    [
        # the ranges are the file's since issue 19 (bug a): lr at most 10, weight decay at most 1
        (["--lr", "nan"], "--lr must be a finite number greater than 0 and at most 10, got nan"),
        (["--lr", "inf"], "--lr must be a finite number greater than 0 and at most 10, got inf"),
        (["--weight-decay", "nan"], "--weight-decay must be a number from 0 to 1, got nan"),
        (["--momentum", "nan", "--optimizer", "sgd"], "--momentum must be a number from 0 to 1, got nan"),
    ],
)
def test_non_finite_numbers_on_the_command_line_are_refused_by_option(monkeypatch, capsys, tmp_path, args, words):
    out = tmp_path / "run"
    code, _, err = run_main(monkeypatch, capsys, "train", "lenet5", "--epochs", "1", "--out", str(out), *args)
    assert code == 2 and err.startswith(f"error: {words}"), err
    assert "hint:" in err and not out.exists()  # refused before the run started


def test_a_seed_beyond_the_generator_is_refused_by_its_range(monkeypatch, capsys, tmp_path):
    code, _, err = run_main(monkeypatch, capsys, "train", "lenet5", "--seed", str(2**63), "--out", str(tmp_path))
    assert code == 2 and "--seed must be from 0 to 4,294,967,295" in err, err
    with pytest.raises(CnnctlError, match="--seed must be from 0 to 4,294,967,295"):
        resolve_config({}, {"seed": 2**32})  # a caller of the API gets the same check


def test_command_line_values_override_the_file_after_both_are_checked():
    graph = cnnctl.load_text("input: 8x8x1\ntrain: {lr: 0.5, optimizer: sgd}\nlayers: [fc 2]")
    config = resolve_config(graph.train, {"lr": 0.01, "weight_decay": 0.0, "momentum": 0.0, "seed": MAX_SEED})
    assert (config.learning_rate, config.optimizer, config.momentum, config.seed) == (0.01, "sgd", 0.0, MAX_SEED)


# -- validate --------------------------------------------------------------------------------


def test_validate_checks_the_train_section(tmp_path, monkeypatch, capsys):
    bad = tmp_path / "bad.yaml"
    line = "train: {epochs: abc, lr: -1, optimizer: foo}"
    bad.write_text(f"input: 32x32x1\n{line}\nlayers: [fc 10]\n")
    typo = tmp_path / "typo.yaml"
    typo_line = "train: {epoch: 3}"
    typo.write_text(f"input: 32x32x1\n{typo_line}\nlayers: [fc 10]\n")
    good = tmp_path / "good.yaml"
    good.write_text("input: 32x32x1\ntrain: {epochs: 3, lr: 0.01, optimizer: sgd, device: cpu}\nlayers: [fc 10]\n")
    code, out, err = run_main(monkeypatch, capsys, "validate", str(bad), str(typo), str(good))
    assert code == 2, out + err
    for text in ("abc", "-1", "foo"):
        assert f"{bad}:2:{col(line, text)}:" in err, err
    at_name = f"{typo}:2:{col(typo_line, 'epoch')}:"  # the name, not its value
    assert f"{at_name} unknown training setting `epoch`" in err and "did you mean `epochs`" in err
    assert f"ok  {good}" in out and "1 valid, 2 invalid" in out
    code, out, _ = run_main(monkeypatch, capsys, "validate", str(good), "--format", "json")
    assert code in (0, None) and json.loads(out)["ok"] is True


def test_validate_with_a_train_section_does_not_import_torch(tmp_path):
    net = tmp_path / "net.yaml"
    net.write_text("input: 32x32x1\ntrain: {epochs: 3, data: ./imgs, device: cuda}\nlayers: [fc 10]\n")
    probe = (
        "import sys, cnnctl.cli\n"
        f"sys.argv = ['cnnctl', 'validate', {str(net)!r}]\n"
        "try:\n    cnnctl.cli.main()\nexcept SystemExit as exc:\n    assert exc.code in (0, None), exc.code\n"
        "print('torch' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True)
    assert result.stdout.strip().splitlines()[-1] == "False"


# -- data folders ----------------------------------------------------------------------------


def test_data_folders_are_made_absolute_and_names_are_not(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "imgs").mkdir()
    (tmp_path / "mnist").mkdir()  # a known name wins over a folder of that name, as in cnnctl.data
    real = os.path.realpath(tmp_path)
    cases = {
        "./imgs": f"{real}/imgs",
        "imgs": f"{real}/imgs",
        "./missing": f"{real}/missing",  # a path that is not there yet: the error names it in full
        "mnist": "mnist",
        "./mnist": f"{real}/mnist",
        "shapes": "shapes",
        "mnsit": "mnsit",  # a misspelt name stays, for cnnctl.data's "did you mean"
    }
    for given, stored in cases.items():
        assert absolute_data_paths({"data": given})["data"] == stored, given
        assert resolve_config({}, {"data": given}).data == stored, given
    assert resolve_config({}, {"data_dir": "cache"}).data_dir == f"{real}/cache"
    graph = cnnctl.load_text("input: 8x8x1\ntrain: {data: ./imgs, data_dir: d}\nlayers: [fc 2]")
    config = resolve_config(graph.train, {})
    assert config.data == f"{real}/imgs" and config.data_dir == f"{real}/d"  # a file's paths: inside the directory


@pytest.fixture
def idx_folder(tmp_path):
    """A folder of IDX files: 320 training and 64 test images of the shapes at 32x32x1."""
    pytest.importorskip("torch")
    sys.path.insert(0, str(Path(__file__).parent))
    from idxfiles import write_idx

    from cnnctl.data import make_shapes

    x, y = make_shapes(384, 32, 32, 1, seed=5)
    x = x[:, 0]  # IDX images are N x H x W
    work = tmp_path / "work"
    write_idx(work / "imgs", "train", x[:320], y[:320])
    write_idx(work / "imgs", "t10k", x[320:], y[320:])
    return work


def test_a_relative_data_folder_is_found_again_from_another_directory(idx_folder):
    work = idx_folder
    train = cli("train", "lenet5", "--data", "./imgs", "--epochs", "1", "--batch-size", "64", "--out", "run",
                "--device", "cpu", cwd=work)  # fmt: skip
    assert train.returncode == 0, train.stderr
    folder = os.path.realpath(work / "imgs")
    assert json.loads((work / "run" / "config.json").read_text())["data"] == folder
    elsewhere = work.parent
    evaluated = cli("evaluate", "lenet5", "--checkpoint", str(work / "run"), "--format", "json", cwd=elsewhere)
    assert evaluated.returncode == 0, evaluated.stderr
    assert json.loads(evaluated.stdout)["examples"] == 64  # the t10k split of that folder
    resumed = cli("train", "lenet5", "--resume", str(work / "run"), "--epochs", "2", "--data", folder, cwd=elsewhere)
    assert resumed.returncode == 0, resumed.stderr
    assert len((work / "run" / "metrics.jsonl").read_text().splitlines()) == 2


def test_a_resumed_run_takes_the_same_folder_written_relative(idx_folder):
    work = idx_folder
    train = cli("train", "lenet5", "--data", "imgs", "--epochs", "1", "--batch-size", "64", "--out", "run",
                "--device", "cpu", cwd=work)  # fmt: skip
    assert train.returncode == 0, train.stderr
    resumed = cli("train", "lenet5", "--resume", "run", "--epochs", "2", "--data", "./imgs", cwd=work)
    assert resumed.returncode == 0, resumed.stderr


# -- one rule for the file and the command line (issue 19, bug a) ------------------------------


@pytest.mark.parametrize(("option", "value"), [("--lr", "20"), ("--weight-decay", "2")])
def test_the_command_line_refuses_what_a_file_refuses(monkeypatch, capsys, tmp_path, option, value):
    name = option[2:].replace("-", "_")
    graph = cnnctl.load_text(f"input: 8x8x1\ntrain: {{{name}: {value}}}\nlayers: [fc 2]", "net.yaml")
    with pytest.raises(CnnctlError, match=f"`train: {name}`"):
        resolve_config(graph.train, {})
    out = tmp_path / "run"
    code, _, err = run_main(monkeypatch, capsys, "train", "lenet5", "--epochs", "1", "--out", str(out), option, value)
    assert code == 2 and err.startswith(f"error: {option} must be"), err
    assert not out.exists()


def test_every_setting_is_read_and_checked_by_one_rule_from_a_file_and_the_command_line():
    from cnnctl.layers.args import ArgValueError
    from cnnctl.train.settings import SETTINGS

    # a value just outside each numeric range: the file and the API (the command line's path) both refuse it
    outside = {"epochs": "0", "batch_size": "0", "lr": "10.5", "momentum": "1.5", "weight_decay": "1.5",
               "seed": "-1", "val_split": "0.95", "label_smoothing": "1", "warmup_epochs": "-1", "patience": "0",
               "threads": "4097", "mean": "1.5", "std": "0"}  # fmt: skip
    for setting in SETTINGS:
        if setting.name not in outside:
            continue
        typed = setting.parse(outside[setting.name])
        with pytest.raises(ArgValueError):
            setting.validate(typed)
        graph = cnnctl.load_text(f"input: 8x8x1\ntrain: {{{setting.name}: {outside[setting.name]}}}\nlayers: [fc 2]")
        with pytest.raises(CnnctlError, match=f"`train: {setting.name}`"):
            resolve_config(graph.train, {})
        with pytest.raises(CnnctlError, match=setting.option):
            resolve_config({}, {setting.name: typed})
    assert set(outside) <= {s.name for s in SETTINGS}


def test_the_table_makes_the_config_and_the_resume_lists():
    from dataclasses import fields

    from cnnctl.train import resume_config
    from cnnctl.train.config import TrainConfig
    from cnnctl.train.settings import RESUMABLE, RESUME_SETTINGS, SETTINGS

    assert [(f.name, f.default) for f in fields(TrainConfig)] == [(s.name, s.default) for s in SETTINGS]
    assert resume_config.RESUMABLE is RESUMABLE and "epochs" in RESUMABLE and "seed" not in RESUMABLE
    assert not set(RESUMABLE) & {"batch_size", "seed", "data", "lr"}  # they decide which images a step sees
    assert {"batch_size", "seed", "data"} <= set(RESUME_SETTINGS)


# -- normalisation statistics as a setting (issue 19, item 4) -----------------------------------------


def test_mean_and_std_given_are_what_the_run_normalises_with(monkeypatch, capsys, tmp_path):
    torch = pytest.importorskip("torch")
    net = tmp_path / "net.yaml"
    net.write_text("input: 8x8x1\ntrain: {mean: '0.5', std: '0.25'}\nlayers:\n  - fc 10\n")
    out = tmp_path / "run"
    code, _, err = run_main(monkeypatch, capsys, "train", str(net), "--epochs", "1", "--out", str(out),
                            "--device", "cpu")  # fmt: skip
    assert code == 0, err
    saved = torch.load(out / "last.pt", weights_only=False)
    assert (saved["mean"], saved["std"]) == ([0.5], [0.25])  # not the shapes data's own (about 0.27)
    code, _, err = run_main(monkeypatch, capsys, "train", str(net), "--epochs", "1", "--out", str(tmp_path / "r2"),
                            "--mean", "0.4,0.4", "--std", "0.2,0.2")  # fmt: skip
    assert code == 2 and "2 values for a network of 1 input channel" in err, err


def test_mean_without_std_is_refused_before_training(monkeypatch, capsys, tmp_path):
    out = tmp_path / "run"
    code, _, err = run_main(monkeypatch, capsys, "train", "lenet5", "--epochs", "1", "--out", str(out),
                            "--mean", "0.13")  # fmt: skip
    assert code == 2 and "--mean is given without --std" in err and "0.229,0.224,0.225" in err, err
    assert not out.exists()


def test_statistics_in_a_file_are_checked_at_their_place_against_the_input_channels(tmp_path, monkeypatch, capsys):
    net = tmp_path / "net.yaml"
    net.write_text("input: 8x8x1\ntrain:\n  mean: 0.5,0.5\n  std: 0.2,0.2\nlayers:\n  - fc 10\n")
    code, _, err = run_main(monkeypatch, capsys, "validate", str(net))  # validate tells it, before any training
    assert code == 2, err
    assert f"{net}:3:9: `train: mean` has 2 values for a network of 1 input channel" in err, err
    assert f"{net}:4:8: `train: std` has 2 values" in err, err
    # The hint said once, not wrapped in itself ("one number per input channel (one number per input channel, ...").
    assert err.count("per input channel") == 2 and "channel (one number" not in err, err
    net.write_text("input: 8x8x3\ntrain:\n  mean: 0.5\n  std: 0.2\nlayers:\n  - fc 10\n")
    code, _, err = run_main(monkeypatch, capsys, "validate", str(net))
    assert code == 2 and "`train: mean` has 1 value for a network of 3 input channels" in err, err
    net.write_text("input: 8x8x1\ntrain:\n  mean: 0.5\nlayers:\n  - fc 10\n")
    code, _, err = run_main(monkeypatch, capsys, "validate", str(net))
    assert code == 2 and f"{net}:3:9: `train: mean` is given without `train: std` (or --std)" in err, err


@pytest.mark.parametrize(("option", "value", "said"), [
    ("--threads", "0", "--threads must be from 1"), ("--epochs", "-3", "--epochs must be from 1"),
    ("--threads", "99999", "--threads must be from 1 to 4,096"), ("--patience", "0", "--patience must be from 1"),
])  # fmt: skip
def test_a_resumed_runs_settings_are_checked_as_a_new_runs(option, value, said, monkeypatch, capsys, tmp_path):
    out = tmp_path / "run"
    net = tmp_path / "net.yaml"
    net.write_text("input: 8x8x1\nlayers:\n  - fc 10\n")
    code, _, err = run_main(monkeypatch, capsys, "train", str(net), "--epochs", "1", "--out", str(out),
                            "--device", "cpu")  # fmt: skip
    assert code == 0, err
    code, _, err = run_main(monkeypatch, capsys, "train", "--resume", str(out), option, value)
    assert code == 2 and err.startswith(f"error: {said}"), err  # was a traceback, or a crash of torch


def test_every_refused_setting_comes_with_a_hint(monkeypatch, capsys, tmp_path):
    from cnnctl.train.config import _hint
    from cnnctl.train.settings import SETTINGS

    assert all(_hint(s.name, "x") for s in SETTINGS)  # a message is never told without one
    code, _, err = run_main(monkeypatch, capsys, "train", "lenet5", "--epochs", "0", "--out", str(tmp_path / "r"))
    assert code == 2 and "\n  hint: --epochs: passes over the training data. Default: 10." in err, err


def test_the_readmes_table_of_training_options_names_every_setting():
    from cnnctl.train.settings import SETTINGS

    readme = (ROOT / "README.md").read_text()
    rows = [line for line in readme.splitlines() if line.startswith("| `--")]
    documented = {word.strip(" `").split("/")[0] for row in rows for word in row.split("|")[1].split(",")}
    assert {s.option for s in SETTINGS} <= documented, {s.option for s in SETTINGS} - documented


# -- what a new user ran into ---------------------------------------------------------------------
def test_a_hint_made_from_the_help_keeps_a_first_word_in_capitals(monkeypatch, capsys, tmp_path):
    # `--threads 0` was hinted "--threads: cPU threads per process"
    from cnnctl.train.config import _hint

    code, _, err = run_main(monkeypatch, capsys, "train", "lenet5", "--threads", "0", "--out", str(tmp_path / "r"))
    assert code == 2 and "\n  hint: --threads: CPU threads per process." in err, err
    assert _hint("momentum", "x") == "e.g. 0.9" and _hint("epochs", "x").startswith("--epochs: passes over")


def test_a_misspelt_augmentation_gets_the_nearest(monkeypatch, capsys, tmp_path):
    code, _, err = run_main(monkeypatch, capsys, "train", "lenet5", "--augment", "crop,flipp", "--out",
                            str(tmp_path / "r"))  # fmt: skip
    assert code == 2 and "`flipp` is not an augmentation" in err and "(did you mean `flip`?)" in err, err
    with pytest.raises(CnnctlError, match=r"`nne` is not an augmentation.*\(did you mean `none`\?\)"):
        resolve_config({}, {"augment": "nne"})  # the file's value too, by the same rule


def test_mean_without_std_is_hinted_to_add_std(monkeypatch, capsys, tmp_path):
    # the hint described --std's values as if --std were the option given
    code, _, err = run_main(monkeypatch, capsys, "train", "lenet5", "--mean", "0.5", "--out", str(tmp_path / "r"))
    assert code == 2 and "\n  hint: add --std too: one number above 0 per input channel" in err, err
    code, _, err = run_main(monkeypatch, capsys, "train", "lenet5", "--std", "0.5", "--out", str(tmp_path / "r"))
    assert code == 2 and "\n  hint: add --mean too: one number per input channel" in err, err


@pytest.mark.parametrize(
    "setting, value, why",
    [
        ("out", "/tmp/elsewhere", "an absolute path"),
        ("weights", "/tmp/runs/k1", "an absolute path"),
        ("data", "../data", "a path leading out of the working directory"),
        ("data", "imgs/../../data", "a path leading out of the working directory"),
        ("data_dir", "~/d", "an absolute path"),
        ("data", "file:///etc", "a URL"),
    ],
)
def test_a_network_files_paths_may_not_leave_the_working_directory(tmp_path, monkeypatch, setting, value, why):
    monkeypatch.chdir(tmp_path)
    graph = cnnctl.load_text(f"input: 8x8x1\ntrain:\n  epochs: 1\n  {setting}: {value}\nlayers: [fc 2]")
    with pytest.raises(CnnctlError) as caught:
        resolve_config(graph.train, {})
    (problem,) = caught.value.problems
    assert problem.message == f"`train: {setting}` is {why}: `{value}`"
    assert (problem.loc.line, problem.loc.col) == (4, 3 + len(setting) + 2)
    option = "--" + setting.replace("_", "-")
    assert problem.hint.endswith(f"give this path on the command line instead ({option}), where any path is allowed")
    assert getattr(resolve_config(graph.train, {setting: "x"}), setting) is not None  # the command line's wins


def test_a_link_out_of_the_working_directory_is_refused_and_names_and_paths_inside_are_kept(tmp_path, monkeypatch):
    (tmp_path / "work").mkdir()
    (tmp_path / "work" / "sub").mkdir()
    (tmp_path / "work" / "away").symlink_to(tmp_path)
    monkeypatch.chdir(tmp_path / "work")
    graph = cnnctl.load_text("input: 8x8x1\ntrain: {data: away/imgs}\nlayers: [fc 2]")
    with pytest.raises(CnnctlError, match="a path leading out of the working directory"):
        resolve_config(graph.train, {})
    text = "input: 8x8x1\ntrain: {data: mnist, weights: torchvision, out: sub/../runs/a, data_dir: sub}\nlayers: [fc 2]"
    config = resolve_config(cnnctl.load_text(text).train, {})
    assert (config.data, config.weights, config.out) == ("mnist", "torchvision", "sub/../runs/a")


def test_trains_help_names_each_value_short_and_alike(monkeypatch, capsys):
    # `--momentum MOMENTUM`, `--data-dir DATA_DIR`, `--seed SEED` stood beside `N` and `X`
    import re

    from tests.helpers import run_main

    code, out, _ = run_main(monkeypatch, capsys, "train", "--help")
    metavars = dict(re.findall(r"^ +(?:-\w, )?(--[\w-]+) ([A-Z][A-Z_]*)\b", out, re.M))
    assert {k: metavars[k] for k in ("--lr", "--momentum", "--weight-decay", "--seed", "--data-dir", "--out")} == {
        "--lr": "X", "--momentum": "X", "--weight-decay": "X", "--seed": "N", "--data-dir": "DIR", "--out": "DIR"
    }  # fmt: skip
    assert all(len(m) <= 5 and "_" not in m for m in metavars.values()), metavars
