"""JPEG decoding on the GPU: the other half of a stream's batch when the CPU cannot keep up.

The loader processes still read each file and check its header (cnnctl.data.loader,
`Images.encoded_batch`), and draw its crop and flip exactly as for decoding on the CPU;
they hand over the JPEGs' bytes as stored. Here, in the training process, the batch's JPEGs
are decoded together by nvJPEG (`torchvision.io.decode_jpeg(..., device="cuda")`) at their own
size, and the pixels of each that the CPU path's crop keeps (cnnctl.data.crops.crop_plan: the box
in whole pixels of the JPEG as libjpeg decodes it reduced, then trimmed to whole blocks) are
resized to the input on the GPU, those of one size in one call
(`torchvision.ops.roi_align`: each output pixel the mean of the bilinear samples over its part
of the box, an antialiased resize as Pillow's on the CPU), so the two paths give the same
crops and nearly the same pixels (a level or two apart, from the decoders' rounding and the
resampling filters).

Whatever nvJPEG cannot decode (a file it rejects) is decoded by Pillow on the CPU, the one
decode path's rules and messages; an image neither can read is left out of its batch as
the CPU path leaves it out.
"""

from __future__ import annotations

import contextlib
import functools
import math
import queue
import threading
from collections.abc import Callable, Iterable, Iterator

import torch

from ..errors import CnnctlError
from .crops import crop_plan
from .decode import decode_box, resize_box, whole_box
from .samples import ImageBytes

AHEAD = 2  # batches made ahead of the training step
# Decodes a list of JPEGs (1-D uint8 CPU tensors) into (C, H, W) uint8 tensors on the GPU.
Decoder = Callable[[list[torch.Tensor]], list[torch.Tensor]]


@functools.cache
def unavailable(device: torch.device) -> str | None:
    """Why JPEGs cannot be decoded on `device`, in words, or None when they can: torchvision
    must import and decode a small JPEG there (a build without nvJPEG says so only then)."""
    if device.type != "cuda":
        return f"the device is {device.type}: decoding on the GPU needs --device cuda"
    try:
        from torchvision.io import ImageReadMode, decode_jpeg
    except ImportError:
        return "torchvision, whose decode_jpeg runs nvJPEG, is not installed"
    except Exception as exc:  # a torchvision built for another torch fails in many ways
        return f"torchvision does not import beside this torch ({exc.__class__.__name__}: {str(exc)[:120]})"
    try:
        decode_jpeg([_tiny_jpeg()], mode=ImageReadMode.RGB, device=device)
    except Exception as exc:  # no nvJPEG in this build, a torchvision older than 0.19 (no batches)...
        return f"torchvision's decode_jpeg fails on {device} ({exc.__class__.__name__}: {str(exc)[:120]})"
    return None


def _tiny_jpeg() -> torch.Tensor:
    import io

    from .decode import pillow

    out = io.BytesIO()
    pillow().new("RGB", (16, 16), (200, 100, 50)).save(out, format="JPEG")
    return torch.frombuffer(bytearray(out.getvalue()), dtype=torch.uint8)


def torchvision_decoder(device: torch.device, channels: int) -> Decoder:
    """nvJPEG through torchvision, the batch's images in one call: RGB, or grayscale for a
    network of another channel count (replicated, as the CPU path does)."""
    from torchvision.io import ImageReadMode, decode_jpeg

    mode = ImageReadMode.RGB if channels == 3 else ImageReadMode.GRAY
    return lambda data: decode_jpeg(data, mode=mode, device=device)


