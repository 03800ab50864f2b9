import json
import os

from conftest import fifo_writer_stand_in

from tasks import plan
from tasks.settings import ReadSettings, Settings
from tasks.shard.read import read_inputs


def _settings(tmp_path, **runtime):
    return Settings.model_validate({"raw": str(tmp_path / "raw"), "clean": str(tmp_path / "clean"),
                                    "runtime": runtime})


def _corpus(tmp_path):
    (tmp_path / "raw").mkdir()
    lines = [json.dumps({"id": f"r{i}", "text": f"Record {i} says something in plain words."})
             for i in range(300)]
    (tmp_path / "raw" / "a.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (tmp_path / "raw" / "b.txt").write_text("A short text file.\n", encoding="utf-8")
    return sum(p.stat().st_size for p in (tmp_path / "raw").iterdir())


def test_a_run_smaller_than_the_workers_shards_is_cut_into_one_shard_per_worker(
        tmp_path, monkeypatch):
    total = _corpus(tmp_path)
    monkeypatch.setattr(plan, "MIN_SHARD_BYTES", 1000)
    p = plan.plan_run(_settings(tmp_path, workers=2))
    assert len(p.shards) == 2
    sizes = [sum(p.parts[i].size(p.inputs[p.parts[i].input]) for i in shard) for shard in p.shards]
    assert sum(sizes) == total and max(sizes) <= total // 2 + 200  # cut at a line end
    assert len(plan.plan_run(_settings(tmp_path, workers=1)).shards) == 1
    assert len(plan.plan_run(_settings(tmp_path, workers=4)).shards) == 4


def test_a_small_run_stays_one_shard(tmp_path):
    _corpus(tmp_path)  # far below MIN_SHARD_BYTES: a second process would cost more than it saves
    assert len(plan.plan_run(_settings(tmp_path, workers=2)).shards) == 1


def _bad_raw(tmp_path, monkeypatch, fifos):
    """RAW with a folder that cannot be listed (os.scandir refuses it: tests run as root, who
    may list any folder), a FIFO, a symlink loop and a name that is not UTF-8."""
    raw = tmp_path / "raw"
    (raw / "locked").mkdir(parents=True)
    (raw / "locked" / "in.txt").write_text("Never listed.", encoding="utf-8")
    (raw / "a.txt").write_text("A readable text.", encoding="utf-8")
    (raw / os.fsdecode(b"caf\xe9.txt")).write_bytes(b"Un caf\xc3\xa9.")
    os.mkfifo(raw / "pipe.txt")
    fifos.append(str(raw / "pipe.txt"))
    os.symlink("loop2", raw / "loop1")
    os.symlink("loop1", raw / "loop2")
    real = os.scandir
    locked = os.path.abspath(raw / "locked")

    def scandir(path="."):
        if os.path.abspath(path) == locked:
            raise PermissionError(13, "Permission denied", str(path))
        return real(path)

    monkeypatch.setattr(os, "scandir", scandir)


def test_bad_inputs_are_planned_as_rejects_and_the_run_id_is_deterministic(
        tmp_path, monkeypatch):
    """The plan never opens a FIFO (it would wait for a writer), survives the link loop, and
    plans the folder it cannot list as an input whose read is a reject row."""
    with fifo_writer_stand_in([]) as fifos:
        _bad_raw(tmp_path, monkeypatch, fifos)
        first = plan.plan_run(_settings(tmp_path))
    assert [i.source for i in first.inputs] == ["a.txt", "caf\\xe9.txt", "locked/", "loop1",
                                                "loop2", "pipe.txt"]
    assert [i.sha256 is None for i in first.inputs] == [False, False, True, True, True, True]
    _, rejects, _ = read_inputs(first.shard_inputs(0), ReadSettings())
    assert [(r["source"], r["error"]) for r in rejects.to_pylist()] == [
        ("locked/", "unreadable"), ("loop1", "unreadable"), ("loop2", "unreadable"),
        ("pipe.txt", "not_a_file")]
    again = plan.plan_run(Settings.model_validate({"raw": str(tmp_path / "raw"),
                                                   "clean": str(tmp_path / "clean2")}))
    assert again.run_id == first.run_id
    assert again.shard_keys(0) == first.shard_keys(0)


def _history(tmp_path, fingerprint, *runs):
    """Committed run manifests, as far as planning reads them. An input is (source, sha256) or
    (source, None, problem) for an unreadable attempt."""
    from tasks.store import Store

    folder = Store(str(tmp_path / "clean")).runs_dir
    folder.mkdir(parents=True, exist_ok=True)
    for sequence, (run_id, inputs, superseded) in enumerate(runs, start=1):
        manifest = {"run_id": run_id, "sequence": sequence, "settings_fingerprint": fingerprint,
                    "inputs": [{"source": i[0], "sha256": i[1],
                                "problem": list(i[2]) if len(i) > 2 else None} for i in inputs],
                    "superseded": [{"run_id": r, "sources": sources} for r, sources in superseded]}
        (folder / f"{run_id}.json").write_text(json.dumps(manifest), encoding="utf-8")


def test_a_retried_input_replaces_the_rejects_of_its_unreadable_attempts(tmp_path):
    """An attempt that could not read an input left one reject row; the next run that can read
    the input reads it again, even unchanged since its last good read, and replaces both, so
    the tables do not pile up stale rejects and no run only removes rows."""
    raw = tmp_path / "raw"
    (raw / "locked").mkdir(parents=True)
    (raw / "a.txt").write_text("Unchanged since run 1.", encoding="utf-8")
    (raw / "b.txt").write_text("Readable at last.", encoding="utf-8")
    (raw / "locked" / "in.txt").write_text("Listable now.", encoding="utf-8")
    settings = _settings(tmp_path)
    sha_a = plan.scan_file(str(raw / "a.txt"))[0]
    _history(tmp_path, settings.output_fingerprint(),
             ("00001-aaa", [("a.txt", sha_a), ("b.txt", None), ("locked/", None)], []),
             ("00002-bbb", [("a.txt", None), ("b.txt", None)], [("00001-aaa", ["b.txt"])]))
    p = plan.plan_run(settings)
    assert [i.source for i in p.inputs] == ["a.txt", "b.txt", "locked/in.txt"]
    assert p.skipped == []
    assert sorted(p.supersedes) == [("a.txt", "00001-aaa"), ("a.txt", "00002-bbb"),
                                    ("b.txt", "00002-bbb"), ("locked/", "00001-aaa")]


def test_an_input_unreadable_for_the_same_reason_again_is_unchanged(tmp_path, fifo_unblocker):
    """A FIFO or a link loop under RAW stays what it is: the next run has nothing new for it
    (else every scheduled run would be a new run of the same reject rows). Failing for another
    reason is news: a new reject row for it."""
    raw = tmp_path / "raw"
    raw.mkdir()
    os.mkfifo(raw / "pipe.txt")
    fifo_unblocker.append(str(raw / "pipe.txt"))
    os.symlink("loop", raw / "loop")
    (raw / "gone.txt").symlink_to(raw / "nowhere.txt")
    settings = _settings(tmp_path)
    first = plan.plan_run(settings)
    problems = {i.source: i.problem for i in first.inputs}
    assert {s: p[0] for s, p in problems.items()} == {
        "gone.txt": "unreadable", "loop": "unreadable", "pipe.txt": "not_a_file"}
    _history(tmp_path, settings.output_fingerprint(),
             ("00001-aaa", [(s, None, p) for s, p in problems.items()], []))
    again = plan.plan_run(settings)
    assert again.inputs == [] and sorted(again.skipped) == ["gone.txt", "loop", "pipe.txt"]
    assert again.supersedes == []

    (raw / "loop").unlink()
    os.mkfifo(raw / "loop")  # the same name, unreadable otherwise now
    fifo_unblocker.append(str(raw / "loop"))
    changed = plan.plan_run(settings)
    assert [(i.source, i.problem[0]) for i in changed.inputs] == [("loop", "not_a_file")]
    assert changed.supersedes == [("loop", "00001-aaa")]


def test_an_unchanged_file_is_not_read_again_and_a_rewritten_one_is(tmp_path, monkeypatch):
    """Planning records a hashed file's size, times and inode; while they stay the same the
    next plan skips the file without reading it. Rewritten in place with the same size and its
    old mtime put back (as `cp --preserve` does), its ctime gives it away."""
    from tasks.plan.state import InputsState, state_path
    from tasks.store import Store

    monkeypatch.setattr(plan, "QUIET_NS", 0)
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "a.txt").write_text("The first version of the text.", encoding="utf-8")
    settings = _settings(tmp_path)
    first = plan.plan_run(settings)
    (item,) = first.inputs
    assert item.stat is not None
    state = InputsState()
    state.apply({"run_id": first.run_id, "sequence": 1,
                 "settings_fingerprint": settings.output_fingerprint(),
                 "inputs": [{"source": "a.txt", "sha256": item.sha256}]}, {"a.txt": item.stat})
    _history(tmp_path, settings.output_fingerprint(), (first.run_id, [("a.txt", item.sha256)], []))
    path = state_path(Store(str(tmp_path / "clean")))
    path.parent.mkdir(parents=True)
    path.write_bytes(state.to_json())

    read = []
    real_scan = plan.scan_file
    monkeypatch.setattr(plan, "scan_file", lambda *a, **k: read.append(a[0]) or real_scan(*a, **k))
    again = plan.plan_run(settings)
    assert again.inputs == [] and again.skipped == ["a.txt"] and read == []

    old = os.stat(raw / "a.txt")
    assert len("The other version of the text.") == old.st_size
    (raw / "a.txt").write_text("The other version of the text.", encoding="utf-8")  # same size
    os.utime(raw / "a.txt", ns=(old.st_atime_ns, old.st_mtime_ns))
    changed = plan.plan_run(settings)
    assert [i.source for i in changed.inputs] == ["a.txt"] and read == [str(raw / "a.txt")]
    assert changed.supersedes == [("a.txt", first.run_id)]


def test_a_state_file_behind_the_manifests_is_rebuilt_from_them(tmp_path):
    """A commit that did not keep the planning state (another tool's) leaves it behind the
    manifests: planning folds the manifests instead of trusting it."""
    from tasks.plan.state import InputsState, load_state, state_path
    from tasks.store import Store

    settings = _settings(tmp_path)
    (tmp_path / "raw").mkdir()
    store = Store(str(tmp_path / "clean"))
    _history(tmp_path, settings.output_fingerprint(), ("00001-aaa", [("a.txt", "f" * 64)], []))
    state_path(store).parent.mkdir(parents=True)
    state_path(store).write_bytes(InputsState.of_manifests(store.manifests()).to_json())
    _history(tmp_path, settings.output_fingerprint(), ("00001-aaa", [("a.txt", "f" * 64)], []),
             ("00002-bbb", [("b.txt", "e" * 64)], []))
    state = load_state(store)
    assert state.last_run_id == "00002-bbb" and set(state.holders) == {"a.txt", "b.txt"}
    assert plan.plan_run(settings).run_id.startswith("00003-")
