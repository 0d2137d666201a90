"""The README's links within itself lead somewhere: each `(#anchor)` names a heading.

GitHub makes a heading's anchor by lower-casing it, dropping every character that is not a
letter, digit, underscore, hyphen or space, and turning spaces into hyphens; headings inside
code blocks are not headings.
"""

import re
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"


def _anchor(heading: str) -> str:
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def _headings(text: str) -> list[str]:
    headings, in_code = [], False
    for line in text.splitlines():
        if line.startswith("```"):
            in_code = not in_code
        elif not in_code and (m := re.match(r"^#{1,6} (.+)$", line)):
            headings.append(m.group(1))
    return headings


def test_anchor_rule_matches_github():
    # examples of GitHub's rule, as GitHub renders them
    assert _anchor("Shards for scale: `cnnctl pack`") == "shards-for-scale-cnnctl-pack"
    assert _anchor("Where the time goes: `cnnctl bench --data`") == "where-the-time-goes-cnnctl-bench---data"


def test_every_internal_link_names_a_heading():
    text = README.read_text(encoding="utf-8")
    anchors = {_anchor(h) for h in _headings(text)}
    links = re.findall(r"\]\(#([^)\s]+)\)", text)
    assert len(links) >= 30  # the contents list at least
    missing = sorted({link for link in links if link not in anchors})
    assert not missing, f"README links to headings that do not exist: {missing}"


def test_contents_lists_every_section():
    text = README.read_text(encoding="utf-8")
    contents = text.split("## Contents", 1)[1].split("\n## ", 1)[0]
    listed = set(re.findall(r"\]\(#([^)\s]+)\)", contents))
    sections = {_anchor(h) for h in _headings(text)[1:] if h != "Contents"}  # [0]: the title
    assert sections - listed == set(), "sections missing from the contents"
