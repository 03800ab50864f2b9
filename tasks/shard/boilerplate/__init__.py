"""Flag boilerplate paragraphs with the name of the rule that fired (`boilerplate_rule`).

Rules only annotate; publish decides what is dropped. A paragraph is a line of the page (see
tasks/shard/paragraphs.py), and a document's paragraphs are contiguous rows of the shard, so rules can
look at a line's neighbours. In order, the first that fires names the line:

1. phrase rules (`tasks/shard/boilerplate/phrases.py`): comment forms, newsletter boxes, share bars,
   cookie and policy lines, related links, partner promos, archive notes, author bios,
   javascript, navigation, login prompts, in English, German, French and Spanish; media credits;
   `no_letters` (a line without a letter; one with digits in or just above the article's main
   run, a table row or a score, is judged like a position rule).
   Then the families (`tasks/shard/boilerplate/families.py`): the shapes of lines news sites add
   around an article (archive notes, `sponsorship`, `publisher_info`, author boxes, captions,
   `tag_list`, paywalls, comment forms, rights and consent text). A pattern only such a line
   opens with flags it anywhere; other family wording flags it away from the main run (below)
   and is left to the model inside it.
2. line shape: `menu_line` (a short line of items separated by | · • »), `counter` ("1 of 3",
   "23 comments", "(4)").
3. position, relative to the document's main run (the stretch richest in prose lines, found by a
   maximum-sum scan): `date_alone` (a date or time by itself, away from the article's top:
   whole date words of the four languages and numbers, naming a date),
   `leading_run` (short non-prose lines well before the main run: menus, teasers, the page title),
   `trailing_run` (short non-prose lines after it: footers, link lists, comment signatures).
   The three lines just above the main run are spared: headline, byline and dateline live there.
4. `content_model` (when `boilerplate.model` is on): small gradient-boosted trees over the same
   text-only signals (`tasks/shard/boilerplate/features.py`, `tasks/shard/boilerplate/model.py`) say the line
   is not content.
5. across the run (`find_site_templates`, in tasks/cross_document/__init__.py): `site_template`, a short
   line repeated in many documents of the same site (URL host, else the input file), in this run
   and, given their counts, in earlier runs.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from urllib.parse import urlsplit

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import xxhash

from tasks import reasons, schema
from tasks.settings import BoilerplateSettings
from tasks.shard.boilerplate.families import line_families
from tasks.shard.boilerplate.features import document_bounds, feature_matrix, features
from tasks.shard.boilerplate.model import TreeModel, load_model
from tasks.shard.boilerplate.phrases import (
    CLOCK_WORDS,
    DATE_ABBREVIATIONS,
    DATE_LABELS,
    DATE_NAMES,
    MEDIA_CREDIT_PREFIX,
    MEDIA_CREDIT_SUFFIX,
    PHRASE_RULES,
    SHARE_WORDS,
)

_LETTER = re.compile(r"[^\W\d_]")
_EDGE = " \t•·|*-–—>»«:;,.!?()[]{}\"'“”‘’"
_WORDS_SHORT_LINE = 25  # a phrase inside a longer paragraph is a mention, not boilerplate
_WORDS_STARTS_LINE = 15
_POSITION_RULES = frozenset({reasons.DATE_ALONE, reasons.LEADING_RUN, reasons.TRAILING_RUN,
                             reasons.NO_LETTERS})
_SPARED_ABOVE_MAIN = 3  # headline, byline, dateline
_MIN_PROSE_LINES = 2  # position rules and the model judge documents with a main run of prose
_COUNTER = (r"(?i)^\s*(?:\(\d+\)|(?:page |seite |página )?\d+\s*(?:of|/|von|de|sur)\s*\d+|"
            r"\d+\s+(?:comments?|replies|views|shares|captures|likes|kommentare|commentaires|"
            r"comentarios|respuestas|réponses))\s*$")
_DATE_SEP = r"[\s,.:;/|()\-–·•]"


def _words(words: tuple[str, ...]) -> str:
    return "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))


# A date or time line: whole date words and numbers only, with a digit, and naming a date: a
# month or day name or a clock word beside the number ("Jan 15", "10 am"), or a date or time
# in figures ("05.11.2021", "14:30", a year). Between two words there is a separator (a word
# is never a prefix, nor are words run together: "Money", "Demonstrations" are not dates); a
# word and a number may touch ("Jan24", "10am"). "On", "DE" or "Montag" alone are not dates.
_DATE_NAME = (f"(?:{_words(DATE_NAMES)}|(?:{_words(DATE_ABBREVIATIONS)})\\.?|"
              f"{_words(CLOCK_WORDS)})")
_DATE_NUMBER = r"\d{1,4}(?:st|nd|rd|th|er|º|ª|h\d\d|h)?"
_DATE_WORD = f"(?:{_DATE_NAME}|{_words(DATE_LABELS)})"
_DATE_CHUNK = (f"(?:{_DATE_WORD}(?:{_DATE_NUMBER}{_DATE_WORD})*(?:{_DATE_NUMBER})?|"
               f"{_DATE_NUMBER}(?:{_DATE_WORD}{_DATE_NUMBER})*(?:{_DATE_WORD})?)")
# each chunk followed by separators or the end: the chunk pattern written out once
_DATE_WORDS_ONLY = f"(?i)^{_DATE_SEP}*(?:{_DATE_CHUNK}(?:{_DATE_SEP}+|$))+$"
_DATE_NAMED = f"(?i)(?:^|{_DATE_SEP}|\\d){_DATE_NAME}(?:{_DATE_SEP}|\\d|$)"
_DATE_IN_FIGURES = r"\d[:./h-]\d|(?:^|\D)(?:1[89]|20)\d\d(?:\D|$)"


def normalize_line(text: str) -> str:
    """Case-folded, NFKC, apostrophes unified, whitespace collapsed, edge punctuation trimmed."""
    text = unicodedata.normalize("NFKC", text).casefold().replace("’", "'")
    return " ".join(text.split()).strip(_EDGE)


def _phrase_tables() -> tuple[dict[str, int], list[tuple[tuple[str, ...], int]], re.Pattern,
                              dict[str, int]]:
    """PHRASE_RULES as lookups: whole line -> rule number; (line starts, rule number) in order;
    one regex for every phrase that may sit inside a short line, and phrase -> rule number."""
    whole: dict[str, int] = {}
    starts = []
    inside: dict[str, int] = {}
    for number, (w, st, ins) in enumerate(PHRASE_RULES.values()):
        for phrase in w:
            whole.setdefault(phrase, number)
        if st:
            starts.append((st, number))
        for phrase in ins:
            inside.setdefault(phrase, number)
    pattern = re.compile("|".join(re.escape(p) for p in sorted(inside, key=len, reverse=True)))
    return whole, starts, pattern, inside


_RULE_NAMES = list(PHRASE_RULES)
_WHOLE, _STARTS, _INSIDE_RE, _INSIDE = _phrase_tables()


def phrase_rule(text: str, norm: str | None = None) -> str | None:
    """The phrase rule (or `no_letters`, `share_bar`, `media_credit`) a line matches, if any.
    The first rule in PHRASE_RULES order that matches the line in any of its three ways wins.
    `norm` is normalize_line(text), when the caller has it already."""
    if not _LETTER.search(text):
        return reasons.NO_LETTERS
    norm = normalize_line(text) if norm is None else norm
    n_words = norm.count(" ") + 1
    if n_words > _WORDS_SHORT_LINE:
        return None  # a long paragraph is never a phrase rule's
    found = _WHOLE.get(norm, len(_RULE_NAMES))
    if n_words <= _WORDS_STARTS_LINE:
        for starts, number in _STARTS:
            if number < found and norm.startswith(starts):
                found = number
                break
    for phrase in _INSIDE_RE.findall(norm):
        found = min(found, _INSIDE[phrase])
    if found < len(_RULE_NAMES):
        return _RULE_NAMES[found]
    if n_words <= 8 and set(norm.replace(",", " ").replace("|", " ").split()) <= SHARE_WORDS:
        return reasons.SHARE_BAR
    if n_words <= 12 and MEDIA_CREDIT_PREFIX.match(norm):
        return reasons.MEDIA_CREDIT
    if n_words <= 4 and MEDIA_CREDIT_SUFFIX.search(norm):
        return reasons.MEDIA_CREDIT
    return None


def template_key(text: str, max_words: int, norm: str | None = None) -> int | None:
    """Hash of the normalised line, the unit of the site-template rule; None for an empty line
    or one longer than max_words."""
    norm = normalize_line(text) if norm is None else norm
    if not norm or norm.count(" ") + 1 > max_words:
        return None
    return xxhash.xxh3_64_intdigest(norm.encode("utf-8"))


def flag_boilerplate(paragraphs: pa.Table, settings: BoilerplateSettings) -> pa.Table:
    """Add `boilerplate_rule` (null = content) and `template_key` (hash of the normalised line,
    for the run-wide site-template rule; null for lines too long to be a template).
    Without a `doc_id` column the table is taken as one document."""
    rules, keys, feats = boilerplate_signals(paragraphs, settings)
    if paragraphs.num_rows:
        rules = _decide(rules, feats, settings)
    return (paragraphs.append_column("boilerplate_rule", pa.array(rules, type=pa.string()))
            .append_column("template_key", pa.array(keys, type=pa.uint64())))


def boilerplate_signals(paragraphs: pa.Table, settings: BoilerplateSettings
                        ) -> tuple[list[tuple[str | None, str | None]], list[int | None],
                                   dict[str, np.ndarray]]:
    """Everything but the model: per line the (sure, position) rules that fire (phrase and shape
    rules are sure; position rules need the model's agreement when it is on), the template key,
    and the features the model reads (also used to train it)."""
    if not paragraphs.num_rows:
        return [], [], {}
    texts = paragraphs["text"].combine_chunks()
    # The per-line rules depend on the text alone: work them out once per distinct line (pages
    # of one site repeat their menus and footers) and spread the answers over the rows.
    encoded = pc.dictionary_encode(texts)
    distinct = encoded.dictionary.to_pylist()
    rows = encoded.indices.to_numpy(zero_copy_only=False)
    d_norms = [normalize_line(t) for t in distinct]
    d_family, d_opening = line_families(d_norms)
    d_sure = [phrase_rule(t, n) or (f if o else None)
              for t, n, f, o in zip(distinct, d_norms, d_family, d_opening.tolist())]
    d_keys = [template_key(t, settings.template_max_words, n) for t, n in zip(distinct, d_norms)]
    row_list = rows.tolist()
    norms = [d_norms[i] for i in row_list]
    sure = [d_sure[i] for i in row_list]
    keys = [d_keys[i] for i in row_list]
    family = [d_family[i] for i in row_list]
    doc_ids = schema.optional_column(paragraphs, "doc_id")
    start, length = document_bounds(doc_ids, paragraphs.num_rows)
    feats = features(texts, norms, start, length,
                     np.array([k or 0 for k in keys], dtype=np.uint64),
                     np.array([r is not None for r in sure], dtype=bool),
                     np.array([f is not None for f in family], dtype=bool))
    sure, position = _shape_and_position_rules(texts, feats, sure, family)
    return list(zip(sure, position)), keys, feats


def _decide(rules: list[tuple[str | None, str | None]], feats: dict[str, np.ndarray],
            settings: BoilerplateSettings) -> list[str | None]:
    """Sure rules always flag. Without the model, position rules flag too (a family's wording
    inside the article does not); with it, a line is flagged when the model calls it
    non-content, named by its family or position rule if one fired."""
    if not settings.model:
        return [s or (p if p in _POSITION_RULES else None) for s, p in rules]
    return decide_with_model(rules, feats, content_probability(rules, feats, load_model()),
                             settings)


def content_probability(rules: list[tuple[str | None, str | None]],
                        feats: dict[str, np.ndarray], model: TreeModel) -> np.ndarray:
    """The model's P(content) per line; 1 for the lines it does not judge (`model_rows`)."""
    judged = model_rows(rules, feats)
    x, names = feature_matrix(feats, judged)
    model.check_features(names)
    p_content = np.ones(len(rules))
    p_content[judged] = model.content_probability(x)
    return p_content


def decide_with_model(rules: list[tuple[str | None, str | None]], feats: dict[str, np.ndarray],
                      p_content: np.ndarray, settings: BoilerplateSettings) -> list[str | None]:
    """Each line's rule given the model's P(content): a sure rule, else the position rule or
    `content_model` when P(content) is under the line's threshold, else None (content)."""
    # Sentences (prose lines) are only taken out when the model is very sure: text lost is worse
    # than a comment or a teaser kept. Guarding every line of the main run and the three above
    # it as well (an earlier version) lost no fewer sentences and kept more boilerplate
    # (docs/benchmarks/boilerplate.md).
    floor = np.where(feats["prose"] > 0, settings.model_prose_threshold, settings.model_threshold)
    is_content = (p_content >= floor).tolist()
    return [s or (None if c else p or reasons.CONTENT_MODEL)
            for (s, p), c in zip(rules, is_content)]


def model_rows(rules: list[tuple[str | None, str | None]], feats: dict[str, np.ndarray]
               ) -> np.ndarray:
    """The rows the model judges. A document without a run of prose (one line, a list, a
    table) gives it no context to judge by: its lines are kept. A document's first line is its
    headline unless it comes back further down (then it is the page's <title>, "Headline -
    Site"): the model leaves it alone. Lines a sure rule flagged need no model either."""
    has_main = np.rint(np.expm1(feats["doc_prose_lines"])) >= _MIN_PROSE_LINES
    headline = (feats["pos"] == 0) & (feats["title_of_later"] == 0)
    unflagged = np.array([s is None for s, _ in rules], dtype=bool)
    return np.flatnonzero(has_main & ~headline & unflagged)


def _shape_and_position_rules(texts: pa.Array, f: dict[str, np.ndarray], sure: list[str | None],
                              family: list[str | None]
                              ) -> tuple[list[str | None], list[str | None]]:
    words = np.rint(np.expm1(f["words"]))
    row = np.arange(len(words))
    start, end = f["main_start"], f["main_end"]
    has_main = np.rint(np.expm1(f["doc_prose_lines"])) >= _MIN_PROSE_LINES
    short = (words < 10) & (f["prose"] == 0)
    outside = has_main & ((row < start) | (row > end))
    away_from_top = (row < start - _SPARED_ABOVE_MAIN) | (row > end)
    shape = [
        (reasons.MENU_LINE, (words <= 15) & (f["separators"] >= 2) & (f["ends_terminal"] == 0)
         & (f["in_main"] == 0)),
        (reasons.COUNTER, _matches(texts, _COUNTER)),
    ]
    position = [
        (reasons.DATE_ALONE, _is_date(texts, outside & away_from_top)),
        (reasons.LEADING_RUN, has_main & (row < start - _SPARED_ABOVE_MAIN) & short),
        (reasons.TRAILING_RUN, has_main & (row > end) & short),
    ]
    sure = list(sure)
    soft: list[str | None] = [None] * len(sure)
    # Numbers inside the article (scores, a table row, a year, a formula, the date above it)
    # are judged like position rules: by the model when it is on. A line of punctuation or
    # symbols alone (a rule, "***", ":)", a bullet) is nothing a reader reads, wherever it is.
    near_article = has_main & (row >= start - _SPARED_ABOVE_MAIN) & (row <= end)
    for i in np.flatnonzero(near_article & _matches(texts, r"\p{Nd}")).tolist():
        if sure[i] == reasons.NO_LETTERS:
            sure[i], soft[i] = None, reasons.NO_LETTERS
    sure, soft = _first_match(shape, sure), _first_match(position, soft)
    # A family's wording away from the article flags the line; inside it, or on a page without
    # one, the model decides, and the family names the line if it says boilerplate. A date by
    # itself stays `date_alone` (a signature is a name and a date).
    away = has_main & away_from_top
    for i in np.flatnonzero(f["family_hit"]).tolist():
        name = family[i]
        if sure[i] is None and soft[i] != reasons.DATE_ALONE:
            if away[i]:
                sure[i] = name
            elif soft[i] is None:
                soft[i] = name
    return sure, soft


def _is_date(texts: pa.Array, where: np.ndarray) -> np.ndarray:
    """Which lines are a date or time and nothing else, looked at only `where` it matters;
    each test on the lines that passed the one before."""
    rows = np.flatnonzero(where)
    for pattern in (r"\d", _DATE_WORDS_ONLY):
        rows = rows[_matches(_take(texts, rows), pattern)]
    some = _take(texts, rows)
    out = np.zeros(len(texts), dtype=bool)
    out[rows] = _matches(some, _DATE_NAMED) | _matches(some, _DATE_IN_FIGURES)
    return out


def _take(texts: pa.Array, rows: np.ndarray) -> pa.Array:
    return texts.take(pa.array(rows, type=pa.int64()))


def _first_match(checks: list[tuple[str, np.ndarray]], out: list[str | None]
                 ) -> list[str | None]:
    for name, mask in checks:
        for i in np.flatnonzero(mask).tolist():
            if out[i] is None:
                out[i] = name
    return out


def _matches(texts: pa.Array, pattern: str) -> np.ndarray:
    return pc.match_substring_regex(texts, pattern).to_numpy(zero_copy_only=False)


def content_mask(paragraphs: pa.Table) -> np.ndarray:
    """Which paragraphs no boilerplate rule flagged (a boolean mask); every paragraph of a
    table without `boilerplate_rule`."""
    rules = schema.optional_column(paragraphs, "boilerplate_rule")
    if rules is None:
        return np.ones(paragraphs.num_rows, dtype=bool)
    return pc.is_null(rules).to_numpy(zero_copy_only=False)


def site_of(source: str, url: str | None) -> str:
    """The site a document belongs to for template detection: URL host, else the input file
    (a JSONL or Parquet file usually holds one crawl), or for one-document .txt files their folder."""
    if url:
        host = urlsplit(url).hostname
        if host:
            return host.removeprefix("www.")
    if source.lower().endswith(".txt"):
        return source.rsplit("/", 1)[0] if "/" in source else "."
    return source


@dataclass(frozen=True)
class TemplateCounts:
    """How many documents of each site hold each template key, and how many documents each site
    has: what the site-template rule counts, for one run or summed over earlier runs (the form
    in which the cross-run index hands earlier runs to `find_site_templates`). Sites are the
    caller's integer codes."""

    sites: np.ndarray  # int64, one per (site, key) pair
    keys: np.ndarray  # uint64 template key of the pair
    docs: np.ndarray  # int64, documents of the site containing the key
    site_codes: np.ndarray  # int64, one per site
    site_docs: np.ndarray  # int64, documents of that site

    @classmethod
    def empty(cls) -> TemplateCounts:
        i = np.zeros(0, np.int64)
        return cls(i, np.zeros(0, np.uint64), i, i, i)

    def __add__(self, other: TemplateCounts) -> TemplateCounts:
        pairs, pair_docs = _sum_by(np.stack([np.concatenate([self.sites, other.sites]),
                                             np.concatenate([self.keys, other.keys])
                                             .view(np.int64)], axis=1),
                                   np.concatenate([self.docs, other.docs]))
        site_codes, site_docs = _sum_by(np.concatenate([self.site_codes, other.site_codes])[:, None],
                                        np.concatenate([self.site_docs, other.site_docs]))
        return TemplateCounts(pairs[:, 0], pairs[:, 1].view(np.uint64), pair_docs,
                              site_codes[:, 0], site_docs)


def _sum_by(groups: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if not len(groups):
        return groups.reshape(0, groups.shape[1]).astype(np.int64), np.zeros(0, np.int64)
    uniq, inverse = np.unique(groups, axis=0, return_inverse=True)
    return uniq, np.bincount(inverse.ravel(), weights=values, minlength=len(uniq)).astype(np.int64)


def template_counts(sites: np.ndarray, doc_index: np.ndarray, keys: np.ndarray) -> TemplateCounts:
    """Count documents per (site, template key) and per site. sites: site code per paragraph;
    doc_index: document number per paragraph (unique across the run); keys: template_key per
    paragraph (uint64, 0 = none)."""
    sites = np.asarray(sites, np.int64)
    doc_index = np.asarray(doc_index, np.int64)
    keys = np.asarray(keys, np.uint64)
    if not len(keys):
        return TemplateCounts.empty()
    has_key = keys != 0
    # distinct (site, key, document) triples, then documents per (site, key)
    triples = np.unique(np.stack([sites[has_key], keys[has_key].view(np.int64),
                                  doc_index[has_key]], axis=1), axis=0)
    pairs, pair_docs = np.unique(triples[:, :2], axis=0, return_counts=True)
    if not len(pairs):
        pairs = np.zeros((0, 2), np.int64)
    site_codes, site_docs = np.unique(_site_of_each_document(sites, doc_index),
                                      return_counts=True)
    return TemplateCounts(pairs[:, 0], pairs[:, 1].view(np.uint64), pair_docs.astype(np.int64),
                          site_codes.astype(np.int64), site_docs.astype(np.int64))


def _site_of_each_document(sites: np.ndarray, doc_index: np.ndarray) -> np.ndarray:
    """The site of each distinct document (a document's paragraphs share one site). Document
    numbers are usually codes 0..n-1: then a table indexed by them, in linear time and small
    memory (this runs over every paragraph of a run); else by sorting."""
    if len(doc_index) and doc_index.min() >= 0 and doc_index.max() < 4 * len(doc_index) + 1024:
        size = int(doc_index.max()) + 1
        present = np.zeros(size, dtype=bool)
        present[doc_index] = True
        site_of = np.zeros(size, dtype=np.int64)
        site_of[doc_index] = sites
        return site_of[present]
    _, first = np.unique(doc_index, return_index=True)
    return sites[first]


def find_site_templates(sites: np.ndarray, doc_index: np.ndarray, keys: np.ndarray,
                        settings: BoilerplateSettings,
                        history: TemplateCounts | None = None,
                        counts: TemplateCounts | None = None) -> np.ndarray:
    """Which paragraphs are site template lines (a boolean mask over the paragraphs).

    sites: site code per paragraph (int); doc_index: document number per paragraph (int, unique
    across the run); keys: template_key per paragraph (uint64, 0 = none); history: the counts of
    earlier runs in the same site codes, if any; counts: this run's `template_counts`, when the
    caller has them already. A key is a template of a site when it occurs in
    >= template_min_docs documents of the site and in >= template_min_share of the site's
    documents, counting this run's documents and the earlier runs' together: a line repeated
    across runs counts even when this run has few documents of the site.
    """
    keys = np.asarray(keys, np.uint64)
    mask = np.zeros(len(keys), dtype=bool)
    has_key = keys != 0
    if not has_key.any():
        return mask
    if counts is None:
        counts = template_counts(sites, doc_index, keys)
    if history is not None:
        counts = counts + history
    docs_in_site = dict(zip(counts.site_codes.tolist(), counts.site_docs.tolist()))
    needed = np.array([max(settings.template_min_docs,
                           settings.template_min_share * docs_in_site.get(s, 0))
                       for s in counts.sites.tolist()])
    is_template = counts.docs >= needed
    if not is_template.any():
        return mask
    wanted = set(zip(counts.sites[is_template].tolist(),
                     counts.keys[is_template].view(np.int64).tolist()))
    idx = np.flatnonzero(has_key)
    pair_of_row = zip(np.asarray(sites)[idx].tolist(), keys[idx].view(np.int64).tolist())
    mask[idx] = [p in wanted for p in pair_of_row]
    return mask
