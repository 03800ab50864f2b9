"""Settings: one validated model that the flow takes and the CLI fills from flags or TOML.

Each stage reads its own section. `Settings.output_fingerprint()` hashes the sections that change
output rows, so the run id (and the incremental skip) follows the settings but not the paths,
the worker count or other knobs that only change speed.
"""

from __future__ import annotations

import hashlib
import json
import re
import tomllib
from pathlib import Path
from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ReadSettings(_Section):
    text_field: str = Field("text", description="JSONL/Parquet field that holds the document text")
    id_field: str = Field("id", description="field with the record's own id (optional in the data)")
    url_field: str = Field("url", description="field with the page URL (also looked up in `metadata`)")
    max_document_bytes: int = Field(
        10_000_000, gt=0, description="a record larger than this is rejected as too_large"
    )
    max_replacement_ratio: float = Field(
        0.01,
        ge=0,
        le=1,
        description="undecodable bytes are replaced by U+FFFD and counted; a record with a larger "
        "share of replaced characters is rejected as undecodable",
    )


class SplitSettings(_Section):
    mode: Literal["auto", "line", "blank_line"] = Field(
        "auto",
        description="line: every non-empty line is a paragraph; blank_line: blocks separated by "
        "blank lines; auto: lines, except that hard-wrapped blocks are joined",
    )


class MojibakeSettings(_Section):
    enabled: bool = True


class BoilerplateSettings(_Section):
    template_min_docs: int = Field(
        3, ge=2, description="a line repeated in at least this many documents of one source is a "
        "site template"
    )
    template_min_share: float = Field(
        0.1, ge=0, le=1, description="... and in at least this share of that source's documents"
    )
    template_max_words: int = Field(
        15, ge=1, description="longer repeated lines (quotes, bios) are left to the duplicate "
        "finder, which keeps one copy"
    )
    model: bool = Field(
        True, description="also flag lines the boilerplate model (small gradient-boosted trees "
        "over text-only line and neighbourhood features) calls non-content: `content_model`"
    )
    model_threshold: float = Field(
        0.3, ge=0, le=1, description="a line is content when the model's P(content) is at "
        "least this; below 0.5 leans towards keeping text"
    )
    model_prose_threshold: float = Field(
        0.05, ge=0, le=1, description="... and a prose line (10+ words ending in terminal "
        "punctuation with function words, or 30+ words) when it is at least this: sentences "
        "are taken out only when the model is very sure"
    )


class LanguageSettings(_Section):
    backend: Literal["fasttext", "langdetect"] = Field(
        "fasttext", description="fasttext: lid.176 with textwash's resolver (fast); langdetect: "
        "seeded, much slower (docs/benchmarks/language-and-encodings.md)"
    )
    min_score: float = Field(
        0.5, ge=0, le=1, description="below this confidence the paragraph's language is 'und' "
        "(fasttext's score is calibrated: the share of right answers at that score)"
    )
    langdetect_seed: int = 0
    screen: bool = Field(
        True, description="identify each document's language once and give it to the paragraphs "
        "whose frequent words plainly belong to it; the others are identified on their own "
        "(tasks/shard/language_screen.py). Off: every paragraph on its own (slower)"
    )
    borrow_max_chars: int = Field(
        40, ge=0, description="an 'und' paragraph up to this many characters takes its document's "
        "language; 0 turns borrowing off"
    )


class TranslationSettings(_Section):
    flag_threshold: float = Field(
        0.5, ge=0, le=1, description="a document or paragraph at or above this mt_score counts "
        "as MT-flagged (reports; the `word_patterns` signal)"
    )
    word_patterns: bool = Field(
        True, description="score English paragraphs with the word-pattern model as well as the "
        "rules (tasks/shard/translation_style.py); off: rules only"
    )


