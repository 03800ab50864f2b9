import pytest
from pydantic import ValidationError

from tasks.settings import Settings


def test_toml_and_overrides(tmp_path):
    path = tmp_path / "textwash.toml"
    path.write_text('raw = "in"\n[dedup]\nthreshold = 0.8\n[policy]\nmax_mt_score = 0.9\n')
    s = Settings.from_toml(path, **{"dedup.threshold": 0.75, "runtime.strict": None})
    assert s.raw == "in" and s.dedup.threshold == 0.75 and s.policy.max_mt_score == 0.9
    assert s.runtime.strict is False


@pytest.mark.parametrize("data", [
    {"dedup": {"threshold": 1.5}},
    {"dedup": {"bands": 70, "rows": 3}},
    {"language": {"backend": "cld3"}},
    {"unknown_section": {}},
    {"raw": "same", "clean": "same"},
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
        {"dedup": {"threshold": 0.9}}).output_fingerprint()
