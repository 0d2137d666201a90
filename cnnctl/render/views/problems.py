"""A problem (an error or a warning) as JSON, for scripts and editors: what every command's
`--format json` tells a mistake with."""

from __future__ import annotations

from ...catalog import file_json
from ...errors import Problem, printable


def problem_json(problem: Problem, severity: str = "error") -> dict:
    """One problem for scripts and editors: its parts as fields (line and column 1-based,
    None where unknown), and the text as cnnctl prints it."""
    loc = problem.loc
    return {
        "severity": severity,
        **file_json(loc.file if loc else None),
        "line": loc.line if loc and loc.line > 0 else None,
        "column": loc.col if loc and loc.col > 0 else None,
        "layer": problem.layer,
        "message": printable(problem.message),
        "hint": printable(problem.hint) if problem.hint else None,
        "text": problem.format(severity),
    }
