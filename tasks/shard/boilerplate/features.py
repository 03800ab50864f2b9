"""Text-only features of a line and of its place in the document, for the boilerplate model.

Without the HTML, what separates an article from its page furniture is the shape of a line
(length, terminal punctuation, share of letters and digits, capitalised menu words, function
words of prose) and its neighbourhood: article text comes in a run of long prose lines, menus and
footers in runs of short ones before and after it (the shallow text features of Kohlschütter et
al. 2010, "Boilerplate detection using shallow text features", without link density).

Line features are computed for a whole shard at once with Arrow's regex kernels (RE2, in C++);
context features with numpy over the document boundaries. No per-paragraph Python here.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

# Function words of prose in the four languages of the phrase rules: menus and titles have few.
_FUNCTION_WORDS = (
    "the|a|an|of|to|in|and|or|is|are|was|were|be|been|has|have|had|that|this|it|its|for|on|with|"
    "as|by|at|from|he|she|they|we|you|i|his|her|their|our|not|but|said|will|would|can|could|"
    "der|die|das|und|ist|nicht|ein|eine|einen|mit|von|zu|den|dem|des|sich|auf|sie|er|es|wir|"
    "le|la|les|de|du|et|est|un|une|pour|dans|que|qui|sur|pas|il|elle|ils|nous|au|aux|"
    "el|los|las|y|es|en|por|con|para|una|del|se|lo|su|sus|al|como|pero"
)
# (Counting every match of a big class such as \pL is slow in RE2; letters are counted by
# deleting the rest instead, words by splitting.)
_REGEX_COUNTS = {
    "digits": r"\pN",
    "upper": r"\p{Lu}",
    "cap_words": r"(?:^|\s)[\"'“‘(\[¿¡]?\p{Lu}",
    "function_words": r"(?i)\b(?:" + _FUNCTION_WORDS + r")\b",
    "separators": r"[|·•»›]|\s[/>-]\s",
    "sentence_breaks": r"[.!?][\"'”’)]*\s+[\"'“‘(¿¡]?\p{Lu}",
    "commas": r",",
    # readers' comments speak in the first and second person, exclaim and ask
    "first_person": r"(?i)\b(?:i|i'm|i've|i'd|i'll|me|my|mine)\b",
    "second_person": r"(?i)\b(?:you|your|you're|yours)\b",
    "exclaims": r"[!?]",
}
_REGEX_FLAGS = {
    "ends_terminal": r"[.!?][\"'”’»)]*$",
    "ends_quote": r"[\"”’»]$",
    "ends_colon": r":$",
    "ends_ellipsis": r"(?:\.\.\.|…)[\"'”’»)]*$",
    "ends_pipe_or_arrow": r"[|>»›]$",
    "starts_bullet": r"^[•*·▪►\-–—]",
    "starts_lower": r"^\p{Ll}",
    "starts_digit": r"^\pN",
    "has_url": r"(?i)https?://|www\.|\.(?:com|org|net|co\.uk|de|fr|es)\b|\S@\S+\.",
    "has_copyright": r"(?i)©|\(c\)|copyright",
    "has_date": r"(?i)\b(?:19|20)\d\d\b|\b\d{1,2}[./-]\d{1,2}[./-]\d{2,4}\b|\b\d{1,2}:\d\d\b",
    "has_month": r"(?i)\b(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec|january|"
                 r"february|march|april|june|july|august|september|october|november|december|"
                 r"januar|februar|märz|mai|juni|juli|oktober|dezember|janvier|février|mars|"
                 r"avril|juin|juillet|août|septembre|octobre|novembre|décembre|enero|febrero|"
                 r"marzo|abril|mayo|junio|julio|agosto|septiembre|octubre|noviembre|"
                 r"diciembre)\b",
    "has_time": r"(?i)\b\d{1,2}:\d\d\b|\b\d{1,2} ?(?:am|pm|a\.m\.|p\.m\.)",
    "byline": r"^(?:[Bb]y|BY|[Vv]on|VON|[Pp]ar|[Pp]or)\s+[\"'“]?\p{Lu}",
    "comment_meta": r"(?i)^(?:posted|submitted|written|added) (?:by|on|at)\b|^(?:reply|report|"
                    r"report abuse|recommend|flag|permalink|quote)$|\bsays:$|\bwrote:$",
    # where a comment section starts or its form stands
    "comment_marker": r"(?i)^(?:\d+\s+)?(?:comments?|reader comments|your comments|have your say|"
                      r"leave a (?:reply|comment)|post a comment|add (?:a |your )?comment|"
                      r"kommentare|kommentar schreiben|commentaires|comentarios|responses|"
                      r"replies)\b|^(?:posted|submitted) by\b",
}


def line_features(texts: pa.Array) -> dict[str, np.ndarray]:
    """Shape of each line, as float arrays (counts, shares, 0/1 flags)."""
    texts = pa.array(texts, type=pa.string()) if not isinstance(texts, pa.Array) else texts
    f: dict[str, np.ndarray] = {
        "chars": _numpy(pc.utf8_length(texts)),
        "words": _numpy(pc.list_value_length(pc.utf8_split_whitespace(texts))),
        "letters": _numpy(pc.utf8_length(pc.replace_substring_regex(texts, r"\PL+", ""))),
    }
    for name, pattern in _REGEX_COUNTS.items():
        f[name] = _numpy(pc.count_substring_regex(texts, pattern))
    for name, pattern in _REGEX_FLAGS.items():
        f[name] = _numpy(pc.match_substring_regex(texts, pattern))
    chars = np.maximum(f["chars"], 1)
    words = np.maximum(f["words"], 1)
    f["letter_share"] = f["letters"] / chars
    f["digit_share"] = f["digits"] / chars
    f["upper_share"] = f["upper"] / np.maximum(f["letters"], 1)
    f["cap_share"] = f["cap_words"] / words
    f["function_share"] = f["function_words"] / words
    f["mean_word_len"] = f["letters"] / words
    return f


def _numpy(values: pa.Array) -> np.ndarray:
    return values.to_numpy(zero_copy_only=False).astype(np.float64)


def document_bounds(doc_ids: pa.ChunkedArray | pa.Array | None, n: int) -> tuple[np.ndarray,
                                                                               np.ndarray]:
    """Per row: index of its document's first row, and its document's number of rows.
    A document's paragraphs are contiguous rows; with no doc_id the table is one document."""
    if doc_ids is None or n == 0:
        return np.zeros(n, np.int64), np.full(n, n, np.int64)
    ids = doc_ids.combine_chunks() if isinstance(doc_ids, pa.ChunkedArray) else doc_ids
    codes = pc.dictionary_encode(ids).indices.to_numpy(zero_copy_only=False)
    new_doc = np.ones(n, bool)
    new_doc[1:] = codes[1:] != codes[:-1]
    starts = np.flatnonzero(new_doc)
    lengths = np.diff(np.append(starts, n))
    doc_no = np.cumsum(new_doc) - 1
    return starts[doc_no], lengths[doc_no]


