"""The user-facing docs that are written from code stay in step with it."""

from hourglass import sourcedocs
from hourglass.sources import CONTRACTS


def test_sources_page_is_up_to_date():
    assert sourcedocs.DOC_PATH.read_text(encoding="utf-8") == sourcedocs.render(), "run `hourglass docs`"


def test_sources_page_names_every_column_and_its_rules():
    page = sourcedocs.DOC_PATH.read_text(encoding="utf-8")
    for contract in CONTRACTS.values():
        assert f"## `{contract.name}`" in page
        for column in contract.columns:
            assert f"| `{column.name}` |" in page
        for _, reason in contract.rules:
            assert reason in page
