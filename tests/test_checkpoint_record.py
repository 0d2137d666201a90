"""The checkpoint record (train/checkpoint.Checkpoint): the one layout of cnnctl-checkpoint-1,
written and read by it. Its keys are the file's, as checkpoints have always been written, so
existing files keep loading; a key an older file lacks reads as its default."""

import pytest

torch = pytest.importorskip("torch")

from cnnctl.train.checkpoint import EVALUATE, RESUME, Checkpoint, check_structure  # noqa: E402

# The keys cnnctl's run has written since the format was tagged cnnctl-checkpoint-1 (train/saving.py).
FILE_KEYS = {
    "model", "optimizer", "scheduler", "scaler", "epoch", "step", "stats", "history", "best",
    "epoch_seconds", "rng", "config", "arch", "classes", "mean", "std", "workers", "network",
    "epoch_skipped",  # since a resumed epoch counts the unreadable images skipped before it stopped
}  # fmt: skip


def test_the_record_is_the_files_layout():
    assert set(Checkpoint().as_dict()) == FILE_KEYS


def test_a_file_without_the_later_keys_reads_with_their_defaults(tmp_path):
    # an older run's file: no epoch_seconds, workers, scheduler or scaler; a key the record does not know
    state = {"format": "cnnctl-checkpoint-1", "model": {}, "config": {"data": "shapes"}, "epoch": 3, "other": 1}
    saved = Checkpoint.of(state)
    assert (saved.epoch, saved.epoch_seconds, saved.workers, saved.scheduler, saved.scaler) == (3, 0.0, 1, None, None)
    assert saved.epoch_skipped == 0
    assert not hasattr(saved, "other")


def test_what_each_purpose_needs_comes_from_the_record(tmp_path):
    from cnnctl import CnnctlError

    with pytest.raises(CnnctlError) as info:
        check_structure({}, tmp_path / "last.pt", EVALUATE)
    assert "it has no `model` (weights), `config` (settings), `network` (record of its layers)" in str(info.value)
    with pytest.raises(CnnctlError) as info:
        check_structure({}, tmp_path / "last.pt", RESUME)
    message = str(info.value)
    for key in ("model", "config", "network", "optimizer", "epoch", "step", "stats", "history", "best", "rng"):
        assert f"`{key}`" in message
    for key in ("scheduler", "scaler", "epoch_seconds", "epoch_skipped", "arch", "classes", "mean", "std", "workers"):
        assert f"`{key}`" not in message  # optional: a file without them still resumes
