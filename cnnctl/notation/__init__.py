"""Text -> spec: a network file read safely, every problem collected with its place.

`source` reads and composes the YAML (with line and column marks), `parse` turns it into a
`spec` (what the file says, values still text), `expr` evaluates `${...}` arithmetic.
Nothing here knows shapes or counts.
"""
