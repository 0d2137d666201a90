"""Normalisation statistics as an input: given, from the weights, or computed (all images,
or a seeded sample)."""

import pytest

torch = pytest.importorskip("torch")

import cnnctl  # noqa: E402
from cnnctl.data import DataSplits, Split, load_data, make_shapes  # noqa: E402
from cnnctl.data import adapt as adapt_module  # noqa: E402
from cnnctl.data.shapes import CLASSES  # noqa: E402
from cnnctl.data.stats import Stats, computed, from_weights, given  # noqa: E402
from cnnctl.errors import CnnctlError  # noqa: E402


def test_given_statistics_are_used_and_nothing_is_computed(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("computed although given")

    monkeypatch.setattr(adapt_module, "computed", refuse)
    imagenet = given([0.485, 0.456, 0.406], [0.229, 0.224, 0.225], 3, "the settings")
    d = load_data("shapes", (8, 8, 3), stats=imagenet)
    assert (d.mean, d.std, d.stats_from) == ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225), "the settings")


@pytest.mark.parametrize(
    "mean, std, said",
    [
        ([0.5, 0.5], [0.2, 0.2, 0.2], "the channel mean from the settings has 2 values for a network of 3 input"),
        ([0.5] * 3, [0.2, 0.0, 0.2], "the channel std from the settings has 0.0: the input is divided by it"),
        ([0.5, "x", 0.5], [0.2] * 3, "the channel mean from the settings is not a list of numbers"),
        ([0.5, float("nan"), 0.5], [0.2] * 3, "the channel mean from the settings is not finite"),
    ],
)
def test_given_statistics_are_checked(mean, std, said):
    with pytest.raises(CnnctlError, match=said):
        given(mean, std, 3, "the settings")


def test_statistics_from_the_weights():
    state = {"mean": [0.1307], "std": [0.3081]}
    assert from_weights(state, 1, "run/best.pt") == Stats((0.1307,), (0.3081,), "the weights in run/best.pt")
    assert from_weights({}, 1, "old.pt") is None  # a checkpoint without them: computed as before
    with pytest.raises(CnnctlError, match="run/best.pt: the channel mean from the weights in run/best.pt has 1"):
        from_weights(state, 3, "run/best.pt")


def test_computed_statistics_over_every_image_or_a_seeded_sample():
    # Image i is the constant i: the statistics are those of the images' values, by formula.
    values = torch.arange(100, dtype=torch.float64)
    x = values.to(torch.uint8).view(100, 1, 1, 1).expand(100, 1, 4, 4).contiguous()
    full = computed(x)
    assert full.mean[0] == pytest.approx(round(float(values.mean()) / 255, 6))
    assert full.std[0] == pytest.approx(round(float(values.std(unbiased=False)) / 255, 6), abs=1e-6)
    assert full.origin == "computed over the 100 training images" and computed(x, most=100) == full
    sample = computed(x, most=10, seed=3)
    assert sample.origin == "estimated from a sample of 10 of the 100 training images (seed 3)"
    assert computed(x, most=10, seed=3) == sample and computed(x, most=10, seed=4).mean != sample.mean
    total = sample.mean[0] * 255 * 10  # the sum of 10 distinct values from 0 to 99 (the mean has 6 decimals)
    assert total == pytest.approx(round(total), abs=0.002) and sum(range(10)) <= round(total) <= sum(range(90, 100))


def test_evaluate_normalises_with_the_checkpoints_statistics_without_computing_them(tmp_path, monkeypatch):
    from cnnctl.train.config import TrainConfig
    from cnnctl.train.evaluate import evaluate
    from cnnctl.train.loop import train

    graph = cnnctl.load_text("input: 8x8x1\nlayers: [conv f=3 n=4 act=relu, fc 10]")
    x, y = make_shapes(96, 8, 8, 1, seed=0)
    data = DataSplits("shapes", Split(x[:64], y[:64]), Split(x[64:], y[64:]), list(CLASSES),
                      (0.25,), (0.5,), [])  # fmt: skip
    result = train(
        graph,
        TrainConfig(epochs=1, batch_size=32, device="cpu", out=str(tmp_path / "r")),
        network_title="t",
        dataset=data,
    )
    assert result.status == 0
    seen = []

    def refuse(*args, **kwargs):
        raise AssertionError("computed although the checkpoint has them")

    monkeypatch.setattr(adapt_module, "computed", refuse)
    from cnnctl.train import evaluate as evaluate_module

    original = evaluate_module.Batches

    def recording(images, mean, std, device):
        seen.append((tuple(mean), tuple(std)))
        return original(images, mean, std, device)

    monkeypatch.setattr(evaluate_module, "Batches", recording)
    evaluate(graph, result.run_dir, "shapes", None, device_name="cpu")
    assert seen == [((0.25,), (0.5,))]  # what it trained with, not the shapes data's own


def test_a_channel_that_never_varies_is_centred_not_divided_by_zero():
    import torch

    from cnnctl.data.stats import computed

    x = torch.zeros(4, 2, 3, 3, dtype=torch.uint8)
    x[:, 0] = torch.arange(4, dtype=torch.uint8).view(4, 1, 1) * 60  # 0, 60, 120, 180
    x[:, 1] = 51  # 0.2 everywhere
    stats = computed(x)
    assert stats.mean == pytest.approx((90 / 255, 0.2), abs=1e-6) and stats.std[1] == 1.0
    assert stats.std[0] == pytest.approx((((torch.arange(4.0) * 60 - 90) ** 2).mean().sqrt() / 255).item(), abs=1e-6)
