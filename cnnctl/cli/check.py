"""The commands that check and list networks: validate, list."""

import sys
from typing import Annotated, Optional

from ..errors import CnnctlError
from ..shapes import format_shape
from . import common  # common.load_network, looked up when called: one place to stand in for reading a network
from .common import Format, examples, print_json, show_result
from .options import argument, complete_arch, format_option, input_option


@examples(
    ("cnnctl validate net.yaml", "ok, or every problem with its line and column"),
    ("cnnctl validate efficientnet", "a family file and each of its members"),
    ("cnnctl validate net.yaml lenet5 --format json", "several files; each problem's fields as JSON"),
)
def validate_cmd(
    files: Annotated[list[str], argument("FILE...", "Network files (a folder: its .yaml, .yml), or bundled names.",
                                          complete_arch)],
    input: Annotated[Optional[str], input_option()] = None,
    format: Annotated[Format, format_option()] = Format.table,
) -> int:  # fmt: skip
    """Check network files; exit 2 if any is invalid.

    Exit 0 when all are valid; otherwise every problem is listed and the exit code is 2.
    """
    from ..catalog import file_json, stdin_once
    from ..files import STDIN_NAME
    from ..render.views.problems import problem_json
    from ..render.views.validate import validate_lines, validate_table, validate_total

    results = []
    expanded = [_networks_of(arch) for arch in files]
    stdin_once([file for named in expanded for file in named], "validate")
    for arch in (file for named in expanded for file in named):
        try:
            # its `train:` too, checked as `cnnctl train` would
            graph, problems, warnings = common.load_network(arch, input), [], ()
        except CnnctlError as exc:
            graph, problems, warnings = None, exc.problems, exc.warnings
        problems = [*problems, *_member_problems(arch, input, problems)]  # a family's other members
        # the file read, as every command's JSON names a network (`"file": "vgg16.yaml", "bundled": true`);
        # `named`, the argument, for the text's lines (`ok  vgg  (bundled: vgg16.yaml; ...)`), not in JSON
        shown = graph.file if graph is not None else _shown(arch)
        called = STDIN_NAME if arch == "-" else arch  # standard input is `<stdin>`, as its messages say
        named = {"named": called, **file_json(shown)}
        if graph is not None and not problems:
            results.append(
                {
                    **named,
                    # as the text says it (`bundled: vgg16.yaml`) where it is not what was named: README's JSON `read`
                    **({"read": graph.file} if graph.file != called else {}),
                    "ok": True,
                    "layers": len(graph.nodes),
                    "params": graph.params,
                    "mults": graph.mults,
                    "problems": [w.format("warning") for w in graph.warnings],
                    "details": [problem_json(w, "warning") for w in graph.warnings],
                }
            )
        else:
            results.append(
                {
                    **named,
                    "ok": False,
                    # the warnings found before it failed too: one may explain an error
                    "problems": [p.format() for p in problems] + [w.format("warning") for w in warnings],
                    "details": [problem_json(p) for p in problems] + [problem_json(w, "warning") for w in warnings],
                }
            )
    bad = [r for r in results if not r["ok"]]
    if format is Format.json:
        # exit 2 has its `errors`, as every command's JSON does: each invalid file's problems, in order
        errors = [detail for r in bad for detail in r["details"]]
        files = [{k: v for k, v in r.items() if k != "named"} for r in results]
        print_json({"ok": not bad, "files": files} | ({"errors": errors} if bad else {}))
    elif format is not Format.table:  # csv, markdown: one table on stdout, a row per file
        show_result(format, lambda: None, lambda: [validate_table(results)])
    else:
        # ok lines on stdout; a failure, like any error, on stderr (tests/test_bad_input.py
        # relies on it). The total names the invalid files, so stdout alone says which.
        for r in results:
            stream = sys.stdout if r["ok"] else sys.stderr
            sys.stdout.flush()
            stream.write("".join(line + "\n" for line in validate_lines(r)))
            stream.flush()
        if len(results) > 1 or any(named != [arch] for arch, named in zip(files, expanded, strict=True)):
            sys.stdout.write(validate_total(results) + "\n")
    return 2 if bad else 0


def _shown(arch: str) -> str:
    """The file an argument that could not be checked names, as headers say it (`bundled: lenet5.yaml` for
    `lenet5 --input 2x2x1`), or the argument itself where it names none (a file that is not there)."""
    from ..catalog import resolve

    try:
        return resolve(arch)[1]
    except CnnctlError:
        return arch


def _networks_of(arch: str) -> list[str]:
    """What an argument of `validate` names: a folder of network files (not a run folder) stands
    for its .yaml and .yml files, sorted, as a linter takes a folder; anything else is itself."""
    import os

    from ..catalog import networks_in
    from ..run_marks import run_of

    if not os.path.isdir(arch) or run_of(arch) is not None:
        return [arch]
    return networks_in(arch) or [arch]  # none: told as a folder given for a network is


def _member_problems(arch: str, input: str | None, told: list) -> list:
    """The problems of each member of a family file given without one (its default is checked
    by itself), each once and not again where `told` has it, with the member it is of."""
    from ..catalog import resolve_member
    from ..notation.parse import parse_file_text
    from ..notation.source import read_text

    try:
        path, display, chosen = resolve_member(arch)
        spec = parse_file_text(read_text(path, display), display) if chosen is None else None
    except CnnctlError:  # told by the file's own check
        return []
    seen = {(p.loc, p.message) for p in told}
    found = []
    for member in spec.variants if spec is not None else ():
        try:
            common.load_network(f"{arch}:{member}", input)
        except CnnctlError as exc:
            own = spec.variants[member].problems  # its line's: they name it already
            for p in exc.problems:
                if (p.loc, p.message) not in seen:
                    seen.add((p.loc, p.message))
                    found.append(p if p in own else p._replace(message=f"member `{member}`: {p.message}"))
    return found


@examples(
    ("cnnctl list", "the bundled networks, by the name that every ARCH takes"),
    ("cnnctl list --format csv", "the same for scripts"),
)
def list_cmd(format: Annotated[Format, format_option()] = Format.table) -> int:
    """The bundled architectures: input, params, mults; each family's members."""
    from ..catalog import bundled, families
    from ..render.views.catalog import catalog_table

    members, files = families(), bundled()
    entries = []
    for name, path in files.items():
        entries.append(_listed(name, path, members=members.get(name)))
        for member, values in (members.get(name) or {}).items():
            if f"{name}_{member}" not in files:  # a member that is not also a file of its own
                entries.append(_listed(f"{name}_{member}", f"{name}_{member}", family=name, values=values))
    entries.sort(key=lambda e: e["name"])
    show_result(format, lambda: {"networks": entries}, lambda: [catalog_table(entries)])  # JSON: an object, as ever
    return 0


def _listed(
    name: str, arch: str, members: dict[str, str] | None = None, family: str | None = None, values: str = ""
) -> dict:
    """`cnnctl list`'s entry of a bundled network, a family (with its `members`) or a member of one."""
    from ..api import load

    graph = load(arch)
    description = (graph.description.strip().splitlines() or [""])[0]
    entry = {
        "name": name,
        "input": format_shape(graph.input_shape),
        "params": graph.params,  # as summarize's JSON: every parameter, the heads only training runs too
        "inference_params": graph.inference_params,  # the base of mults and flops (inference)
        "mults": graph.mults,
        "flops": graph.flops,
        "description": f"member of {family}: {values}" if family else description,
    }
    if members:
        entry["members"] = list(members)
        entry["description"] += f" (members: {', '.join(members)})"
    if family:
        entry["family"] = family
    return entry
