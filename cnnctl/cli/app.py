"""The typer app: the top level (--version, shell completion) and a group that imports a
command's module only when that command runs (or when --help lists them all).

typer 0.28 carries its own copy of click (`typer._click`); its exceptions are caught here
and told in cnnctl's words: one `error:` line, a hint, exit 2.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer
from typer import _click  # typer's own click (0.28 vendors it): its exceptions and Context
from typer._click.exceptions import BadOptionUsage, BadParameter, MissingParameter, NoSuchOption, UsageError
from typer.core import TyperArgument, TyperCommand, TyperGroup, TyperOption
from typer.main import get_command, get_command_from_info
from typer.models import CommandInfo

from .. import __version__
from ..errors import Problem, closest, did_you_mean, quoted
from ..invocation import PROG, set_running
from . import COMMANDS

if TYPE_CHECKING:
    from collections.abc import Callable

CONTEXT = {"help_option_names": ["-h", "--help"], "allow_extra_args": True}  # extras: told by Command below
DESCRIPTION = (
    "Analyze CNN architectures written in the course's shorthand: shapes, parameters, multiplications; "
    "train them with PyTorch."
)

# Other tools' names for cnnctl's options (Ultralytics, timm's train.py, Lightning, Keras),
# without their dashes: each with cnnctl's options that mean it, the first a command has told
# (`memory` says --batch where `train` says --batch-size). Like the layer kinds' synonyms
# (cnnctl.layers.KIND_SYNONYMS): names no spelling distance finds.
OPTION_SYNONYMS: dict[str, tuple[str, ...]] = {
    **dict.fromkeys(("imgsz", "img-size", "image-size", "imgsize", "resolution", "input-size"), ("--input",)),
    **dict.fromkeys(("lr0", "learning-rate", "lr-base"), ("--lr",)),
    **dict.fromkeys(("bs", "batch", "batch-size", "mini-batch"), ("--batch-size", "--batch")),
    **dict.fromkeys(("optim",), ("--optimizer",)),
    **dict.fromkeys(("wd",), ("--weight-decay",)),
    **dict.fromkeys(("sched", "lr-scheduler"), ("--scheduler",)),
    **dict.fromkeys(("smoothing", "label-smooth"), ("--label-smoothing",)),
    **dict.fromkeys(("warmup",), ("--warmup-epochs",)),
    **dict.fromkeys(("num-workers", "nw"), ("--workers",)),
    **dict.fromkeys(("fp16", "bf16", "half", "mixed-precision"), ("--amp",)),
    **dict.fromkeys(("pretrained", "checkpoint-path", "initial-checkpoint"), ("--weights", "--checkpoint")),
    **dict.fromkeys(("project", "output-dir", "save-dir"), ("--out", "--output")),
    **dict.fromkeys(("max-epochs",), ("--epochs",)),
    **dict.fromkeys(("early-stopping",), ("--patience",)),
    **dict.fromkeys(("validation-split", "val-fraction", "holdout"), ("--val-split",)),
    **dict.fromkeys(("topk",), ("--top-k", "--top")),
}
# One option, two spellings across the commands (the analyses say --batch, train, bench and
# evaluate --batch-size): each command takes its own and, unlisted in its --help, the other's,
# so that neither is a mistake anywhere a batch is given (`-b` is the same everywhere).
SPELLINGS: tuple[tuple[str, ...], ...] = (("--batch", "--batch-size"),)


def own_spellings(args: list[str], options: set[str]) -> list[str]:
    """`args` with each option in another command's spelling (SPELLINGS) in this one's, where
    this command has it under the other (`--batch-size=8` -> `--batch=8`); up to `--`."""
    out = list(args)
    for i, arg in enumerate(out):
        if arg == "--":
            break
        name, eq, value = arg.partition("=")
        for spellings in SPELLINGS:
            own = next((o for o in spellings if o in options), None)
            if name in spellings and name not in options and own is not None:
                out[i] = own + eq + value
    return out


# Words for what a command does that users type from other tools (torchinfo's and Keras's
# summary, plot_model, Netron) or plain English, each with the command line that does it: names
# no spelling distance finds, as OPTION_SYNONYMS. Not aliases: the hint names the real command.
COMMAND_SYNONYMS: dict[str, str] = {
    **dict.fromkeys(
        ("receptive", "receptive-field", "receptive-fields", "field", "fields", "rf"),
        f"receptive fields are columns of summarize: `{PROG} summarize ARCH --columns layer,output,field,jump,start`",
    ),
    **dict.fromkeys(
        ("params", "parameters", "count-params", "info", "stats", "describe"),
        f"`{PROG} summarize ARCH` gives each layer's output, parameters and multiplications, and their totals",
    ),
    **dict.fromkeys(("macs", "gflops", "cost"), f"`{PROG} flops ARCH` counts multiplications and FLOPs"),
    **dict.fromkeys(("plot-model", "visualize", "graph"), f"`{PROG} draw ARCH -o net.svg` draws the network"),
    "netron": f"Netron opens ONNX files: `{PROG} export ARCH -o net.onnx`, then open net.onnx in Netron "
    f"(`{PROG} draw ARCH` draws it without)",
    **dict.fromkeys(("check", "lint"), f"`{PROG} validate FILE...` checks network files"),
    "fit": f"`{PROG} train ARCH --data DATA` trains a network",
    **dict.fromkeys(
        ("roofline", "profile", "latency"),
        f"the roofline is part of flops: `{PROG} flops ARCH --profile h100` (a known device) or "
        "`--peak-tflops X --bandwidth Y` (your own)",
    ),
    "onnx": f"`{PROG} export ARCH -o net.onnx` writes ONNX; `{PROG} import FILE.onnx` reads it into the notation",
    "tensorboard": f"`{PROG} train ARCH --data DATA --tensorboard` writes TensorBoard logs to RUN/tensorboard/",
}
# Other tools' options that cnnctl has no option for, because it does what they ask another way
# (timm's --num-classes, --model): what it does instead; `{command}`, the command typed.
NUM_CLASSES = ("num-classes", "nc", "n-classes", "classes")
OPTION_MEANINGS: dict[str, str] = {
    **dict.fromkeys(
        NUM_CLASSES,
        "the head follows the data's classes: a network that scores more classes than the data has gets its "
        "head made anew for them, said in the run's first lines (`--head PATH` chooses the layer)",
    ),
    **dict.fromkeys(
        ("model", "arch", "model-name", "architecture", "cfg"),
        f"the network is the command's first argument, a file or a bundled name: `{PROG} {{command}} resnet18 ...` "
        f"(`{PROG} list` names the bundled ones)",
    ),
}
# Options of some commands that another command lacks, with what that command offers instead.
ELSEWHERE: dict[tuple[str, str], str] = {
    ("train", "--budget"): "train sets the batch size with --batch-size; `cnnctl memory ARCH --budget SIZE` says the "
    "largest batch that fits in SIZE of device memory",
    # A checkpoint is used at the input it was trained at (cnnctl.train.checkpoint refuses another).
    # Two ideas, two names, kept apart: predict's classes (--top-k K) and the heaviest rows (--top N)
    ("predict", "--top"): "did you mean `--top-k`? (predict's K most likely classes; --top N is flops' and memory's "
    "N heaviest rows)",
    **{
        (command, "--top-k"): "did you mean `--top`? (the N heaviest rows; --top-k K is predict's K most likely "
        "classes)"
        for command in ("flops", "memory")
    },
    ("predict", "--input"): "predict adapts each image to the network's input: a run's is the one it trained at; "
    "for --weights at another input, give a copy of the network file with that `input:` line",
}


class Mistake(UsageError):
    """A mistake on the command line, already in cnnctl's words."""

    def __init__(self, text: str, hint: str | None):
        super().__init__(text)
        self.text, self.hint = text, hint


