"""`textwash`: the command line.

    textwash run [RAW] [CLEAN] [flags]   run the clean_corpus flow (no Prefect server needed)
    textwash serve --cron "0 * * * *" [RAW] [CLEAN] [flags]
                                         serve it as a scheduled Prefect deployment
    textwash report [CLEAN]              print the latest run's summary
    textwash compact [CLEAN] [--full]    merge small files now (runs do it as they commit)
    textwash files [CLEAN] --table T     list the files that hold a table now, for readers

RAW and CLEAN are folders or URLs (s3://bucket/prefix; docs/object-storage.md).

Settings come from the defaults, then a TOML file (--config), then flags.
"""

from __future__ import annotations

import argparse
import atexit
import gc
import json
import os
import sys
from pathlib import Path

from pydantic import ValidationError

EXIT_CODES = """exit codes:
  0  the run was published, or there was nothing new to process
  1  the run failed (the message says why; the Prefect flow run has the traceback)
  2  bad usage or settings, or an input folder that is missing or cannot be listed
  3  --strict and some input records were rejected: nothing was published
  4  another textwash run is writing to the same output folder"""

# flag dest -> dotted settings path
_FLAG_TO_SETTING = {
    "raw": "raw",
    "clean": "clean",
    "strict": "runtime.strict",
    "workers": "runtime.workers",
    "shard_bytes": "runtime.shard_bytes",
    "task_runner": "runtime.task_runner",
    "dask_address": "runtime.dask_address",
    "language_backend": "language.backend",
    "split": "split.mode",
    "dedup_min_score": "dedup.min_score",
    "max_mt_score": "policy.max_mt_score",
    "keep_languages": "policy.keep_languages",
    "keep_duplicates": "policy.drop_duplicates",
    "keep_boilerplate": "policy.drop_boilerplate",
    "text_field": "read.text_field",
    "id_field": "read.id_field",
}


def _add_settings_flags(run: argparse.ArgumentParser) -> None:
    run.add_argument("raw", nargs="?", default=None, help="input folder (default raw/)")
    run.add_argument("clean", nargs="?", default=None, help="output folder (default clean/)")
    run.add_argument("--config", help="TOML settings file (sections as in docs/settings.md)")
    run.add_argument("--strict", action="store_true", default=None,
                     help="fail (exit 3, publish nothing) if any input record is rejected")
    run.add_argument("--workers", type=int, help="parallel shard tasks (default 2)")
    run.add_argument("--shard-mb", dest="shard_bytes", type=_megabytes,
                     help="input megabytes per shard task (default 16)")
    run.add_argument("--task-runner", choices=["auto", "thread", "process", "dask"])
    run.add_argument("--dask-address", help="Dask scheduler for --task-runner dask "
                     "(default: a local cluster)")
    run.add_argument("--language-backend", choices=["fasttext", "langdetect"])
    run.add_argument("--split", choices=["auto", "line", "blank_line"],
                     help="how documents are cut into paragraphs")
    run.add_argument("--dedup-min-score", type=float,
                     help="the duplicate verifier's score a pair must reach (0-1)")
    run.add_argument("--max-mt-score", type=float,
                     help="drop documents with a higher machine-translation score")
    run.add_argument("--keep-languages", type=lambda s: [x.strip() for x in s.split(",") if x],
                     help="comma-separated ISO codes: drop paragraphs in other languages")
    run.add_argument("--keep-duplicates", action="store_false", default=None,
                     help="tag duplicates but keep them in documents.text")
    run.add_argument("--keep-boilerplate", action="store_false", default=None,
                     help="tag boilerplate but keep it in documents.text")
    run.add_argument("--text-field", help="JSONL/Parquet field with the text (default text)")
    run.add_argument("--id-field", help="JSONL/Parquet field with the record id (default id)")


