"""The [dedup] settings the near-duplicate benchmarks take as flags (neardup_pan13.py,
neardup_msrp.py): `--min-score` and `--quotes-need-own-words`, the others at their defaults."""

from __future__ import annotations

import argparse

from tasks.settings import DedupSettings, Settings


def add_dedup_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--min-score", type=float, default=None,
                        help="dedup.min_score (default: the setting's default)")
    parser.add_argument("--quotes-need-own-words", action="store_true",
                        help="dedup.quotes_need_own_words (default off)")


def dedup_settings(args: argparse.Namespace) -> dict:
    """The [dedup] section the flags ask for, as given to Settings."""
    dedup = {} if args.min_score is None else {"min_score": args.min_score}
    if args.quotes_need_own_words:
        dedup["quotes_need_own_words"] = True
    return dedup


def describe(dedup: dict) -> str:
    """The settings a run used, for the printed header."""
    used: DedupSettings = Settings.model_validate({"dedup": dedup}).dedup
    return f"min_score {used.min_score}, quotes_need_own_words {used.quotes_need_own_words}"
