"""How the training split's classes are balanced: the images of each class (for dense
prediction, the scored pixels), the header's note where they are imbalanced, and the loss's
per-class weights of `--class-weights balanced`."""

from __future__ import annotations

import torch

from ..data.masks import UNSCORED
from ..words import plural

# The largest class over the smallest above which the header says the classes are imbalanced.
# At 3x a classifier that ignores the smallest class still scores at least 3/4 on a two-class
# split (and more with more classes): accuracy alone no longer shows a class left behind.
IMBALANCE_RATIO = 3.0
# Classes named one by one in the header's lines; the JSON (train_class_counts) has every one.
NAMED = 10
# Masks counted this many images at a time: a bincount of one int64 copy, not the whole set's.
_MASKS_AT_ONCE = 256


def class_counts(labels: torch.Tensor, classes: int) -> list[int]:
    """The training examples of each class: one label per image (a classifier), or a mask per
    image whose scored pixels are counted (dense prediction; UNSCORED pixels left out). The
    labels are those of the split's listing, so data streamed from disk is counted unread."""
    if labels.dim() == 1:
        return torch.bincount(labels.long().cpu(), minlength=classes)[:classes].tolist()
    counts = torch.zeros(classes + 1, dtype=torch.int64)
    for start in range(0, len(labels), _MASKS_AT_ONCE):
        part = labels[start : start + _MASKS_AT_ONCE].cpu().flatten().long()
        part = part[part != UNSCORED].clamp(max=classes)  # a value past the classes, in one bin: never scored
        counts += torch.bincount(part, minlength=classes + 1)
    return counts[:classes].tolist()


def balanced_weights(counts: list[int]) -> list[float]:
    """scikit-learn's "balanced" class weights, n / (k · n_c): n examples, k classes, n_c of class
    c, so that each class weighs n / k in all, as if the classes were equal. A class with no
    example gets 0: it is never a target, so its weight multiplies nothing."""
    n, k = sum(counts), len(counts)
    return [n / (k * c) if c else 0.0 for c in counts]


def imbalance_ratio(counts: list[int]) -> float:
    """The largest class's count over the smallest's (infinite where a class has none)."""
    smallest = min(counts)
    return max(counts) / smallest if smallest else float("inf")


def _named(names: list[str], values: list[str]) -> str:
    pairs = [f"{name} {value}" for name, value in zip(names, values, strict=True)]
    return ", ".join(pairs[:NAMED]) + (f", ... ({plural(len(pairs) - NAMED, 'other')})" if len(pairs) > NAMED else "")


def imbalance_note(classes: list[str], counts: list[int], weighted: bool) -> str | None:
    """The header's line where a classifier's training classes are imbalanced (the largest more
    than IMBALANCE_RATIO times the smallest): each class's images, the ratio, and the hint;
    None where they are balanced enough."""
    ratio = imbalance_ratio(counts)
    if ratio <= IMBALANCE_RATIO:
        return None
    said = "its smallest has none" if ratio == float("inf") else f"the largest {ratio:.1f}x the smallest"
    note = f"imbalanced classes ({said}): {_named(classes, [f'{c:,}' for c in counts])} training images"
    if weighted:
        return note + "; weighted in the loss (--class-weights balanced)"
    return (
        note + "; accuracy can hide a class left behind: --class-weights balanced weights the loss by "
        "n / (k · n_c), and cnnctl evaluate gives each class's recall, precision and F1"
    )


def weights_note(classes: list[str], weights: list[float], dense: bool) -> str:
    """The header's line of the loss's class weights (--class-weights balanced)."""
    of = "scored pixels" if dense else "images"
    return (
        f"class weights: balanced, n / (k · n_c) of the training {of}: {_named(classes, [f'{w:.4g}' for w in weights])}"
        " (the train loss; val loss unweighted)"
    )


def balance(
    classes: list[str], labels: torch.Tensor, weighted: bool, dense: bool
) -> tuple[list[int], list[float] | None, list[str]]:
    """The training split's examples per class, from its `labels` (a stream's listing: nothing
    is read), the loss's class weights where --class-weights balanced asks (`weighted`), and the
    header's notes: the imbalance (not for dense prediction, whose background outnumbers the rest
    by nature) and the weights."""
    counts = class_counts(labels, len(classes))
    weights = balanced_weights(counts) if weighted else None
    notes = []
    if not dense and (note := imbalance_note(classes, counts, weighted)):
        notes.append(note)
    if weights is not None:
        notes.append(weights_note(classes, weights, dense))
    return counts, weights, notes
