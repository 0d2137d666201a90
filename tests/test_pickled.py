"""A pickle that asks to run code when loaded is said so, whatever its format: a bare pickle
(pickle.dump), which torch's weights_only loader refuses before reaching its names, as a zip
archive torch.save wrote; found from its opcodes (cnnctl.pickled), never by loading it."""

import os
import pickle

import pytest

torch = pytest.importorskip("torch")

from helpers import run_main  # noqa: E402

from cnnctl.pickled import asks_for_code  # noqa: E402

NET = "name: tiny\ninput: 16x16x1\nlayers:\n  - conv f=3 n=4 act=relu\n  - pool max f=2 s=2\n  - fc 10\n"


class Payload:
    """Loaded, it would run `touch MARK`: the tests check MARK is never made."""

    def __init__(self, mark):
        self.mark = mark

    def __reduce__(self):
        return (os.system, (f"touch {self.mark}",))


@pytest.fixture
def files(tmp_path):
    mark = tmp_path / "ran"
    bare, zipped = tmp_path / "bare.pt", tmp_path / "zipped.pt"
    with open(bare, "wb") as f:
        pickle.dump({"w": Payload(mark)}, f)  # protocol 4 or 5: STACK_GLOBAL
    torch.save({"conv1.weight": torch.zeros(4, 1, 3, 3), "x": Payload(mark)}, zipped)
    net = tmp_path / "tiny.yaml"
    net.write_text(NET)
    return mark, str(bare), str(zipped), str(net)


def test_a_bare_pickle_asking_for_code_is_said_so_as_weights_and_as_arch(files, monkeypatch, capsys):
    # It was "not a file torch.save wrote" as weights, "a checkpoint, not a network file" as ARCH.
    mark, bare, zipped, net = files
    export = ["export", net, "-o", net + ".onnx", "--weights"]
    for path in (bare, zipped):
        for command in (["weights", net, path], ["evaluate", path], [*export, path]):
            code, _, err = run_main(monkeypatch, capsys, *command)
            assert code == 2 and err.count("error:") == 1 and "Traceback" not in err, err
            assert err.startswith(f"error: {path}: this file asks to run code when loaded (`posix.system`)"), err
    assert not mark.exists()


class _Sized:
    """Pickled as `torch.Size(())`; callable, so that pickle takes it as what _CallsASize calls."""

    def __call__(self):
        return None

    def __reduce__(self):
        return (torch.Size, ((),))


class _CallsASize:
    """Pickled as `torch.Size(())()`: every name it imports allowed, it calls what one returned."""

    def __reduce__(self):
        return (_Sized(), ())


def test_a_pickle_calling_what_an_allowed_call_returned_is_said_so_not_quoted_as_a_repr(files, monkeypatch, capsys):
    # It was "asks to run code when loaded (`torch.Size([])`)": torch's repr of the object, said as a function.
    _, _, _, net = files
    bare, zipped = os.path.dirname(net) + "/call_result.pt", os.path.dirname(net) + "/call_zipped.pt"
    with open(bare, "wb") as f:
        f.write(b"\x80\x02ctorch\nSize\n)R)R.")  # PROTO 2, GLOBAL torch.Size, (), REDUCE, (), REDUCE, STOP
    torch.save({"conv1.weight": torch.zeros(4, 1, 3, 3), "x": _CallsASize()}, zipped)
    for path in (bare, zipped):
        assert asks_for_code(path) == "torch.Size()"
        code, _, err = run_main(monkeypatch, capsys, "weights", net, "--weights", path)
        assert code == 2 and err.count("error:") == 1 and "Traceback" not in err, err
        assert err.startswith(
            f"error: {path}: this file asks to run code when loaded (it calls what `torch.Size` returns); "
            "it was not loaded"
        ), err
        assert "Size([])" not in err


@pytest.mark.parametrize("protocol", [0, 2])
def test_the_name_is_read_from_every_kind_of_global(tmp_path, protocol):
    path = tmp_path / "p.pkl"
    path.write_bytes(pickle.dumps({"w": Payload(tmp_path / "ran")}, protocol=protocol))  # GLOBAL 'posix system'
    assert asks_for_code(str(path)) == "posix.system"


