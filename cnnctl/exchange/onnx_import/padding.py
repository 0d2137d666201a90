"""Padding: a Conv's or a pool's `pads` and `auto_pad`, and a Pad before it (F.pad, TensorFlow's
`same` written as a pad of one side) taken into its window where that is exact; read as cnnctl's
`p=` of a number, HxW or `same` (ceil(n/s), the odd one after), or refused naming the pads.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from ...errors import shown
from ...shapes import conv_output_size, pool_output_size_ceil, same_padding
from .attributes import attr_int, attr_ints, attr_text, attributes_of, pair_text
from .told import Unread

if TYPE_CHECKING:
    from onnx import NodeProto

NO_PAD_LAYER = "cnnctl has no padding layer: it reads zeros padded before a conv or an average pool as its padding"


class Padding:
    """The reader of Pad, and the padding of a window (a conv's, a pool's) it reads."""

    def pad(self, node: NodeProto, a: dict, ins: list) -> None:
        """A Pad of known pads on height and width alone, read by one Conv or pool that takes it in
        exactly: zeros before a Conv, or before an AveragePool that counts them (its own pads counted too,
        no ceil_mode); -inf before a MaxPool (ONNX's own pads of a max pool). Its output is its input;
        the window's reader adds the pads (`padded`)."""
        import numpy as np

        mode = attr_text(a, "mode", "constant")
        pads = self.const(node, 1) if len(node.input) > 1 and node.input[1] else a.get("pads")  # opset 11: an input
        if pads is None or (len(node.input) > 3 and node.input[3]):
            raise Unread("pads that are not known values, or given for some axes alone", NO_PAD_LAYER)
        pads = [int(v) for v in np.asarray(pads).reshape(-1)]
        if len(pads) != 8 or any(pads[i] for i in (0, 1, 4, 5)) or any(v < 0 for v in pads):
            raise Unread(f"pads {shown(pads, 60)}: cnnctl pads height and width, by none or more", NO_PAD_LAYER)
        if mode != "constant":
            raise Unread(f"a Pad of mode {shown(mode, 20)}, pads {pads}: only zeros pad a conv", NO_PAD_LAYER)
        value = self.const(node, 2) if len(node.input) > 2 and node.input[2] else a.get("value", 0.0)
        value = float(np.asarray(value).reshape(-1)[0]) if np.asarray(value).size == 1 else math.nan
        readers = self.consumers.get(node.output[0], [])
        reader = self.nodes[readers[0]] if len(readers) == 1 else None
        a2 = attributes_of(reader) if reader is not None else {}
        exact = reader is not None and (
            (reader.op_type == "Conv" and value == 0)
            or (reader.op_type == "MaxPool" and value == -math.inf)
            or (
                reader.op_type == "AveragePool"
                and value == 0
                and not attr_int(a2, "ceil_mode", 0)
                and (attr_int(a2, "count_include_pad", 0) or not any(attr_ints(a2, "pads", [0, 0, 0, 0], 4)))
            )
        )
        if not exact:
            raise Unread(
                f"a Pad of constant value {value:g} ({pads[2]:,} top, {pads[3]:,} left, {pads[6]:,} bottom, "
                f"{pads[7]:,} right) {self._pad_readers(node, readers)}: not the padding of one conv or pool "
                "(zeros before a Conv or an AveragePool counting them, -inf before a MaxPool)",
                NO_PAD_LAYER,
            )
        self.padded[node.output[0]] = ((pads[2], pads[3], pads[6], pads[7]), node.input[0], self.index)
        self.alias[node.output[0]] = ins[0]
        return None

    def _pad_readers(self, node: NodeProto, readers: list[int]) -> str:
        """What reads a Pad's output, in words: `read by a MaxPool`, `read by 2 nodes (Conv, Relu)`,
        `that no node reads (it is the graph's output)`."""
        if len(readers) == 1:
            return f"read by a {self.nodes[readers[0]].op_type}"
        if readers:
            return f"read by {len(readers):,} nodes ({', '.join(self.nodes[i].op_type for i in readers[:4])}" + (
                ", ...)" if len(readers) > 4 else ")"
            )
        output = node.output[0] in {o.name for o in self.graph.output}
        return "that no node reads" + (" (it is the graph's output)" if output else "")

    def pad_nodes(self, node: NodeProto) -> list[int]:
        """The Pad a window's reader took in (its node read with the layer), or none."""
        taken = self.padded.get(node.input[0])
        return [taken[2]] if taken else []

    def window(self, node: NodeProto, a: dict, kernel: list, stride: list | None = None) -> list[str]:
        """`s=` and `p=` of a conv or pool (a pool's stride defaults to its window): its `pads`
        (or its `auto_pad`), with those of a Pad before it; padding that differs between the two
        sides of an axis is `p=same` where it is same's split of this input, refused otherwise."""
        words = []
        strides = attr_ints(a, "strides", [1, 1], 2)
        if strides != (stride or [1, 1]):
            words.append(f"s={pair_text(strides)}")
        dilations = attr_ints(a, "dilations", [1, 1], 2)
        pads, size = self.window_pads(node, a, kernel)
        if pads[0] == pads[2] and pads[1] == pads[3]:
            return words + ([f"p={pair_text(pads[:2])}"] if pads[0] or pads[1] else [])
        same = (
            [same_padding(n, f, s, d) for n, f, s, d in zip(size, kernel, strides, dilations, strict=True)]
            if size is not None and node.op_type != "ConvTranspose"
            else None
        )
        if same is not None and pads == [same[0][0], same[1][0], same[0][1], same[1][1]]:
            return [*words, "p=same"]
        if node.op_type == "ConvTranspose":
            raise Unread(f"uneven padding {pads} (top, left, bottom, right)",
                          "cnnctl's deconv pads both sides of an axis alike (p=N or p=HxW)")  # fmt: skip
        said = f"p=same pads {[same[0][0], same[1][0], same[0][1], same[1][1]]} here" if same else "p=same needs"
        raise Unread(
            f"uneven padding {pads} (top, left, bottom, right)",
            f"cnnctl pads both sides of an axis alike (p=N or p=HxW), or splits p=same with the odd one after "
            f"(bottom, right): {said}" + ("" if same else " the input's size"),
        )

    def uncounted_window(self, node: NodeProto, a: dict, kernel: list) -> list[str] | None:
        """`s=`, `p=` and `ceil` of an AveragePool that leaves its padding out of each window
        (count_include_pad 0) where the padding differs between the two sides of an axis (auto_pad
        SAME_UPPER or SAME_LOWER splitting an odd total, or such pads): None where it does not.

        Leaving the padding out, only where the windows start and how many there are matter: each
        adds and divides by the input values it covers. cnnctl's `p=` of the padding before
        (top, left), both sides alike, starts them where the file does, and `ceil` (or none) adds
        the last one where the padding after ends it; so it is read where that gives the file's
        count on both axes. `p=same` cannot say it: cnnctl pads `same` with zeros the average
        counts. Where neither does (an even window at stride 1), it is refused, saying why."""
        strides = attr_ints(a, "strides", kernel, 2)
        pads, size = self.window_pads(node, a, kernel)
        if pads[0] == pads[2] and pads[1] == pads[3]:
            return None
        before = pads[:2]
        if size is not None and not attr_int(a, "ceil_mode", 0):
            wanted = [conv_output_size(n, f, s, (b, e)) for n, f, s, b, e in
                      zip(size, kernel, strides, before, pads[2:], strict=True)]  # fmt: skip
            for ceil in (False, True):
                rule = pool_output_size_ceil if ceil else conv_output_size
                got = [rule(n, f, s, b) for n, f, s, b in zip(size, kernel, strides, before, strict=True)]
                if got == wanted and all(b <= f // 2 for b, f in zip(before, kernel, strict=True)):
                    words = [f"s={pair_text(strides)}"] if strides != list(kernel) else []
                    return [*words, *([f"p={pair_text(before)}"] if any(before) else []), *(["ceil"] * ceil)]
        raise Unread(
            f"uneven padding {pads} (top, left, bottom, right) of an average that leaves it out (count_include_pad "
            f"0){' in ceil_mode' if attr_int(a, 'ceil_mode', 0) else ''}: no cnnctl pool has these windows",
            "cnnctl's `p=same` pads with zeros the average counts, and its `p=` of the padding before, alike on "
            "both sides, with or without `ceil`, gives another count of windows here (an even window at stride 1 "
            "does): pad both sides alike, or count the padding (count_include_pad=1, read as `p=same`; other values "
            "at the edges)",
        )

    def window_pads(self, node: NodeProto, a: dict, kernel: list) -> tuple[list[int], list | None]:
        """(top, left, bottom, right) padding of a conv's or pool's window, its `pads` or its
        `auto_pad` with those of a Pad before it taken in, and the H and W of what it pads (None
        where not known)."""
        strides = attr_ints(a, "strides", [1, 1], 2)
        dilations = attr_ints(a, "dilations", [1, 1], 2)
        taken = self.padded.get(node.input[0])
        x = taken[1] if taken else node.input[0]
        dims = self.shape(x)
        size = dims[2:4] if dims is not None and len(dims) == 4 and None not in dims[2:4] else None
        auto = attr_text(a, "auto_pad", "NOTSET")
        if auto in ("SAME_UPPER", "SAME_LOWER"):
            if size is None or node.op_type == "ConvTranspose":
                raise Unread(f"auto_pad {auto} of an input of unknown size, or of a ConvTranspose",
                              "export with explicit pads")  # fmt: skip
            split = [same_padding(n, f, s, d) for n, f, s, d in zip(size, kernel, strides, dilations, strict=True)]
            if auto == "SAME_LOWER":  # the odd one before
                split = [(after, before) for before, after in split]
            pads = [split[0][0], split[1][0], split[0][1], split[1][1]]
        elif auto in ("NOTSET", "VALID"):
            pads = attr_ints(a, "pads", [0, 0, 0, 0], 4) if auto == "NOTSET" else [0, 0, 0, 0]
        else:
            raise Unread(f"auto_pad {shown(auto, 30)}", "ONNX's auto_pad is NOTSET, VALID, SAME_UPPER or SAME_LOWER")
        if taken:
            pads = [p + q for p, q in zip(pads, taken[0], strict=True)]
        return pads, size
