import pytest
from pydantic import ValidationError

from tasks.settings import Settings


def test_toml_and_overrides(tmp_path):
    path = tmp_path / "textwash.toml"
    path.write_text('raw = "in"\n[dedup]\nmin_score = 0.8\n[policy]\nmax_mt_score = 0.9\n')
    s = Settings.from_toml(path, **{"dedup.min_score": 0.75, "runtime.strict": None})
    assert s.raw == "in" and s.dedup.min_score == 0.75 and s.policy.max_mt_score == 0.9
    assert s.runtime.strict is False


@pytest.mark.parametrize("data", [
    {"dedup": {"min_score": 1.5}},
    {"dedup": {"bands": 70, "rows": 3}},
    {"language": {"backend": "cld3"}},
    {"unknown_section": {}},
    {"raw": "same", "clean": "same"},
    {"policy": {"keep_languages": ["english"]}},   # a name, not a code: would keep nothing
    {"policy": {"keep_languages": ["eng"]}},       # a code no backend answers
    {"policy": {"keep_languages": []}},
    {"runtime": {"shard_bytes": 0}},
])
def test_invalid_settings_are_refused(data):
    with pytest.raises(ValidationError):
        Settings.model_validate(data)


def test_bad_toml_file(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("[dedup\n")
    with pytest.raises(ValueError, match="not valid TOML"):
        Settings.from_toml(path)
    with pytest.raises(ValueError, match="cannot read"):
        Settings.from_toml(tmp_path / "missing.toml")


def test_fingerprint_follows_output_settings_only():
    base = Settings()
    assert base.output_fingerprint() == Settings(raw="x", clean="y").output_fingerprint()
    assert base.output_fingerprint() == Settings.from_dict(
        {"runtime": {"workers": 7}}).output_fingerprint()
    assert base.output_fingerprint() != Settings.from_dict(
        {"dedup": {"min_score": 0.9}}).output_fingerprint()


def test_language_codes_are_normalised_and_und_is_allowed():
    s = Settings.from_dict({"policy": {"keep_languages": [" EN", "de", "und"]}})
    assert s.policy.keep_languages == ("en", "de", "und")


def test_merged_changes_only_the_values_given():
    base = Settings.from_dict({"raw": "/data/in", "clean": "/data/out",
                               "policy": {"max_mt_score": 0.8}, "dedup": {"min_score": 0.4}})
    merged = base.merged({"dedup": {"min_words": 7}})
    assert (merged.raw, merged.clean) == ("/data/in", "/data/out")
    assert merged.dedup.min_score == 0.4 and merged.dedup.min_words == 7
    assert merged.policy.max_mt_score == 0.8
    with pytest.raises(ValidationError):
        base.merged({"dedup": {"min_score": 2}})


def test_the_replaced_threshold_says_what_replaced_it():
    with pytest.raises(ValueError, match="dedup.min_score"):
        Settings.model_validate({"dedup": {"threshold": 0.3}})
