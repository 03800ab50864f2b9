"""Every reason name is defined once, in tasks/reasons.py: what the code can emit is registered
there, the per-shard stages spell none of them themselves, and the docs name every one."""

from __future__ import annotations

import ast
import itertools
from pathlib import Path

import pyarrow as pa
import pytest

from tasks import reasons
from tasks.plan.inputs import discover_inputs
from tasks.settings import BoilerplateSettings, PolicySettings, ReadSettings, TranslationSettings
from tasks.shard import translation
from tasks.shard.boilerplate import flag_boilerplate
from tasks.shard.boilerplate.phrases import PHRASE_RULES
from tasks.shard.read import read_inputs

REPO = Path(__file__).resolve().parent.parent
REGISTRIES = {
    "BOILERPLATE_RULES": reasons.BOILERPLATE_RULES,
    "MT_SIGNALS": reasons.MT_SIGNALS,
    "DOCUMENT_DROP_REASONS": reasons.DOCUMENT_DROP_REASONS,
    "REJECT_ERRORS": reasons.REJECT_ERRORS,
}
REGISTERED = set().union(*REGISTRIES.values())


def _constants() -> dict[str, str]:
    return {k: v for k, v in vars(reasons).items() if k.isupper() and isinstance(v, str)}


def test_every_constant_is_in_a_registry_and_names_itself():
    for constant, name in _constants().items():
        assert constant == name.upper(), constant
        assert name in REGISTERED, f"{constant} is in no registry"
    assert len(_constants()) == len(REGISTERED)  # no two constants with one name
    for registry, names in REGISTRIES.items():
        assert len(set(names)) == len(names), registry


def test_the_phrase_rules_are_registered_in_their_order():
    assert tuple(PHRASE_RULES) == reasons.PHRASE_RULES


def test_every_rule_flag_boilerplate_emits_is_registered():
    lines = [p for rules in PHRASE_RULES.values() for kind in rules for p in kind]
    lines += ["Home | News | Sport | Weather", "1 of 3", "23 comments", "***", "Photo: Reuters",
              "Monday, 5 January 2021, 10:30 am", "Tweet Share Email"]
    prose = ("The council met on Monday evening to discuss the budget for the coming year, "
             "and the members agreed on most of the points that were raised.")
    page = ["Menu", "Latest", *[prose] * 5, "Related", "About", "Contact", "Jan 5, 2021"]
    table = pa.table({"doc_id": ["lines"] * len(lines) + ["page"] * len(page),
                      "text": lines + page})
    emitted = set()
    for model in (True, False):
        settings = BoilerplateSettings(model=model)
        emitted |= set(flag_boilerplate(table, settings)["boilerplate_rule"].to_pylist())
    assert emitted - {None} <= set(reasons.BOILERPLATE_RULES)
    assert set(reasons.PHRASE_RULES) <= emitted  # the lines above reach every phrase rule


def test_the_mt_rules_are_registered_and_weighted():
    assert set(translation.RULE_LOGODDS) == set(reasons.MT_RULES)
    assert reasons.MT_SIGNALS == (*reasons.MT_RULES, reasons.WORD_PATTERNS)
    for lang, document_lang in itertools.product(["en", "de", "fr", "fi", "pl", "ja", None],
                                                 ["en", "de", "fr", "und", None]):
        rules, _ = translation.rules_for(lang, document_lang)
        assert {name for name, _, _ in rules} <= set(translation.RULE_LOGODDS)


def test_flag_translation_emits_the_registered_rule_signals():
    texts = ["It costs $ 1 million. ; However the users . .",
             ("Said Arvind Krishna, CEO of IBM, that the IMB deal is done; Stating that "
              "own.twoeastern was “ fine ”and ‘wrong”."),
             "IBM and the IBM team. the deal was. and then it went , on"]
    paragraphs, documents = translation.flag_translation(
        pa.table({"doc_id": ["a"] * len(texts), "text": texts}), TranslationSettings())
    emitted = {s for row in paragraphs["mt_signals"].to_pylist() for s in row}
    assert emitted == set(documents["mt_signals"][0].as_py()) == set(reasons.MT_RULES)


def test_read_inputs_emits_the_registered_errors(tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "bad.jsonl").write_text('{"text": 3}\nnot json\n[1]\n{"x": 1}\n{"text": "  "}\n'
                                   '{"id": 1, "text": "a"}\n{"id": 1, "text": "b"}\n')
    (raw / "empty.jsonl").write_bytes(b"")
    (raw / "binary.txt").write_bytes(b"\x00\x01\x02\x03" * 10)
    (raw / "fake.jsonl.gz").write_bytes(b"not gzip")
    (raw / "bad.parquet").write_bytes(b"PAR1 not really")
    (raw / "notes.doc").write_bytes(b"hello")
    (raw / "big.txt").write_text("x" * 200)
    _, rejects, _ = read_inputs(discover_inputs(str(raw)), ReadSettings(max_document_bytes=100))
    assert set(rejects["error"].to_pylist()) == {
        reasons.BAD_PARQUET, reasons.BAD_TEXT_TYPE, reasons.BINARY, reasons.DUPLICATE_ID,
        reasons.EMPTY_FILE, reasons.EMPTY_TEXT, reasons.MALFORMED_JSON, reasons.MISSING_TEXT,
        reasons.NOT_AN_OBJECT, reasons.NOT_GZIP, reasons.TOO_LARGE, reasons.UNSUPPORTED_FORMAT}


