"""What a batch scores: the loss the training step minimises, the running loss and accuracy
of an epoch, intersection over union, and a model measured over a whole split."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ..data.masks import IGNORE
from .batches import BatchSource

# Evaluation keeps no activations for backward: larger batches, fewer calls. One size for the
# validation of each epoch and for `cnnctl evaluate`.
EVAL_BATCH = 512
# `cnnctl evaluate`'s top-k accuracy, ImageNet's and timm's top-5: given where the data has more
# classes than that (with 5 or fewer, every image's class is among the top 5: 100% by definition).
TOP_K = 5


def scored_loss(
    logits: torch.Tensor, y: torch.Tensor, label_smoothing: float = 0.0, class_weights: torch.Tensor | None = None
) -> torch.Tensor:
    """Cross-entropy, the mean over what counts: the images, or the scored pixels of masks
    (not IGNORE). A batch of masks with no scored pixel (a crop of padding, masks of
    background only) has nothing to average: its loss is 0, with no gradient, where the mean
    would be 0/0, a NaN the divergence check would read as a diverged run. `class_weights`
    (--class-weights balanced): each example's loss times its class's weight, the mean taken
    over those weights, as PyTorch's `weight=` does."""
    loss = F.cross_entropy(logits, y, weight=class_weights, label_smoothing=label_smoothing)
    if y.dim() == 1:
        return loss
    return torch.where((y != IGNORE).any(), loss, torch.zeros_like(loss))  # no device sync: a tensor condition