def _megabytes(text: str) -> int:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be more than 0, not {text}")
    return max(1, int(value * 1e6))


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    from tasks.version import TEXTWASH_VERSION

    try:
        prefect = version("prefect")
    except PackageNotFoundError:
        prefect = "not installed"
    return f"textwash {TEXTWASH_VERSION} (prefect {prefect}, python {sys.version.split()[0]})"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="textwash", description=__doc__.split("\n\n")[0],
                                     epilog=EXIT_CODES,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=_version())
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="clean, tag and deduplicate RAW into CLEAN",
                         epilog=EXIT_CODES, formatter_class=argparse.RawDescriptionHelpFormatter)
    _add_settings_flags(run)
    run.add_argument("--json", action="store_true", help="print the run manifest as JSON")

    serve = sub.add_parser("serve", help="serve the flow as a scheduled Prefect deployment "
                           "(needs a Prefect server: PREFECT_API_URL)", epilog=EXIT_CODES,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    _add_settings_flags(serve)
    serve.add_argument("--cron", help='schedule, e.g. "0 * * * *" (every hour); none: run only '
                       "when triggered")
    serve.add_argument("--name", default="textwash", help="deployment name (default textwash)")

    report = sub.add_parser("report", help="print the latest run's summary")
    report.add_argument("clean", nargs="?", default="clean")
    report.add_argument("--config", help="TOML settings file: its [storage] section")
    report.add_argument("--markdown", action="store_true", help="the full markdown report")

    compact = sub.add_parser("compact", help="merge CLEAN's small files now (each run's commit "
                             "does it as it goes; the rows stay the same)", epilog=EXIT_CODES,
                             formatter_class=argparse.RawDescriptionHelpFormatter)
    compact.add_argument("clean", nargs="?", default="clean")
    compact.add_argument("--config", help="TOML settings file: its [compaction] and [storage] "
                         "sections")
    compact.add_argument("--full", action="store_true", help="merge every run of consecutive "
                         "files below compaction.max_bytes, not only those the tiers say")

    files = sub.add_parser("files", help="print the files that hold a table now, one a line, "
                           "in run order: what a reader reads for one committed state")
    files.add_argument("clean", nargs="?", default="clean")
    files.add_argument("--table", default="documents",
                       choices=["documents", "paragraphs", "rejects"])
    files.add_argument("--config", help="TOML settings file: its [storage] section")
    return parser


def settings_from_args(args: argparse.Namespace):
    from tasks.settings import Settings

    overrides = {dotted: getattr(args, dest) for dest, dotted in _FLAG_TO_SETTING.items()}
    if args.config:
        return Settings.from_toml(args.config, **overrides)
    return Settings.from_dict({}, **overrides)


def _valid_settings(args: argparse.Namespace):
    """The settings from flags and --config, or None after saying what is invalid."""
    try:
        return settings_from_args(args)
    except ValidationError as exc:
        problems = "\n".join(f"  {'.'.join(map(str, e['loc'])) or 'settings'}: "
                             f"{e['msg'].removeprefix('Value error, ')}" for e in exc.errors())
        print(f"textwash: invalid settings:\n{problems}", file=sys.stderr)
        return None
    except ValueError as exc:
        print(f"textwash: invalid settings: {exc}", file=sys.stderr)
        return None


def _print_summary(manifest: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    from tasks.publish.report import summary_rows

    table = Table(title=f"textwash run {manifest['run_id']}", show_header=False)
    table.add_column(style="bold")
    table.add_column()
    for label, value in summary_rows(manifest):
        table.add_row(label, value)
    Console().print(table)


def _run(args: argparse.Namespace) -> int:
    settings = _valid_settings(args)
    if settings is None:
        return 2
    from tasks.remote.urls import is_url

    if is_url(settings.raw):
        pass  # listed by the run, which says clearly if it cannot be
    elif not Path(settings.raw).is_dir():
        print(f"textwash: input folder {settings.raw} does not exist", file=sys.stderr)
        return 2
    try:
        if not is_url(settings.raw):
            with os.scandir(settings.raw):
                pass
    except OSError as exc:
        print(f"textwash: input folder {settings.raw} cannot be listed: {exc.strerror}",
              file=sys.stderr)
        return 2
    code = _output_locked(settings)
    if code is not None:
        return code
    from flows.prefect_server import early_server

    # The temporary server (if the run needs one) starts now, while this process plans the run
    # and imports the flow; a run with nothing to do stops it at once.
    with early_server() as server:
        code = _nothing_new(settings)
        if code is not None:
            return code
        print(f"textwash: {settings.raw} -> {settings.clean} (starting Prefect; without a "
              "configured server it starts a temporary one, which takes a few seconds)",
              file=sys.stderr, flush=True)
        return _run_flow(settings, server, args.json)


def _run_flow(settings, server, as_json: bool) -> int:
    from flows.startup import collector_paused

    with collector_paused():
        from flows.clean_corpus import StrictModeError, run_clean_corpus
        from tasks.store import RunLockedError

    try:
        manifest = run_clean_corpus(settings, server)
    except StrictModeError as exc:
        print(f"textwash: {exc}", file=sys.stderr)
        return 3
    except RunLockedError as exc:
        print(f"textwash: {exc}", file=sys.stderr)
        return 4
    except Exception as exc:  # noqa: BLE001 - the flow logged the traceback; say it plainly
        print(f"textwash: the run failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    if manifest.get("run_id") is None:
        _print_nothing_new(settings, manifest["skipped_inputs"])
        return 0
    if as_json:
        print(json.dumps(manifest, indent=2))
    else:
        _print_summary(manifest)
    return 0


def _output_locked(settings) -> int | None:
    """4 after saying that another run holds the output folder (1 if it cannot be read): said
    before Prefect starts, in a second. The flow checks again under its lock."""
    from tasks.remote.session import output_locked_by

    try:
        holder = output_locked_by(settings)
    except Exception as exc:  # noqa: BLE001 - a bucket that cannot be reached: say it plainly
        return _unreadable(settings.clean, exc)
    if holder is not None:
        print(f"textwash: another textwash run is writing to {settings.clean} ({holder}); wait "
              "for it to finish, or use another output folder", file=sys.stderr)
        return 4
    return None


def _nothing_new(settings) -> int | None:
    """0 after saying that there is nothing new to process (1 if planning failed); None when
    there is, or when it is known only in the run (a URL). Said before Prefect is imported; the
    flow plans again under its lock."""
    from tasks.plan import plan_run
    from tasks.remote.urls import is_url

    if is_url(settings.raw) or is_url(settings.clean):
        return None  # what is new is known once the working copies are up to date, in the run
    try:
        plan = plan_run(settings)
    except Exception as exc:  # noqa: BLE001 - e.g. an unreadable manifest: say it plainly
        print(f"textwash: the run failed while planning: {type(exc).__name__}: {exc}",
              file=sys.stderr)
        return 1
    if not plan.inputs:
        _print_nothing_new(settings, plan.skipped)
        return 0
    return None


def _print_nothing_new(settings, skipped: list[str]) -> None:
    print(f"textwash: nothing new to process: {len(skipped)} inputs in {settings.raw} are "
          f"unchanged since earlier runs in {settings.clean}")


def _serve(args: argparse.Namespace) -> int:
    settings = _valid_settings(args)
    if settings is None:
        return 2
    if args.cron is not None:
        from prefect.client.schemas.schedules import CronSchedule

        try:
            CronSchedule(cron=args.cron)
        except ValidationError:
            print(f"textwash: --cron {args.cron!r} is not a cron schedule (five fields: minute "
                  'hour day-of-month month day-of-week, e.g. "0 * * * *" for every hour)',
                  file=sys.stderr)
            return 2
    from prefect.settings import PREFECT_API_URL

    if not PREFECT_API_URL.value():
        print("textwash: serve needs a Prefect server. Start one (prefect server start) and "
              "point at it: export PREFECT_API_URL=http://127.0.0.1:4200/api", file=sys.stderr)
        return 2
    from flows.clean_corpus import clean_corpus, deployment_parameters

    # Named apart from prefect.yaml's work-pool deployment (textwash-pool): stopping serve pauses
    # this deployment only (no runs pile up while nothing serves it), never the pool's.
    clean_corpus.serve(name=args.name, cron=args.cron,
                       parameters=deployment_parameters(settings),
                       description=f"textwash: {settings.raw} -> {settings.clean}",
                       tags=["textwash"])
    return 0


def _settings_for(args: argparse.Namespace, output_folder: bool = False):
    """Settings for the commands that take only CLEAN and --config; None after saying why.
    `output_folder`: a local CLEAN must be a textwash output folder."""
    from tasks.remote.urls import is_url
    from tasks.settings import Settings

    try:
        settings = Settings.from_toml(args.config, clean=args.clean) if args.config else \
            Settings.from_dict({"clean": args.clean})
    except (ValueError, ValidationError) as exc:
        print(f"textwash: {exc}", file=sys.stderr)
        return None
    if output_folder and not is_url(args.clean) and \
            not (Path(args.clean) / ".current").is_symlink():
        print(f"textwash: {args.clean} is not a textwash output folder", file=sys.stderr)
        return None
    return settings


def _unreadable(clean: str, exc: Exception) -> int:
    """Say plainly that the output (a bucket, usually) could not be read: exit 1."""
    print(f"textwash: {clean} cannot be read: {type(exc).__name__}: {exc}", file=sys.stderr)
    return 1


def _report(args: argparse.Namespace) -> int:
    from tasks.publish.report import markdown_report
    from tasks.remote.session import committed_manifests

    settings = _settings_for(args)
    if settings is None:
        return 2
    try:
        runs = committed_manifests(settings)
    except Exception as exc:  # noqa: BLE001 - a bucket that cannot be read: say it plainly
        return _unreadable(args.clean, exc)
    if not runs:
        print(f"textwash: no runs in {args.clean}", file=sys.stderr)
        return 2
    if args.markdown:
        print(markdown_report(runs[-1]))
    else:
        _print_summary(runs[-1])
    return 0


def _compact(args: argparse.Namespace) -> int:
    from tasks.publish.compaction import compact, plan_merges
    from tasks.remote.session import hold_output
    from tasks.store import Layout, RunLockedError, Store

    settings = _settings_for(args, output_folder=True)
    if settings is None:
        return 2
    try:
        with hold_output(settings, lambda line: print(line, file=sys.stderr),
                         with_raw=False) as held:
            store = Store(held.settings.clean)
            before = _count_files(store.root / ".current")
            current = Layout(store.current_generation())
            done = store.rearrange(lambda g: compact(g, settings.compaction, full=args.full)) \
                if plan_merges(current, settings.compaction, full=args.full) else []
            if done:
                held.publish()
            if held.mirror is not None:
                for stray in held.mirror.sweep():
                    print(f"deleted {held.mirror.bucket.url_of(stray)}: no generation lists it")
    except RunLockedError as exc:
        print(f"textwash: {exc}", file=sys.stderr)
        return 4
    for merge in done:
        print(f"{merge['what']}: {merge['merged']} files or folders -> {merge['into']}")
    if not done:  # no new generation: the one kept for readers stays
        print(f"nothing to merge ({before} files)")
    else:
        print(f"{before} files before, {_count_files(store.root / '.current')} after")
    return 0


def _files(args: argparse.Namespace) -> int:
    from tasks.remote.session import table_files

    settings = _settings_for(args, output_folder=True)
    if settings is None:
        return 2
    try:
        names = table_files(settings, args.table)
    except Exception as exc:  # noqa: BLE001 - a bucket that cannot be read: say it plainly
        return _unreadable(args.clean, exc)
    try:
        for name in names:
            print(name)
    except BrokenPipeError:  # `textwash files | head`: the reader had enough
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - Python flushes stdout at exit
    return 0


def _count_files(folder: Path) -> int:
    return sum(len(files) for _, _, files in os.walk(folder.resolve()))


def main(argv: list[str] | None = None) -> int:
    # At exit, after the atexit handlers Prefect registered (they run first): the interpreter's
    # last garbage collection would go through every object of Prefect and the models, for
    # nothing, as the process ends. Frozen objects are left to the end of the process.
    atexit.register(gc.freeze)
    args = _parser().parse_args(argv)
    return {"run": _run, "serve": _serve, "report": _report,
            "compact": _compact, "files": _files}[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