def _help_hint(command: str) -> str:
    return f"`{PROG} {command} --help` lists its options and arguments"


class Command(TyperCommand):
    """A command that names the words it was given but takes none of, and whose --help ends with
    its examples."""

    examples: tuple[tuple[str, str], ...] = ()  # (command line, what it does): cnnctl.cli.common.examples

    def parse_args(self, ctx: _click.Context, args: list[str]) -> list[str]:
        options = {o for p in self.params for o in getattr(p, "opts", ())}
        rest = super().parse_args(ctx, own_spellings(args, options))
        if ctx.args and not ctx.resilient_parsing:  # what no parameter took (CONTEXT allows them this far)
            raise Mistake(f"`{self.name}` takes no more arguments: {quoted(' '.join(ctx.args))}",
                          _compare_hint(self.name, ctx) or _help_hint(self.name))  # fmt: skip
        return rest

    def format_epilog(self, ctx: _click.Context, formatter: _click.HelpFormatter) -> None:
        """The command's epilog, then `Examples:` as a section beside `Options:`, each command line
        under a comment saying what it does, as written (never refilled: it is to be copied)."""
        super().format_epilog(ctx, formatter)
        if self.examples:
            with formatter.section("Examples"):
                indent = " " * formatter.current_indent
                for command, what in self.examples:
                    formatter.write(f"{indent}# {what}\n{indent}{command}\n")

    def collect_usage_pieces(self, ctx: _click.Context) -> list[str]:
        """`[OPTIONS] ARCH [DIR]`: an argument as its metavar, in brackets when it may be left out."""
        pieces = [self.options_metavar] if self.options_metavar else []
        for param in self.get_params(ctx):
            if isinstance(param, TyperArgument):
                name = param.make_metavar(ctx)
                pieces.append(name if param.required else f"[{name}]")
        return pieces