class GpuDecoder:
    """Makes a stream's batch on the GPU from what a loader process handed over (the dict of
    `Images.encoded_batch`): (x (N, C, H, W) uint8 channels_last on `device`, labels, bad).
    `decoder` and `resizer` stand in for nvJPEG and for `boxes_resized` (tests)."""

    def __init__(
        self, target: tuple[int, int, int], device: torch.device, decoder: Decoder | None = None, resizer=None
    ):
        self.target, self.device = target, device
        self.decoder = decoder or torchvision_decoder(device, target[2])
        self.resizer = resizer or boxes_resized

    def __call__(self, part: dict) -> tuple[torch.Tensor, torch.Tensor, list]:
        h, w, c = self.target
        labels, bad = part["labels"], list(part["bad"])
        # Made in float; the crops resized a group of images at a time, the flips and the
        # rounding to uint8 done once for the batch: a few kernels per batch, not per image.
        out = torch.empty((len(labels), c, h, w), dtype=torch.float32, device=self.device)
        out = out.contiguous(memory_format=torch.channels_last)
        if len(part["decoded_at"]):  # the images the loader decoded itself (not JPEGs), flipped already
            out[part["decoded_at"].to(self.device)] = part["decoded"].to(self.device, non_blocking=True).float()
        ends = part["ends"].tolist()
        data = [part["jpeg"][start:end] for start, end in zip([0, *ends[:-1]], ends, strict=True)]
        keep = torch.ones(len(labels), dtype=torch.bool)
        decoded, boxes, places, flipped = [], [], [], []
        placed = zip(self._decoded(data), data, part["names"], part["boxes"].tolist(), part["flips"].tolist(),
                     part["jpeg_at"].tolist(), strict=True)  # fmt: skip
        for image, raw, name, box, flip, at in placed:
            if image is not None:
                decoded.append(image)
                # the pixels of the image the CPU path's crop keeps (decoded reduced by libjpeg, then
                # by whole blocks: crop_plan), nvJPEG having decoded it at its own size
                height, width = image.shape[-2:]
                boxes.append(list(crop_plan((width, height), 1, tuple(box), (h, w), jpeg=True).region(width, height)))
                places.append(at)
                if flip:
                    flipped.append(at)
                continue
            try:  # nvJPEG refused it: Pillow decodes it, or names what is wrong with it
                out[at] = _on_cpu(ImageBytes(name, raw.numpy().tobytes()), box, flip, self.target).to(self.device)
            except CnnctlError as exc:
                bad.append((name, exc.problems[0]))
                keep[at] = False
        for group in _groups(decoded):  # images of one size resized together
            index = torch.tensor([places[k] for k in group], device=self.device)
            resized = self.resizer([decoded[k] for k in group], [boxes[k] for k in group], self.target)
            out[index] = resized.expand(-1, c, -1, -1) if resized.shape[1] != c else resized
        if flipped:
            index = torch.tensor(flipped, device=self.device)
            out[index] = out[index].flip(-1)
        out = out.round_().clamp_(0, 255).to(torch.uint8)
        if not keep.all():
            out, labels = out[keep.to(self.device)], labels[keep]
        return out, labels, bad

    def ahead(self, parts: Iterable[dict], depth: int = AHEAD) -> Iterator[tuple[torch.Tensor, torch.Tensor, list]]:
        """The batches of `parts` (a loader's), each made by a thread of its own on a CUDA stream
        of its own, `depth` batches ahead of the one given out: nvJPEG's call waits for its
        decoding to end (a stream synchronisation), and the training step goes on meanwhile.
        A problem in that thread is raised here; closing this generator stops the thread (the
        loader's iterator is then free for the next pass)."""
        made: queue.Queue = queue.Queue(maxsize=depth)
        stop = threading.Event()
        cuda = self.device.type == "cuda"
        side = torch.cuda.Stream(self.device) if cuda else None

        def put(item) -> None:
            while not stop.is_set():
                try:
                    made.put(item, timeout=0.1)
                    return
                except queue.Full:
                    continue

        def work() -> None:
            try:
                with torch.cuda.stream(side) if cuda else contextlib.nullcontext():
                    for part in parts:
                        if stop.is_set():
                            return
                        x, y, bad = self(part)
                        done = torch.cuda.Event() if cuda else None
                        if done is not None:
                            done.record(side)
                        put((x, y, bad, done))
            except BaseException as exc:  # noqa: BLE001 (raised again in the training thread)
                put(exc)
                return
            put(None)

        thread = threading.Thread(target=work, name="cnnctl-gpu-decode", daemon=True)
        thread.start()
        try:
            while True:
                item = made.get()
                if item is None:
                    return
                if isinstance(item, BaseException):
                    raise item
                x, y, bad, done = item
                if done is not None:  # the step's stream waits for the batch, and keeps its memory till used
                    current = torch.cuda.current_stream(self.device)
                    current.wait_event(done)
                    x.record_stream(current)
                yield x, y, bad
        finally:
            stop.set()
            thread.join()

    def _decoded(self, data: list[torch.Tensor]) -> list[torch.Tensor | None]:
        """The JPEGs decoded at their own size, in one call; when the batch's call fails, one
        call each, None for each that fails alone."""
        if not data:
            return []
        try:
            return list(self.decoder(data))
        except Exception:  # one bad file fails the whole batch's call: find it
            pass
        images: list[torch.Tensor | None] = []
        for one in data:
            try:
                images.append(self.decoder([one])[0])
            except Exception:
                images.append(None)
        return images


