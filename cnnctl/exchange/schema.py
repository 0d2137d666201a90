"""A JSON Schema (draft-07, what editors' YAML extensions read best) of the notation, made
from the layer registry: every kind, its arguments, their types and docs, written once in
`cnnctl.layers`; the composites and top-level keys from the parser's own lists.

What it cannot check: the shorthand inside a string (`conv f=3 n=64`) is only checked to
start with a name, block names are the file's own, and shapes need cnnctl itself
(`cnnctl validate`). What it gives an editor: completion of keys and kinds, each argument's
type and doc on hover, and a mark on a misspelt key or a value of the wrong type.
"""

from __future__ import annotations

from collections.abc import Iterable

from ..layers import KINDS, Arg, LayerKind
from ..layers.activation import ACT
from ..notation.parse import CONSTRUCTS, MAX_LOSS_WEIGHT, REFERENCE_KEYS, TOP_KEYS
from ..notation.spec import SHORTCUTS

SCHEMA_ID = "https://github.com/cnnctl/cnnctl/notation-1.schema.json"
NAME = r"^[A-Za-z_][A-Za-z0-9_-]*$"
SUBSTITUTED = {"type": "string", "pattern": r"\$", "description": "a block argument: `$n` or `${n * 4}`"}
NAMES = {
    "anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string", "pattern": NAME}}],
    "description": "ids of earlier layers: `a,b` or a list",
}
REFERENCES = {
    "id": {"type": "string", "pattern": NAME, "description": "a name other layers can refer to"},
    "from": {**NAMES, "description": "where the input comes from, if not the layer before: ids, or `input`"},
    "with": {**NAMES, "description": "more inputs, joined to the layer before's output"},
}
LAYERS = {"$ref": "#/definitions/layers"}


def _arg(arg: Arg) -> dict:
    what = arg.doc or arg.type.describe
    default = "" if arg.required or arg.default is None else f" (default: {arg.default})"
    return {"anyOf": [arg.type.schema, SUBSTITUTED], "description": f"{what}; {arg.type.describe}{default}"}


def _summary(kind: LayerKind) -> str:
    return (type(kind).__doc__ or kind.name).strip().split("\n\n")[0].replace("\n", " ")


def _kind(kind: LayerKind) -> dict:
    """`{conv: {f: 3, n: 64}, id: c1}`: the arguments under the kind, or beside it, or as text."""
    args = {a.name: _arg(a) for a in kind.args}
    required = [a.name for a in kind.args if a.required]
    under = {"type": "object", "properties": {**args, **REFERENCES}, "additionalProperties": False}
    value = {"anyOf": [under, {"type": ["string", "number", "null"], "description": "the shorthand's arguments"}]}
    return {
        "type": "object",
        "description": _summary(kind) + (f" Needs: {', '.join(required)}." if required else ""),
        "required": [kind.name],
        "properties": {kind.name: {**value, "description": _summary(kind)}, **args, **REFERENCES},
        "additionalProperties": False,
    }


def _shorthand() -> dict:
    kinds = ", ".join(KINDS)
    return {
        "type": "string",
        "pattern": r"^\s*[A-Za-z_][A-Za-z0-9_-]*(\s|$)",
        "description": f"KIND [positional...] [key=value...], e.g. `conv f=3 p=same n=64 act=relu`; kinds: {kinds}; "
        "or a block's name and its arguments",
    }


def _parallel() -> dict:
    """Paths from the same input: a list, or a mapping of names; each layers or one item."""
    body = {"anyOf": [LAYERS, {"$ref": "#/definitions/item"}]}
    return {
        "anyOf": [
            {"type": "array", "items": body, "minItems": 2},
            {"type": "object", "additionalProperties": body, "minProperties": 2},
        ]
    }


def _branches(merge: str) -> dict:
    props: dict = {
        merge: {
            **_parallel(),
            "description": f"parallel branches from the same input, joined by {merge} (Inception): a list, "
            "or a mapping of branch names to layers",
        },
        "id": REFERENCES["id"],
        "from": REFERENCES["from"],
    }
    if merge == "add":
        props["act"] = {"anyOf": [ACT.schema, SUBSTITUTED], "description": "activation after the sum"}
    return {"type": "object", "required": [merge], "properties": props, "additionalProperties": False}


def _constructs() -> dict[str, dict]:
    at = {"id": REFERENCES["id"], "from": REFERENCES["from"]}
    count = {"anyOf": [{"type": "integer", "minimum": 0}, SUBSTITUTED]}
    words = {"type": ["object", "string"], "description": "arguments as `name=value` words or a mapping"}
    made = {
        "repeat": {
            "required": ["repeat", "layers"],
            "properties": {
                "repeat": {**count, "description": "how many times the layers run in sequence"},
                "layers": LAYERS,
                "first": {**words, "description": "arguments of the first layer or block on the first pass only"},
                **at,
            },
        },
        "residual": {
            "required": ["residual"],
            "properties": {
                "residual": {**LAYERS, "description": "the main path; its output is added to the input"},
                "shortcut": {
                    "anyOf": [{"enum": list(SHORTCUTS)}, SUBSTITUTED, LAYERS],
                    "description": "identity (default), projection (1x1 conv + bn) or a list of layers",
                },
                "act": {"anyOf": [ACT.schema, SUBSTITUTED], "description": "activation after the add"},
                **at,
            },
        },
        "gate": {
            "required": ["gate"],
            "properties": {
                "gate": {**LAYERS, "description": "layers computing a scale the input is multiplied by (SE)"},
                **at,
            },
        },
        "split": {
            "required": ["split", "attention"],
            "properties": {
                "split": {
                    **_parallel(),
                    "description": "parallel paths from the same input, weighed channel by channel and summed "
                    "(SKNet's selective kernel, ResNeSt's split attention): a list, or a mapping of path names",
                },
                "attention": {
                    **LAYERS,
                    "description": "layers from the paths' sum to one value per path and channel (1x1x(K*C)), "
                    "softmax-ed across the paths",
                },
                "groups": {
                    "anyOf": [{"type": "integer", "minimum": 1}, SUBSTITUTED],
                    "description": "groups of paths in the attention's output, as a grouped conv writes them "
                    "(ResNeSt's cardinality; default 1)",
                },
                **at,
            },
        },
    }
    assert set(made) == set(CONSTRUCTS)  # the parser's constructs, each described here
    return {name: {"type": "object", **d, "additionalProperties": False} for name, d in made.items()}


