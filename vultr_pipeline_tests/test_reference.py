"""Tests that the generated reference pages in docs/ match the code location."""

from __future__ import annotations

import pytest

from vultr_pipeline.reference import DOCS, generated_pages


@pytest.mark.parametrize("name", sorted(generated_pages()))
def test_reference_page_up_to_date(name):
    committed = (DOCS / name).read_text()

    assert committed == generated_pages()[name], (
        f"docs/{name} is out of date: run `python -m vultr_pipeline.reference`."
    )
