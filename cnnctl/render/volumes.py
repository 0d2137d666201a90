"""The course's picture of a sequential network, as SVG with nothing to install.

Each volume HxWxC is a box in oblique projection: its front face as tall as H and as wide as
the channels (on a log scale: 3 and 4,096 channels both fit), receding by W; a vector is a
thin bar as tall as its length (log scale). Between two volumes, the layers that made the
second, one per line. Volumes wrap into rows of at most ROW_WIDTH pixels.
"""

from __future__ import annotations

import math

from ..analysis.diagram import Volume
from ..errors import printable
from ..shapes import format_shape
from .numbers import exact, short

ROW_WIDTH = 1400
FONT = 11  # px; the widths below take a character as 0.6 of it (Helvetica/DejaVu Sans average)
OP_CHARS = 18  # wrap a layer's shorthand at this many characters
FACE = "#c6dbef"
TOP = "#deebf7"
SIDE = "#9ecae1"
VECTOR = "#dadaeb"


def _esc(text: str) -> str:
    """Text in the SVG: markup as entities, control characters written `\\x1b` (XML refuses them)."""
    return printable(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _wrap(text: str, width: int = OP_CHARS) -> list[str]:
    lines: list[str] = []
    for word in text.split():
        if lines and len(lines[-1]) + 1 + len(word) <= width:
            lines[-1] += " " + word
        else:
            lines.append(word)
    return lines


class _Sizer:
    """Pixel sizes from the network's largest volume, so every picture has the same scale of heights."""

    def __init__(self, vols: tuple[Volume, ...]):
        self.h = max((v.shape[0] for v in vols if len(v.shape) == 3), default=1)
        self.c = max((v.shape[2] for v in vols if len(v.shape) == 3), default=1)
        self.n = max((v.shape[0] for v in vols if len(v.shape) == 1), default=1)

    def box(self, shape: tuple[int, ...]) -> tuple[float, float, float]:
        """(front width, front height, depth offset) in px."""
        if len(shape) == 3:
            h, w, c = shape
            height = 12 + 140 * math.sqrt(h / self.h)  # sqrt: 7x7 beside 224x224 still shows
            width = 6 + 34 * math.log2(1 + c) / math.log2(1 + max(self.c, 2))
            return width, height, 0.3 * (12 + 140 * math.sqrt(w / self.h))
        return 8.0, 24 + 120 * math.log2(1 + shape[0]) / math.log2(1 + max(self.n, 2)), 4.0


def to_svg(name: str, vols: tuple[Volume, ...], params: int, mults: int) -> str:
    sizer = _Sizer(vols)
    text_w = FONT * 0.6
    # Lay out: per volume its box and the gap before it (wide enough for the ops' lines).
    items = []
    for v in vols:
        lines = [line for op in v.ops for line in _wrap(op)]
        gap = max(40.0, max((len(s) for s in lines), default=0) * text_w + 16) if v.path != "input" else 0.0
        width, height, depth = sizer.box(v.shape)
        label = format_shape(v.shape)
        span = max(width + depth, len(label) * text_w)
        items.append((v, lines, gap, width, height, depth, label, span))
    rows: list[list] = [[]]
    x = 0.0
    for item in items:
        need = item[2] + item[7]
        if rows[-1] and x + need > ROW_WIDTH:
            rows.append([])
            x = 0.0
        rows[-1].append(item)
        x += need + 12
    out: list[str] = []
    margin, title_h = 20.0, 34.0
    y = margin + title_h
    page_w = 0.0
    for row in rows:
        tallest = max(it[4] + it[5] for it in row)
        most_lines = max(len(it[1]) for it in row)
        top = y + most_lines * (FONT + 2)  # room for the ops above the arrow
        center = top + tallest / 2 + 6
        x = margin
        for v, lines, gap, width, height, depth, label, span in row:
            if gap:
                x0, x1 = x + 2, x + gap - 6
                out.append(
                    f'<line x1="{x0:.1f}" y1="{center:.1f}" x2="{x1:.1f}" y2="{center:.1f}" '
                    'stroke="#525252" stroke-width="1.2" marker-end="url(#arrow)"/>'
                )
                for k, line in enumerate(lines):
                    ty = center - 6 - (len(lines) - 1 - k) * (FONT + 2)
                    out.append(f'<text x="{(x0 + x1) / 2:.1f}" y="{ty:.1f}" text-anchor="middle">{_esc(line)}</text>')
                x += gap
            fx, fy = x, center - height / 2 + depth / 2  # the front face's top-left corner
            dx, dy = depth, -depth
            if len(v.shape) == 3:
                top_face = f"{fx},{fy} {fx + dx},{fy + dy} {fx + width + dx},{fy + dy} {fx + width},{fy}"
                right = fx + width
                side = f"{right},{fy} {right + dx},{fy + dy} {right + dx},{fy + dy + height} {right},{fy + height}"
                out.append(f'<polygon points="{top_face}" fill="{TOP}" stroke="#525252" stroke-width="0.8"/>')
                out.append(f'<polygon points="{side}" fill="{SIDE}" stroke="#525252" stroke-width="0.8"/>')
                fill = FACE
            else:
                fill = VECTOR
            out.append(
                f'<rect x="{fx:.1f}" y="{fy:.1f}" width="{width:.1f}" height="{height:.1f}" fill="{fill}" '
                'stroke="#525252" stroke-width="0.8"/>'
            )
            under = fy + height + FONT + 4
            mid = fx + (width + dx) / 2
            out.append(f'<text x="{mid:.1f}" y="{under:.1f}" text-anchor="middle">{_esc(label)}</text>')
            out.append(
                f'<text x="{mid:.1f}" y="{under + FONT + 2:.1f}" text-anchor="middle" fill="#737373">'
                f"{_esc(v.path)}</text>"
            )
            x += span + 12
        page_w = max(page_w, x + margin)
        y = center + tallest / 2 + 2 * FONT + 24
    page_h = y + margin - 10
    title = f"{name}: {exact(params)} params, {short(mults)} multiplications"
    head = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{page_w:.0f}" height="{page_h:.0f}" '
        f'viewBox="0 0 {page_w:.0f} {page_h:.0f}" font-family="Helvetica, Arial, sans-serif" font-size="{FONT}">',
        f"<title>{_esc(title)}</title>",
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
        'orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#525252"/></marker></defs>',
        f'<rect width="{page_w:.0f}" height="{page_h:.0f}" fill="#ffffff"/>',
        f'<text x="{margin}" y="{margin + 14}" font-size="14" font-weight="bold">{_esc(title)}</text>',
    ]
    return "\n".join([*head, *out, "</svg>"]) + "\n"
