"""The docs point at things that exist and name what the code has.

README.md, BENCHMARKS.md, benchmarks/README.md and every page under docs/: each file path of the
repository they mention exists, each relative link leads to a file (and to a heading of it, for
a link with #anchor), each dotted `tasks.` / `flows.` name resolves. docs/settings.md shows every
settings field with its default, docs/output.md every column of the published tables, and
docs/command-line.md every flag and exit code of the command line.
"""

from __future__ import annotations

import importlib
import importlib.util
import re
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
DOCS = sorted([REPO / "README.md", REPO / "BENCHMARKS.md", REPO / "benchmarks" / "README.md",
               *(REPO / "docs").rglob("*.md")])

# Scripts the docs name on purpose although they are gone: removed in f446983, recoverable
# from git (docs/benchmarks/machine-translation.md says how).
REMOVED = {"benchmarks/mt_alternatives.py", "benchmarks/mt_alternatives_round2.py"}

_PATH = re.compile(r"(?<![\w./-])((?:tasks|flows|benchmarks|tests|docs)/[\w./-]*?"
                   r"\.(?:py|json|ftz|md|toml|yaml))(?![\w/-])")
_FOLDER = re.compile(r"(?<![\w./-])((?:tasks|flows|benchmarks|tests|docs)/(?:[\w-]+/)*)"
                     r"(?![\w<*.-])")
_LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
_DOTTED = re.compile(r"(?<![\w.])((?:tasks|flows)(?:\.\w+)+)")


def _doc_id(path: Path) -> str:
    return str(path.relative_to(REPO))


