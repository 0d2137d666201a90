"""Shell completion through typer's protocol: the shell runs cnnctl with _CNNCTL_COMPLETE set
and the words typed so far (bash: COMP_WORDS and COMP_CWORD; zsh and fish:
_TYPER_COMPLETE_ARGS), and cnnctl answers with what may come next. The expected words come
from the files and tables themselves (the architectures folder, the roofline's devices),
never from cnnctl's completion code."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]


def complete(shell: str, typed: str, cwd: Path = ROOT) -> list[str]:
    """What cnnctl offers after `typed` (a trailing space: a new word begins)."""
    env = {**os.environ, "_CNNCTL_COMPLETE": f"complete_{shell}", "PYTHONPATH": str(ROOT)}
    if shell == "bash":
        words = typed.split()
        env |= {"COMP_WORDS": typed, "COMP_CWORD": str(len(words) if typed.endswith(" ") else len(words) - 1)}
    else:
        env |= {"_TYPER_COMPLETE_ARGS": typed, "_TYPER_COMPLETE_FISH_ACTION": "get-args"}
    args = dict(env=env, cwd=cwd, capture_output=True, text=True, timeout=60)
    done = subprocess.run([sys.executable, "-m", "cnnctl"], **args)
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    return done.stdout.split()


def test_bash_completes_commands_and_options():
    assert complete("bash", "cnnctl s") == ["summarize", "schema"]
    assert complete("bash", "cnnctl summarize lenet5 --fo") == ["--format"]
    assert "--nproc-per-node" in complete("bash", "cnnctl train lenet5 --npro")


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("cnnctl summarize lenet5 --format ", ["table", "json", "csv", "markdown"]),
        ("cnnctl draw lenet5 --format ", ["text", "json"]),  # draw writes a line or JSON
        ("cnnctl train lenet5 --device c", ["cpu", "cuda"]),
        ("cnnctl memory lenet5 --device ", ["auto", "cpu", "cuda", "mps"]),  # one vocabulary: train's
        ("cnnctl train lenet5 --optimizer a", ["adam", "adamw"]),
        ("cnnctl memory lenet5 --optimizer a", ["adam", "adamw"]),  # train's words, as train's --optimizer
        ("cnnctl train lenet5 --monitor ", ["val_accuracy", "val_loss"]),
    ],
)
def test_bash_completes_the_values_of_choice_options(typed, expected):
    assert complete("bash", typed) == expected


def test_profiles_are_the_roofline_devices():
    from cnnctl.analysis.roofline import PROFILES

    offered = complete("bash", "cnnctl flops lenet5 --profile ")
    assert offered == list(PROFILES) and "h100" in offered
    assert complete("bash", "cnnctl compare a b --profile t") == [p for p in PROFILES if p.startswith("t")]


def test_arch_completes_bundled_networks_and_leaves_files_to_the_shell():
    bundled = sorted(p.stem for p in (ROOT / "architectures").glob("*.yaml"))
    assert complete("bash", "cnnctl summarize res") == [n for n in bundled if n.startswith("res")]
    assert complete("bash", "cnnctl compare lenet5 vgg1") == [n for n in bundled if n.startswith("vgg1")]
    # a family's members (its `variants:`, read here as YAML) by their bundled names, FAMILY_MEMBER
    members = yaml.safe_load((ROOT / "architectures" / "regnet.yaml").read_text())["variants"]
    assert complete("bash", "cnnctl summarize regnet_y") == sorted(f"regnet_{m}" for m in members if m[0] == "y")
    # nothing bundled starts so: the shell's own file names (`complete -o default`)
    assert complete("bash", "cnnctl summarize ./exam") == []


def test_run_completes_the_run_folders(tmp_path):
    for name in ("r1", "r2"):
        (tmp_path / "runs" / name).mkdir(parents=True)
        (tmp_path / "runs" / name / "config.json").write_text('{"epochs": 1}')
    (tmp_path / "runs" / "notarun").mkdir()
    assert complete("bash", "cnnctl evaluate --checkpoint ", cwd=tmp_path) == ["runs/r1", "runs/r2"]
    assert complete("bash", "cnnctl plot runs/r", cwd=tmp_path) == ["runs/r1", "runs/r2"]
    assert complete("bash", "cnnctl train --resume runs/r2", cwd=tmp_path) == ["runs/r2"]


def test_zsh_and_fish_complete_the_same_words():
    assert "summarize" in " ".join(complete("zsh", "cnnctl sum"))
    assert complete("fish", "cnnctl train lenet5 --optimizer a") == ["adam", "adamw"]


@pytest.mark.parametrize(("shell", "line"), [("bash", "complete -o default -F _cnnctl_completion cnnctl"),
                                            ("zsh", "compdef _cnnctl_completion cnnctl"),
                                            ("fish", "complete --command cnnctl")])  # fmt: skip
def test_show_completion_prints_the_script_for_each_shell(shell, line):
    # typer's switch for naming the shell rather than detecting the one cnnctl runs in
    env = {**os.environ, "PYTHONPATH": str(ROOT), "_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION": "1"}
    done = subprocess.run([sys.executable, "-m", "cnnctl", "--show-completion", shell], env=env, capture_output=True,
                          text=True, timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert line in done.stdout and "_CNNCTL_COMPLETE" in done.stdout


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_install_completion_works_in_a_fresh_bash(tmp_path):
    """`cnnctl --install-completion` typed in bash (which it detects), then a new interactive bash
    completes `cnnctl su`."""
    home, bin_dir = tmp_path / "home", tmp_path / "bin"
    home.mkdir()
    bin_dir.mkdir()
    cnnctl = bin_dir / "cnnctl"  # the console script, as pip would install it
    cnnctl.write_text(f'#!/bin/sh\nexec {sys.executable} -m cnnctl "$@"\n')
    cnnctl.chmod(0o755)
    env = {"HOME": str(home), "PATH": f"{bin_dir}:/usr/bin:/bin", "PYTHONPATH": str(ROOT), "SHELL": "/bin/bash"}
    done = subprocess.run(["bash", "-c", "cnnctl --install-completion"], env=env, capture_output=True, text=True,
                          timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "bash completion installed" in done.stdout
    probe = 'COMP_WORDS=(cnnctl su); COMP_CWORD=1; _cnnctl_completion cnnctl; echo "${COMPREPLY[@]}"'
    fresh = subprocess.run(["bash", "-i", "-c", probe], env=env, capture_output=True, text=True, timeout=60)
    assert fresh.stdout.split() == ["summarize"], fresh.stdout + fresh.stderr


def test_lists_of_words_and_data_are_completed(tmp_path):
    # --augment, --columns and --data offered nothing: a list's last word is completed, the words before kept
    from cnnctl.data import DATA_SETS
    from cnnctl.render.views.summary import SUMMARY_COLUMNS
    from cnnctl.train.settings import AUGMENTS

    assert complete("bash", "cnnctl train lenet5 --augment ") == ["none", *AUGMENTS]
    assert complete("bash", "cnnctl train lenet5 --augment crop,f") == ["crop,flip"]
    la = [c for c in SUMMARY_COLUMNS if c.startswith("la")]
    assert complete("bash", "cnnctl summarize lenet5 --columns la") == la == ["layer"]
    after = complete("bash", "cnnctl summarize lenet5 --columns layer,")
    assert after == [f"layer,{c}" for c in SUMMARY_COLUMNS if c != "layer"]  # none offered twice
    (tmp_path / "flowers").mkdir()
    (tmp_path / "notes.txt").write_text("")
    offered = complete("bash", "cnnctl train lenet5 --data ", cwd=tmp_path)
    assert offered == [*DATA_SETS, "flowers/"] and "shapes" in offered  # names, then folders (not files)
    assert complete("bash", "cnnctl train lenet5 --data fl", cwd=tmp_path) == ["flowers/"]
