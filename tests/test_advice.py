"""`zoo methods suggest`: the advice follows the data, and every number it cites is in BENCHMARKS.md."""

import json
import re
from pathlib import Path

import pytest

from zoo_core.advice import CITATIONS, EVIDENCE, advise

ROOT = Path(__file__).resolve().parents[1]


def _sections(text: str) -> dict[str, list[str]]:
    """BENCHMARKS.md's table rows under each heading (sub-headings start sections of their own)."""
    sections: dict[str, list[str]] = {}
    current = ""
    for line in text.splitlines():
        if line.startswith("#"):
            current = line.lstrip("#").strip()
            sections[current] = []
        elif line.startswith("|"):
            sections.setdefault(current, []).append(line)
    return sections


def _row_holds(rows: list[str], words: str, number: str) -> bool:
    """A row that holds every one of ``words`` and a cell whose value (a mean before ``±``) is ``number``."""
    for row in rows:
        cells = [cell.replace("*", "").strip() for cell in row.split("|")]
        values = {cell.split()[0] for cell in cells if cell}
        if all(w.lower() in row.lower() for w in words.split()) and number in values:
            return True
    return False


def test_each_cited_number_is_in_the_row_it_names():
    sections = _sections((ROOT / "BENCHMARKS.md").read_text())
    for citations in CITATIONS.values():
        for citation in citations:
            cited = set(re.findall(r"0\.\d{4}", citation.text))
            assert cited == {number for _, number in citation.rows}, f"{citation.text!r}: rows do not cover it"
            matches = [name for name in sections if name.startswith(citation.section)]
            assert len(matches) == 1, f"no single BENCHMARKS.md section starts with {citation.section!r}"
            for words, number in citation.rows:
                assert _row_holds(sections[matches[0]], words, number), (
                    f"{citation.section!r} has no row with {words!r} whose value is {number}"
                )


def test_a_number_in_another_row_or_section_does_not_count():
    sections = _sections(
        "## Data\n| yelp | lora | 0.8850 ± 0.01 |\n| yelp | full | 0.9150 |\n## Other\n| yelp | full | 0.8850 |\n"
    )
    assert _row_holds(sections["Data"], "yelp lora", "0.8850")
    assert not _row_holds(sections["Data"], "yelp full", "0.8850")  # the number stands in another row
    assert not _row_holds(sections["Data"], "trec lora", "0.8850")  # the row names other data
    assert _row_holds(sections["Other"], "yelp full", "0.8850") and not _row_holds(sections["Other"], "lora", "0.8850")


def test_advice_by_examples_per_class():
    assert advise(4, 5, "image").method == "protonet"
    assert advise(8, 22, "text").method == "contrastive"
    assert advise(40, 5, "text").method == "linear_probe"
    assert advise(400, 22, "text").method == "lora"
    assert advise(4000, 5, "image").method == "full"
    assert advise(400, 5, "image").evidence == EVIDENCE["image"]


@pytest.mark.slow  # fresh processes over the tiny catalog
def test_cli_suggests_for_the_users_data(run_zoo, tiny_catalog, image_folder):
    code, out, err = run_zoo(
        "--catalog",
        str(tiny_catalog),
        "methods",
        "suggest",
        "--data",
        str(image_folder),
        "--model",
        "tiny-image",
        "--json",
    )
    assert code == 0, err
    advice = json.loads(out)
    assert advice["modality"] == "image" and 10 <= advice["min_per_class"] < 100
    assert advice["method"] == "linear_probe" and f"{advice['min_per_class']} examples per class" in advice["reason"]
    code, out, err = run_zoo("methods", "suggest", "--data", str(image_folder), "--model", "no-such-model")
    assert code == 1 and "no-such-model" in err