def test_torchs_own_formats_ask_for_nothing(tmp_path):
    state = {"conv1.weight": torch.ones(4, 1, 3, 3), "conv1.bias": torch.zeros(4)}
    legacy, zipped, plain = tmp_path / "legacy.pt", tmp_path / "zipped.pt", tmp_path / "plain.pkl"
    torch.save(state, legacy, _use_new_zipfile_serialization=False)  # names torch's rebuild and storages
    torch.save(state, zipped)
    plain.write_bytes(pickle.dumps({"a": [1, 2.5, "x"]}))
    assert [asks_for_code(str(p)) for p in (legacy, zipped, plain)] == [None, None, None]
    truncated, text = tmp_path / "cut.pt", tmp_path / "text.pt"
    truncated.write_bytes(pickle.dumps({"w": Payload(tmp_path / "ran")})[:40])  # its name, not its STOP: not whole
    text.write_bytes(b"cat\ndog\n")  # bytes that read as GLOBAL `cat dog` for a while
    cut_zip = tmp_path / "cut_zip.pt"
    cut_zip.write_bytes(zipped.read_bytes()[:300])  # a zip cut short, read from its start as opcodes
    assert [asks_for_code(str(p)) for p in (truncated, text, cut_zip)] == [None, None, None]


def test_an_opcode_claiming_more_bytes_than_the_file_holds_is_no_pickle_and_no_crash(tmp_path, monkeypatch, capsys):
    # BINUNICODE8 (protocol 4) claiming a string of 2**40 bytes in a 13-byte file: read from the
    # file, genops asked it for them in one read (MemoryError, a traceback in `runs` and --weights);
    # read within the bound from memory, the pickle simply ends short.
    claim = tmp_path / "claim.pt"
    claim.write_bytes(b"\x80\x04\x8d" + (2**40).to_bytes(8, "little") + b"xx")
    assert asks_for_code(str(claim)) is None
    run = tmp_path / "runs" / "r"
    run.mkdir(parents=True)
    (run / "network.yaml").write_text(NET)
    (run / "config.json").write_text("{}")
    (run / "best.pt").write_bytes(claim.read_bytes())
    code, out, err = run_main(monkeypatch, capsys, "runs", str(tmp_path / "runs"))
    assert code == 0 and "Traceback" not in err and "r" in out
    code, out, err = run_main(monkeypatch, capsys, "weights", str(tmp_path / "runs" / "r" / "network.yaml"), str(claim))
    assert code == 2 and "Traceback" not in err and str(claim) in err


def test_the_safe_names_are_those_torchs_weights_only_loader_allows():
    # Every `torch.*` name was taken as safe: `torch.hub.load` and `torch.load` too.
    from torch._weights_only_unpickler import _get_allowed_globals

    from cnnctl.pickled import SAFE_GLOBALS

    assert set(SAFE_GLOBALS) == set(_get_allowed_globals())


class HubLoad:
    """Loaded, it would fetch and run a repository's code: torch.hub.load."""

    def __reduce__(self):
        return (torch.hub.load, ("someone/repo", "model"))


@pytest.mark.parametrize("kind", ["bare", "zipped"])
def test_a_pickle_asking_for_torch_hub_load_is_flagged_by_runs_and_refused_as_weights(kind, tmp_path, monkeypatch,
                                                                                      capsys):  # fmt: skip
    import json

    run = tmp_path / "runs" / "r"
    run.mkdir(parents=True)
    (run / "network.yaml").write_text(NET)
    (run / "config.json").write_text("{}")
    path = run / "best.pt"
    if kind == "bare":
        path.write_bytes(pickle.dumps({"conv1.weight": HubLoad()}, protocol=2))
    else:
        torch.save({"conv1.weight": HubLoad()}, path)
    assert asks_for_code(str(path)) == "torch.hub.load"
    code, out, _ = run_main(monkeypatch, capsys, "runs", str(tmp_path / "runs"), "--format", "json")
    messages = [p["message"] for p in json.loads(out)["runs"][0]["problems"]]
    assert code == 0 and "best.pt asks to run code when loaded (`torch.hub.load`): cnnctl never loads it" in messages
    code, _, err = run_main(monkeypatch, capsys, "weights", str(run / "network.yaml"), "--weights", str(path))
    assert code == 2 and err.count("error:") == 1, err
    assert err.startswith(f"error: {path}: this file asks to run code when loaded (`torch.hub.load`)"), err


def test_a_checkpoints_plain_values_are_read_without_its_tensors(tmp_path):
    # What `runs` checks of a checkpoint (its network record) is read from its pickle alone.
    from cnnctl.pickled import read_pickle

    path = tmp_path / "c.pt"
    record = {"input": [16, 16, 1], "layers": [["conv1", "conv f=3 n=4", [-1]]]}
    torch.save({"format": "x", "model": {"w": torch.ones(3)}, "network": record}, path)
    read = read_pickle(str(path))
    assert read.named is None and read.values["network"] == record and read.values["format"] == "x"
    assert not isinstance(read.values["model"]["w"], torch.Tensor)  # a stand-in: no tensor was read


