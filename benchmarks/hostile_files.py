"""The worst files cnnctl is given: each must end in exit 2, a located message, no traceback,
within 10 s and 2 GB (issue 8's promise for a held-out corpus of broken files).

    python benchmarks/hostile_files.py [--only NAME]

Writes each file into a temporary folder, runs the installed `cnnctl summarize` and
`cnnctl validate` on it one at a time (as a user would, with nothing else running), and
prints a table: exit code, whether the message names the file and a line, wall time and
peak memory (the child's maximum resident set). Most are near the 5 MB file limit: floods
of problems, lists of a million values, layer counts that multiply, texts that double.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from children import installed_cnnctl, run

MB = 1_000_000


def lines(head: str, line: str, count: int) -> str:
    return head + line * count


def chain_of_doubling_blocks(depth: int = 31) -> str:
    """Each block uses the one below twice, with new arguments: 2^31 layers."""
    blocks = ["  d0:\n    args: n\n    layers: [relu]\n"]
    blocks += [
        f"  d{i}:\n    args: n\n    layers: ['d{i - 1} n=${{n*2}}', 'd{i - 1} n=${{n*2+1}}']\n" for i in range(1, depth)
    ]
    return f"input: 8x8x1\nblocks:\n{''.join(blocks)}layers: [d{depth - 1} n=1]\n"


def doubling_text(args: int = 40) -> str:
    """`a1=$a$a`, `a2=$a1$a1`, ...: each argument doubles the text of the one before."""
    names = " ".join(["a=7", *(f"a{i}=${'a' if i == 1 else f'a{i - 1}'}" * 2 for i in range(1, args + 1))])
    return f"input: 8x8x1\nblocks:\n  b:\n    args: {names}\n    layers: [conv f=1 n=$a{args}]\nlayers: [b]\n"


def misspelt_long_block_names(count: int = 20_000) -> str:
    name = "block_with_a_very_long_name_" * 6
    blocks = "".join(f"  {name}{i}: [relu]\n" for i in range(count))
    uses = "".join(f"  - {name}{i}x\n" for i in range(40))
    return f"input: 8x8x1\nblocks:\n{blocks}layers:\n{uses}"


FILES = {
    # floods of mistakes
    "200k misspelt kinds": lambda: lines("input: 8x8x1\nlayers:\n", "  - convv f=3\n", 200_000),
    "300k unknown train: keys": lambda: (
        "input: 8x8x1\nlayers: [relu]\ntrain:\n" + "".join(f"  k{i}: 1\n" for i in range(300_000))
    ),
    "280k blocks, misspelt bodies": lambda: (
        "input: 8x8x1\nblocks:\n" + "".join(f"  b{i}: [cnov]\n" for i in range(280_000)) + "layers: [b0]\n"
    ),
    "20k long block names, misspelt uses": misspelt_long_block_names,
    "200k ids, then unknown references": lambda: (
        "input: 8x8x1\nlayers:\n"
        + "".join(f"  - relu id=a{i}\n" for i in range(200_000))
        + "".join(f"  - add from=input,a{i}z\n" for i in range(40))
    ),
    # sizes and counts
    "700k-item list": lambda: lines("input: 8x8x1\nlayers:\n", "  - bn\n", 700_000),
    "2.4M values in 10 lists": lambda: (
        "input: 8x8x1\nlayers: [relu]\n" + "".join(f"x{k}: [{','.join(['1'] * 240_000)}]\n" for k in range(10))
    ),
    "140k layers, then a mistake": lambda: (
        lines("input: 32x32x3\nlayers:\n", "  - conv f=3 p=same n=4\n", 140_000) + "  - conv f=3 n=0\n"
    ),
    "repeat 100000 of a ResNet block": lambda: (
        "input: 224x224x3\nblocks:\n  bottleneck:\n    args: n s=1\n    layers:\n      - residual:\n"
        "          - conv f=1 n=$n bias=false\n          - bn act=relu\n          - conv f=3 s=$s p=1 n=$n bias=false\n"
        "          - bn act=relu\n          - conv f=1 n=${n*4} bias=false\n          - bn\n"
        "        shortcut: projection\n"
        "layers:\n  - repeat: 100000\n    layers: [bottleneck n=64]\n"
    ),
    "31 blocks doubling with new arguments": chain_of_doubling_blocks,
    "repeat 240000 of a mistake": lambda: (
        "input: 8x8x1\nlayers:\n  - repeat: 240000\n    layers: [conv f=1 n=1 act=rleu]\n"
    ),
    "upsample 100000 twice": lambda: "input: 8x8x1\nlayers:\n  - upsample 100000\n  - upsample 100000\n  - fc 10\n",
    "block arguments doubling a text": doubling_text,
    # what YAML itself allows
    "tags on 100k values": lambda: lines(
        "input: 8x8x1\nlayers:\n", "  - !!python/object/apply:os.system relu\n", 100_000
    ),
    "nesting 10,000 deep": lambda: "input: 8x8x1\nlayers: " + "[" * 10_000 + "]" * 10_000 + "\n",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help="run the files whose name contains this")
    parser.add_argument("--write", nargs=2, metavar=("NAME", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.write:
        name, path = args.write
        Path(path).write_text(FILES[name]())
        return
    exe = installed_cnnctl(gnu_time=True)
    print(f"{'file':40} {'size':>8} {'command':>9} {'exit':>4} {'located':>7} {'seconds':>7} {'peak MiB':>8}")
    worst_time, worst_memory, broken = 0.0, 0.0, []
    with tempfile.TemporaryDirectory() as folder:
        for name in FILES:
            if args.only and args.only not in name:
                continue
            path = Path(folder) / (re.sub(r"\W+", "_", name) + ".yaml")
            # Written by a child: Linux starts a child's peak memory at its parent's, so this
            # process must never hold the megabytes of text itself.
            subprocess.run([sys.executable, __file__, "--write", name, str(path)], check=True)
            for command in ("summarize", "validate"):
                code, out, wall, peak = run([exe, command, path.name], Path(folder))
                located = bool(re.search(re.escape(path.name) + r":\d+:\d+", out)) and "Traceback" not in out
                size = f"{path.stat().st_size / MB:7.2f}M"
                print(
                    f"{name:40} {size} {command:>9} {code:>4} {'yes' if located else 'NO':>7} {wall:7.2f} {peak:8.0f}"
                )
                worst_time = max(worst_time, wall)
                worst_memory = max(worst_memory, peak)
                if code != 2 or not located or wall > 10:
                    broken.append(f"{name} ({command})")
    print(f"\nslowest {worst_time:.2f} s; peak memory of the largest child {worst_memory:.0f} MiB")
    print("every file: exit 2, located, under 10 s" if not broken else "NOT KEPT: " + ", ".join(broken))


if __name__ == "__main__":
    main()
