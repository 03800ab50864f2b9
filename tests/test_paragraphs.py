import textwrap

import pyarrow as pa

from tasks.settings import SplitSettings
from tasks.shard.paragraphs import split_paragraphs, split_text

WEB = "Home\nNews\nSport\nA long first paragraph of the article, as scrapers put it. It ends.\n" \
      "Second paragraph, also on its own line.\nShare this article"


def test_each_line_is_a_paragraph_in_web_text():
    assert [p for _, _, p in split_text(WEB)] == WEB.split("\n")


def test_offsets_point_into_the_input():
    text = "  Title  \r\n\r\nFirst line.\rSecond line.\u2028Third.\n\n"
    paras = split_text(text)
    assert [p for _, _, p in paras] == ["Title", "First line.", "Second line.", "Third."]
    for start, end, p in paras:
        assert text[start:end] == p


def test_blank_line_mode_joins_blocks():
    text = "One\ntwo\n\nThree\n"
    assert [p for _, _, p in split_text(text, "blank_line")] == ["One two", "Three"]
    assert [p for _, _, p in split_text(text, "line")] == ["One", "two", "Three"]


def test_hard_wrapped_prose_is_joined(seed_texts):
    article = seed_texts["000_91afe73fcc59af63.txt"]
    paragraphs = [p for _, _, p in split_text(article)]
    wrapped = "\n\n".join(textwrap.fill(p, 72) for p in paragraphs)
    assert [p for _, _, p in split_text(wrapped)] == paragraphs


HEADLINES = (
    "Government Announces New Budget Plan For Schools In The North",
    "Local Team Wins Championship After Dramatic Final Minutes Tonight",
    "Weather Service Warns Of Heavy Storms Moving Across The Region",
    "Scientists Discover New Species Of Frog In Remote Rainforest Area",
    "City Council Approves Plans For A New Bridge Across The River",
)


def test_headline_lists_are_not_joined():
    assert len(split_text("\n".join(HEADLINES))) == len(HEADLINES)


def test_split_table(seed_texts):
    docs = pa.table({"doc_id": ["d1", "d2"], "text": ["a\n\nb", "c"]})
    out = split_paragraphs(docs, SplitSettings())
    assert out.column_names == ["doc_id", "para_index", "para_id", "text", "char_start", "char_end"]
    assert out["para_id"].to_pylist() == ["d1:0", "d1:1", "d2:0"]