# -- hostile shapes: read within bounds, never by building what the file asks for ------------------------
def _zipped(path, data, member="archive/data.pkl", decoy=None):
    """A zip archive as torch.save writes one, holding the pickle `data` (and a `decoy` data.pkl deeper)."""
    import zipfile

    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("archive/version", "3\n")
        if decoy is not None:
            archive.writestr("archive/sub/data.pkl", decoy)
        archive.writestr(member, data)
    return str(path)


def test_keys_that_share_one_hash_are_refused_before_a_dict_is_filled(tmp_path, monkeypatch, capsys):
    # 80,000 numbers 1 + i * (2**61 - 1) all hash to 1: filling a dict with them took minutes (a
    # 250 KB file hung `runs`), and torch's own loader fills one the same way.
    from cnnctl.pickled import read_pickle

    keys = b"".join(pickle.dumps(1 + i * (2**61 - 1), protocol=2)[2:-1] + b"N" for i in range(80_000))
    run = tmp_path / "runs" / "r"
    run.mkdir(parents=True)
    (run / "network.yaml").write_text(NET)
    (run / "config.json").write_text("{}")
    path = _zipped(run / "best.pt", b"\x80\x02}(" + keys + b"u.")
    assert read_pickle(path).refused == "a dict or set keyed by a number of 2**61 or more, which no checkpoint's is"
    code, out, err = run_main(monkeypatch, capsys, "runs", str(tmp_path / "runs"), "--format", "json")
    assert code == 0 and any("keyed by a number of 2**61" in p["message"] for p in json_problems(out)), out
    code, _, err = run_main(monkeypatch, capsys, "weights", str(run / "network.yaml"), "--weights", path)
    assert code == 2 and err.count("error:") == 1 and "keyed by a number of 2**61 or more" in err, err


def json_problems(out):
    import json

    return [p for run in json.loads(out)["runs"] for p in run["problems"]]


def test_a_memo_index_far_past_the_objects_costs_nothing(tmp_path):
    # LONG_BINPUT 2**28 in a 10-byte file: the unpickler in C sizes its memo to the index (4 GB).
    import resource

    from cnnctl.pickled import read_pickle

    path = tmp_path / "memo.pt"
    path.write_bytes(b"\x80\x02N" + b"r" + (2**28).to_bytes(4, "little") + b".")
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    read = read_pickle(str(path))
    assert read.named is None and read.refused is None
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 100_000  # KB: not the 4 GB it asked


def test_a_pickle_of_millions_of_sets_is_refused_by_what_its_objects_would_hold(tmp_path):
    # One byte (EMPTY_SET) for each set of 216 bytes; a 65 KB compressed file asked 15 GB.
    from cnnctl.limits import MAX_PICKLE_HELD
    from cnnctl.pickled import read_pickle

    sets = MAX_PICKLE_HELD // 232 + 1000  # each counted as _HELD reckons a set: past the bound
    path = _zipped(tmp_path / "sets.pt", b"\x80\x02]" + b"(" + b"\x8f" * sets + b"e.")
    assert (
        read_pickle(path).refused
        == f"objects of more than {MAX_PICKLE_HELD // 2**20} MiB, which no checkpoint's pickle holds"
    )


def test_the_archives_pickle_is_the_one_torch_reads_not_a_decoy_deeper(tmp_path):
    # A clean sub/data.pkl listed first hid the archive's own data.pkl, which names os.system.
    from cnnctl.pickled import read_pickle

    payload = pickle.dumps({"w": Payload(tmp_path / "ran")}, protocol=2)
    path = _zipped(tmp_path / "decoy.pt", payload, decoy=pickle.dumps({"a": 1}, protocol=2))
    assert read_pickle(path).named == "posix.system"


def test_a_pickle_inflating_past_its_bound_is_read_no_further(tmp_path, monkeypatch):
    # The directory may claim any size: the pickle is read to MAX_PICKLE_BYTES and no further.
    import cnnctl.pickled as pickled

    monkeypatch.setattr(pickled, "MAX_PICKLE_BYTES", 1000)
    path = _zipped(tmp_path / "big.pt", b"\x80\x02](" + b"N" * 5000 + b"e.")
    assert pickled.read_pickle(path) == pickled.Pickled(None, None, "more than 1,000 bytes, which no checkpoint's does")
    small = _zipped(tmp_path / "small.pt", b"\x80\x02](" + b"N" * 500 + b"e.")
    assert pickled.read_pickle(small).values == [None] * 500


