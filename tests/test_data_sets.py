"""The registry of data sets: a new one is one `register` call; every name, synonym, help
word and size check comes from it; one memory check for every source."""

import pytest

torch = pytest.importorskip("torch")

import cnnctl.data as data  # noqa: E402
from cnnctl.data import Source, Split, data_help, is_data_set_name, load_data, register  # noqa: E402
from cnnctl.data import adapt as adapt_module  # noqa: E402
from cnnctl.errors import CnnctlError  # noqa: E402


def load_tiny(source, request):
    """A registered test data set: 12 images of 2 classes at 6x6x1, all 0 or all 200."""
    x = torch.zeros(12, 1, 6, 6, dtype=torch.uint8)
    x[6:] = 200
    y = (torch.arange(12) >= 6).long()
    return adapt_module.Raw(source.name, list(source.classes), Split(x, y), None, ["made for a test"])


@pytest.fixture
def tiny(monkeypatch):
    monkeypatch.setattr(data, "DATA_SETS", dict(data.DATA_SETS))  # registrations end with the test
    return register(Source("tiny", "tiny (a test)", "tests.test_data_sets:load_tiny", synonyms=("tiny-2",),
                           images=12, classes=("dark", "light"), no_test="a test has none"))  # fmt: skip


def test_a_registered_data_set_is_known_everywhere_by_its_name_and_synonyms(tiny):
    d = load_data("TINY-2", (8, 8, 1), val_split=0.25)
    assert d.name == "tiny" and d.classes == ["dark", "light"] and (len(d.train), len(d.val)) == (9, 3)
    assert "made for a test" in d.notes and "padded 6x6 to 8x8 with zeros (centred)" in d.notes
    assert d.no_test == "a test has none"
    assert is_data_set_name("tiny") and data_help().endswith("cifar10, tiny (a test), or a folder")
    with pytest.raises(CnnctlError) as caught:
        load_data("tiyn", (8, 8, 1))
    assert "did you mean `tiny`?" in str(caught.value) and "`tiny`, or a folder path" in str(caught.value)
    with pytest.raises(CnnctlError, match="has no masks"):  # not registered with masks=True
        load_data("tiny", (8, 8, 1), masks=(8, 8, 2))
    with pytest.raises(ValueError, match="'tiny-2' is registered already"):
        register(Source("other", "other", "x:y", synonyms=("tiny-2",)))


def test_data_help_lists_what_the_command_line_help_lists():
    # cli.DATA_HELP, written by hand before the registry: "shapes (built in), mnist, fashion-mnist,
    # cifar10, or a folder. Default: shapes."
    assert data_help() == "shapes (built in), mnist, fashion-mnist, cifar10, or a folder"
    from cnnctl.train.settings import BY_NAME

    assert BY_NAME["data"].help == data_help() + ". Default: shapes."  # --data's help, from the registry


def test_a_named_data_set_too_large_at_the_input_is_refused_before_any_download(tmp_path):
    # CIFAR-10 at 224x224x3 is 60,000 x 150,528 bytes: it was downloaded (170 MB) and read first.
    with pytest.raises(CnnctlError) as caught:
        load_data("cifar10", (224, 224, 3), data_dir=tmp_path, download=False)
    size = 60_000 * 224 * 224 * 3 / 2**30
    assert f"the 60,000 images of cifar10 at 224x224x3: {size:.1f} GiB, more than the 4 GiB" in str(caught.value)
    assert not any(tmp_path.iterdir())


def test_every_source_meets_the_one_memory_check(tmp_path, monkeypatch):
    from PIL import Image

    monkeypatch.setattr(adapt_module, "MAX_BYTES", 100)
    said = "GiB of data cnnctl holds in memory"
    for name in ("a", "b"):
        (tmp_path / "pics" / name).mkdir(parents=True)
        Image.new("L", (8, 8)).save(tmp_path / "pics" / name / "x.png")
    for sub in ("images", "masks"):
        (tmp_path / "seg" / sub).mkdir(parents=True)
        Image.new("L", (8, 8)).save(tmp_path / "seg" / sub / "x.png")
    for spec, masks in (("shapes", None), (str(tmp_path / "pics"), None), (str(tmp_path / "seg"), (8, 8, 2))):
        with pytest.raises(CnnctlError, match=said):
            load_data(spec, (8, 8, 1), masks=masks, stream=False)  # held in memory: the check applies
    # Left to choose, a folder over the limit is streamed instead, whichever test imported the chooser first
    streamed = load_data(str(tmp_path / "pics"), (8, 8, 1))
    assert any(note.startswith("streamed from disk:") for note in streamed.notes)


def test_why_a_data_set_has_no_test_split_comes_from_its_registration(tiny):
    from cnnctl.train.evaluate import chosen_split

    with pytest.raises(CnnctlError, match="`shapes` has no test split: it is generated with training and validation"):
        chosen_split(load_data("shapes", (8, 8, 1)), "test")
    with pytest.raises(CnnctlError, match="`tiny` has no test split: a test has none"):
        chosen_split(load_data("tiny", (8, 8, 1)), "test")
