"""What `cnnctl list` shows: the bundled architectures."""

from __future__ import annotations

from ...words import exact, short
from ..table import Column, Table, num


def catalog_table(entries: list[dict]) -> Table:
    # params at inference, as the multiplications are (GoogLeNet's aux heads run in training only)
    inference = [e.get("inference_params", e["params"]) for e in entries]  # without the key: no heads
    rows = [[e["name"], e["input"], p, e["mults"], e["description"]] for e, p in zip(entries, inference, strict=True)]
    notes = []
    if any(e["params"] != p for e, p in zip(entries, inference, strict=True)):
        heads = ", ".join(f"{e['name']} {exact(e['params'])}" for e, p in zip(entries, inference, strict=True)
                          if e["params"] != p)  # fmt: skip
        notes.append(f"Params and mults at inference; with the heads only training runs (`outputs:`): {heads}")
    columns = [
        Column("Name", squeeze=True),
        Column("Input"),
        num("Params", exact, key="inference_params"),  # as JSON names them: `params` counts the heads
        num("Mults", short),
        Column("Description", wrap=True, prose=True),
    ]
    return Table("Bundled architectures (use by name: cnnctl summarize NAME)", columns, rows, notes)