def test_torchs_refusals_are_told_in_cnnctls_words_never_advising_weights_only_false(tmp_path, monkeypatch, capsys):
    # torch's text reached the terminal: "[enforce fail at inline_container.cc:340]", "Expected
    # hasRecord("version") to be true", and "Re-running torch.load with weights_only set to False
    # will likely succeed": the advice that runs whatever a file asks.
    net = tmp_path / "tiny.yaml"
    net.write_text(NET)
    claim = _zipped(tmp_path / "claim.pt", b"\x80\x04\x8e" + (2**40).to_bytes(8, "little") + b"xx.")
    unversioned = tmp_path / "plain.pt"
    import zipfile

    with zipfile.ZipFile(unversioned, "w") as archive:
        archive.writestr("archive/data.pkl", pickle.dumps({"a": 1}, protocol=2))
    for path, why in ((claim, "its pickle holds what torch's safe loader (weights_only) does not read"),
                      (unversioned, "a zip archive, but not laid out as torch.save writes one")):  # fmt: skip
        code, _, err = run_main(monkeypatch, capsys, "weights", str(net), "--weights", str(path))
        assert code == 2 and err.count("error:") == 1 and why in err, err
        assert "False" not in err and "inline_container" not in err and "hasRecord" not in err, err


# -- files `weights` refuses, flagged by `runs` in the same words (one judgement: cnnctl.pickled) ----------
def _declaring(path, size):
    """A zip archive of a few hundred bytes whose directory declares a member of `size` bytes (a
    zip bomb's claim), its pickle outside torch.save's folder."""
    import zipfile

    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("archive/version", "3\n")
        archive.writestr("archive/data/0", b"\0" * 16)
        archive.getinfo("archive/data/0").file_size = size  # written into the directory as the archive closes
        archive.writestr("elsewhere/data.pkl", pickle.dumps({"a": 1}, protocol=2))
    return str(path)


def _hostile(folder, kind):
    """best.pt of the run folder `folder`, hostile as `kind` says; what `weights` and `runs` say of it."""
    import zipfile

    path = folder / "best.pt"
    laid_out = "a zip archive, but not laid out as torch.save writes one"
    if kind == "global then junk":  # PROTO 2, GLOBAL os.system, BINPUT 0, then a byte no opcode is
        head = b"\x80\x02cos\nsystem\nq\x00"
        path.write_bytes(head + b"\xff junk")
        return f"not a whole pickle (it stops at byte {len(head) + 1} of {len(head) + 6}, before its end)"
    if kind == "zip bomb":
        _declaring(path, 2**50)
        total = 2**50 + len("3\n") + len(pickle.dumps({"a": 1}, protocol=2))
        return f"its tensors hold {total:,} bytes (the largest, `archive/data/0`, {2**50:,}): more than cnnctl reads"
    if kind == "no data.pkl":
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("archive/version", "3\n")
            archive.writestr("archive/data/0", b"\0" * 16)
        return f"{laid_out} (it has no `archive/data.pkl`, the pickle)"
    torch.save({"w": torch.ones(3)}, folder / "saved.pt")  # torch's own archive, and a stray file after it
    with zipfile.ZipFile(folder / "saved.pt") as saved, zipfile.ZipFile(path, "w") as archive:
        for name in saved.namelist():
            archive.writestr(name, saved.read(name))
        archive.writestr("stray/x.txt", "hello")
    return f"{laid_out} (its file `stray/x.txt` is outside the folder `saved/` of the others)"


@pytest.mark.parametrize("kind", ["global then junk", "zip bomb", "no data.pkl", "stray member"])
def test_a_checkpoint_weights_refuses_is_flagged_by_runs_in_the_same_words(kind, tmp_path, monkeypatch, capsys):
    # Each was listed as "status unknown", with no word of its best.pt, while `weights` refused it.
    run = tmp_path / "runs" / "r"
    run.mkdir(parents=True)
    (run / "network.yaml").write_text(NET)
    (run / "config.json").write_text("{}")
    fault = _hostile(run, kind)
    code, out, _ = run_main(monkeypatch, capsys, "runs", str(tmp_path / "runs"), "--format", "json")
    problems = json_problems(out)
    assert code == 0 and [p["file"] for p in problems] == [str(run / "best.pt")], out
    assert problems[0]["message"].startswith(f"best.pt cannot be loaded: {fault}"), problems
    if kind == "global then junk":  # torch's loader refuses its GLOBAL before the junk: named, as ever
        return
    best = str(run / "best.pt")
    code, _, err = run_main(monkeypatch, capsys, "weights", str(run / "network.yaml"), "--weights", best)
    assert code == 2 and err.count("error:") == 1 and "Traceback" not in err, err
    assert err.startswith(f"error: {run / 'best.pt'}: ") and f": {fault}" in err, err  # a run's: "not a readable ..."


