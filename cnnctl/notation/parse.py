"""YAML nodes -> NetworkSpec. Knows the notation's grammar, not shapes or counts.

Grammar (see README, "Notation"): a layer is a shorthand string `KIND [positional...]
[key=value...]` or a mapping `{KIND: args}`; `repeat`, `residual`, `concat`/`add` with
branches compose them; `blocks:` define reusable layer groups used like kinds. Problems
are collected across the whole file, so one run reports every unknown kind and key.
"""

from __future__ import annotations

import re

import yaml

from ..errors import CnnctlError, Loc, Problem, closest, did_you_mean, quoted, shown, too_many
from ..layers import KIND_ALIASES, KIND_SYNONYMS, KINDS, ArgSpec
from ..layers.args import ArgValueError, parse_float
from ..limits import CACHE_ENTRIES, MAX_PROBLEMS
from ..values import ascii_spelling, lookalike_hint
from .bind import ARG_SYNONYMS, REFERENCE_KEYS, bind
from .source import compose, loc_of
from .spec import (
    BLOCK_INPUT,
    ID_LISTS,
    BlockDef,
    BranchesItem,
    FailedItem,
    GateItem,
    Item,
    LayerItem,
    MovedArgs,
    NetworkSpec,
    OutputItem,
    Range,
    RepeatItem,
    ResidualItem,
    SplitItem,
    Value,
    Variant,
    listed_ids,
    lookalike_ids,
    split_names,
    texts_of,
)
from .variants import NUMBER, RANGE_FORM, WHOLE, arg_type, misfit, read_range

TOP_KEYS = (
    "version", "name", "description", "input", "args", "variants", "blocks", "layers", "outputs", "droppath", "train"
)  # fmt: skip
OUTPUTS_FORM = "`outputs: [main, {aux1: 0.3}]`: the main output's id, then each head's id and the weight of its loss"
MAX_LOSS_WEIGHT = 100.0  # a head's loss weight: above 0, at most this (torchvision's recipes: 0.3, 0.4)
CONSTRUCTS = ("repeat", "residual", "gate", "split")  # `concat` and `add` are constructs when given branches
# How each construct is written, for the hint when one is written bare, as a layer (`- repeat`).
CONSTRUCT_FORMS = {
    "repeat": "`- repeat: N` with its `layers:` list",
    "residual": "`- residual:` with its main path's layers as a list under it",
    "gate": "`- gate:` with its path's layers as a list under it",
    "split": "`- split:` with its paths as a list under it, and its `attention:` list",
}
# Keys of a construct or a block written as a layer (`- layers: [...]`): what they belong to,
# and where to write them instead.
CONSTRUCT_KEYS = {
    "shortcut": ("`residual`", "under `residual:`"),
    "first": ("`repeat`", "under `repeat:`"),
    "layers": ("`repeat` or a block", "under `repeat:` or a block's name"),
    "args": ("a block", "under the block's name"),
    "attention": ("`split`", "under `split:`"),
}
_WORD = re.compile(r"\S+")
NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*\Z")

# Names from other tools for the constructs, for a "did you mean" hint (a kind's own are its
# `synonyms`, `cnnctl.layers.KIND_SYNONYMS`).
CONSTRUCT_SYNONYMS = {
    "identity": "`residual` or `add`",
    "se": "`gate:` (squeeze-and-excitation)",
    "squeeze_excitation": "`gate:` (squeeze-and-excitation)",
}
SYNONYMS = {**KIND_SYNONYMS, **CONSTRUCT_SYNONYMS}

# What the notation has no kind for, said plainly with what to write instead: the nearest
# spelling would mislead (`matmul` is not `mul`, `reshape` not `repeat`, `attention` not `flatten`).
_ATTENTION = (
    "cnnctl describes convolutional networks and has no attention layers "
    "(a squeeze-and-excitation's channel gate is `gate:`; SKNet's and ResNeSt's split attention is "
    "`split:` with its `attention:` path)"
)
_RESHAPE = "the notation's one reshape is `flatten`, a volume to a vector (`fc` flattens its input itself)"
_MATMUL = "a learned matrix product is `fc N` on a vector, or a 1x1 convolution `conv f=1 n=N` at each position"
NOT_IN_NOTATION = {
    "attention": _ATTENTION,
    "self_attention": _ATTENTION,
    "multihead_attention": _ATTENTION,
    "multiheadattention": _ATTENTION,
    "reshape": _RESHAPE,
    "view": _RESHAPE,
    "matmul": _MATMUL,
    "mm": _MATMUL,
    "bmm": _MATMUL,
}


# A layer's line, read without a problem, means the same in any file (a block's does not:
# its argument names are the file's): kept across files, up to CACHE_ENTRIES lines, as the item
# and where it was read; another use gets the item moved to its own place (`_moved`).
READ: dict[str, tuple[LayerItem, Loc, tuple]] = {}


def parse_file_text(text: str, file: str) -> NetworkSpec:
    """Parse a network file's text; raises CnnctlError listing every problem found."""
    return _Parser(file, text).network(compose(text, file))


def tokenize(text: str) -> list[tuple[str, int]]:
    """Split shorthand on whitespace, keeping `${ ... }` expressions whole; with offsets."""
    if "${" not in text:
        return [(m.group(), m.start()) for m in _WORD.finditer(text)]
    tokens: list[tuple[str, int]] = []
    i, n = 0, len(text)
    while i < n:
        if text[i].isspace():
            i += 1
            continue
        start, depth = i, 0
        while i < n and (depth or not text[i].isspace()):
            if text.startswith("${", i):
                depth, i = depth + 1, i + 2
                continue
            if text[i] == "}" and depth:
                depth -= 1
            i += 1
        tokens.append((text[start:i], start))
    return tokens


