"""An epoch leaves its last, partial step out (cnnctl.train.batches.steps_in_epoch); where that is
much of a small data set, the run says so once, with a batch size that leaves out less."""

import pytest

torch = pytest.importorskip("torch")

from cnnctl.data import Split  # noqa: E402
from cnnctl.train.batches import Batches  # noqa: E402
from cnnctl.train.data_checks import dropped_note  # noqa: E402


def source(images: int) -> Batches:
    split = Split(torch.zeros((images, 1, 2, 2), dtype=torch.uint8), torch.zeros(images, dtype=torch.int64))
    return Batches(split, (0.0,), (1.0,), torch.device("cpu"))


def test_173_images_at_batch_64_say_that_45_are_left_out_each_epoch():
    # 2 steps of 64 = 128 used, 45 left (26%); 3 steps of 173 // 3 = 57 use 171
    assert dropped_note(source(173), 64, 1) == (
        "each epoch trains on 128 of the 173 training images: the last 45, fewer than a step's 64, are left out "
        "(other images each epoch, whose order differs); --batch-size 57 trains on 171 an epoch"
    )


def test_a_step_over_several_workers_counts_all_their_images():
    # 2 workers x 32 = 64 a step: as one process at 64; 57 per worker would be 114 a step, so 173 // (3 x 2) = 28
    note = dropped_note(source(173), 32, 2)
    assert note.startswith("each epoch trains on 128 of the 173 training images: the last 45, fewer than a step's 64")
    assert note.endswith("--batch-size 28 trains on 168 an epoch")  # 3 steps of 2 x 28


@pytest.mark.parametrize("images, batch", [(1000, 64), (640, 64), (70, 64)])
def test_a_tenth_or_less_left_out_is_not_said(images, batch):
    # 1000 % 64 = 40 (4%); 640 none; 70 leaves 6 (8.6%)
    assert dropped_note(source(images), batch, 1) is None