def test_a_bare_pickle_is_whole_only_to_its_stop(tmp_path):
    # A pickle.dump file is whole; the same with junk after it, or cut short, is not; an empty file is no pickle.
    from cnnctl.pickled import read_pickle

    whole = pickle.dumps({"a": [1, 2]}, protocol=2)
    cases = {b"": None, whole: None,
             whole[:-1]: f"not a whole pickle (it stops at byte {len(whole) - 1} of {len(whole) - 1}, before its end)",
             whole + b"\xff": f"not a whole pickle (it stops at byte {len(whole) + 1} of {len(whole) + 1}, "
                              "before its end)"}  # fmt: skip
    for data, damaged in cases.items():
        (tmp_path / "p.pt").write_bytes(data)
        assert read_pickle(str(tmp_path / "p.pt")).damaged == damaged, data


# -- what reading costs: bounded by opcodes, and only the pickle's own bytes read ----------------------
def test_a_pickle_of_more_opcodes_than_the_bound_is_refused_at_it(tmp_path, monkeypatch):
    import cnnctl.pickled as pickled

    monkeypatch.setattr(pickled, "MAX_PICKLE_OPS", 100)
    many = _zipped(tmp_path / "many.pt", b"\x80\x02](" + b"N" * 97 + b"e.")  # PROTO, ], (, 97 N, e: 101 opcodes
    assert pickled.read_pickle(many).refused == "more than 100 opcodes, which no checkpoint has"
    fewer = _zipped(tmp_path / "fewer.pt", b"\x80\x02](" + b"N" * 95 + b"e.")  # 100 with its STOP
    assert pickled.read_pickle(fewer).values == [None] * 95


def test_a_legacy_checkpoint_is_read_to_its_pickles_end_never_its_tensors(tmp_path, monkeypatch):
    # Its first 64 MB were read into memory each time: 0.1 s of `runs` per large checkpoint.
    import cnnctl.pickled as pickled

    path = tmp_path / "legacy.pt"
    torch.save({"w": torch.zeros(2**20)}, path, _use_new_zipfile_serialization=False)  # 4 MiB of storage
    taken = []
    real = pickled.open_regular

    class Counted:
        def __init__(self, file):
            self.file = file

        def read(self, n=-1):
            data = self.file.read(n)
            taken.append(len(data))
            return data

        def readline(self, limit=-1):
            line = self.file.readline(limit)
            taken.append(len(line))
            return line

        def __getattr__(self, name):
            return getattr(self.file, name)

    import contextlib

    @contextlib.contextmanager
    def counted(name):
        with real(name) as file:
            yield Counted(file)

    monkeypatch.setattr(pickled, "open_regular", counted)
    assert pickled.read_pickle(str(path)) == pickled.Pickled(None, None)
    # its five pickles (a few hundred bytes) and the end zipfile searches for an archive's directory
    # (64 KiB at most): not its 4 MiB of storage
    assert 0 < sum(taken) < 2**16 + 10_000, sum(taken)


def test_framed_pickles_read_as_python_reads_them(tmp_path):
    # Protocol 4 and 5 frame their opcodes: read in place, the values are Python's own.
    from cnnctl.pickled import read_pickle

    state = {"names": [f"layer{i}.weight" for i in range(5000)], "sizes": list(range(5000)), "t": (1, 2.5, None)}
    for protocol in (4, 5):
        data = pickle.dumps(state, protocol=protocol)
        assert pickle.FRAME in data[:3]  # framed
        read = read_pickle(_zipped(tmp_path / f"p{protocol}.pt", data))
        assert read.values == state and read.named is None and read.damaged is None
        (tmp_path / "bare.pkl").write_bytes(data + pickle.dumps({"w": Payload(tmp_path / "ran")}, protocol=protocol))
        assert read_pickle(str(tmp_path / "bare.pkl")).named == "posix.system"  # the second pickle, after the frames
