import json

from tasks import plan
from tasks.settings import Settings


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