# Commands of one network whose figures `compare` sets side by side for several.
ONE_NETWORK = ("summarize", "flops", "memory")


def _compare_hint(command: str, ctx: _click.Context) -> str | None:
    """`summarize A B`: more networks than the command takes, which compare takes."""
    arch = ctx.params.get("arch")
    if command not in ONE_NETWORK or not isinstance(arch, str):
        return None
    import shlex

    from ..catalog import DASH, stdin_once_hint

    if [arch, *ctx.args].count(DASH) > 1:  # `summarize - -`: compare would refuse it, standard input read once
        return stdin_once_hint("compare")
    return f"to set networks side by side: {PROG} compare {shlex.join([arch, *ctx.args])}"


def _summary(handler) -> str:
    """A command's line in `--help`: its docstring's first paragraph, its lines joined (a
    sentence wrapped in the source is listed whole, not cut at the wrap)."""
    return " ".join((handler.__doc__ or "").strip().partition("\n\n")[0].split())


def handler(name: str) -> Callable[..., Any]:
    """The function that runs command `name`, from its module (imported now)."""
    import importlib

    module = importlib.import_module(f"{__package__}.{COMMANDS[name]}")
    return getattr(module, f"{name}_cmd")


def build(name: str) -> _click.Command:
    """Command `name` as click runs it: its options from its handler's parameters."""
    run = handler(name)
    epilog = getattr(run, "epilog", None)
    info = CommandInfo(
        name=name, callback=run, cls=Command, context_settings=CONTEXT, short_help=_summary(run),
        epilog=epilog() if callable(epilog) else epilog,
    )  # fmt: skip
    command = get_command_from_info(info, pretty_exceptions_short=True, rich_markup_mode=None)
    command.examples = getattr(run, "examples", ())  # cnnctl.cli.common.examples, written above the handler
    return command