class _Parser:
    def __init__(self, file: str, text: str = ""):
        self.file = file
        self.lines = text.splitlines()
        self.problems: list[Problem] = []
        self.block_params: dict[str, dict[str, Value | None]] = {}
        self.refused: set[str] = set()  # blocks whose `args:` could not be read: what they take is unknown
        self.shorthands: dict[str, tuple[LayerItem, Loc, tuple]] = {}  # block uses: text -> item read, and where

    # -- helpers -------------------------------------------------------------------------
    def loc(self, node: yaml.Node) -> Loc:
        return loc_of(node, self.file)

    def text_loc(self, node: yaml.ScalarNode) -> Loc:
        """Where the text of a scalar starts (after an opening quote)."""
        base = self.loc(node)
        return base.shifted(1) if node.style in ("'", '"') else base

    def problem(self, message: str, loc: Loc | None, hint: str | None = None) -> None:
        self.problems.append(Problem(message, loc, hint=hint))  # no layer: the parser names none, it has no paths yet
        if len(self.problems) >= MAX_PROBLEMS:
            raise too_many(self.problems, Loc(self.file))

    def pairs(self, node: yaml.MappingNode) -> list[tuple[str, yaml.Node, yaml.Node]]:
        """Key/value pairs of a mapping; non-scalar and duplicate keys are problems."""
        seen: dict[str, yaml.Node] = {}
        out = []
        for key, value in node.value:
            if not isinstance(key, yaml.ScalarNode):
                self.problem("a key must be a plain name", self.loc(key))
                continue
            if key.value in seen:
                self.problem(
                    f"duplicate key `{key.value}` (first at line {self.loc(seen[key.value]).line})",
                    self.loc(key),
                    hint="YAML would silently keep only the last one; remove one of them",
                )
                continue
            seen[key.value] = key
            out.append((key.value, key, value))
        return out

    def scalar(self, node: yaml.Node, what: str, hint: str | None = None) -> Value | None:
        if isinstance(node, yaml.ScalarNode):
            return Value(node.value, self.text_loc(node))
        self.problem(f"{what} must be a single value, not a {_node_word(node)}", self.loc(node), hint)
        return None

    def input_size(self, node: yaml.Node) -> Value | None:
        """`input: 32x32x3`. A list of three numbers (`[32, 32, 3]`, a shape as Python writes
        it) is told once, with the text meant, and read as that text: the layers below are
        checked against it rather than told there is no input."""
        if isinstance(node, yaml.SequenceNode) and all(isinstance(n, yaml.ScalarNode) for n in node.value):
            parts = [str(n.value).strip() for n in node.value]
            if len(parts) == 3 and all(p.isdigit() and p.isascii() for p in parts):
                meant = "x".join(parts)
                self.problem("`input` must be a single value, not a list", self.loc(node), f"write `input: {meant}`")
                return Value(meant, self.loc(node))
        return self.scalar(node, "`input`", "write it HxWxC: `input: 32x32x3`")

    def text_of(self, top: dict, key: str) -> str | None:
        """A top-level text (`name:`, `description:`); a list or mapping there is a problem."""
        if key not in top:
            return None
        # `name: [a]` is a list to YAML: a text starting with a bracket needs quotes
        example = {"name": "small_net", "description": "a small ResNet for CIFAR-10"}.get(key, "...")
        hint = f"`{key}:` is one text: `{key}: {example}`; quote one that starts with `[` or `{{`"
        value = self.scalar(top[key][1], f"`{key}`", hint)
        return value.text if value else None

    def names(self, node: yaml.Node, what: str) -> tuple[Value, ...]:
        """`a,b` or `[a, b]`: references by id."""
        if isinstance(node, yaml.SequenceNode):
            vals = [self.scalar(n, f"each entry of `{what}`") for n in node.value]
            return tuple(v for v in vals if v is not None)
        v = self.scalar(node, f"`{what}`")
        if v and (lookalike := lookalike_ids(what, str(v.text), mapping=True)):  # `from: a，b`: told, read in ASCII
            self.problem(lookalike[0], v.loc, lookalike[1])
            v = Value(ascii_spelling(str(v.text)), v.loc)
        return split_names(v) if v else ()

    # -- the document --------------------------------------------------------------------
    def network(self, root: yaml.Node) -> NetworkSpec:
        if not isinstance(root, yaml.MappingNode):
            raise CnnctlError.at(
                f"a network file is a mapping with `input:` and `layers:`, but this is a {_node_word(root)}",
                self.loc(root),
                hint="start with `input: 32x32x3` then `layers:` and a list of layers",
            )
        top = {}
        guessed: set[str] = set()  # keys a misspelling was taken for: not also reported missing
        for key, knode, value in self.pairs(root):
            if key not in TOP_KEYS:
                hint = did_you_mean(key, TOP_KEYS)
                self.problem(f"unknown top-level key {shown(key)}", self.loc(knode), hint)
                guessed.update(k for k in TOP_KEYS if hint and f"`{k}`" in hint)
            top[key] = (knode, value)

        if "version" in top and (v := self.scalar(top["version"][1], "`version`")) and v.text != "1":
            self.problem(f"unsupported notation version {shown(v.text)}", v.loc, "this cnnctl reads `version: 1`")
        name, description = (self.text_of(top, key) for key in ("name", "description"))
        input_value = self.input_size(top["input"][1]) if "input" in top else None
        train_keys: dict[str, Loc] = {}  # where each setting's name is written: a message about a name points there
        train = self.arg_values(top["train"][1], "`train`", train_keys) if "train" in top else {}
        droppath = self.schedule(top["droppath"][1]) if "droppath" in top else {}
        ranges: dict[str, Range] = {}  # the file's arguments' declared ranges (`width=1.0 (>0)`)
        file_args = self.block_params_node(top["args"][1], "the file", ranges) if "args" in top else {}
        variants = self.variants(top["variants"][1], file_args, ranges) if "variants" in top else {}
        variants_loc = self.loc(top["variants"][0]) if "variants" in top else None
        outputs = self.outputs(top["outputs"][1]) if "outputs" in top else ()

        blocks_node = top.get("blocks", (None, None))[1]
        blocks: dict[str, BlockDef] = {}
        if isinstance(blocks_node, yaml.MappingNode):
            blocks = self.blocks(blocks_node)
        elif blocks_node is not None and not (isinstance(blocks_node, yaml.ScalarNode) and blocks_node.value == ""):
            self.problem("`blocks:` must be a mapping of block names to blocks", self.loc(blocks_node))

        layers: tuple[Item, ...] = ()
        if "layers" not in top:
            if "layers" not in guessed:
                self.problem(
                    "no `layers:` list", Loc(self.file, 1, 1), "add `layers:` followed by `- conv f=3 n=16` lines"
                )
        else:
            layers = self.sequence(top["layers"][1], "`layers`")
            if not layers and not self.problems:
                self.problem("`layers:` is empty", self.loc(top["layers"][1]), "a network needs at least one layer")
        # A file with nothing to build still goes to the builder, which tells these problems with
        # those of its `input:`, `droppath:` and blocks: every problem of the file in one run.
        spec = NetworkSpec(self.file, name or "", input_value, layers, blocks, description or "", train, droppath)
        return spec._replace(
            problems=tuple(self.problems),
            args=file_args,
            declared=file_args,
            ranges=ranges,
            variants=variants,
            variants_loc=variants_loc,
            outputs=outputs,
            train_keys=train_keys,
        )

    def outputs(self, node: yaml.Node) -> tuple[OutputItem, ...]:
        """`outputs: [fc, {aux1: 0.3}, aux2]`: the main output, then the heads trained beside it,
        each an id (weight 1) or `id: weight`. Which layers they name is the graph's to say."""
        if not isinstance(node, yaml.SequenceNode) or not node.value:
            self.problem("`outputs:` must be a list, the main output first", self.loc(node), OUTPUTS_FORM)
            return ()
        out: list[OutputItem] = []
        first: dict[str, Loc] = {}
        for position, entry in enumerate(node.value):
            main = position == 0
            if isinstance(entry, yaml.MappingNode) and len(entry.value) == 1:
                (key, value), what = entry.value[0], "an output's name"
                name = self.scalar(key, what) if isinstance(key, yaml.ScalarNode) else None
                weight = self.scalar(value, f"the loss weight of `{key.value}`") if name else None
            elif isinstance(entry, yaml.ScalarNode):
                name, weight = Value(entry.value, self.text_loc(entry)), None
            else:
                self.problem("each entry of `outputs:` is a layer's id, or `id: weight`", self.loc(entry), OUTPUTS_FORM)
                continue
            if name is None or (weight is None and isinstance(entry, yaml.MappingNode)):
                continue
            text = str(name.text).strip()
            if text in first:
                self.problem(f"`{text}` is in `outputs:` twice (first at line {first[text].line})", name.loc,
                             "each output is listed once")  # fmt: skip
                continue
            first[text] = name.loc
            if weight is not None and main:
                self.problem(f"the main output `{text}` takes no loss weight", weight.loc,
                             f"its loss counts once; write `- {text}`, and the heads' weights after it")  # fmt: skip
                weight = None
            if weight is not None:
                try:
                    parse_float(str(weight.text), 0.0, MAX_LOSS_WEIGHT, lo_open=True)
                except ArgValueError as exc:
                    self.problem(f"the loss weight of `{text}`: {exc}", weight.loc, "e.g. 0.3 (GoogLeNet's heads)")
                    continue
            out.append(OutputItem(Value(text, name.loc), weight, main))
        return tuple(out)

    def blocks(self, node: yaml.MappingNode) -> dict[str, BlockDef]:
        # Two passes: every block's arguments are known before any body is read, so a
        # body may use a block defined further down.
        bodies: dict[str, tuple[yaml.Node, Loc]] = {}
        for name, key, value in self.pairs(node):
            loc = self.loc(key)
            if name in KINDS or name in CONSTRUCTS:
                self.problem(f"block name `{name}` is already a layer kind", loc, "choose another name")
                continue
            if not NAME_RE.match(name):
                self.problem(f"block name `{name}` is not a plain name", loc, "use letters, digits, `_` and `-`")
                continue
            if isinstance(value, yaml.SequenceNode):  # the short form: a list of layers
                self.block_params[name] = {}
                bodies[name] = (value, loc)
            elif isinstance(value, yaml.MappingNode):
                fields = {k: (kn, v) for k, kn, v in self.pairs(value)}
                for k, (kn, v) in list(fields.items()):
                    if k not in ("args", "layers", "description"):
                        hint = did_you_mean(k, ("args", "layers"))
                        self.problem(f"unknown key `{k}` in block `{name}`", self.loc(kn), hint)
                        meant = closest(k, ("args", "layers"))
                        if meant and meant not in fields:  # `arg: n s=1`: read as meant, its uses and body not blamed
                            fields[meant] = (kn, v)
                args = fields["args"][1] if "args" in fields else None
                before = len(self.problems)
                self.block_params[name] = self.block_params_node(args, f"block `{name}`") if args is not None else {}
                if args is not None and not self.block_params[name] and len(self.problems) > before:
                    self.refused.add(name)  # nothing could be declared
                if "layers" not in fields:
                    self.problem(f"block `{name}` has no `layers:`", loc)
                    continue
                bodies[name] = (fields["layers"][1], loc)
            else:
                self.problem(f"block `{name}` must be a list of layers or a mapping with `args:` and `layers:`", loc)
        out = {}
        for name, (body_node, loc) in bodies.items():
            before = len(self.problems)
            body = self.sequence(body_node, f"block `{name}`")
            # An empty list; not one whose every layer was refused (each already has its message)
            if not body and isinstance(body_node, yaml.SequenceNode) and len(self.problems) == before:
                self.problem(f"block `{name}` has no layers", loc)
            out[name] = BlockDef(name, self.block_params[name], body, loc, name in self.refused)
        return out

    def block_params_node(
        self, node: yaml.Node, owner: str, ranges: dict[str, Range] | None = None
    ) -> dict[str, Value | None]:
        """`args: n s=1` (bare names are required), `args: [n, s=1]` or `args: {n: null, s: 1}`;
        a block's (`owner`: "block `stage`") or the file's own ("the file"), whose arguments
        may each declare a range after the default (`width=1.0 (>0)`), read into `ranges`."""
        params: dict[str, Value | None] = {}
        entries: list[tuple[str, Value | None, Loc, Value | None]] = []  # name, default, where, range
        words = [node] if isinstance(node, yaml.ScalarNode) else None
        if isinstance(node, yaml.SequenceNode) and all(isinstance(n, yaml.ScalarNode) for n in node.value):
            words = node.value
        if words is not None:
            for word in words:
                base = self.text_loc(word)
                for token, offset in _ranges_whole(word.value):
                    loc = base.shifted(offset)
                    if token.startswith("("):  # the range of the argument before it
                        self.range_after(entries, token, loc, owner)
                        continue
                    key, eq, val = token.partition("=")
                    entries.append((key, Value(val, loc.shifted(len(key) + 1)) if eq else None, loc, None))
        elif isinstance(node, yaml.MappingNode):
            for key, kn, vn in self.pairs(node):
                v = self.scalar(vn, f"the default of `{key}`")
                default, bounds = _split_range(v) if v is not None else (None, None)
                required = default is None or default.text in ("", "~", "null", "required")
                entries.append((key, None if required else default, self.loc(kn), bounds))
        else:
            self.problem(
                f"`args` of {owner} must be a string like `n s=1`, a list of them or a mapping", self.loc(node)
            )
        for key, default, loc, bounds in entries:
            if key in BLOCK_INPUT:
                self.problem(
                    f"`{key}` is the block's input size, set by cnnctl: it cannot be an argument of {owner}",
                    loc,
                    hint="`in_h`, `in_w`, `in_c` are the height, width and channels of the block's input",
                )
            elif not NAME_RE.match(key) or key in REFERENCE_KEYS:
                self.problem(f"`{key}` cannot be an argument name of {owner}", loc)
            elif key in params:
                self.problem(
                    f"argument `{key}` of {owner} is declared twice",
                    loc,
                    hint=f"declare each argument once (`args: {key}`); two arguments need two names",
                )
            else:
                params[key] = default
                if bounds is not None:
                    self.declared_range(key, default, bounds, owner, ranges)
        return params

    def range_after(self, entries: list, token: str, loc: Loc, owner: str) -> None:
        """The range `token` into the last of `entries` (name, default, where, range), which it follows."""
        if entries and entries[-1][3] is None:
            entries[-1] = (*entries[-1][:3], Value(token, loc))
        elif entries:
            hint = "write both bounds in one: `(>=0 <1)`"
            self.problem(f"`{entries[-1][0]}` has a second range, {quoted(token)}", loc, hint)
        else:
            hint = "write it after the argument's default: `width=1.0 (>0)`"
            self.problem(f"the range {quoted(token)} follows no argument of {owner}", loc, hint)

    def declared_range(
        self, key: str, default: Value | None, bounds: Value, owner: str, ranges: dict[str, Range] | None
    ) -> None:
        """The range `bounds` written after the argument `key` (of default `default`), into
        `ranges`; a range that cannot be read, of a block's argument, or not holding the
        default, is a problem at the range."""
        if ranges is None:
            message = f"`{key}` of {owner} has a range, {quoted(bounds.text)}: only the file's own `args:` take one"
            hint = "a block's values come from its uses: bound the file's argument they are computed from"
            self.problem(message, bounds.loc, hint)
            return
        try:
            declared = read_range(str(bounds.text), bounds.loc)
        except ArgValueError as exc:
            self.problem(f"the range of `{key}`: {exc}", bounds.loc, RANGE_FORM)
            return
        if default is not None and "$" not in str(default.text) and arg_type(default) not in (WHOLE, NUMBER):
            hint = "only a number has a range: its default makes it a number (`n=1`, `width=1.0`)"
            self.problem(f"`{key}={default.text}` is not a number, but has a range", bounds.loc, hint)
            return
        wrong = misfit(key, default, str(default.text), declared) if default is not None else None
        if wrong is not None:  # the file's own default: the declaration contradicts itself
            message = f"the default of `{key}`, {default.text}, is outside its range {quoted(bounds.text)}"
            self.problem(message, bounds.loc, "a range holds its argument's default: change one of them")
        ranges[key] = declared

    def variants(self, node: yaml.Node, args: dict[str, Value | None], ranges: dict[str, Range]) -> dict[str, Variant]:
        """`variants: {b3: width=1.2 depth=1.4 input=300x300x3, ...}`: each member's values of the
        file's `args:` (a mapping or `name=value` words) and its input size."""
        if not isinstance(node, yaml.MappingNode):
            self.problem(
                "`variants:` must be a mapping of member names to the values of the file's `args:`",
                self.loc(node),
                "variants:\n  b3: width=1.2 depth=1.4 input=300x300x3",
            )
            return {}
        out: dict[str, Variant] = {}
        for name, key, value in self.pairs(node):
            if not NAME_RE.match(name):
                hint = "use letters, digits, `_`, `-`"
                self.problem(f"member name `{name}` is not a plain name", self.loc(key), hint)
                continue
            empty = isinstance(value, yaml.ScalarNode) and value.value == ""
            before = len(self.problems)  # what is told from here on is this member's, not the file's
            written: dict[str, Loc] = {}  # where each name is
            values = {} if empty else self.arg_values(value, f"member `{name}`", written)
            size = values.pop("input", None)
            for arg, value in list(values.items()):
                wrong = misfit(arg, args[arg], str(value.text), ranges.get(arg)) if arg in args else None
                if arg not in args:
                    declared = f"the file's `args:` are {', '.join(f'`{a}`' for a in args)}" if args else None
                    hint = did_you_mean(arg, args) or declared or f"declare it in a top-level `args: {arg}`"
                    self.problem(
                        f"member `{name}` sets `{arg}`, which is not an argument of the file", written[arg], hint
                    )
                elif wrong is not None:  # told once, here; the member keeps the default (no message at each use)
                    self.problem(f"member `{name}`: {wrong[0]}", written[arg], wrong[1])
                    del values[arg]
            missing = [a for a, default in args.items() if default is None and a not in written]  # a wrong one is told
            if missing:
                self.problem(
                    f"member `{name}` does not give {', '.join(f'`{a}`' for a in missing)}, which the file requires",
                    self.loc(key),
                )
            told = tuple(self.problems[before:])
            del self.problems[before:]
            out[name] = Variant(name, values, size, self.loc(key), told)
        return out

    # -- lists of layers -----------------------------------------------------------------
    def sequence(self, node: yaml.Node, what: str) -> tuple[Item, ...]:
        if isinstance(node, yaml.ScalarNode) and node.value == "":
            return ()
        if not isinstance(node, yaml.SequenceNode):
            self.problem(
                f"{what} must be a list (lines starting with `- `), not a {_node_word(node)}",
                self.loc(node),
                "write each layer on its own line: `  - conv f=3 n=16`",
            )
            return ()
        return tuple(self.item(child) or self.failed(child) for child in node.value)

    def item(self, node: yaml.Node) -> Item | None:
        if isinstance(node, yaml.ScalarNode):
            if node.value.strip() == "":
                self.problem("empty layer", self.loc(node), "write a layer such as `conv f=3 n=16` after the `- `")
                return None
            if not node.style and node.end_mark.line > node.start_mark.line:  # plain: None or ""
                return self.runs_over(node)
            if node.style in (">", "|") or node.end_mark.line > node.start_mark.line:
                return self.spread_shorthand(node)
            loc = self.loc(node)  # once a layer: text_loc's work without a second loc
            return self.shorthand(node.value, loc.shifted(1) if node.style in ("'", '"') else loc, loc)
        if isinstance(node, yaml.SequenceNode):
            self.problem(
                "a layer is a string or a mapping, not a list",
                self.loc(node),
                "lists of layers go under `layers:`, `repeat`, `residual` or as branches of `concat`",
            )
            return None
        pairs = self.pairs(node)
        if not pairs:
            self.problem("empty layer mapping", self.loc(node))
            return None
        head, head_node, head_value = pairs[0]
        later = [k for k, _, _ in pairs[1:] if k in CONSTRUCTS or k in KINDS or k in self.block_params]
        if later and head not in CONSTRUCTS and head not in KINDS and head not in self.block_params:
            # The first key says what the item is; `shortcut:` written above `residual:` is not a kind.
            self.problem(
                f"`{later[0]}` must be the first key of this layer, before `{head}`",
                self.loc(head_node),
                f"write `- {later[0]}: ...` first, then `{head}: ...` under it",
            )
            return None
        if head == "repeat":
            return self.repeat(node, pairs)
        if head == "residual":
            return self.residual(node, pairs)
        if head == "gate":
            return self.gate(node, pairs)
        if head == "split":
            return self.split(node, pairs)
        if head in ("concat", "add") and _is_branches(head_value):
            return self.branches(node, head, pairs)
        return self.layer_mapping(node, pairs)

    def spread_shorthand(self, node: yaml.ScalarNode) -> Item | None:
        """A layer's line written over several lines of the file (`- >` folded, `|`, a quoted
        string continued on the next line): its value is not the source's text (a line break
        folded to a space, an escaped one dropped, the indentation left out), so each place in
        it is found in the source, by `spread_places`, once the line is read at offsets."""
        at_offsets = Loc(self.file, SPREAD_LINE, 1)  # column 1 + the offset in the value
        before = len(self.problems)
        item = self.read_shorthand(node.value, at_offsets, self.loc(node))  # not cached: its places are its own
        places = spread_places(node.value, self.lines, node.start_mark, node.end_mark)

        def place(loc: Loc) -> Loc:
            line, col = places[min(loc.col - 1, len(places) - 1)] if places else (0, 0)
            return Loc(loc.file, line, col)

        self.problems[before:] = [_relocated(p, place) for p in self.problems[before:]]
        return _relocated(item, place)

    def failed(self, node: yaml.Node) -> FailedItem:
        """The stand-in for an item that could not be read: its kind and its id, where written."""
        kind, ident = "layer", None
        if isinstance(node, yaml.ScalarNode):
            tokens = tokenize(node.value)
            kind = tokens[0][0] if tokens else kind
            for token, offset in tokens[1:]:
                if token.startswith("id="):
                    ident = Value(token[3:], self.text_loc(node).shifted(offset + 3))
        elif isinstance(node, yaml.MappingNode):
            keys = [(k.value, v) for k, v in node.value if isinstance(k, yaml.ScalarNode)]
            kind = keys[0][0] if keys else kind
            args = keys[0][1].value if keys and isinstance(keys[0][1], yaml.MappingNode) else []
            for key, value in [*keys[1:], *((k.value, v) for k, v in args if isinstance(k, yaml.ScalarNode))]:
                if key == "id" and isinstance(value, yaml.ScalarNode):
                    ident = Value(value.value, self.text_loc(value))
        if ident is not None and not NAME_RE.match(str(ident.text)):
            ident = None
        return FailedItem(self.loc(node), ident, kind=kind if NAME_RE.match(kind) else "layer")

    def common(self, pairs, allowed: tuple[str, ...], construct: str) -> dict[str, tuple[yaml.Node, yaml.Node]]:
        fields = {}
        for key, kn, vn in pairs[1:]:
            if key not in allowed:
                self.problem(
                    f"unknown key `{key}` in `{construct}`", self.loc(kn), did_you_mean(key, allowed, ARG_SYNONYMS)
                )
            else:
                fields[key] = (kn, vn)
        return fields

    def refs(self, fields) -> tuple[Value | None, tuple[Value, ...] | None, tuple[Value, ...]]:
        ident = self.scalar(fields["id"][1], "`id`") if "id" in fields else None
        if ident is not None:
            self.check_id(ident)
        source = self.names(fields["from"][1], "from") if "from" in fields else None
        with_ = self.names(fields["with"][1], "with") if "with" in fields else ()
        return ident, source, with_

    def check_id(self, ident: Value) -> None:
        text = str(ident.text)
        if not NAME_RE.match(text) or text == "input":
            # ASCII alone: an id is a PyTorch module's name and a state_dict key, read by other tools too
            other = "".join(dict.fromkeys(c for c in text if not c.isascii()))
            self.problem(
                f"{shown(text)} cannot be an id",
                ident.loc,
                "an id starts with an ASCII letter (a-z, A-Z) or `_` and has ASCII letters, digits, `_`, `-`"
                + (f" ({', '.join(f'`{c}`' for c in other[:5])} is not ASCII)" if other else "")
                + "; `input` is reserved",
            )

    def repeat(self, node, pairs) -> Item | None:
        fields = self.common(pairs, ("layers", "first", "id", "from"), "repeat")
        times = self.scalar(pairs[0][2], "the count of `repeat`")
        ident, source, _ = self.refs(fields)
        if "layers" not in fields:
            self.problem(
                "`repeat` needs a `layers:` list to repeat",
                self.loc(node),
                "put `layers:` on the next line, lined up with `repeat:`, without `- `: "
                "`- repeat: 3` then `  layers: [conv f=3 n=64 p=same]`",
            )
            return None
        body = self.sequence(fields["layers"][1], "`layers` of `repeat`")
        if not body:
            self.problem("`repeat` has no layers", self.loc(fields["layers"][1]))
            return None
        first = self.arg_values(fields["first"][1], "`first`") if "first" in fields else {}
        return RepeatItem(self.loc(node), ident, source, (), times, body, first)

    def residual(self, node, pairs) -> Item | None:
        fields = self.common(pairs, ("shortcut", "act", "id", "from"), "residual")
        body = self.sequence(pairs[0][2], "`residual`")
        ident, source, _ = self.refs(fields)
        shortcut: str | tuple[Item, ...] = "identity"
        shortcut_loc = None
        if "shortcut" in fields:
            sn = fields["shortcut"][1]
            shortcut_loc = self.loc(sn)
            if isinstance(sn, yaml.SequenceNode):
                shortcut = self.sequence(sn, "`shortcut`")
            elif isinstance(sn, yaml.ScalarNode):
                shortcut = sn.value
            else:
                self.problem("`shortcut` is identity, projection, or a list of layers", shortcut_loc)
        act = self.scalar(fields["act"][1], "`act`") if "act" in fields else None
        if not body:
            self.problem("`residual` has no layers on its main path", self.loc(node))
            return None
        return ResidualItem(self.loc(node), ident, source, (), body, shortcut, shortcut_loc, act)

    def gate(self, node, pairs) -> Item | None:
        fields = self.common(pairs, ("id", "from"), "gate")
        body = self.sequence(pairs[0][2], "`gate`")
        ident, source, _ = self.refs(fields)
        if not body:
            self.problem(
                "`gate` has no layers to compute its scale",
                self.loc(node),
                "e.g. squeeze-and-excitation: `- gate: [pool avg global, conv f=1 n=4 act=relu, conv f=1 n=16 "
                "act=sigmoid]`",
            )
            return None
        return GateItem(self.loc(node), ident, source, (), body)

    def branches(self, node, merge: str, pairs) -> Item | None:
        fields = self.common(pairs, ("act", "id", "from") if KINDS[merge].takes_act else ("id", "from"), merge)
        ident, source, _ = self.refs(fields)
        found = self.parallel(pairs[0][2])
        if len(found) < 2:
            self.problem(
                f"`{merge}` needs at least two branches, got {len(found)}",
                self.loc(node),
                hint=f"list each branch under `{merge}:` (`- [conv f=1 n=8]`, `- [conv f=3 p=same n=8]`), or join "
                f"the layer above with another by id: `- {merge} with=ID`",
            )
            return None
        act = self.scalar(fields["act"][1], "`act`") if "act" in fields else None
        return BranchesItem(self.loc(node), ident, source, (), merge, tuple(found), act)

    def split(self, node, pairs) -> Item | None:
        fields = self.common(pairs, ("attention", "groups", "id", "from"), "split")
        ident, source, _ = self.refs(fields)
        head = pairs[0][2]
        found = self.parallel(head) if isinstance(head, (yaml.SequenceNode, yaml.MappingNode)) else []
        attention = self.sequence(fields["attention"][1], "`attention`") if "attention" in fields else ()
        groups = self.scalar(fields["groups"][1], "`groups`") if "groups" in fields else None
        if len(found) < 2:
            self.problem(
                f"`split` needs at least two paths, got {len(found)}",
                self.loc(node),
                "SKNet's: `- split: [[conv f=3 p=1 n=64], [conv f=3 p=2 dilation=2 n=64]]`, then `attention:`",
            )
            return None
        if not attention:
            self.problem(
                "`split` needs an `attention:` path, from the paths' sum to one value per path and channel",
                self.loc(node),
                "e.g. `attention: [pool avg global, conv f=1 n=32 act=relu, conv f=1 n=128]` for 2 paths of 64",
            )
            return None
        return SplitItem(self.loc(node), ident, source, (), tuple(found), attention, groups)

    def parallel(self, head) -> list[tuple[str | None, tuple[Item, ...], Loc]]:
        """Parallel paths from the same input: a list, or a mapping of names; each a list of
        layers or one layer (`concat:`/`add:` branches, `split:` paths)."""
        found: list[tuple[str | None, tuple[Item, ...], Loc]] = []
        if isinstance(head, yaml.SequenceNode):
            named = [(None, b) for b in head.value]
        else:
            named = [(k, v) for k, _, v in self.pairs(head)]
        for name, bnode in named:
            if name is not None and not NAME_RE.match(name):
                self.problem(f"branch name `{name}` is not a plain name", self.loc(bnode))
            if isinstance(bnode, yaml.SequenceNode):
                body = self.sequence(bnode, "a branch")
            else:
                body = (self.item(bnode) or self.failed(bnode),)
            found.append((name, body, self.loc(bnode)))
        return found

    # -- single layers -------------------------------------------------------------------
    def layer_mapping(self, node, pairs) -> Item | None:
        """`{conv: {f: 3, n: 64}, id: c1}`; args may also be a shorthand string or one value."""
        kind, knode, value = pairs[0]
        if len(pairs) == 1 and " " in kind.strip() and isinstance(value, yaml.ScalarNode):
            meant = self.colon_for_equals(kind, knode, value)
            if meant is not None:
                return meant
        kind = KIND_ALIASES.get(kind, kind)
        if not self.known_kind(kind, self.loc(knode)):
            return None
        raw: list[tuple[str | None, Value, Loc]] = []
        if isinstance(value, yaml.MappingNode):
            for key, kn, vn in self.pairs(value):
                raw.append((key, self.raw_value(key, vn), self.loc(kn)))
        elif isinstance(value, yaml.ScalarNode):
            raw.extend(self.shorthand_args(value.value, self.text_loc(value)))
        else:
            self.problem(f"the arguments of `{kind}` must be a mapping or a string", self.loc(value))
        for key, kn, vn in pairs[1:]:
            raw.append((key, self.raw_value(key, vn), self.loc(kn)))
        return self.layer(kind, raw, self.loc(node), f"{kind} ...")

    def colon_for_equals(self, key: str, knode: yaml.ScalarNode, value: yaml.ScalarNode) -> Item | None:
        """`- conv f=3 n=8 act: relu`: YAML reads the `: ` after the last argument's name as a
        mapping's key (`conv f=3 n=8 act`) and its value. Told at that name, and read as meant
        (`act=relu`), so the line's other values (a name it has no argument for, too) and the
        layers below are checked; None for a key whose first word is no layer kind or block, or
        whose last word is not a name."""
        tokens = tokenize(key)
        kind = KIND_ALIASES.get(tokens[0][0], tokens[0][0])
        name, offset = tokens[-1]
        if len(tokens) < 2 or not (kind in KINDS or kind in self.block_params) or not NAME_RE.match(name):
            return None
        where = self.text_loc(knode)
        written = str(value.value)
        meant = shown(f"{name}={written or 'VALUE'}")
        self.problem(
            f"YAML read {shown(f'{name}: {written}'.strip())} as a mapping; write {meant}",
            where.shifted(offset),
            "in YAML, `: ` makes a key and its value; a layer's arguments are `name=value`, without spaces",
        )
        raw = self.shorthand_args(key[tokens[1][1] : offset], where.shifted(tokens[1][1]))
        raw.append((name, Value(written, self.text_loc(value)), where.shifted(offset)))
        return self.layer(kind, raw, self.loc(knode), f"{key[:offset]}{name}={written}")

    def raw_value(self, key: str, node: yaml.Node) -> Value:
        if key in ("from", "with") and isinstance(node, yaml.SequenceNode):
            names = self.names(node, key)
            return Value(",".join(str(v.text) for v in names), self.loc(node))
        v = self.scalar(node, f"`{key}`")
        return v or Value("", self.loc(node))

    def runs_over(self, node: yaml.ScalarNode) -> None:
        """A plain layer string that YAML folded from several lines: an item indented too far."""
        line = node.start_mark.line + 1  # 0-based: the first continuation line
        text = self.lines[line] if line < len(self.lines) else ""
        col = len(text) - len(text.lstrip()) + 1
        self.problem(
            f"this line continues the layer above (YAML reads {shown(node.value)} as one layer)",
            Loc(self.file, line + 1, col),
            "each layer is one `- ` line: line this `- ` up with the one above"
            if text.lstrip().startswith("-")
            else "put the whole layer on one line",
        )

    def shorthand(self, text: str, text_loc: Loc, node_loc: Loc) -> Item | None:
        seen = self.shorthands.get(text) or READ.get(text)
        if seen is not None:  # the same line again (a generated network repeats a layer 100,000 times)
            return _moved(*seen, text_loc, node_loc)
        before = len(self.problems)
        item = self.read_shorthand(text, text_loc, node_loc)
        if isinstance(item, LayerItem) and len(self.problems) == before:  # (a refused block's use is not)
            read = (item, text_loc, texts_of(item.args))
            if item.is_block:  # what a block's words mean depends on this file's blocks
                self.shorthands[text] = read
            else:
                if len(READ) >= CACHE_ENTRIES:
                    READ.clear()
                READ[text] = read
        return item

    def read_shorthand(self, text: str, text_loc: Loc, node_loc: Loc) -> Item | None:
        tokens = tokenize(text)
        written, offset = tokens[0]
        kind = KIND_ALIASES.get(written, written)
        if not self.known_kind(kind, text_loc.shifted(offset), text):
            return None
        rest = text[len(written) + offset :]
        before = len(self.problems)
        raw = self.shorthand_args(rest, text_loc.shifted(len(written) + offset))
        if len(self.problems) > before:  # the arguments could not all be split: the line is refused
            if not raw:  # binding nothing would only add noise
                return None
            # but the words read before an empty last one (`conv f=3 p=0 n=`) are kept, as a refused
            # line's arguments: the builder checks them, and guesses its volume from them (graph/guess.py)
            item = self.layer(kind, raw, node_loc, text.strip())
            if item is None:
                return None
            return FailedItem(item.loc, item.id, item.source, item.extra, item.kind, item.args,
                              tuple(self.problems[before:]), item.is_block)  # fmt: skip
        return self.layer(kind, raw, node_loc, text.strip())

    def shorthand_args(self, text: str, base: Loc) -> list[tuple[str | None, Value, Loc]]:
        out: list[tuple[str | None, Value, Loc]] = []
        tokens = tokenize(text)
        for i, (token, offset) in enumerate(tokens):
            loc = base.shifted(offset)
            if token == "=" or token.endswith("=") or (token.startswith("=") and i):
                name = token.rstrip("=") or (tokens[i - 1][0] if i else "f")
                if token.endswith("=") and token != "=" and i == len(tokens) - 1:  # `from=` ends the line
                    self.problem(f"`{name}=` has no value", loc, f"write `{name}=VALUE`")
                    break  # the words before it are read: what they say is kept (read_shorthand)
                else:
                    self.problem(
                        "spaces around `=` split an argument", loc, f"write `{name}=...` with no spaces around `=`"
                    )
                return []
            if token.endswith(","):
                key = token.partition("=")[0]
                ids = key in ID_LISTS and i + 1 < len(tokens)
                listed = [token]  # `from=enc1, enc2`, `from=[enc1, enc2]`: a list of ids, with spaces
                while ids and listed[-1].endswith(",") and i + len(listed) < len(tokens):
                    listed.append(tokens[i + len(listed)][0])
                words = " ".join(listed).partition("=")[2]
                brackets = "no brackets, and " if "[" in words or "]" in words else ""
                self.problem(
                    "arguments are separated by spaces, not commas",
                    loc.shifted(len(token) - 1),
                    f"{brackets}drop the space after the comma: ids are written `{listed_ids(key, words)}`"
                    if ids
                    else "write `conv f=3 n=64`; commas only separate ids, as in `from=a,b`",
                )
                return []
            key, eq, val = token.partition("=")
            if eq and not token.startswith("${"):
                if not key:
                    self.problem(f"`{token}` has no name before `=`", loc)
                    continue
                out.append((key, Value(val, loc.shifted(len(key) + 1)), loc))
            else:
                out.append((None, Value(token, loc), loc))
        return out

    def arg_values(self, node: yaml.Node, what: str, keys: dict[str, Loc] | None = None) -> dict[str, Value]:
        """`first: {s: 2}` or `first: s=2 shortcut=projection`; where each name is written, into
        `keys`. `what`: the key or member as a message names it ("`first`", "member `b3`")."""
        out: dict[str, Value] = {}
        keys = {} if keys is None else keys
        if isinstance(node, yaml.MappingNode):
            for key, kn, vn in self.pairs(node):
                if (v := self.scalar(vn, f"`{key}`")) is not None:
                    out[key], keys[key] = v, self.loc(kn)
        elif isinstance(node, yaml.ScalarNode):
            for key, value, loc in self.shorthand_args(node.value, self.text_loc(node)):
                if key is None:
                    self.problem(f"{what} takes `name=value` pairs, got {shown(value.text)}", loc)
                else:
                    out[key], keys[key] = value, loc
        else:
            self.problem(f"{what} must be a mapping or `name=value` pairs", self.loc(node))
        return out

    def schedule(self, node: yaml.Node) -> dict[str, Value]:
        """`droppath: {rate: 0.2, blocks: [mbconv, mbconv_down], last: below}` or the same as
        `name=value` words; `blocks` may be a list or `a,b`. Typed when the graph is built."""
        if isinstance(node, yaml.MappingNode):
            out = {}
            for key, _, vn in self.pairs(node):
                if key == "blocks" and isinstance(vn, yaml.SequenceNode):
                    names = self.names(vn, "blocks")
                    out[key] = Value(",".join(str(v.text) for v in names), self.loc(vn))
                elif (v := self.scalar(vn, f"`{key}`")) is not None:
                    out[key] = v
            return out
        return self.arg_values(node, "`droppath`")

    def known_kind(self, kind: str, loc: Loc, line: str = "") -> bool:
        """Whether `kind` (the first word of `line`) is a layer kind, a block or a join; else
        its problem is told."""
        if kind in KINDS or kind in self.block_params:
            return True
        if kind in ("concat", "add"):
            return True
        if kind.lower() in NOT_IN_NOTATION:  # before the keys: a transformer's `attention` is not split's
            self.problem(f"`{kind}` is not part of cnnctl's notation", loc, NOT_IN_NOTATION[kind.lower()])
            return False
        if kind in CONSTRUCT_KEYS:
            owner, under = CONSTRUCT_KEYS[kind]
            self.problem(
                f"`{kind}` is not a layer: it is a key of {owner}",
                loc,
                f"indent `{kind}:` {under}, lined up with its other keys, without `- `",
            )
            return False
        if kind in CONSTRUCT_FORMS:  # not a typo: the construct without its list
            self.problem(f"`{kind}` is a construct, not a layer kind", loc, f"write {CONSTRUCT_FORMS[kind]}")
            return False
        choices = [*KINDS, *self.block_params, *CONSTRUCTS]
        self.problem(
            f"unknown layer kind {shown(kind)}",
            loc,
            _called(line, choices)
            or _in_ascii(line or kind, choices)
            or did_you_mean(kind, choices, SYNONYMS)
            or (
                "layer kinds: "
                + ", ".join(KINDS)
                + (f"; blocks: {', '.join(self.block_params)}" if self.block_params else "")
            ),
        )
        return False

    def layer(self, kind: str, raw: list[tuple[str | None, Value, Loc]], loc: Loc, text: str) -> Item | None:
        """Bind written arguments to names by the kind's argument spec (`bind`)."""
        is_block = kind not in KINDS
        if is_block:
            names = tuple(self.block_params_of(kind))
            spec, what = ArgSpec(names, positional=names), "block"
        else:
            spec, what = KINDS[kind].spec, "layer kind"
        bound = bind(kind, spec, raw, what)
        before = len(self.problems)
        unknown = kind in self.refused  # its words cannot be named, nor blamed: it is not built
        for message, where, hint in () if unknown else bound.problems:
            self.problem(message, where, hint)
        args, refs = bound.args, bound.refs
        ident = refs.get("id")
        if ident is not None:
            self.check_id(ident)
        source = split_names(refs["from"]) if "from" in refs else None
        with_ = split_names(refs["with"]) if "with" in refs else ()
        if not bound.ok or unknown:  # told above; its other arguments and references are still checked when built
            return FailedItem(loc, ident, source, with_, kind, args, tuple(self.problems[before:]), is_block)
        return LayerItem(loc, ident, source, with_, kind, is_block, args, text)

    def block_params_of(self, name: str) -> list[str]:
        return list(self.block_params.get(name, {}))


