"""`residual:`: the course's skip connection `a[l+2] = g(z[l+2] + a[l])`.

The listed main path's output is added to the block's input, carried by the shortcut:
`identity` (the shapes must match), `projection` (a 1x1 conv without bias, its stride chosen
to match, then bn: ResNet's option B, as torchvision) or any list of layers. `act` is
applied to the sum. Layers: the main path's, the shortcut's, then `add`.
"""

from __future__ import annotations

from ..errors import CnnctlError, Problem, did_you_mean
from ..layers import KINDS, Args
from ..notation.spec import SHORTCUT, SHORTCUTS, RepeatItem, ResidualItem, Value, walk
from ..shapes import Shape, format_shape
from .blocks import Env, readable, substitute
from .nodes import UNKNOWN, Node
from .scope import Names, Scope, names_of

TYPE_CHECKING = False  # typing's name for it, without importing typing (5 ms of every start)
if TYPE_CHECKING:
    from .build import Builder


def _unjoined(problems, volume):  # build's Unjoined, imported when raised: build imports this module
    from .build import Unjoined

    return Unjoined(problems, volume)


def expand(b: Builder, item: ResidualItem, scope: Scope, env: Env | None, path: str, current: int) -> int:
    names = Names(path)
    shortcut = item.shortcut
    if isinstance(shortcut, str):
        shortcut = str(substitute(Value(shortcut, item.shortcut_loc or item.loc), env, path).text)
    b.group(path, "residual", "residual" if isinstance(shortcut, tuple) else f"residual {shortcut}", item.loc)
    body, *layers = item.lists  # the main path (`adds_no_level`), and the shortcut where it is a list
    main = b.sequence(body.items, Scope(current, parent=scope), env, names_of(body, names), body.collapse)
    if shortcut == "identity":
        skip = current
    elif shortcut == "projection":
        skip = projection(b, item, current, main, names)
    elif layers:
        skip = b.sequence(layers[0].items, Scope(current, parent=scope), env, names_of(layers[0], names))
    else:
        raise unknown_shortcut(item, shortcut, path)
    a, s = b.shape_of(main), b.shape_of(skip)
    if shortcut == "identity" and UNKNOWN not in (a, s) and a != s:
        after = b.follows_on((main, skip), item.loc) if b.guessed else ""
        changed = first_resize(b, main, skip)
        if len(a) == len(s) == 3 and not projection_strides(s, a):
            hint = "no stride gives that size: pad the main path's convolutions (p=same) to keep it"
            if changed is not None and changed.kind == "conv" and changed.args.s == (1, 1):
                hint = f"no stride gives that size: pad `{changed.path}` (`p=same`) to keep {s[0]}x{s[1]}"
        else:
            hint = argument_hint(b, item, env) or "add `shortcut: projection` (a 1x1 conv and bn that match the shapes)"
        message = (
            f"the main path ends in {format_shape(a)}, but the identity shortcut carries the input {format_shape(s)}"
        )
        if changed is not None:
            before, p = b.shape_of(changed.inputs[0]), changed.args.get("p")
            unsaid = isinstance(p, tuple) and "p=" not in changed.text  # the default, 0, left out of the shorthand
            padding = f"p={'x'.join(map(str, dict.fromkeys(p)))}, " if unsaid else ""
            message += (
                f"; the size first changes at `{changed.path}` ({changed.loc}: `{changed.text}`, {padding}"
                f"{before[0]}x{before[1]} -> {changed.shape[0]}x{changed.shape[1]})"
            )
        if after:
            raise CnnctlError.at(message + after, item.loc, layer=path, hint=hint)
        # the layers after it go on from the main path's volume
        raise _unjoined([Problem(message, item.loc, path, hint)], a if len(a) == 3 else None)
    args = b.merge_args(item.act, env, path)
    return b.add_node(KINDS["add"], args, [main, skip], item.loc, names.path(names.fixed("add")))


def first_resize(b: Builder, main: int, skip: int) -> Node | None:
    """The first layer of a main path (from `skip`'s output to `main`'s) whose height or width
    differs from its input's, followed back along each layer's first input; None where none
    does (or a size is unknown)."""
    path: list[Node] = []
    i = main
    while i != skip and i >= 0 and i < len(b.nodes):
        node = b.nodes[i]
        path.append(node)
        if not node.inputs:
            return None
        i = node.inputs[0]
    for node in reversed(path):
        before = b.shape_of(node.inputs[0])
        if UNKNOWN in (before, node.shape) or len(before) != 3 or len(node.shape) != 3:
            return None
        if before[:2] != node.shape[:2]:
            return node
    return None