def _prose(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = heading.strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    anchors, seen, fence = set(), {}, False
    for line in _prose(path).splitlines():
        if line.startswith("```"):
            fence = not fence
        if fence:
            continue
        m = re.match(r"#{1,6}\s+(.*)", line)
        if m:
            slug = _slug(m.group(1))
            n = seen.get(slug, 0)
            seen[slug] = n + 1
            anchors.add(slug if n == 0 else f"{slug}-{n}")
    return anchors


@pytest.mark.parametrize("doc", DOCS, ids=_doc_id)
def test_every_file_path_mentioned_exists(doc):
    text = re.sub(r"\]\([^)]*\)", "]()", _prose(doc))  # link targets: the next test's
    missing = sorted({p for p in _PATH.findall(text)
                      if p not in REMOVED and not (REPO / p).is_file()})
    missing += sorted({p for p in _FOLDER.findall(text) if not (REPO / p).is_dir()})
    assert not missing, f"{_doc_id(doc)} names paths that do not exist: {missing}"


def test_the_removed_scripts_are_really_gone():
    assert not any((REPO / p).exists() for p in REMOVED)


@pytest.mark.parametrize("doc", DOCS, ids=_doc_id)
def test_every_relative_link_leads_somewhere(doc):
    broken = []
    for target in _LINK.findall(_prose(doc)):
        if re.match(r"[a-z]+:", target):  # http:, https:, mailto:
            continue
        file_part, _, anchor = target.partition("#")
        dest = (doc.parent / file_part).resolve() if file_part else doc
        if not dest.exists():
            broken.append(f"{target} (no such file)")
        elif anchor and dest.suffix == ".md" and anchor not in _anchors(dest):
            broken.append(f"{target} (no heading #{anchor} in {_doc_id(dest)})")
    assert not broken, f"{_doc_id(doc)}: {broken}"


def _resolves(dotted: str) -> bool:
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        module = ".".join(parts[:cut])
        try:
            found = importlib.util.find_spec(module) is not None
        except ModuleNotFoundError:
            found = False
        if not found:
            continue
        if cut == len(parts):
            return True
        obj = importlib.import_module(module)
        for attr in parts[cut:]:
            if not hasattr(obj, attr):
                return False
            obj = getattr(obj, attr)
        return True
    return False


@pytest.mark.parametrize("doc", DOCS, ids=_doc_id)
def test_every_dotted_name_resolves(doc):
    unknown = sorted({d for d in _DOTTED.findall(_prose(doc)) if not _resolves(d)})
    assert not unknown, f"{_doc_id(doc)} names what the code does not have: {unknown}"


def _toml_block(page: Path) -> str:
    match = re.search(r"```toml\n(.*?)```", _prose(page), re.DOTALL)
    assert match, f"no TOML block in {_doc_id(page)}"
    return match.group(1)


def test_the_settings_page_shows_every_field_with_its_default():
    from tasks.settings import Settings

    block = _toml_block(REPO / "docs" / "settings.md")
    shown = tomllib.loads(block)
    Settings.model_validate(shown)  # the block is a valid settings file
    commented: dict[str, set[str]] = {}
    section = ""
    for line in block.splitlines():
        if m := re.match(r"\[(\w+)\]", line):
            section = m.group(1)
        elif m := re.match(r"#\s*(\w+)\s*=", line):
            commented.setdefault(section, set()).add(m.group(1))
    defaults = Settings().model_dump(mode="json")
    problems = []
    for key, value in defaults.items():
        fields = value if isinstance(value, dict) else None
        if fields is None:
            if shown.get(key) != value:
                problems.append(f"{key} = {value!r}")
            continue
        for name, default in fields.items():
            if default is None:
                if name not in commented.get(key, set()):
                    problems.append(f"[{key}] # {name} = ... (unset by default)")
            elif shown.get(key, {}).get(name) != default:
                problems.append(f"[{key}] {name} = {default!r}")
        extra = set(shown.get(key, {})) - set(fields)
        problems += [f"[{key}] {name}: not a field" for name in sorted(extra)]
    assert not problems, f"docs/settings.md differs from tasks/settings.py: {problems}"


def _sections(page: Path) -> dict[str, str]:
    out, title = {}, ""
    for line in _prose(page).splitlines():
        if line.startswith("## "):
            title = line[3:]
        out[title] = out.get(title, "") + line + "\n"
    return out


def test_the_output_page_names_every_column():
    from tasks.schema import TABLES

    sections = _sections(REPO / "docs" / "output.md")
    for table, schema in TABLES.items():
        body = next((text for title, text in sections.items() if title.startswith(f"`{table}`")),
                    None)
        assert body is not None, f"docs/output.md has no section for {table}"
        named = set(re.findall(r"`(\w+)`", body))
        missing = [name for name in schema.names if name not in named]
        assert not missing, f"docs/output.md, {table}: no row for {missing}"


def test_the_command_line_page_names_every_flag_and_exit_code():
    from flows.cli import EXIT_CODES, _parser

    page = _prose(REPO / "docs" / "command-line.md")
    parser = _parser()
    commands = next(a for a in parser._actions if a.dest == "command").choices
    flags = {flag for sub in commands.values() for action in sub._actions
             for flag in action.option_strings if flag.startswith("--") and flag != "--help"}
    flags |= {f for a in parser._actions for f in a.option_strings if f.startswith("--")}
    flags.discard("--help")
    missing = sorted(f for f in flags if not re.search(re.escape(f) + r"(?![\w-])", page))
    assert not missing, f"docs/command-line.md does not mention {missing}"
    codes = set(re.findall(r"^\s+(\d)\s", EXIT_CODES, re.MULTILINE))
    documented = set(re.findall(r"^\| (\d) \|", page, re.MULTILINE))
    assert codes == documented


def test_the_readme_keeps_the_two_commands_and_ci_runs_the_second():
    readme = _prose(REPO / "README.md")
    run = ".venv/bin/pip install -e . && .venv/bin/textwash run"
    test = ("python3 -m venv .venv && .venv/bin/pip install -e '.[test]' && "
            ".venv/bin/python -m pytest")
    assert f"python3 -m venv .venv && {run}\n" in readme
    assert f"{test}\n" in readme
    assert f"{test}\n" in (REPO / ".ci" / "run").read_text(encoding="utf-8")
    assert len(readme.splitlines()) <= 150
