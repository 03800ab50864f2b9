"""The run summary a data engineer reads: the largest counts first."""

from tasks.publish.report import markdown_report, summary_rows


def manifest() -> dict:
    counts = {
        "documents": 10, "documents_kept": 9, "paragraphs": 100, "paragraphs_kept": 60,
        "rejects": 3, "reject_errors": {"binary": 1, "malformed_json": 2},
        "boilerplate_rules": {"author_bio": 1, "comment_form": 2, "share_bar": 3, "counter": 4,
                              "trailing_run": 30},
        "document_languages": {"ar": 1, "de": 2, "en": 7},
        "duplicates": 0, "clusters": 0, "duplicates_of_earlier_runs": 0, "largest_clusters": [],
        "mt_flagged_documents": 0, "mojibake_fixed": 0, "drop_reasons": {"boilerplate": 40},
        "rule_examples": {}, "mt_signals": {"currency_space": 1, "said_that": 5},
        "mt_flagged_examples": [], "reject_examples": {},
    }
    return {"run_id": "00001-x", "inputs": [], "skipped_inputs": [], "counts": counts,
            "settings": {"translation": {"flag_threshold": 0.5}}, "seconds": {"total": 1.0},
            "stage_seconds": {}, "output": "clean"}


def test_summary_lists_the_largest_rules_and_languages_first():
    rows = dict(summary_rows(manifest()))
    assert rows["boilerplate"] == ("40 paragraphs (trailing_run 30, counter 4, share_bar 3, "
                                   "comment_form 2)")
    assert rows["languages"] == "en 7, de 2, ar 1"
    assert rows["rejects"] == "3 (malformed_json 2, binary 1)"


def test_markdown_tables_are_largest_first():
    report = markdown_report(manifest())
    assert report.index("| said_that | 5 |") < report.index("| currency_space | 1 |")
    assert report.index("| en | 7 |") < report.index("| ar | 1 |")