def argument_hint(b: Builder, item: ResidualItem, env: Env | None) -> str | None:
    """Where to ask for a projection when the shortcut is the argument of the block being built
    (`shortcut: $shortcut`): at the block's use, or in the `first:` that gave the use its other
    values (a stage's first pass, `first: s=2 shortcut=projection`). None for a word written here."""
    name = str(item.shortcut)[1:].strip("{}").strip() if str(item.shortcut).startswith("$") else None
    if env is None or not b.block_uses or name not in env.block.params or env.block.name != b.block_uses[-1][0]:
        return None
    block, use = b.block_uses[-1]
    where = f"where `{block}` is used, at line {use.line}"
    for repeat in walk([*b.spec.layers, *(i for d in b.spec.blocks.values() for i in d.body)]):
        if isinstance(repeat, RepeatItem) and repeat.first and repeat.body and repeat.body[0].loc == use:
            if all(k in env.values and env.values[k].loc == v.loc for k, v in repeat.first.items()):  # its first pass
                where = f"in `first:`, at line {next(iter(repeat.first.values())).loc.line}"
            break
    return f"the shortcut is block `{block}`'s argument `{name}`: set `{name}=projection` {where} (a 1x1 conv and bn)"


def unknown_shortcut(item: ResidualItem, word: str, path: str) -> CnnctlError:
    return CnnctlError.at(
        f"unknown shortcut `{word}`",
        item.shortcut_loc or item.loc,
        layer=path,
        hint=did_you_mean(word, SHORTCUTS) or "shortcut is identity, projection, or a list of layers",
    )


def projection(b: Builder, item: ResidualItem, source: int, main: int, names: Names) -> int:
    """ResNet's projection shortcut: 1x1 conv (no bias) with the stride that matches, then bn."""
    shape, out = b.shape_of(source), b.shape_of(main)
    if UNKNOWN in (shape, out):
        return b.placeholder(item, names.path(SHORTCUT))
    if len(shape) != 3 or len(out) != 3:  # a 1x1 conv maps volumes only
        raise CnnctlError.at(
            f"a projection shortcut is a 1x1 conv, which needs volumes HxWxC, but it would map "
            f"{format_shape(shape)} to {format_shape(out)}",
            item.loc,
            layer=names.prefix,
            hint="put the residual before the first `fc`/`flatten`",
        )
    strides = projection_strides(shape, out)
    if strides is None:
        raise CnnctlError.at(
            f"no 1x1 projection maps the input {format_shape(shape)} to the main path's {format_shape(out)}",
            item.loc,
            layer=names.prefix,
            hint="the main path must divide the height and width by a whole stride; pad its convolutions "
            "(p=same) so only strides change the size",
        )
    sub = names.child(SHORTCUT)
    conv_kind = KINDS["conv"]
    conv_args = Args({a.name: a.typed_default for a in conv_kind.args if not a.required})
    conv_args.update(f=(1, 1), s=strides, n=out[2], bias=False)
    conv = b.add_node(conv_kind, conv_args, [source], item.shortcut_loc or item.loc, sub.path("conv"))
    bn_kind = KINDS["bn"]
    bn_args = Args({a.name: a.typed_default for a in bn_kind.args})
    return b.add_node(bn_kind, bn_args, [conv], item.shortcut_loc or item.loc, sub.path("bn"))


def projection_strides(source: Shape, out: Shape) -> tuple[int, int] | None:
    """The stride of a 1x1 conv taking `source` to `out`'s height and width, if there is one."""
    (h, w, _), (oh, ow, _) = source, out
    strides = (-(-h // oh), -(-w // ow))
    if (h - 1) // strides[0] + 1 != oh or (w - 1) // strides[1] + 1 != ow:
        return None
    return strides


def least(b: Builder, item: ResidualItem, env: Env | None) -> int:
    """The main path's layers, the shortcut's (a projection is a conv and a bn), and the add."""
    if isinstance(item.shortcut, tuple):
        shortcut = b.least_layers(item.shortcut, env)
    else:
        written = Value(item.shortcut, item.shortcut_loc or item.loc)
        shortcut = 2 if readable(written, env) == "projection" else 0
    return b.least_layers(item.body, env) + shortcut + 1