def _ranges_whole(text: str) -> list[tuple[str, int]]:
    """The words of an `args:` text (`tokenize`), each range kept whole, spaces and all: `(>=0`
    and `<1)` are `(>=0 <1)`; one not closed runs to the end (and is refused as written)."""
    out: list[tuple[str, int]] = []
    start = None  # where the open range starts
    for token, offset in tokenize(text):
        if start is None and not token.startswith("("):
            out.append((token, offset))
            continue
        start = offset if start is None else start
        if token.endswith(")"):
            out.append((text[start : offset + len(token)], start))
            start = None
    return [*out, (text[start:].rstrip(), start)] if start is not None else out


def _split_range(v: Value) -> tuple[Value | None, Value | None]:
    """A mapping's default and range, `1.0 (>0)` (a required argument's: `(>=1)` alone)."""
    text = str(v.text)
    at = text.find("(")
    if at < 0 or "${" in text[:at] or not text.rstrip().endswith(")"):
        return v, None
    default = text[:at].rstrip()
    return (Value(default, v.loc) if default else None), Value(text[at:].strip(), v.loc.shifted(at))


def _is_branches(node: yaml.Node) -> bool:
    if isinstance(node, yaml.SequenceNode):
        return True
    if isinstance(node, yaml.MappingNode):
        return any(
            k.value not in REFERENCE_KEYS and k.value != "act" for k, _ in node.value if isinstance(k, yaml.ScalarNode)
        )
    return False


