from pathlib import Path

import numpy as np
import pyarrow as pa
from datasketch import MinHash

from tasks.settings import DedupSettings
from tasks.shard.minhash import list_matrix, minhash, signatures
from tasks.shard.normalize import STOPWORDS, content_hash32, normalize, words

TEXTS = [
    "IBM says it is withdrawing from the facial recognition industry for the sake of knowing.",
    "A letter to US lawmakers Monday from new IBM CEO Arvind Krishna said the tech giant acted.",
    "委员会将于下周发布关于新交通计划的最终报告。",
    "Too short",
]


def test_signatures_equal_datasketch_for_the_same_words_and_hash():
    num_perm, seed = 128, 7
    norm = normalize(TEXTS)
    sigs, has = signatures(norm, num_perm, seed, min_content=3)
    assert has.tolist() == [True, True, True, False]
    for text_words, sig, ok in zip(words(TEXTS).to_pylist(), sigs, has):
        if not ok:
            continue
        reference = MinHash(num_perm=num_perm, seed=seed, hashfunc=content_hash32)
        reference.update_batch({w for w in text_words if w not in STOPWORDS})
        assert np.array_equal(reference.hashvalues, sig)


def test_many_paragraphs_in_blocks_match_one_at_a_time():
    rng = np.random.default_rng(0)
    vocab = [f"w{i}" for i in range(3000)]
    texts = [" ".join(rng.choice(vocab, size=rng.integers(1, 400))) for _ in range(300)]
    together, has = signatures(normalize(texts), 64, 1, 5)
    for i in range(0, 300, 29):
        alone, alone_has = signatures(normalize([texts[i]]), 64, 1, 5)
        assert alone_has[0] == has[i]
        assert np.array_equal(alone[0], together[i])


def test_table_columns():
    table = pa.table({"text": TEXTS + ["!!!", "He said “quoted words” here today, Monday"]})
    out = minhash(table, DedupSettings())
    assert out["band_keys"].is_null().to_pylist() == [False, False, False, True, True, True]
    assert out["own_content"].is_null().to_pylist() == [True] * 5 + [False]
    keys, has = list_matrix(out["band_keys"], 64)
    assert keys.shape == (6, 64) and has.tolist() == [True, True, True, False, False, False]
    assert out["norm_hash"].to_pylist()[4] == 0
    assert minhash(table, DedupSettings()).equals(out)


# The numpy path that the compiled kernel (tasks/shard/_minhash.c) replaced, as it was: the
# permutations in blocks and numpy's minimum.reduceat, the band keys by array arithmetic.
def _numpy_signatures(norm, num_perm, seed, min_content):
    from tasks.shard.minhash import permutations

    def fmix32(h):
        h = h ^ (h >> np.uint32(16))
        h = h * np.uint32(0x85EBCA6B)
        h = h ^ (h >> np.uint32(13))
        h = h * np.uint32(0xC2B2AE35)
        return h ^ (h >> np.uint32(16))

    sizes = norm.content_sizes
    has = sizes >= max(min_content, 1)
    out = np.full((len(sizes), num_perm), np.iinfo(np.uint32).max, dtype=np.uint32)
    rows = np.flatnonzero(has)
    if not len(rows):
        return out, has
    element_row = np.repeat(np.arange(len(sizes)), sizes)
    with np.errstate(over="ignore"):
        mixed = fmix32(norm.content[has[element_row]])
        a, b = permutations(num_perm, seed)
        block = mixed[:, None] * a[None, :] + b[None, :]
    starts = np.concatenate(([0], np.cumsum(sizes[rows])))[:-1]
    out[rows] = np.minimum.reduceat(block, starts, axis=0)
    return out, has


def _numpy_band_keys(sigs, bands, rows, seed):
    from tasks.shard.minhash import fmix64

    rng = np.random.default_rng(seed)
    mult = rng.integers(0, 2**63, size=rows, dtype=np.uint64) * np.uint64(2) + np.uint64(1)
    grouped = sigs[:, :bands * rows].reshape(sigs.shape[0], bands, rows)
    with np.errstate(over="ignore"):
        h = grouped[:, :, 0].astype(np.uint64) * mult[0]
        for r in range(1, rows):
            h += grouped[:, :, r].astype(np.uint64) * mult[r]
        return fmix64(h)


def _random_texts(rng, n):
    vocab = [f"w{i}" for i in range(5000)] + ["Straße", "ĳssel", "日本語の文", "naïve", "42"]
    return [" ".join(rng.choice(vocab, size=rng.integers(0, 300))) for _ in range(n)]


def test_compiled_signatures_and_keys_equal_the_numpy_path():
    from tasks.shard.minhash import band_keys

    rng = np.random.default_rng(3)
    texts = _random_texts(rng, 400) + TEXTS + ["", "!!!"]
    norm = normalize(texts)
    for num_perm, bands, rows, seed, min_content in ((192, 64, 3, 1, 3), (128, 16, 8, 7, 1),
                                                     (64, 64, 1, 0, 5)):
        sigs, has = signatures(norm, num_perm, seed, min_content)
        ref, ref_has = _numpy_signatures(norm, num_perm, seed, min_content)
        assert np.array_equal(has, ref_has) and has.any() and not has.all()
        assert np.array_equal(sigs, ref)
        assert np.array_equal(band_keys(sigs[has], bands, rows, seed),
                              _numpy_band_keys(ref[ref_has], bands, rows, seed))


def test_compiled_path_on_real_text():
    seeds = sorted((Path(__file__).resolve().parents[1] / "raw").glob("*.txt"))  # real articles
    texts = [p for path in seeds for p in path.read_text(encoding="utf-8").split("\n") if p]
    assert len(texts) > 20
    settings = DedupSettings()
    norm = normalize(texts)
    sigs, has = signatures(norm, settings.num_perm, settings.seed, settings.min_words)
    ref, _ = _numpy_signatures(norm, settings.num_perm, settings.seed, settings.min_words)
    assert np.array_equal(sigs, ref)
    keys, valid = list_matrix(minhash(pa.table({"text": texts}), settings)["band_keys"],
                              settings.bands)
    assert np.array_equal(valid, has)
    assert np.array_equal(keys[has], _numpy_band_keys(ref[has], settings.bands, settings.rows,
                                                      settings.seed))
