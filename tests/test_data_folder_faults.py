"""Data folders a user cannot be trusted with: links out of the folder, loops of links, files cut
short, names that would forge lines or drive the terminal (cnnctl.data.folder, loader, pack)."""

import os

import pytest

torch = pytest.importorskip("torch")
Image = pytest.importorskip("PIL.Image")

import cnnctl  # noqa: E402
from cnnctl.data import load_data  # noqa: E402
from cnnctl.data.folder import list_image_folder  # noqa: E402
from cnnctl.data.loader import Skipped  # noqa: E402
from cnnctl.data.pack import pack  # noqa: E402
from cnnctl.data.stats import given  # noqa: E402
from cnnctl.errors import Problem  # noqa: E402

PLAIN = given((0.0, 0.0, 0.0), (1.0, 1.0, 1.0), 3, "the test")


def folder_of(root, per_class=4, classes=("cat", "dog")):
    for c in classes:
        (root / c).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            Image.new("RGB", (8, 8), (i, 10 * i, 3)).save(root / c / f"{i}.png")
    return root


def jpeg_cut_short(path):
    """A JPEG whose header is whole and whose pixels stop halfway: only decoding finds it."""
    noise = torch.randint(0, 256, (32, 32, 3), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    Image.fromarray(noise.numpy()).save(path, quality=95)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


# -- 1. links out of the folder are not read --------------------------------------------------------


@pytest.fixture
def linked(tmp_path):
    """A folder with a link out of it (to an image outside) and one inside it (to its own image)."""
    root = folder_of(tmp_path / "data")
    secret = tmp_path / "secret.png"
    Image.new("RGB", (8, 8), (255, 0, 0)).save(secret)
    (root / "dog" / "out.png").symlink_to(secret)
    (root / "dog" / "in.png").symlink_to(root / "cat" / "0.png")
    return root, secret


def test_a_link_out_of_the_data_folder_is_left_out_and_named_with_where_it_leads(linked):
    root, secret = linked
    tree = list_image_folder(root)
    listed = [f.name for f, _ in tree.splits["train"]]
    assert "out.png" not in listed and "in.png" in listed and len(listed) == 4 + 4 + 1
    assert tree.outside == [(root / "dog" / "out.png", str(secret))]
    assert f"left out 1 link that leads out of data/ (not read): dog/out.png -> {secret}" in tree.notes


def test_a_class_folder_that_is_a_link_out_is_no_class(tmp_path):
    root = folder_of(tmp_path / "data", classes=("a", "b"))
    folder_of(tmp_path / "elsewhere", classes=("c",))
    (root / "c").symlink_to(tmp_path / "elsewhere" / "c")
    tree = list_image_folder(root)
    assert tree.classes == ["a", "b"] and tree.outside == [(root / "c", str(tmp_path / "elsewhere" / "c"))]


@pytest.mark.parametrize("stream", [False, True])
def test_held_in_memory_or_streamed_the_link_out_is_not_read(linked, stream):
    root, secret = linked
    data = load_data(str(root), (8, 8, 3), stream=stream, workers=0, stats=PLAIN, val_split=0.0)
    images = len(data.train.labels) if stream else len(data.train.y)
    assert images == 9  # 8 images and the link inside; not the link out
    assert any("leads out of data/" in note and str(secret) in note for note in data.notes)
    if not stream:  # no image of the data is the secret's pure red
        assert not ((data.train.x[:, 0] == 255) & (data.train.x[:, 1] == 0)).all(dim=(1, 2)).any()


def test_pack_leaves_the_link_out_unread_and_names_it_in_skipped_txt(linked):
    root, secret = linked
    result = pack(root, root.parent / "out", 10**9)
    assert result.images() == 9
    lines = (root.parent / "out" / "skipped.txt").read_text().splitlines()
    assert lines == [f"{root / 'dog' / 'out.png'}: a link leading out of the folder, to {secret}: not read"]
    shard = next((root.parent / "out").glob("*.tar")).read_bytes()
    assert secret.read_bytes() not in shard


# -- 2. a loop of links is one unreadable file ---------------------------------------------------------


def test_a_loop_of_links_is_one_unreadable_file_not_the_end_of_the_listing(tmp_path):
    root = folder_of(tmp_path / "data", per_class=60)
    (root / "dog" / "loopa.png").symlink_to("loopb.png")
    (root / "dog" / "loopb.png").symlink_to("loopa.png")
    listed = [f.name for f, _ in list_image_folder(root).splits["train"]]
    assert "loopa.png" in listed and "loopb.png" in listed
    with pytest.raises(cnnctl.CnnctlError) as caught:  # held in memory: named, as any unreadable file
        load_data(str(root), (8, 8, 3), stream=False, stats=PLAIN, val_split=0.0)
    (problem,) = caught.value.problems  # 2 of 122 listed: more than 1% (of at least 100), both named
    named = ["loopa.png", "loopb.png"]
    assert problem.message.startswith("2 of the 122 images listed could not be decoded")
    assert all(f"{name}: cannot read the image" in problem.message for name in named)
    assert problem.message.count("Too many levels of symbolic links") == 2
    result = pack(root, tmp_path / "out", 10**9)  # packed without them
    assert result.images() == 120 and sorted(os.path.basename(f) for f, _ in result.skipped) == named


def test_a_streamed_run_skips_a_loop_of_links_under_the_one_percent_rule(tmp_path):
    from cnnctl.train.stream import Stream

    root = folder_of(tmp_path / "data", per_class=100)
    (root / "dog" / "loop.png").symlink_to("loop.png")
    data = load_data(str(root), (8, 8, 3), stream=True, workers=0, stats=PLAIN, val_split=0.0)
    skipped = Skipped(tmp_path / "skipped.txt")
    stream = Stream(data.train, (8, 8, 3), PLAIN.mean, PLAIN.std, torch.device("cpu"), workers=0, skipped=skipped)
    got = sum(len(y) for _, y in stream.epoch(0, 0, 201, 0, 1))  # one batch of all 201
    assert got == 200 and skipped.epoch_bad == 1
    assert (tmp_path / "skipped.txt").read_text().startswith(f"{root / 'dog' / 'loop.png'}: cannot read the image")


# -- 5. every unreadable file held in memory named in one run ------------------------------------------


def test_a_file_cut_short_is_named_with_the_files_whose_header_is_broken(tmp_path):
    root = folder_of(tmp_path / "data")
    (root / "cat" / "text.jpg").write_bytes(b"not an image")
    jpeg_cut_short(root / "dog" / "cut.jpg")
    with pytest.raises(cnnctl.CnnctlError) as caught:
        load_data(str(root), (8, 8, 3), stream=False, stats=PLAIN, val_split=0.0)
    (problem,) = caught.value.problems
    assert problem.message.startswith("2 of the 10 images listed could not be decoded")
    assert "cut.jpg: cannot read the image" in problem.message and "text.jpg: cannot read the image" in problem.message


def test_files_cut_short_in_training_and_validation_images_are_named_together(tmp_path):
    for split in ("train", "val"):
        folder_of(tmp_path / "data" / split)
        jpeg_cut_short(tmp_path / "data" / split / "cat" / f"{split}-cut.jpg")
    with pytest.raises(cnnctl.CnnctlError) as caught:
        load_data(str(tmp_path / "data"), (8, 8, 3), stream=False, stats=PLAIN)
    (problem,) = caught.value.problems  # judged once both splits are read: the count is of both
    assert problem.message.startswith("2 of the 18 images listed could not be decoded")
    assert "train-cut.jpg: cannot" in problem.message and "val-cut.jpg: cannot" in problem.message


def test_data_held_in_memory_leaves_unreadable_images_out_under_the_rule_of_a_stream(tmp_path, monkeypatch, capsys):
    import json

    from helpers import run_main

    # 1 of 100 listed (1%) is left out, named in the run's skipped.txt, and counted in train's JSON;
    # held in memory, every unreadable file once stopped the run (30 named at a time).
    root = folder_of(tmp_path / "data", per_class=50)
    (root / "cat" / "0.png").write_bytes(b"")
    net = tmp_path / "tiny.yaml"
    net.write_text("name: tiny\ninput: 8x8x3\nlayers:\n  - conv f=3 n=2\n  - pool avg global\n  - fc 2\n")
    run = tmp_path / "run"
    code, out, err = run_main(monkeypatch, capsys, "train", str(net), "--data", str(root), "--no-stream", "--epochs",
                              "1", "--out", str(run), "--device", "cpu", "--format", "json")  # fmt: skip
    assert code == 0, err
    result = json.loads(out)
    # 10% of the 100 listed held out (90 and 10), the unreadable one counted in neither (cat/0.png: the
    # first listed, in the split its index was held out to)
    held = load_data(str(root), (8, 8, 3), val_split=0.1).left_out
    assert (result["train_images"], result["val_images"]) == (90 - held.get("train", 0), 10 - held.get("val", 0))
    assert held.get("train", 0) + held.get("val", 0) == 1
    assert result["images_skipped"] == 1 and result["streamed"] is False
    assert (run / "skipped.txt").read_text().startswith(f"{root / 'cat' / '0.png'}: cannot read the image")


def test_many_unreadable_images_are_told_by_their_count_and_the_first_few(tmp_path):
    root = folder_of(tmp_path / "data", per_class=10)
    for i in range(8):
        (root / "cat" / f"{i}.png").write_bytes(b"")
    with pytest.raises(cnnctl.CnnctlError) as caught:
        load_data(str(root), (8, 8, 3), stream=False, stats=PLAIN, val_split=0.0)
    (problem,) = caught.value.problems
    assert problem.message.startswith(
        "8 of the 20 images listed could not be decoded (up to 1 may be: 1% of the images listed, a set "
        "of fewer than 100 counted as 100)"
    )
    assert problem.message.count(": cannot read the image") == 5 and problem.message.endswith("and 3 more")
    assert f"{root / 'cat' / '0.png'}: cannot read the image: an empty file (0 bytes);" in problem.message


# -- 6. names written as on the terminal, in skipped.txt too --------------------------------------------

HOSTILE = ["bad\nline.png", "ansi\x1b[2J.png", "\u202egnp.exe.png"]
ESCAPED = ["bad\\nline.png", "ansi\\x1b[2J.png", "\\u202egnp.exe.png"]


def test_one_line_escapes_line_breaks_escapes_and_bidirectional_controls():
    from cnnctl.errors import one_line
    from cnnctl.render.table import clean

    assert [one_line(name) for name in HOSTILE] == ESCAPED
    assert [clean(name) for name in HOSTILE] == ESCAPED  # the terminal's tables and notes: the same words
    assert Problem("x", None, hint="\u202e").format().endswith("hint: \\u202e")


def test_skipped_txt_has_one_line_per_image_written_as_the_terminal_shows_it(tmp_path):
    skipped = Skipped(tmp_path / "skipped.txt", listed=1000)
    skipped.add([(name, Problem("cannot read the image: \x1b[31m")) for name in HOSTILE])
    lines = (tmp_path / "skipped.txt").read_text().splitlines()
    assert lines == [f"{name}: cannot read the image: \\x1b[31m" for name in ESCAPED]
    again = Skipped(tmp_path / "skipped.txt", listed=1000)  # a resumed run: each still named once
    again.add([(HOSTILE[0], Problem("cannot read the image"))])
    assert len((tmp_path / "skipped.txt").read_text().splitlines()) == 3


def test_pack_writes_hostile_names_escaped_in_skipped_txt(tmp_path):
    root = folder_of(tmp_path / "data")
    for name in HOSTILE:
        (root / "cat" / name).write_bytes(b"not an image")
    pack(root, tmp_path / "out", 10**9)
    lines = (tmp_path / "out" / "skipped.txt").read_text().splitlines()
    assert sorted(line.split(": ", 1)[0].rsplit("/", 1)[1] for line in lines) == sorted(ESCAPED)
    assert all("\x1b" not in line and "\u202e" not in line for line in lines)


# -- 3, 4. a loader process killed, shared memory not made: one message, what was saved kept ----------

NET = "name: tiny\ninput: 8x8x3\nlayers:\n  - conv f=3 n=4 p=1\n  - pool avg global\n  - fc 2\n"


# Run as `cnnctl train`, in a process of its own, with a step hook that kills one of its loader
# processes (SIGKILL) in the second epoch, the first saved: what the user sees, and its exit code.
KILLER = """
import os, signal, sys, time
from pathlib import Path
from cnnctl.train import loop

def loader_children():
    tasks = Path(f"/proc/{os.getpid()}/task").iterdir()
    children = [int(c) for task in tasks for c in (task / "children").read_text().split()]
    return [pid for pid in children if Path(f"/proc/{pid}/comm").read_text().strip() == "pt_data_worker"]

def killer(world):
    def kill(step):
        if step == 8 and not Path(sys.argv[1]).exists():  # 5 steps an epoch
            pid = loader_children()[0]
            Path(sys.argv[1]).write_text(str(pid))
            os.kill(pid, signal.SIGKILL)
            time.sleep(1)  # PyTorch's SIGCHLD handler tells this process
        return False
    return kill

loop.fault_from_env = killer
from cnnctl.cli import main
main(sys.argv[2:])
"""


@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="finds the loader processes in /proc (Linux)")
def test_a_loader_process_killed_mid_run_is_one_message_with_the_checkpoint_kept(tmp_path):
    import json
    import subprocess
    import sys

    folder_of(tmp_path / "data", per_class=40)
    (tmp_path / "tiny.yaml").write_text(NET)
    run = tmp_path / "run"
    data = ["--data", str(tmp_path / "data"), "--stream", "--workers", "2", "--val-split", "0"]
    args = ["train", str(tmp_path / "tiny.yaml"), *data, "--epochs", "3", "--batch-size", "16", "--device", "cpu",
            "--out", str(run)]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": os.path.dirname(os.path.dirname(cnnctl.__file__))}
    done = subprocess.run([sys.executable, "-c", KILLER, str(tmp_path / "killed"), *args], env=env,
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    pid = (tmp_path / "killed").read_text()
    said = f"a loader process (pid {pid}) was killed by signal: Killed"
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr  # the machine's fault: not 2
    assert f"error: {run}: {said}\n  hint: the run's last checkpoint (last.pt) is kept; " in done.stderr
    assert f"--resume {run}" in done.stderr
    status = json.loads((run / "status.json").read_text())
    assert (status["status"], status["epochs_done"], status["reason"]) == ("failed", 1, said)


class _Rows(torch.utils.data.Dataset):
    def __len__(self):
        return 2

    def __getitem__(self, i):
        from cnnctl.data.loader import _batch_tensor

        return _batch_tensor((4000,), torch.uint8)


def _no_file_over_a_kilobyte(_worker: int) -> None:
    import resource

    resource.setrlimit(resource.RLIMIT_FSIZE, (1000, 1000))  # shared memory is a file: 1,000 bytes at most


def test_shared_memory_a_loader_cannot_make_is_said_with_its_size_and_the_way_out():
    from cnnctl.data.loader import loader_fault

    loader = torch.utils.data.DataLoader(_Rows(), batch_size=None, num_workers=1,
                                         worker_init_fn=_no_file_over_a_kilobyte)  # fmt: skip
    with pytest.raises(RuntimeError) as caught:
        list(loader)
    message, fix = loader_fault(caught.value)
    assert message.startswith("shared memory for the loader's batches could not be made (4,000 bytes asked): ")
    assert "File too large" in message and "\n" not in message
    assert "--workers 0" in fix and "--shm-size" in fix
    assert loader_fault(RuntimeError("a bug of cnnctl")) is None  # anything else keeps its traceback


def test_a_batch_a_killed_loader_process_could_not_hand_over_is_a_loader_fault():
    # seen under load: the worker died after queueing a batch, and this process's fetch of the
    # batch's shared memory from it (by file descriptor) was reset
    from cnnctl.data.loader import loader_fault

    message, fix = loader_fault(ConnectionResetError(104, "Connection reset by peer"))
    assert message == "a loader process ended while handing over a batch (ConnectionResetError: [Errno 104] " \
        "Connection reset by peer)"  # fmt: skip
    assert "dmesg" in fix
    assert loader_fault(EOFError()) is not None and loader_fault(ValueError("x")) is None


def test_too_many_unreadable_images_name_the_first_on_one_line():
    with pytest.raises(cnnctl.CnnctlError) as caught:
        Skipped().add([(name, Problem("cannot read the image")) for name in HOSTILE[:2]])
    (problem,) = caught.value.problems
    assert "bad\\nline.png: cannot read the image; ansi\\x1b[2J.png: cannot read the image" in problem.message
    assert "\n" not in problem.message


def test_a_data_folder_with_a_loop_given_as_the_network_is_told_as_data(tmp_path, monkeypatch, capsys):
    from helpers import run_main

    root = folder_of(tmp_path / "data")
    (root / "dog" / "loop.png").symlink_to("loop.png")
    (tmp_path / "loops").mkdir()
    (tmp_path / "loops" / "a.yaml").symlink_to("a.yaml")
    code, _, err = run_main(monkeypatch, capsys, "summarize", str(root))
    assert code == 2 and "looks like data (images in subfolders), not a network" in err, err
    code, _, err = run_main(monkeypatch, capsys, "summarize", str(tmp_path / "loops"))
    assert code == 2 and "is a directory, not a network file" in err, err


PREDICT_KILLER = """
import os, signal, sys
import torch
from cnnctl.train import predict

predict.MANY_IMAGES = 4  # loader processes read the images
read = predict._ImageFiles.__getitem__

def dies_at_the_tenth(self, i):
    if i == 10 and torch.utils.data.get_worker_info() is not None:
        os.kill(os.getpid(), signal.SIGKILL)
    return read(self, i)

predict._ImageFiles.__getitem__ = dies_at_the_tenth
from cnnctl.cli import main
main(sys.argv[1:])
"""


def test_a_loader_process_killed_while_predict_reads_is_one_message_not_a_traceback(tmp_path):
    import subprocess
    import sys

    from safetensors.torch import save_file

    folder_of(tmp_path / "data", per_class=20)
    (tmp_path / "tiny.yaml").write_text(NET)
    module = cnnctl.to_torch(cnnctl.load(str(tmp_path / "tiny.yaml")))
    save_file({k: v.contiguous() for k, v in module.state_dict().items()}, str(tmp_path / "w.safetensors"))
    args = ["predict", str(tmp_path / "tiny.yaml"), str(tmp_path / "data" / "cat"), str(tmp_path / "data" / "dog"),
            "--weights", str(tmp_path / "w.safetensors"), "--mean", "0.5,0.5,0.5", "--std", "0.5,0.5,0.5"]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": os.path.dirname(os.path.dirname(cnnctl.__file__))}
    done = subprocess.run([sys.executable, "-c", PREDICT_KILLER, *args], env=env, capture_output=True, text=True,
                          timeout=120)  # fmt: skip
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    # PyTorch says "killed by signal" or "exited unexpectedly", as its SIGCHLD handler or the queue sees it
    # first, or the batch it had queued cannot be fetched from it (a connection reset): each one message
    assert done.stderr.startswith("error: a loader process ") and done.stderr.count("\n") == 2, done.stderr
    assert "then run `cnnctl predict` again" in done.stderr