class DedupSettings(_Section):
    """Near duplicates are compared by their content words (function words left out): a spun or
    round-trip-translated copy keeps most of them while its word n-grams change."""

    min_score: float = Field(
        0.5, ge=0, le=1,
        description="the verifier's score a candidate pair must reach to count as a copy "
        "(tasks/cross_document/verifier.py: rarity, word order, length, own words, figures)",
    )
    min_jaccard: float = Field(
        0.2, gt=0, le=1,
        description="content-word Jaccard below which a pair is never a copy, whatever its "
        "score (a short paragraph contained in a long one is not its copy)",
    )
    quotes_need_own_words: bool = Field(
        False,
        description="where both paragraphs quote something, a copy only if their words outside "
        "the quotations reach min_jaccard too: two reports quoting one statement stay apart "
        "(off by default: such pairs say the same thing, and a training set wants them once; "
        "docs/benchmarks/duplicates.md has what it costs)",
    )
    num_perm: int = Field(192, ge=16, le=1024, description="MinHash permutations")
    bands: int = Field(64, ge=1, le=255, description="LSH bands")
    rows: int = Field(
        3, ge=1,
        description="signature rows per band: with 64 x 3 a pair at Jaccard 0.27 becomes a "
        "candidate with probability 0.72, at 0.3 0.83, at 0.4 0.98",
    )
    seed: int = 1
    min_words: int = Field(
        5, ge=1, description="paragraphs with fewer content words are matched exactly only"
    )

    @model_validator(mode="before")
    @classmethod
    def _threshold_was_replaced(cls, values):
        if isinstance(values, dict) and "threshold" in values:
            raise ValueError(
                "dedup.threshold (a content-word Jaccard) was replaced in textwash 0.3 by the "
                "verifier: dedup.min_score (its score, default 0.5) and dedup.min_jaccard "
                "(default 0.2); see docs/settings.md")
        if isinstance(values, dict) and "same_document_threshold" in values:
            raise ValueError(
                "dedup.same_document_threshold was removed in textwash 0.3: inside one "
                "document only exact copies count as duplicates; see docs/settings.md")
        return values

    @model_validator(mode="after")
    def _bands_fit_the_signature(self) -> DedupSettings:
        if self.bands * self.rows > self.num_perm:
            raise ValueError("bands x rows must not exceed num_perm")
        return self