class _Doc:
    """Row positions inside documents, and helpers for shifted/windowed values that never cross
    a document boundary."""

    def __init__(self, start: np.ndarray, length: np.ndarray) -> None:
        self.n = len(start)
        self.row = np.arange(self.n)
        self.start = start
        self.end = start + length  # exclusive
        self.pos = self.row - start
        self.length = length
        self.doc_no = np.cumsum(self.pos == 0) - 1

    def shift(self, values: np.ndarray, k: int, fill: float) -> np.ndarray:
        """values of the row k places later (k > 0) or earlier (k < 0) in the same document."""
        src = self.row + k
        ok = (src >= self.start) & (src < self.end)
        out = np.full(self.n, fill, dtype=np.float64)
        out[ok] = values[src[ok]]
        return out

    # A row's features must not depend on which rows come before its document (other shards
    # cut the input elsewhere): no sums of floats over the whole table, whose rounding would.

    def window_mean(self, values: np.ndarray, k: int) -> np.ndarray:
        """Mean of values over rows i-k..i+k of the same document, each row's sum taken over its
        own window only, in the same order wherever the document sits in the table."""
        total = np.array(values, dtype=np.float64)
        count = np.ones(self.n)
        for j in range(1, k + 1):
            for offset in (-j, j):
                src = self.row + offset
                ok = (src >= self.start) & (src < self.end)
                total[ok] += values[src[ok]]
                count += ok
        return total / count

    def doc_sum(self, values: np.ndarray) -> np.ndarray:
        """Sum of values over the row's document (each document summed on its own)."""
        if not self.n:
            return np.zeros(0)
        firsts = np.flatnonzero(self.pos == 0)
        return np.add.reduceat(np.asarray(values, dtype=np.float64), firsts)[self.doc_no]

    def before_sum(self, values: np.ndarray) -> np.ndarray:
        """Sum of values over the earlier rows of the same document. Integer-valued values only:
        their prefix sums are exact, so the difference does not depend on the rows before."""
        whole = np.asarray(values).astype(np.int64)
        if not np.array_equal(whole, values):
            raise ValueError("before_sum takes integer-valued arrays")
        cs = np.concatenate([[0], np.cumsum(whole)])
        return (cs[self.row] - cs[self.start]).astype(np.float64)

    def main_run(self, score: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per row: first and last row (inclusive) of its document's maximum-sum run of the
        integer `score` (Kadane, vectorised across documents: a decreasing offset per document
        makes the running minimum of the prefix sums restart at each document)."""
        if not self.n:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        score = score.astype(np.int64)
        cs = np.cumsum(score)
        before = cs - score  # prefix sum before each row
        offset = self.doc_no * (int(np.abs(score).sum()) + 1)
        run_min = np.minimum.accumulate(before - offset) + offset  # min prefix so far in doc
        gain = cs - run_min
        order = np.lexsort((-gain, self.doc_no))  # per document, the row of highest gain first
        first = np.ones(self.n, bool)
        first[1:] = self.doc_no[order][1:] != self.doc_no[order][:-1]
        end = order[first][self.doc_no]
        # the run starts at the last row at or before `end` whose prefix sum is that minimum
        is_start = (before == run_min[end]) & (self.row <= end)
        start = np.maximum.reduceat(np.where(is_start, self.row, -1),
                                    np.flatnonzero(self.pos == 0))[self.doc_no]
        return start, end


def features(texts: pa.Array, norms: list[str], doc_start: np.ndarray, doc_len: np.ndarray,
             template_keys: np.ndarray, phrase_hit: np.ndarray, family_hit: np.ndarray
             ) -> dict[str, np.ndarray]:
    """The model's features by name (one float array each, in a fixed order), plus the main run
    of each row's document as `main_start`/`main_end` (row numbers, not model features)."""
    f = line_features(texts)
    d = _Doc(doc_start, doc_len)
    words = f["words"]
    lw = np.log1p(words)
    prose = ((words >= 10) & (f["ends_terminal"] > 0) & (f["function_share"] >= 0.15)) | (
        words >= 30)
    prose = prose.astype(np.float64)
    out: dict[str, np.ndarray] = {}
    for name in ("words", "chars"):
        out[name] = np.log1p(f[name])
    for name in ("letter_share", "digit_share", "upper_share", "cap_share", "function_share",
                 "mean_word_len", "separators", "sentence_breaks", "commas", "ends_terminal",
                 "ends_quote", "ends_colon", "ends_ellipsis", "ends_pipe_or_arrow",
                 "starts_bullet", "starts_lower", "starts_digit", "has_url", "has_copyright",
                 "has_date", "has_month", "byline", "comment_meta", "comment_marker",
                 "exclaims", "has_time"):
        out[name] = f[name]
    out["first_person_share"] = f["first_person"] / np.maximum(words, 1)
    out["second_person_share"] = f["second_person"] / np.maximum(words, 1)
    out["phrase_hit"] = phrase_hit.astype(np.float64)
    out["family_hit"] = family_hit.astype(np.float64)
    out["prose"] = prose
    out["doc_lines"] = np.log1p(d.length)
    out["pos_rel"] = d.pos / np.maximum(d.length - 1, 1)
    out["pos"] = np.log1p(d.pos)
    out["pos_from_end"] = np.log1p(d.length - 1 - d.pos)
    for k in (1, 2, 3):
        out[f"prev{k}_words"] = d.shift(lw, -k, -1.0)
        out[f"next{k}_words"] = d.shift(lw, k, -1.0)
    out["prev_terminal"] = d.shift(f["ends_terminal"], -1, -1.0)
    out["next_terminal"] = d.shift(f["ends_terminal"], 1, -1.0)
    out["continues"] = f["starts_lower"] * (1 - out["prev_terminal"].clip(0, 1))
    out["prev_cap_share"] = d.shift(f["cap_share"], -1, -1.0)
    out["next_cap_share"] = d.shift(f["cap_share"], 1, -1.0)
    for k in (2, 5, 10):
        out[f"prose_win{k}"] = d.window_mean(prose, k)
        out[f"words_win{k}"] = d.window_mean(lw, k)
    prose_cs = np.concatenate([[0.0], np.cumsum(prose)])
    lo = np.maximum(d.row - 5, d.start)
    hi = np.minimum(d.row + 6, d.end)
    out["prose_prev5"] = (prose_cs[d.row] - prose_cs[lo]) / 5
    out["prose_next5"] = (prose_cs[hi] - prose_cs[d.row + 1]) / 5
    out["words_vs_doc_max"] = lw - _doc_max(d, lw)
    doc_chars = np.maximum(d.doc_sum(f["chars"]), 1)
    prose_chars = prose * f["chars"]
    out["chars_before_share"] = d.before_sum(f["chars"]) / doc_chars
    out["prose_before_share"] = d.before_sum(prose_chars) / np.maximum(d.doc_sum(prose_chars), 1)
    out["doc_prose_share"] = d.doc_sum(prose_chars) / doc_chars
    out["doc_prose_lines"] = np.log1p(d.doc_sum(prose))
    # the main run: the stretch of the document richest in prose; a sentence in a family's
    # wording ("X is powered by Y") counts against it, so the run ends before such notes
    score = np.where((prose > 0) & ~family_hit, f["chars"], -(np.minimum(f["chars"], 200) // 2) - 20)
    start, end = d.main_run(score)
    out["before_main"] = np.log1p(np.maximum(start - d.row, 0))
    cs_chars = np.concatenate([[0.0], np.cumsum(f["chars"])])
    out["chars_to_main"] = np.log1p(np.where(d.row < start, cs_chars[start] - cs_chars[d.row + 1],
                                             np.where(d.row > end, cs_chars[d.row] - cs_chars[end + 1],
                                                      0)))
    out["after_main"] = np.log1p(np.maximum(d.row - end, 0))
    out["in_main"] = ((d.row >= start) & (d.row <= end)).astype(np.float64)
    # repeated inside the document (menus at top and bottom)
    keyed = template_keys != 0
    reps = np.zeros(d.n)
    if keyed.any():
        pair = np.stack([d.doc_no[keyed], template_keys[keyed].view(np.int64)], axis=1)
        _, inv, counts = np.unique(pair, axis=0, return_inverse=True, return_counts=True)
        reps[keyed] = counts[inv.ravel()] - 1
    out["repeats_in_doc"] = np.minimum(reps, 5)
    # runs of non-prose lines: a menu is a long run, the headline and byline above an article a
    # short one that ends where the prose starts
    run_start, run_end = _runs(d, prose == 0)
    out["short_run_len"] = np.log1p(run_end - run_start + 1)
    out["short_run_left"] = np.log1p(run_end - d.row)
    out["phrase_win2"] = d.window_mean(phrase_hit.astype(np.float64), 2)
    out["family_win2"] = d.window_mean(family_hit.astype(np.float64), 2)
    # a comment's signature: a short line with a time or "says:" just above or below
    signature = (((f["has_time"] > 0) & (words <= 15)) | (f["comment_meta"] > 0)).astype(float)
    out["signature_win2"] = d.window_mean(signature, 2)
    # comments follow a comment header or precede a comment form
    marker = f["comment_marker"]
    out["comment_marker_before"] = (d.before_sum(marker) > 0).astype(np.float64)
    out["comment_marker_after"] = ((d.doc_sum(marker) - d.before_sum(marker) - marker) > 0
                                   ).astype(np.float64)
    out["in_title"], out["title_of_later"], out["title_overlap"] = _title_relations(norms, d)
    # rows to the nearest prose line, either way (64 when the document has none)
    prose_rows = np.where(prose > 0, d.row, -(10**9))
    last_prose = np.maximum.accumulate(prose_rows)
    next_rows = np.where(prose > 0, d.row, 10**9)
    next_prose = np.minimum.accumulate(next_rows[::-1])[::-1]
    gap = np.minimum(np.where(last_prose >= d.start, d.row - last_prose, 64),
                     np.where(next_prose < d.end, next_prose - d.row, 64))
    out["rows_to_prose"] = np.log1p(np.minimum(gap, 64))
    out["offset_to_main_start"] = np.clip(d.row - start, -6, 6)
    out["offset_to_main_end"] = np.clip(d.row - end, -6, 6)
    out["main_start"], out["main_end"] = start, end
    return out


NOT_MODEL_FEATURES = ("main_start", "main_end")


def feature_matrix(feats: dict[str, np.ndarray], rows: np.ndarray | None = None
                   ) -> tuple[np.ndarray, list[str]]:
    """The model's input: rows x features (all rows, or the given ones), and the names."""
    names = [k for k in feats if k not in NOT_MODEL_FEATURES]
    if rows is None:
        return np.stack([feats[k] for k in names], axis=1), names
    return np.stack([feats[k][rows] for k in names], axis=1), names


def _runs(d: _Doc, member: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per row: first and last row of the run of consecutive `member` rows (within its
    document) that holds it; the row itself when it is not a member."""
    # a run starts after a non-member or at a document's first row, and ends likewise
    starts = np.where(~member, d.row + 1, np.where(d.pos == 0, d.row, 0))
    first = np.where(member, np.maximum.accumulate(starts), d.row)
    ends = np.where(~member, d.row - 1, np.where(d.row == d.end - 1, d.row, d.n))
    last = np.where(member, np.minimum.accumulate(ends[::-1])[::-1], d.row)
    return first, last


def _doc_max(d: _Doc, values: np.ndarray) -> np.ndarray:
    if not d.n:
        return values
    return np.maximum.reduceat(values, np.flatnonzero(d.pos == 0))[d.doc_no]


def _title_relations(norms: list[str], d: _Doc, max_lines: int = 200
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A scraped page often starts with its <title> ("Headline - Section - Site") and repeats the
    headline, or a variant of it, above the article. Per row (normalised text): in_title, a
    later line of >= 2 words found inside the first line; title_of_later, the first line holds
    such a line; title_overlap, the share of a later short line's words that the first line has.
    Only the first max_lines lines of a document are compared."""
    in_title = np.zeros(d.n)
    title_of_later = np.zeros(d.n)
    overlap = np.zeros(d.n)
    for s, e in zip(np.flatnonzero(d.pos == 0).tolist(), (d.end[d.pos == 0]).tolist()):
        title = norms[s]
        if not title:
            continue
        title_words = set(title.split())
        for i in range(s + 1, min(e, s + max_lines)):
            line = norms[i]
            if " " not in line:
                continue
            if line in title:
                in_title[i] = 1
                title_of_later[s] = 1
            words = line.split()
            if len(words) <= 25:
                overlap[i] = sum(w in title_words for w in words) / len(words)
    return in_title, title_of_later, overlap