class Group(TyperGroup):
    """The commands of cnnctl.cli.COMMANDS, each built when it is asked for."""

    def list_commands(self, ctx: _click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: _click.Context, name: str) -> _click.Command | None:
        return build(name) if name in COMMANDS else None

    def resolve_command(self, ctx: _click.Context, args: list[str]) -> tuple[str | None, Any, list[str]]:
        name = args[0]
        if name not in COMMANDS and not ctx.resilient_parsing:
            meant = _help_command_hint(name, args[1:]) or COMMAND_SYNONYMS.get(name.lower().replace("_", "-"))
            hint = meant or did_you_mean(name, COMMANDS) or f"the commands: {', '.join(COMMANDS)}"
            raise Mistake(f"no command {quoted(name)}", hint)
        return super().resolve_command(ctx, args)

    def format_help(self, ctx: _click.Context, formatter: _click.HelpFormatter) -> None:
        formatter.write(top_help(self))


def _help_command_hint(name: str, rest: list[str]) -> str | None:
    """`cnnctl help summarize` (git's and pip's way to ask): the option that shows it."""
    if name.lower() != "help":
        return None
    command = rest[0] if rest and rest[0] in COMMANDS else None
    return (
        f"`{PROG} {command} --help` shows its options and examples"
        if command
        else (f"`{PROG} --help` lists the commands; `{PROG} COMMAND --help` shows one's options")
    )


def top_help(group: _click.Command) -> str:
    """`cnnctl --help`: the options, then the commands, each with its whole first line."""
    lines = [f"Usage: {PROG} [OPTIONS] COMMAND [ARGS]...", "", DESCRIPTION, "", "Options:"]
    options = [(", ".join(p.opts), p.help or "") for p in group.params if isinstance(p, TyperOption)]
    options.append(("-h, --help", "Show this message and exit."))
    width = max(len(names) for names, _ in options)
    lines += [f"  {names:<{width}}  {text}" for names, text in options]
    lines += ["", "Commands:"]
    lines += [f"  {name:<10} {_summary(handler(name))}" for name in COMMANDS]
    lines += ["", f"`{PROG} COMMAND --help` shows a command's options and examples."]
    return "\n".join(lines) + "\n"


def _show_version(value: bool) -> None:
    if value:
        sys.stdout.write(f"{PROG} {__version__}\n")
        raise typer.Exit(0)


app = typer.Typer(
    name=PROG, cls=Group, help=DESCRIPTION, context_settings=CONTEXT, rich_markup_mode=None,
    pretty_exceptions_enable=False, add_completion=True, no_args_is_help=False,
)  # fmt: skip


@app.callback()
def top(
    version: Annotated[bool, typer.Option("-V", "--version", help="Show the version.", is_eager=True,
                                          callback=_show_version)] = False,
) -> None:  # fmt: skip
    """The options before COMMAND."""


def command_line() -> _click.Command:
    return get_command(app)


def run(argv: list[str]) -> int:
    """Parse `argv` and run its command: the exit status. A mistake on the command line is told
    here (exit 2); what a command raises goes to cnnctl.cli.main."""
    group = command_line()
    group._main_shell_completion({}, PROG, f"_{PROG.upper()}_COMPLETE")  # exits when the shell asks
    if not argv:  # no command: what there is to run, on stderr, and exit 2 as click does (git exits 1)
        sys.stderr.write(top_help(group))
        return 2
    given = list(argv)  # as typed: click takes words off the list it parses
    set_running(given[0] if given[0] in COMMANDS else None, given[1:])  # for hints far below that show a command line
    try:
        with group.make_context(PROG, argv) as ctx:
            status = group.invoke(ctx)
    except typer.Exit as exc:  # --help, --version, completion installed
        return exc.exit_code
    except UsageError as exc:
        text, hint = reworded(exc, given[0] if given[0] in COMMANDS else PROG, given)
        sys.stderr.write(Problem(text, hint=hint).format() + "\n")
        from .common import errors_json  # and on stdout, with --format json, as a command's mistakes are

        errors_json([Problem(text, hint=hint)], given)  # as typed: click emptied `argv`
        return 2
    finally:
        set_running(None)  # a caller in the same process (the tests, cnnctl.api) runs no command now
    return 0 if status is None else status