def _called(line: str, kinds: list[str]) -> str | None:
    """`conv(f=3, n=8)`, a layer written as a call, or `conv:f=3`, its arguments glued to the
    kind by a colon (YAML's mapping form needs a space after it, so it reads one word): the
    notation's own line for it. A full-width colon is `_in_ascii`'s."""
    text = line.strip()
    at = min((i for i in (text.find("("), text.find(":")) if i >= 0), default=-1)
    head, sep, rest = text[:at].strip(), text[at : at + 1], text[at + 1 :]
    if at < 0 or head not in kinds:
        return None
    if sep == "(":
        words, glued = [w.strip() for w in rest.rstrip().removesuffix(")").split(",") if w.strip()], "in `(...)`"
    else:
        words, glued = rest.split(), "after `:`"
    return f"write `{' '.join([head, *words])}`: the arguments follow the kind after spaces, not {glued}"


def _in_ascii(line: str, kinds: list[str]) -> str | None:
    """`conv：f=3` (a full-width colon, U+FF1A, as an input method types it), `ｃｏｎｖ f=3`: a
    line whose kind is one once written in ASCII; which characters to write (`lookalike_hint`).
    A colon after the kind is the mapping form's, which YAML reads only before a space: `conv: f=3`."""
    text = line.strip()
    fixed = ascii_spelling(text)
    kind, colon, rest = fixed.partition(" ")[0].partition(":")
    if fixed == text or kind not in kinds:
        return None
    written = f"{kind}: {rest} {fixed.partition(' ')[2]}".strip() if colon else fixed
    return lookalike_hint(text, written=" ".join(written.split()))


