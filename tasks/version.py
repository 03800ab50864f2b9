"""textwash's version: part of every run id, so a new version never reuses an old run's id."""

TEXTWASH_VERSION = "0.6.0"
