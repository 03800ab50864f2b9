"""The reports made from a run manifest (tasks/publish/manifest.py): the terminal summary, the
Prefect markdown and table artifacts and `textwash report` are all rendered from it, so they
agree.
"""

from __future__ import annotations


def summary_rows(manifest: dict) -> list[tuple[str, str]]:
    """(label, value) pairs: the summary a data engineer reads after a run."""
    c = manifest["counts"]
    langs = ", ".join(f"{k} {v}" for k, v in largest_first(c["document_languages"])[:8]) or "-"
    bp = sum(c["boilerplate_rules"].values())
    return [
        ("run", manifest["run_id"]),
        ("inputs", f"{len(manifest['inputs'])} new, {len(manifest['skipped_inputs'])} unchanged"),
        ("documents", f"{c['documents']:,} ({c['documents_kept']:,} with kept text)"),
        ("paragraphs", f"{c['paragraphs']:,} ({c['paragraphs_kept']:,} kept)"),
        ("rejects", f"{c['rejects']:,}" + _top(c["reject_errors"])),
        ("boilerplate", f"{bp:,} paragraphs" + _top(c["boilerplate_rules"])),
        ("duplicates", (f"{c['duplicates']:,} paragraphs in {c['clusters']:,} clusters"
                        f" ({c['duplicates_of_earlier_runs']:,} of earlier runs' paragraphs)")),
        ("largest cluster", _largest(c["largest_clusters"])),
        ("MT-flagged", (f"{c['mt_flagged_documents']:,} documents (mt_score >= "
                        f"{manifest['settings']['translation']['flag_threshold']})")),
        ("mojibake fixed", f"{c['mojibake_fixed']:,} paragraphs"),
        ("languages", langs),
        ("seconds", f"{manifest['seconds']['total']:.1f}"),
        ("output", manifest["output"]),
    ]


def _largest(clusters: list[dict]) -> str:
    if not clusters:
        return "-"
    top = clusters[0]
    example = top["example"] if len(top["example"]) <= 60 else top["example"][:57] + "..."
    return f"{top['size']} x {example!r}"


def largest_first(counter: dict) -> list[tuple[str, int]]:
    """A count table's items, largest count first, ties by name (manifests store them by name)."""
    return sorted(counter.items(), key=lambda item: (-item[1], item[0]))


def _top(counter: dict, n: int = 4) -> str:
    if not counter:
        return ""
    return " (" + ", ".join(f"{k} {v}" for k, v in largest_first(counter)[:n]) + ")"


def markdown_report(manifest: dict) -> str:
    c = manifest["counts"]
    lines = [f"# textwash run {manifest['run_id']}", "", "| | |", "|---|---|"]
    lines += [f"| {label} | {_cell(value)} |" for label, value in summary_rows(manifest)]
    lines += ["", "## Seconds", "", "| step | wall seconds |", "|---|---:|"]
    lines += [f"| {k} | {v:.2f} |" for k, v in manifest["seconds"].items()]
    lines += ["", "| shard stage | seconds (summed over shards) |", "|---|---:|"]
    lines += [f"| {k} | {v:.2f} |" for k, v in manifest["stage_seconds"].items()]
    if manifest.get("cross_document_seconds"):  # absent from manifests of earlier versions
        written = manifest.get("cross_document_written_bytes") or {}
        if written:  # the step ran on a cluster: what each part wrote for the next ones
            lines += ["", "| cross_document part | wall seconds | MB written |",
                      "|---|---:|---:|"]
            lines += [f"| {k} | {v:.2f} | {written.get(k, 0) / 1e6:.1f} |"
                      for k, v in manifest["cross_document_seconds"].items()]
        else:
            lines += ["", "| cross_document part | wall seconds |", "|---|---:|"]
            lines += [f"| {k} | {v:.2f} |"
                      for k, v in manifest["cross_document_seconds"].items()]
    lines += ["", "## Paragraphs dropped", "", "| reason | paragraphs |", "|---|---:|"]
    lines += [f"| {k} | {v} |" for k, v in largest_first(c["drop_reasons"])] or ["| none | 0 |"]
    if c["boilerplate_rules"]:
        lines += ["", "## Boilerplate rules", "", "| rule | paragraphs | examples |",
                  "|---|---:|---|"]
        lines += [f"| {k} | {v} | {_cell(' / '.join(c['rule_examples'].get(k, [])))} |"
                  for k, v in largest_first(c["boilerplate_rules"])]
    lines += ["", "## Languages (documents)", "", "| language | documents |", "|---|---:|"]
    lines += [f"| {k} | {v} |" for k, v in largest_first(c["document_languages"])]
    if c["mt_signals"]:
        lines += ["", "## Machine-translation signals", "", "| signal | hits |", "|---|---:|"]
        lines += [f"| {k} | {v} |" for k, v in largest_first(c["mt_signals"])]
    if c["mt_flagged_examples"]:
        lines += ["", "## Documents flagged as machine-translated", "",
                  "| source | doc_id | mt_score | signals |", "|---|---|---:|---|"]
        lines += [f"| {d['source']} | {d['doc_id']} | {d['mt_score']:.3f} | "
                  f"{', '.join(d['signals'])} |" for d in c["mt_flagged_examples"]]
    if c["largest_clusters"]:
        lines += ["", "## Largest duplicate clusters", "", "| size | canonical | example |",
                  "|---:|---|---|"]
        lines += [f"| {cl['size']} | {cl['canonical']} | {_cell(cl['example'])} |"
                  for cl in c["largest_clusters"]]
    if c["reject_errors"]:
        lines += ["", "## Rejects", "", "| error | records | examples |", "|---|---:|---|"]
        for error, n in largest_first(c["reject_errors"]):
            examples = "; ".join(f"{e['source']}@{e['position']}: {e['detail']}"
                                 for e in c["reject_examples"].get(error, []))
            lines.append(f"| {error} | {n} | {_cell(examples)} |")
    if manifest.get("superseded"):
        lines += ["", "## Superseded (inputs read again)", "",
                  "| earlier run | sources | documents | paragraphs | rejects |",
                  "|---|---|---:|---:|---:|"]
        lines += [f"| {s['run_id']} | {_cell(', '.join(s['sources']))} | {s['documents']} | "
                  f"{s['paragraphs']} | {s['rejects']} |" for s in manifest["superseded"]]
    return "\n".join(lines) + "\n"


def table_rows(manifest: dict) -> list[dict]:
    """Per input: what the run read from it (the Prefect table artifact)."""
    return [{"source": i["source"], "format": i["format"] or "unsupported",
             "bytes": i["bytes"], "documents": i["documents"], "rejects": i["rejects"]}
            for i in manifest["inputs"]]


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")