SPREAD_LINE = -1  # the line of the places read at offsets in a spread layer's value (`spread_shorthand`)


def spread_places(value: str, lines: list[str], start: yaml.Mark, end: yaml.Mark) -> list[tuple[int, int]]:
    """For each character of a scalar's `value`, the (line, column), 1-based, of the source
    character it came from, between the scalar's `start` and `end` marks. YAML makes the value
    from the source by dropping (quotes, indentation, an escaped line break, a block's `>`
    header) and folding (a line break into a space), never by reordering: each character is
    matched to the next source character that is it, or a line break to a space or a break."""
    source = [
        (i, c, ch) for i in range(start.line, min(end.line + 1, len(lines))) for c, ch in enumerate(lines[i] + "\n")
    ]
    source = [s for s in source if (s[0], s[1]) >= (start.line, start.column) and (s[0], s[1]) < (end.line, end.column)]
    places, at = [], 0
    for ch in value:
        j = at
        while j < len(source) and not (source[j][2] == ch or (ch in " \n" and source[j][2] == "\n")):
            j += 1
        if j == len(source):  # an escape (`\t`) made it: the place of the last match stands
            places.append(places[-1] if places else (start.line + 1, start.column + 1))
            continue
        places.append((source[j][0] + 1, source[j][1] + 1))
        at = j + 1
    return places