def _meant(command: str, word: str, options: list[str]) -> str | None:
    """The hint for an unknown option `word` of `command`: what the command offers in its place
    (ELSEWHERE), the option another tool's name means (OPTION_SYNONYMS), else a near spelling."""
    if (command, word) in ELSEWHERE:
        return ELSEWHERE[command, word]
    bare = word.lstrip("-").lower().replace("_", "-")
    if bare in OPTION_MEANINGS and word.startswith("--"):
        if bare in NUM_CLASSES and "--head" not in options:  # a command that makes no head: the file's last layer
            return "the classes a network scores are its last layer's outputs, in the file (`fc 10`)"
        return OPTION_MEANINGS[bare].format(command=command)
    meant = next((o for o in OPTION_SYNONYMS.get(bare, ()) if o in options), None)
    if meant:
        return f"did you mean `{meant}`?"
    if bare in COMMAND_SYNONYMS:  # `summarize --receptive`: what another command, or a column, does
        return COMMAND_SYNONYMS[bare]
    return _near_option(word, options)


def _near_option(word: str, options: list[str]) -> str | None:
    """'did you mean `--depth`?' for `--dpeth`: the names compared without their dashes, which
    every option shares (with them, `--receptive` was near enough to `--freeze`)."""
    names = {o.lstrip("-"): o for o in options if o.startswith("--")}
    near = closest(word.lstrip("-"), names) if word.startswith("--") else None
    return f"did you mean `{names[near]}`?" if near else None


def _own_option_hint(word: str, options: list[str], argv: list[str]) -> str:
    """The hint for an option `word` given before the command: the command's own option, to go
    after it (`cnnctl --format json summarize`), else a near one of cnnctl's, else the list."""
    command = next((w for w in argv if w in COMMANDS), None)
    if command is not None and word in (o for p in build(command).params for o in (*p.opts, *p.secondary_opts)):
        return f"{word} is an option of `{command}`: give it after the command (`{PROG} {command} ... {word}`)"
    longs = [o for o in options if o.startswith("--")]  # each once, by its long name (-V is --version)
    mine = f"the options before COMMAND are {PROG}'s own: {', '.join(longs)}"
    near = _near_option(word, options)
    return f"{near} ({mine})" if near else mine


def reworded(exc: UsageError, command: str, argv: list[str] = ()) -> tuple[str, str | None]:
    """click's mistake in cnnctl's words, and a hint; `command`: the command it was given to
    (`cnnctl` for an option before the command), `argv`: the whole command line."""
    if isinstance(exc, Mistake):
        return exc.text, exc.hint
    ctx = exc.ctx
    hint = _help_hint(command) if command != PROG else f"`{PROG} --help` lists the commands"
    if isinstance(exc, MissingParameter) and exc.param is not None:
        param = exc.param
        name = param.human_readable_name if isinstance(param, TyperArgument) else "/".join(param.opts)
        return f"`{command}` needs {name}", hint
    if isinstance(exc, NoSuchOption):
        options = [o for p in ctx.command.get_params(ctx) for o in (*p.opts, *p.secondary_opts)] if ctx else []
        word = exc.option_name.split("=")[0]
        if command == PROG:  # before the command: an option of cnnctl itself
            return f"`{PROG}` itself has no option {quoted(exc.option_name)}", _own_option_hint(word, options, argv)
        return f"`{command}` has no option {quoted(exc.option_name)}", _meant(command, word, options) or hint
    if isinstance(exc, BadOptionUsage):
        if "does not take a value" in exc.message:  # `--amp=yes`: a flag given a value
            name = exc.option_name
            params = build(command).params if command != PROG else []  # click gives no context here
            off = next((p.secondary_opts[0] for p in params if name in p.opts and p.secondary_opts), None)
            return f"{name} takes no value", f"give {name} alone" + (f", or {off} for off" if off else "")
        return f"{exc.option_name} expected one argument", hint
    if isinstance(exc, BadParameter) and exc.param is not None:
        names = exc.param.opts
        name = next((n for n in names if n.startswith("--")), names[0]) if names else exc.param.human_readable_name
        return f"{name} {exc.message}", getattr(exc, "hint", None) or hint
    return exc.message, hint