GROUP_BYTES = 512 * 2**20  # the most of one group's images in float, resized in one call


def _groups(images: list[torch.Tensor]) -> list[list[int]]:
    """The images' indices grouped by size (C, H, W), each group at most GROUP_BYTES in float."""
    by_size: dict[tuple, list[int]] = {}
    for k, image in enumerate(images):
        by_size.setdefault(tuple(image.shape), []).append(k)
    groups = []
    for size, members in by_size.items():
        most = max(1, GROUP_BYTES // (4 * math.prod(size)))
        groups += [members[i : i + most] for i in range(0, len(members), most)]
    return groups


def boxes_resized(images: list[torch.Tensor], boxes: list[list[float]], target: tuple[int, int, int]) -> torch.Tensor:
    """Images of one size (C, H, W) uint8, each its `box` (left, top, right, bottom, in pixels)
    taken in whole pixels as the CPU path takes it (`whole_box`) and resized to `target`
    (H, W, C), as float (N, C, H, W), in one call: torchvision's roi_align, each output pixel
    the mean of bilinear samples spread over its part of the box (as many as the box has
    pixels per output pixel: an antialiased resize, as Pillow's). Without torchvision, one
    image at a time (each_resized)."""
    try:
        from torchvision.ops import roi_align
    except Exception:  # noqa: BLE001 (torchvision missing or broken: the plain way)
        return each_resized(images, boxes, target)
    h, w, _ = target
    x = torch.stack(images).float()
    # The CPU path's crop: the box in whole pixels (whole_box). With aligned=True roi_align puts
    # pixel i's centre at i + 0.5, so whole corners cover exactly the pixels [left, right) x
    # [top, bottom); a box the input's size samples each pixel's centre (a plain crop).
    height, width = x.shape[-2:]
    whole = [[k, *whole_box(box, width, height)] for k, box in enumerate(boxes)]
    rois = torch.tensor(whole, dtype=torch.float32, device=x.device)
    return roi_align(x, rois, output_size=(h, w), spatial_scale=1.0, sampling_ratio=-1, aligned=True)


def each_resized(images: list[torch.Tensor], boxes: list[list[float]], target: tuple[int, int, int]) -> torch.Tensor:
    """As boxes_resized, one image at a time by crop_resized (no torchvision needed)."""
    return torch.stack([crop_resized(image, box, (*target[:2], image.shape[0])) for image, box in
                        zip(images, boxes, strict=True)])  # fmt: skip


def crop_resized(image: torch.Tensor, box: list[float], target: tuple[int, int, int]) -> torch.Tensor:
    """The part `box` (left, top, right, bottom, in pixels) of `image` (C, H, W) uint8,
    resized to `target` (H, W, C) as the CPU path resizes it (decode.resize_box), as float
    (C, H, W), not rounded; channels replicated to the target's count."""
    h, w, c = target
    part = resize_box(image, box, (h, w), torch.float32)
    return part.expand(c, -1, -1) if part.shape[0] != c else part


def _on_cpu(source: ImageBytes, box: list[float], flip: bool, target: tuple[int, int, int]) -> torch.Tensor:
    return decode_box(source, target, lambda width, height: tuple(box), flip)