def _relocated(thing, place):
    """`thing` (an item, a problem, their values and arguments) with each place read at offsets
    (`SPREAD_LINE`) moved to where it is in the source."""
    if isinstance(thing, Loc):
        return place(thing) if thing.line == SPREAD_LINE else thing
    if isinstance(thing, dict):
        return type(thing)({k: _relocated(v, place) for k, v in thing.items()})
    if isinstance(thing, tuple):
        moved = [_relocated(v, place) for v in thing]
        return type(thing)(*moved) if hasattr(thing, "_fields") else tuple(moved)
    return thing


def _moved(item: LayerItem, text_loc: Loc, texts: tuple, to_text: Loc, to_node: Loc) -> LayerItem:
    """`item`, read from a line at `text_loc`, as if read from the same text at `to_text`
    (`texts`: its arguments' names and texts):
    every value's place moved along (a shorthand string is one line); the arguments are
    moved when looked at (`MovedArgs`).

    A generated network repeats one line 100,000 times, so this runs once a layer: the
    tuples are made with `tuple.__new__` directly, skipping the records' Python-level
    constructors.
    """
    file, line, shift = to_text.file, to_text.line, to_text.col - text_loc.col
    new = tuple.__new__

    def move(v: Value) -> Value:
        return new(Value, (v.text, new(Loc, (file, line, v.loc[2] + shift))))

    ident, source, extra, kind, is_block, args, text = item[1:]
    return new(
        LayerItem,
        (
            to_node,
            move(ident) if ident is not None else None,
            tuple(map(move, source)) if source is not None else None,
            tuple(map(move, extra)) if extra else extra,
            kind,
            is_block,
            MovedArgs(args, texts, file, line, shift) if args else args,
            text,
        ),
    )


def _node_word(node: yaml.Node) -> str:
    if isinstance(node, yaml.MappingNode):
        return "mapping"
    if isinstance(node, yaml.SequenceNode):
        return "list"
    return f"value {shown(node.value)}"