def _train(settings: Iterable[str]) -> dict:
    return {
        "type": ["object", "string"],
        "description": "training settings, overridden by `cnnctl train` options",
        "propertyNames": {"enum": list(settings)},
    }


def notation_schema(train_settings: Iterable[str]) -> dict:
    """The JSON Schema of a network file. `train_settings`: the names its `train:` section
    takes, the trainer's (cnnctl.train.settings.NAMES, which `cnnctl schema` passes)."""
    reserved = [*KINDS, *CONSTRUCTS, "concat", "add"]
    block_use = {
        "type": "object",
        "description": "a block used with its arguments: `{bottleneck: {n: 64}}`",
        "minProperties": 1,
        "propertyNames": {"not": {"enum": reserved}},
    }
    kinds = {f"kind_{name}": _kind(kind) for name, kind in KINDS.items()}
    constructs = _constructs()
    items = [
        {"$ref": "#/definitions/shorthand"},
        *({"$ref": f"#/definitions/{name}"} for name in constructs),
        {"$ref": "#/definitions/concat"},
        {"$ref": "#/definitions/add"},
        *({"$ref": f"#/definitions/{name}"} for name in kinds),
        {"$ref": "#/definitions/block_use"},
    ]
    definitions = {
        "layers": {"type": "array", "items": {"$ref": "#/definitions/item"}},
        "item": {"anyOf": items},
        "shorthand": _shorthand(),
        **constructs,
        "concat": _branches("concat"),
        "add": _branches("add"),
        **kinds,
        "block_use": block_use,
    }
    top = {
        "version": {"enum": [1, "1"], "description": "the notation's version"},
        "name": {"type": "string"},
        "description": {"type": "string"},
        "input": {
            "type": "string",
            "pattern": r"^\s*\d+\s*[xX×]\s*\d+\s*[xX×]\s*\d+\s*$",
            "description": "the input volume HxWxC, e.g. 224x224x3 (or give --input)",
        },
        "args": {
            "type": ["string", "array", "object"],
            "description": "the file's own arguments, used in its layers like a block's (`$width`, "
            "`${divisible(32 * width, 8)}`): `width=1.0 depth=1.0` (bare names are required); a family's multipliers; "
            "each takes the type of its default (`1`: whole numbers, `1.0`: any number, `false`: true or false); "
            "a number's range may follow its default in brackets, one bound or two: `width=1.0 (>0)`, `depth=1 (>=1)`, "
            "`dropout=0.2 (>=0 <1)`",
        },
        "variants": {
            "type": "object",
            "description": "the family's members by name, each the values of the file's `args:` and its input size "
            "(`b3: width=1.2 depth=1.4 input=300x300x3`), chosen as `FILE:MEMBER` (a bundled one: FILE_MEMBER)",
            "propertyNames": {"pattern": NAME},
            "additionalProperties": {"type": ["string", "object"]},
        },
        "blocks": {
            "type": "object",
            "description": "reusable groups of layers with arguments, used like a layer kind",
            "propertyNames": {"pattern": NAME, "not": {"enum": reserved}},
            "additionalProperties": {
                "anyOf": [
                    LAYERS,
                    {
                        "type": "object",
                        "required": ["layers"],
                        "properties": {
                            "args": {
                                "type": ["string", "array", "object"],
                                "description": "its arguments: `n s=1` (bare names are required)",
                            },
                            "layers": LAYERS,
                            "description": {"type": "string"},
                        },
                        "additionalProperties": False,
                    },
                ]
            },
        },
        "layers": {**LAYERS, "description": "the network, first layer first"},
        "outputs": {
            "type": "array",
            "minItems": 1,
            "description": "the main output (the last layer's id or path), then each head trained beside it "
            "(GoogLeNet's auxiliary classifiers): `id` or `id: loss weight`; heads run only in training",
            "items": {
                "anyOf": [
                    {"type": "string"},
                    {
                        "type": "object",
                        "minProperties": 1,
                        "maxProperties": 1,
                        "additionalProperties": {"type": "number", "exclusiveMinimum": 0, "maximum": MAX_LOSS_WEIGHT},
                    },
                ]
            },
        },
        "droppath": {
            "type": ["object", "string"],
            "description": "stochastic depth's schedule: rate, the blocks it counts, last",
        },
        "train": _train(train_settings),
    }
    assert set(top) == set(TOP_KEYS)  # every key the parser reads, described here
    assert not set(REFERENCE_KEYS) - set(REFERENCES)
    return {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "$id": SCHEMA_ID,
        "title": "cnnctl network, notation version 1",
        "type": "object",
        "required": ["layers"],
        "properties": top,
        "additionalProperties": False,
        "definitions": definitions,
    }
