"""Where a photo recipe's crop lies in the pixels decoded: the one arithmetic of the CPU path
(cnnctl.data.decode.decode_box) and of the GPU path (cnnctl.data.gpu_decode).

A crop's box (of the image shown upright, in fractional pixels) is taken from a JPEG decoded
reduced by libjpeg (Pillow's draft: 1/2, 1/4 or 1/8 of its sides, the least size whose box
still keeps the input's pixels), in whole pixels of that decoding (`whole_box`), and where it
is still more than REDUCE_FROM times the input on a side, reduced by the mean of whole blocks
of kx x ky pixels (the pixels past the last whole block split between both sides, left out:
the rule of `_reduce_early`). `crop_plan` says all of it in whole numbers: the CPU path follows
it with Pillow; nvJPEG decodes at the image's own size, so the GPU path resizes the same
pixels of the image (`CropPlan.region`: each decoded pixel is `scale` x `scale` of them).
"""

from __future__ import annotations

import math

from ..records import record
from .decode import REDUCE_FROM, REDUCE_TO, Box, stored_box, whole_box

DCT_SCALES = (8, 4, 2, 1)  # libjpeg's reductions while decoding, largest first


@record
class CropPlan:
    """A crop as decoded, in the frame of the image as stored (its EXIF orientation not yet
    followed). `scale`: the JPEG decoded at 1/scale of its sides (1: at its own size; any image
    not a JPEG), asked of Pillow as `request` (draft's size), giving `decoded` (width, height);
    `kept`: the crop's pixels of that decoding (left, top, right, bottom), whole blocks of
    `blocks` (kx, ky) pixels, each reduced to its mean ((1, 1): the crop not reduced)."""

    scale: int
    request: tuple[int, int]
    decoded: tuple[int, int]
    kept: tuple[int, int, int, int]
    blocks: tuple[int, int]

    def region(self, width: int, height: int) -> tuple[int, int, int, int]:
        """`kept` in pixels of the image at its own size, `width` x `height` as stored: a
        decoded pixel covers `scale` x `scale` of them, fewer at the right and bottom edges."""
        left, top, right, bottom = self.kept
        s = self.scale
        return left * s, top * s, min(right * s, width), min(bottom * s, height)


def draft_scale(size: tuple[int, int], request: tuple[int, int]) -> int:
    """The reduction Pillow's JPEG draft(None, `request`) decodes an image of `size` (width,
    height) at: the largest of 8, 4, 2, 1 within both sides' whole ratios to the request."""
    most = min(size[0] // request[0], size[1] // request[1])
    return next(s for s in DCT_SCALES if most >= s)


def crop_plan(size: tuple[int, int], turn: int, box: Box, target: tuple[int, int], jpeg: bool) -> CropPlan:
    """The crop `box` (left, top, right, bottom, in pixels of the image shown upright) of an
    image of `size` (width, height, as stored) with EXIF orientation `turn`, for a network
    input of `target` (H, W), as decoded (`jpeg`: reduced while decoded where the box keeps
    the input's pixels). See the module's docstring."""
    h, w = target
    swapped = turn >= 5
    width, height = (size[1], size[0]) if swapped else size  # shown upright
    left, top, right, bottom = box
    # The box must keep at least the input's pixels once reduced: the image's size at which it does.
    need = (math.ceil(width * w / max(right - left, 1e-9)), math.ceil(height * h / max(bottom - top, 1e-9)))
    least = (min(need[0], width), min(need[1], height))
    request = (least[1], least[0]) if swapped else least
    scale = draft_scale(size, request) if jpeg else 1
    decoded = (-(-size[0] // scale), -(-size[1] // scale))
    now_w, now_h = (decoded[1], decoded[0]) if swapped else decoded
    sx, sy = now_w / width, now_h / height
    part = whole_box((left * sx, top * sy, right * sx, bottom * sy), now_w, now_h)
    x0, y0, x1, y1 = stored_box(part, turn, now_w, now_h)
    # _reduce_early's rule on the crop as stored (that function stays self-contained: an exported
    # PyTorch file holds its source)
    th, tw = (w, h) if swapped else (h, w)
    cw, ch = x1 - x0, y1 - y0
    kx, ky = max(1, cw // (REDUCE_TO * tw)), max(1, ch // (REDUCE_TO * th))
    if cw <= REDUCE_FROM * tw and ch <= REDUCE_FROM * th or kx == ky == 1:
        return CropPlan(scale, request, decoded, (x0, y0, x1, y1), (1, 1))
    x0, y0 = x0 + cw % kx // 2, y0 + ch % ky // 2
    return CropPlan(scale, request, decoded, (x0, y0, x0 + cw // kx * kx, y0 + ch // ky * ky), (kx, ky))