def training_loss(
    outputs: torch.Tensor | tuple[torch.Tensor, ...],
    y: torch.Tensor,
    weights: tuple[float, ...] = (),
    label_smoothing: float = 0.0,
    class_weights: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The loss of a training forward pass and the main output's logits: the main output's
    loss, plus each head's (`outputs:`, a tuple after the main output) times its weight, as
    GoogLeNet's auxiliary classifiers add 0.3 of theirs; each weighted per class by
    `class_weights` where given (--class-weights)."""
    if not isinstance(outputs, tuple):
        return scored_loss(outputs.float(), y, label_smoothing, class_weights), outputs
    main, *heads = outputs
    loss = scored_loss(main.float(), y, label_smoothing, class_weights)
    for weight, head in zip(weights, heads, strict=True):
        loss = loss + weight * scored_loss(head.float(), y, label_smoothing, class_weights)
    return loss, main


class EpochStats:
    """Running loss and accuracy, over images (a classifier) or pixels (dense prediction:
    the mask pixels that are not IGNORE). The sums stay on the device: reading them waits
    for the device, so that happens only when they are shown or saved, not at every step.

    The loss is the mean over the epoch's examples, weighted as each batch's was: with class
    weights w (--class-weights), sum_i w_y(i) l_i / sum_i w_y(i) over every example of the
    epoch, as F.cross_entropy(weight=w) over all of them at once gives it (a batch's loss is
    that mean over its own examples: times its weight sum, it adds its examples' weighted
    losses); without, the plain mean. `weight` is that denominator (`seen` where unweighted)."""

    def __init__(self, loss_sum: float = 0.0, correct: int = 0, seen: int = 0, weight: float | None = None):
        self._loss: float | torch.Tensor = loss_sum
        self._correct: int | torch.Tensor = correct
        self._seen: int | torch.Tensor = seen
        self._weight: float | torch.Tensor = seen if weight is None else weight
        self._top: int | torch.Tensor = 0  # images whose class is among their top k scores (add_top)

    def add(
        self, loss: torch.Tensor, logits: torch.Tensor, y: torch.Tensor, class_weights: torch.Tensor | None = None
    ) -> None:
        """`loss` is the mean over what counts: images, or the valid pixels of masks, each
        weighted by its class's `class_weights` where given (scored_loss)."""
        if y.dim() == 1:
            counted: int | torch.Tensor = len(y)
            right = logits.argmax(1) == y
            targets = y
        else:
            valid = y != IGNORE
            counted = valid.sum()
            right = (logits.argmax(1) == y) & valid
            targets = y[valid]
        weight = counted if class_weights is None else class_weights[targets].sum()
        self._loss = self._loss + loss.detach() * weight
        self._weight = self._weight + weight
        self._correct = self._correct + right.sum()
        self._seen = self._seen + counted

    def add_top(self, logits: torch.Tensor, y: torch.Tensor, k: int) -> None:
        """Counts the images (a classifier's) whose class is among their `k` highest scores."""
        self._top = self._top + (logits.topk(k, 1).indices == y[:, None]).any(1).sum()

    @property
    def seen(self) -> int:
        return int(self._seen)

    class_iou: list[float | None] | None = None  # per class, for dense prediction (from `iou`)

    @property
    def mean_iou(self) -> float:
        return mean_iou(self.class_iou or [])

    def finite(self) -> bool:
        return math.isfinite(self.loss_sum)

    @property
    def loss_sum(self) -> float:
        return float(self._loss)

    @property
    def correct(self) -> int:
        return int(self._correct)

    @property
    def top_correct(self) -> int:
        return int(self._top)

    @property
    def weight(self) -> float:
        return float(self._weight)

    @property
    def loss(self) -> float:
        return self.loss_sum / self.weight if self.seen else math.nan

    @property
    def accuracy(self) -> float:
        return self.correct / self.seen if self.seen else math.nan


def iou(confusion: list[list[int]]) -> list[float | None]:
    """Intersection over union of each class from a confusion matrix [true][predicted]:
    C[k][k] / (row k + column k - C[k][k]); None for a class neither present nor predicted."""
    out: list[float | None] = []
    for k, row in enumerate(confusion):
        union = sum(row) + sum(r[k] for r in confusion) - row[k]
        out.append(row[k] / union if union else None)
    return out


def mean_iou(ious: list[float | None]) -> float:
    """The mean over the classes that have an IoU (present or predicted); NaN when none has."""
    return mean_of_classes(ious)


def mean_of_classes(values: list[float | None]) -> float:
    """A per-class score's mean over the classes that have one (None: undefined for that class);
    NaN when none has: mean IoU, balanced accuracy (of recall), macro F1."""
    scored = [v for v in values if v is not None]
    return sum(scored) / len(scored) if scored else math.nan


def recall(confusion: list[list[int]]) -> list[float | None]:
    """Each class's recall (its accuracy) from a confusion matrix [true][predicted]: C[k][k] /
    row k, the share of its examples predicted as it; None for a class with no examples. From
    the integer counts (`33 / 34 = 0.9705882352941176`), not float32 tensors."""
    return [row[k] / sum(row) if sum(row) else None for k, row in enumerate(confusion)]


def precision(confusion: list[list[int]]) -> list[float | None]:
    """Each class's precision: C[k][k] / column k, the share of the examples predicted as it that
    are it; None for a class never predicted (0/0: scikit-learn's zero_division case)."""
    out: list[float | None] = []
    for k, row in enumerate(confusion):
        predicted = sum(r[k] for r in confusion)
        out.append(row[k] / predicted if predicted else None)
    return out


def f1(confusion: list[list[int]]) -> list[float | None]:
    """Each class's F1, the harmonic mean of its precision and recall, as 2·TP / (2·TP + FP + FN)
    (the same where both are defined; 0 for a class present or predicted but never right); None
    for a class neither present nor predicted."""
    out: list[float | None] = []
    for k, row in enumerate(confusion):
        tp = row[k]
        missed, wrong = sum(row) - tp, sum(r[k] for r in confusion) - tp
        out.append(2 * tp / (2 * tp + missed + wrong) if tp + missed + wrong else None)
    return out


def evaluate_batches(
    model: torch.nn.Module,
    source: BatchSource,
    classes: int,
    confusion: torch.Tensor | None = None,
    rank: int = 0,
    world: int = 1,
    batch_size: int = EVAL_BATCH,
    top_k: int = 0,
) -> EpochStats:
    """Loss and accuracy over worker `rank`'s share of a split (all of it for one worker), on
    the first `classes` outputs; counts into `confusion[true, predicted]` when given (pixels,
    for dense prediction: IoU comes from it); with `top_k` (a classifier), the images whose
    class is among their `top_k` highest scores (`stats.top_correct`)."""
    stats = EpochStats()
    model.eval()
    with torch.inference_mode():
        for x, y in source.in_order(batch_size, rank, world):
            logits = model(x)[:, :classes].float()
            stats.add(scored_loss(logits, y), logits, y)
            if top_k:
                stats.add_top(logits, y, top_k)
            if confusion is not None:
                pairs = y * classes + logits.argmax(1)
                pairs = pairs[y != IGNORE].cpu()  # every pair, for a classifier
                confusion += torch.bincount(pairs, minlength=classes * classes).view(classes, classes)
    return stats
