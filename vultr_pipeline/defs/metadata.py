"""Helpers that turn DataFrames into materialization metadata shown in the Dagster UI."""

from __future__ import annotations

import pandas as pd

PREVIEW_ROWS = 5
MAX_CELL_CHARS = 40


def _cell(value: object) -> str:
    text = "" if value is None else str(value)
    text = text.replace("|", "\\|").replace("\n", " ")
    if len(text) > MAX_CELL_CHARS:
        text = text[: MAX_CELL_CHARS - 1] + "…"
    return text


def markdown_preview(frame: pd.DataFrame, rows: int = PREVIEW_ROWS) -> str:
    """Render the first `rows` rows of `frame` as a markdown table.

    The caller removes secret columns first; the IO manager stores nothing from this text.
    """
    if frame.empty:
        return "_No rows._"
    header = "| " + " | ".join(_cell(c) for c in frame.columns) + " |"
    rule = "|" + "---|" * len(frame.columns)
    body = [
        "| " + " | ".join(_cell(v) for v in row) + " |"
        for row in frame.head(rows).itertuples(index=False)
    ]
    return "\n".join([header, rule, *body])
