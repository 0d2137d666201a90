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
from ..records import record
from ..shapes import format_shape
from ..words import exact, short
from .mpl import matplotlib_module
from .picture import PNG_DPI  # as the graph view's PNG: 11 px text stays legible

ROW_WIDTH = 1400
FONT = 11  # px; the widths below take a character as 0.6 of it (Helvetica/DejaVu Sans average)
OP_CHARS = 18  # wrap a layer's shorthand at this many characters
FACE = "#c6dbef"
TOP = "#deebf7"
SIDE = "#9ecae1"
VECTOR = "#dadaeb"
INK = "#525252"  # lines and arrows
TEXT = "#000000"  # SVG's default fill
GREY = "#737373"  # a volume's layer path


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

    def __init__(self, vols: tuple[Volume, ...]) -> None:
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


@record
class Shape:
    """One mark of the picture, in px from the top-left corner: a `polygon` (`points`), a
    `rect` (`points`: its top-left and bottom-right corners), an `arrow` (`points`: from, to),
    or `text` at `points[0]` (centred on it, baseline there)."""

    kind: str
    points: tuple[tuple[float, float], ...]
    fill: str = ""
    text: str = ""
    colour: str = TEXT
    size: float = FONT
    bold: bool = False


@record
class Layout:
    """The whole picture: its size in px and its marks, drawn in order. SVG and matplotlib
    (PNG, PDF) draw the same layout, so every format shows the same picture."""

    width: float
    height: float
    title: str
    shapes: tuple[Shape, ...]


def lay_out(name: str, vols: tuple[Volume, ...], params: int, mults: int) -> Layout:
    """The course's volumes of a sequential network, in rows of at most ROW_WIDTH px."""
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
    out: list[Shape] = []
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
                out.append(Shape("arrow", ((x0, center), (x1, center))))
                for k, line in enumerate(lines):
                    ty = center - 6 - (len(lines) - 1 - k) * (FONT + 2)
                    out.append(Shape("text", (((x0 + x1) / 2, ty),), text=line))
                x += gap
            fx, fy = x, center - height / 2 + depth / 2  # the front face's top-left corner
            dx, dy = depth, -depth
            if len(v.shape) == 3:
                right = fx + width
                top_face = ((fx, fy), (fx + dx, fy + dy), (right + dx, fy + dy), (right, fy))
                side = ((right, fy), (right + dx, fy + dy), (right + dx, fy + dy + height), (right, fy + height))
                out += [Shape("polygon", top_face, TOP), Shape("polygon", side, SIDE)]
            out.append(Shape("rect", ((fx, fy), (fx + width, fy + height)), FACE if len(v.shape) == 3 else VECTOR))
            under = fy + height + FONT + 4
            mid = fx + (width + dx) / 2
            out.append(Shape("text", ((mid, under),), text=label))
            out.append(Shape("text", ((mid, under + FONT + 2),), text=v.path, colour=GREY))
            x += span + 12
        page_w = max(page_w, x + margin)
        y = center + tallest / 2 + 2 * FONT + 24
    title = f"{name}: {exact(params)} params, {short(mults)} multiplications"
    heading = Shape("text", ((margin, margin + 14),), text=title, size=14, bold=True)
    return Layout(page_w, y + margin - 10, title, (heading, *out))


def to_svg(layout: Layout) -> str:
    """The layout as an SVG document (nothing to install)."""
    w, h = layout.width, layout.height
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{w:.0f}" height="{h:.0f}" viewBox="0 0 {w:.0f} {h:.0f}" '
        f'font-family="Helvetica, Arial, sans-serif" font-size="{FONT}">',
        f"<title>{_esc(layout.title)}</title>",
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
        f'orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="{INK}"/></marker></defs>',
        f'<rect width="{w:.0f}" height="{h:.0f}" fill="#ffffff"/>',
    ]
    for s in layout.shapes:
        if s.kind == "text":
            ((x, y),) = s.points
            anchor = "" if s.bold else ' text-anchor="middle"'  # the title starts at its point
            style = (f' font-size="{s.size:g}" font-weight="bold"' if s.bold else "") + (
                f' fill="{s.colour}"' if s.colour != TEXT else "")  # fmt: skip
            out.append(f'<text x="{x:.1f}" y="{y:.1f}"{anchor}{style}>{_esc(s.text)}</text>')
        elif s.kind == "arrow":
            (x0, y0), (x1, y1) = s.points
            out.append(f'<line x1="{x0:.1f}" y1="{y0:.1f}" x2="{x1:.1f}" y2="{y1:.1f}" stroke="{INK}" '
                       'stroke-width="1.2" marker-end="url(#arrow)"/>')  # fmt: skip
        elif s.kind == "rect":
            (x0, y0), (x1, y1) = s.points
            out.append(f'<rect x="{x0:.1f}" y="{y0:.1f}" width="{x1 - x0:.1f}" height="{y1 - y0:.1f}" '
                       f'fill="{s.fill}" stroke="{INK}" stroke-width="0.8"/>')  # fmt: skip
        else:
            points = " ".join(f"{x:g},{y:g}" for x, y in s.points)
            out.append(f'<polygon points="{points}" fill="{s.fill}" stroke="{INK}" stroke-width="0.8"/>')
    return "\n".join([*out, "</svg>"]) + "\n"


def to_image(layout: Layout, fmt: str) -> bytes:
    """The layout as a PNG or PDF, drawn by matplotlib (render.mpl; NoMatplotlib without it):
    the same marks at the same places as the SVG, the page as many inches as a browser shows
    the SVG (96 px an inch), a PNG at PNG_DPI."""
    import io

    Figure = matplotlib_module("figure").Figure
    FigureCanvasAgg = matplotlib_module("backends.backend_agg").FigureCanvasAgg
    patches = matplotlib_module("patches")

    px = 1 / 96  # inches per px
    points = 72 * px  # a px in points, for line widths and font sizes
    fig = Figure(figsize=(layout.width * px, layout.height * px))
    FigureCanvasAgg(fig)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, layout.width)
    ax.set_ylim(layout.height, 0)  # y grows downwards, as in SVG
    ax.set_axis_off()
    for s in layout.shapes:
        if s.kind == "text":
            ((x, y),) = s.points
            ax.text(x, y, s.text, ha="left" if s.bold else "center", va="baseline", color=s.colour,
                    fontsize=s.size * points, fontweight="bold" if s.bold else "normal")  # fmt: skip
        elif s.kind == "arrow":
            arrow = patches.FancyArrowPatch(*s.points, arrowstyle="-|>", mutation_scale=10, color=INK,
                                            linewidth=1.2 * points, shrinkA=0, shrinkB=0)  # fmt: skip
            ax.add_patch(arrow)
        else:
            corners = s.points
            if s.kind == "rect":
                (x0, y0), (x1, y1) = s.points
                corners = ((x0, y0), (x1, y0), (x1, y1), (x0, y1))
            ax.add_patch(patches.Polygon(corners, closed=True, facecolor=s.fill, edgecolor=INK,
                                         linewidth=0.8 * points))  # fmt: skip
    buffer = io.BytesIO()
    fig.savefig(buffer, format=fmt, dpi=PNG_DPI, facecolor="white")
    return buffer.getvalue()