class PolicySettings(_Section):
    drop_boilerplate: bool = True
    drop_duplicates: bool = True
    max_mt_score: float | None = Field(
        None, ge=0, le=1, description="drop documents whose mt_score is above this; None keeps all"
    )
    keep_languages: tuple[str, ...] | None = Field(
        None, description="keep only paragraphs in these languages (codes as in the lang "
        "column: en, de, ...; und for unknown); None keeps all"
    )

    @field_validator("keep_languages")
    @classmethod
    def _language_codes(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if value is None:
            return None
        codes = tuple(code.strip().lower() for code in value)
        if not codes:
            raise ValueError("an empty list would keep nothing; leave it unset to keep every "
                             "language")
        bad = [code for code in codes if not re.fullmatch(r"[a-z]{2,3}", code)]
        if bad:
            raise ValueError(f"{', '.join(map(repr, bad))}: not language codes; use the codes "
                             "of the lang column (ISO 639-1 where there is one: en, de, fr)")
        return codes


class RuntimeSettings(_Section):
    task_runner: Literal["auto", "thread", "process", "dask"] = Field(
        "auto", description="where shard tasks run: auto = threads for one shard, processes "
        "for more; dask = prefect-dask (see dask_address)"
    )
    workers: int = Field(2, ge=1, le=256, description="parallel shard tasks")
    shard_bytes: int = Field(
        16_000_000, ge=1, description="inputs are grouped into shards of about this many bytes"
    )
    dask_address: str | None = Field(
        None, description="an existing Dask scheduler (tcp://host:8786); None starts a "
        "LocalCluster of `workers` processes"
    )
    dask_dedup_min_rows: int = Field(
        1_000_000, ge=0, description="with the dask task runner, run the whole run-wide "
        "duplicate step on the cluster's workers from this many paragraphs in a run on "
        "(docs/scale-out.md); below, in the flow's process"
    )
    strict: bool = Field(False, description="fail the run (non-zero exit) if any record is rejected")
    retries: int = Field(
        1, ge=0, le=10, description="times a failed plan or shard task is tried again (a lost "
        "worker, a storage hiccup); the run-wide steps are not retried: they fail the run"
    )
    shard_timeout_seconds: float | None = Field(
        3600, gt=0, description="a shard task running longer fails (a hung read); None: no "
        "limit. Process-pool workers only: Prefect cannot interrupt a task in a thread"
    )
    step_timeout_seconds: float | None = Field(
        6 * 3600, gt=0, description="the same for the run-wide steps (cross_document, publish), "
        "whose time grows with the run's size; None: no limit"
    )


class CompactionSettings(_Section):
    """How `clean/` stays few files as runs accumulate (tasks/publish/compaction.py). Compaction
    moves rows between files, never changes them: not part of the output fingerprint."""

    enabled: bool = Field(True, description="compact at each run's commit; `textwash compact` "
                          "works either way")
    fanout: int = Field(8, ge=2, le=64, description="this many consecutive files of one size "
                        "tier are merged into one (a table's run folders, index segments, "
                        "manifests)")
    small_bytes: int = Field(1_000_000, ge=1, description="files below this size are one tier, "
                             "merged however many runs they hold")
    max_bytes: int = Field(128_000_000, ge=1, description="files of this size or more are left "
                           "as they are; merged table files are cut at about this size")


class StorageSettings(_Section):
    """Where `raw` and `clean` are URLs (s3://bucket/prefix, or another fsspec URL): how they are
    reached and where the local working copy lives (tasks/remote/). Not part of the output
    fingerprint: the rows are the same wherever they are stored."""

    options: dict[str, object] = Field(
        default_factory=dict, description="fsspec storage options for both URLs, e.g. "
        "{client_kwargs = {endpoint_url = \"http://127.0.0.1:9000\"}} for an S3-compatible "
        "server; credentials come from the usual AWS variables and files")
    cache_dir: str | None = Field(
        None, description="the local working copy of the URLs (a mirror of clean's current "
        "generation and of raw's objects); default: $TEXTWASH_CACHE, else "
        "~/.cache/textwash, one folder per URL. Keep it between scheduled runs: a new one "
        "downloads clean/ once")
    lock_ttl_seconds: float = Field(
        600, gt=0, description="the output's lock object is renewed while a run holds it; a "
        "lock not renewed for this long is taken to belong to a dead run and is taken over")
    mirrors: dict[str, str] = Field(
        default_factory=dict, exclude=True, description="set by textwash, not in a settings "
        "file: the URL each local working copy stands for while a run works on it (raw, clean)")


class Settings(BaseModel):
    """Everything a run needs. Paths are strings so the model travels as a Prefect parameter."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    raw: str = "raw"
    clean: str = "clean"
    read: ReadSettings = ReadSettings()
    split: SplitSettings = SplitSettings()
    mojibake: MojibakeSettings = MojibakeSettings()
    boilerplate: BoilerplateSettings = BoilerplateSettings()
    language: LanguageSettings = LanguageSettings()
    translation: TranslationSettings = TranslationSettings()
    dedup: DedupSettings = DedupSettings()
    policy: PolicySettings = PolicySettings()
    runtime: RuntimeSettings = RuntimeSettings()
    compaction: CompactionSettings = CompactionSettings()
    storage: StorageSettings = StorageSettings()

    @field_validator("raw", "clean")
    @classmethod
    def _not_empty(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must be a path")
        return value

    @model_validator(mode="after")
    def _distinct_dirs(self) -> Settings:
        from tasks.remote.urls import same_place

        if same_place(self.raw, self.clean):
            raise ValueError("raw and clean must be different folders")
        return self

    @model_validator(mode="after")
    def _languages_the_backend_knows(self) -> Settings:
        """A code the language backend never answers would silently drop every paragraph."""
        if self.policy.keep_languages:
            from tasks.shard.language import UNDETERMINED, supported_languages

            known = supported_languages(self.language.backend) | {UNDETERMINED}
            unknown = sorted(set(self.policy.keep_languages) - known)
            if unknown:
                raise ValueError(
                    f"policy.keep_languages: no paragraph is ever tagged {', '.join(unknown)} "
                    f"(language backend {self.language.backend}), so nothing would be kept for "
                    "it; use ISO 639-1 codes where the language has one (en, not eng)")
        return self

    # Sections whose values change the rows a run writes.
    OUTPUT_SECTIONS: ClassVar[tuple[str, ...]] = (
        "read", "split", "mojibake", "boilerplate", "language", "translation", "dedup", "policy",
    )

    def output_fingerprint(self) -> str:
        data = {name: getattr(self, name).model_dump(mode="json") for name in self.OUTPUT_SECTIONS}
        blob = json.dumps(data, sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]

    @classmethod
    def from_toml(cls, path: str | Path, **overrides: object) -> Settings:
        """Load a TOML file (sections as in the model) and apply dotted overrides on top."""
        try:
            with open(path, "rb") as fh:
                data = tomllib.load(fh)
        except OSError as exc:
            raise ValueError(f"cannot read settings file {path}: {exc.strerror}") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ValueError(f"settings file {path} is not valid TOML: {exc}") from exc
        return cls.from_dict(data, **overrides)

    def merged(self, overrides: dict | None) -> Settings:
        """These settings with a nested dict of some values on top (the rest kept), e.g.
        {"dedup": {"threshold": 0.3}}."""
        if not overrides:
            return self
        return type(self).model_validate(deep_merge(self.model_dump(mode="json"), overrides))

    @classmethod
    def from_dict(cls, data: dict, **overrides: object) -> Settings:
        merged = json.loads(json.dumps(data))  # deep copy of plain data
        for dotted, value in overrides.items():
            if value is None:
                continue
            node = merged
            *parents, leaf = dotted.split(".")
            for part in parents:
                node = node.setdefault(part, {})
            node[leaf] = value
        return cls.model_validate(merged)


def deep_merge(base: dict, top: dict) -> dict:
    """`base` with `top` on top, nested dicts merged key by key."""
    out = dict(base)
    for key, value in top.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out
