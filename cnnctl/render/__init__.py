"""Presentation: tables (rich on a terminal, plain text when piped), JSON, CSV, Markdown.

Everything here takes data collected by `cnnctl.analysis` and only formats it.
"""