def _emit_sites(path: Path) -> list[tuple[int, ast.expr]]:
    """Where a module names a reject error: reject(source, position, ERROR, detail),
    DecodeError(ERROR, detail), problem=(ERROR, detail), `return ERROR, detail` and
    `"error": pa.array([ERROR] * n)`."""
    sites = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call):
            func = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(
                node.func, "id", None)
            if func == "reject" and len(node.args) >= 3:
                sites.append(node.args[2])
            elif func == "DecodeError" and node.args:
                sites.append(node.args[0])
            for keyword in node.keywords:
                if keyword.arg == "problem" and isinstance(keyword.value, ast.Tuple):
                    sites.append(keyword.value.elts[0])
        elif isinstance(node, ast.Return) and isinstance(node.value, ast.Tuple) and \
                len(node.value.elts) == 2:
            sites.append(node.value.elts[0])
        elif isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values):
                if isinstance(key, ast.Constant) and key.value == "error" and \
                        isinstance(value, ast.Call) and value.args and \
                        isinstance(value.args[0], ast.BinOp) and \
                        isinstance(value.args[0].left, ast.List):
                    sites.extend(value.args[0].left.elts)
    return [(site.lineno, site) for site in sites]


def _named(site: ast.expr) -> str | None:
    """The reason a site names: a string, or reasons.X; None for one passed on (exc.code)."""
    if isinstance(site, ast.Constant) and isinstance(site.value, str):
        return site.value
    if isinstance(site, ast.Attribute) and isinstance(site.value, ast.Name) and \
            site.value.id.startswith("reasons") and site.attr.isupper():
        return getattr(reasons, site.attr, f"reasons.{site.attr} (not defined)")
    return None


@pytest.mark.parametrize("module", ["tasks/plan/inputs.py", "tasks/shard/read.py",
                                    "tasks/shard/decode.py", "tasks/publish/__init__.py"])
def test_every_reject_error_the_code_names_is_registered(module):
    named = [(line, _named(site)) for line, site in _emit_sites(REPO / module)]
    named = [(line, name) for line, name in named if name is not None]
    assert named, f"no reject error found in {module}: has the way it names them changed?"
    for line, name in named:
        assert name in reasons.REJECT_ERRORS, f"{module}:{line}: {name!r}"


def test_every_registered_reject_error_is_named_somewhere():
    named = {_named(site) for module in ("plan/inputs.py", "shard/read.py", "shard/decode.py",
                                         "publish/__init__.py")
             for _, site in _emit_sites(REPO / "tasks" / module)}
    assert named - {None} == set(reasons.REJECT_ERRORS)


def test_the_drop_reasons_publish_decides_are_registered():
    import numpy as np
    import pyarrow as pa

    from tasks.publish.decisions import (
        PARAGRAPH_REASONS,
        as_strings,
        document_drop_reasons,
        paragraph_reasons,
    )

    def document(codes, mt_dropped=False):
        n = len(codes)
        return document_drop_reasons(np.zeros(n, np.int64), 1, np.asarray(codes, np.int64),
                                     np.ones(n), np.array([mt_dropped])).to_pylist()[0]

    assert tuple(PARAGRAPH_REASONS) == reasons.PARAGRAPH_DROP_REASONS
    rows = list(itertools.product([None, "navigation"], [None, "p1"], [0.1, 0.9], ["en", "de"]))
    rules, dups, mts, langs = (list(column) for column in zip(*rows))
    decided = set()
    for drop in itertools.product([True, False], [True, False], [None, 0.5], [None, ("en",)]):
        policy = PolicySettings(drop_boilerplate=drop[0], drop_duplicates=drop[1],
                                max_mt_score=drop[2], keep_languages=drop[3])
        codes = paragraph_reasons(pa.array(rules, pa.string()), pa.array(dups, pa.string()),
                                  np.array(mts), pa.array(langs), policy)
        decided |= set(as_strings(codes, PARAGRAPH_REASONS).to_pylist())
        for n in (1, 2, 4):
            decided.add(document(codes[:n]))
    decided |= {document([]), document([-1], mt_dropped=True)}
    assert decided - {None} == set(reasons.DOCUMENT_DROP_REASONS)


def _code_strings(path: Path):
    """The string constants of a module's code: not docstrings, not a stage's `section`, not the
    phrases of the phrase rules (which only look like rule names: "newsletter")."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skipped = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr) and \
                isinstance(body[0].value, ast.Constant):
            skipped.add(id(body[0].value))
        if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == "section" for t in node.targets):
            skipped.add(id(node.value))
        if isinstance(node, ast.AnnAssign) and getattr(node.target, "id", "") == "PHRASE_RULES":
            skipped |= {id(n) for value in node.value.values for n in ast.walk(value)}
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and \
                id(node) not in skipped:
            yield node.lineno, node.value


def test_the_shard_stages_spell_no_reason_themselves():
    for path in sorted((REPO / "tasks" / "shard").rglob("*.py")):
        for line, value in _code_strings(path):
            assert value not in REGISTERED, (f"{path.relative_to(REPO)}:{line}: {value!r}: "
                                             "import it from tasks/reasons.py")


def test_every_reasons_constant_the_code_uses_exists():
    for path in sorted([*(REPO / "tasks").rglob("*.py"), *(REPO / "flows").rglob("*.py")]):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and \
                    node.value.id.startswith("reasons") and node.attr.isupper():
                assert hasattr(reasons, node.attr), f"{path}:{node.lineno}: {node.attr}"


@pytest.mark.parametrize("registry,page", [("BOILERPLATE_RULES", "stages.md"),
                                           ("MT_SIGNALS", "stages.md"),
                                           ("DOCUMENT_DROP_REASONS", "output.md"),
                                           ("REJECT_ERRORS", "input.md")])
def test_the_docs_name_every_registered_reason(registry, page):
    text = (REPO / "docs" / page).read_text(encoding="utf-8")
    missing = [name for name in REGISTRIES[registry] if f"`{name}`" not in text]
    assert not missing, f"docs/{page} does not name {missing}"
