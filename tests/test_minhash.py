import numpy as np
import pyarrow as pa
from datasketch import MinHash

from tasks.minhash import bulk_signatures, minhash, shingle_hash32, tokens
from tasks.settings import DedupSettings

TEXTS = [
    "IBM says it is withdrawing from the facial recognition industry for the sake of knowing.",
    "A letter to US lawmakers Monday from new IBM CEO Arvind Krishna said the tech giant acted.",
    "委员会将于下周发布关于新交通计划的最终报告。",
    "Too short",
]


def test_signatures_equal_datasketch_for_same_shingles_and_hash():
    k, num_perm, seed = 3, 128, 7
    token_lists = [tokens(t) for t in TEXTS]
    sigs, has = bulk_signatures(token_lists, k, num_perm, seed, min_tokens=k)
    assert has.tolist() == [True, True, True, False]
    for toks, sig, ok in zip(token_lists, sigs, has):
        if not ok:
            continue
        reference = MinHash(num_perm=num_perm, seed=seed, hashfunc=shingle_hash32)
        reference.update_batch([tuple(toks[i:i + k]) for i in range(len(toks) - k + 1)])
        assert np.array_equal(reference.hashvalues, sig)


def test_blocks_of_many_paragraphs_match_one_at_a_time():
    rng = np.random.default_rng(0)
    words = [f"w{i}" for i in range(500)]
    token_lists = [list(rng.choice(words, size=rng.integers(1, 80))) for _ in range(400)]
    together, has = bulk_signatures(token_lists, 3, 64, 1, 3)
    for i in range(0, 400, 37):
        alone, alone_has = bulk_signatures([token_lists[i]], 3, 64, 1, 3)
        assert alone_has[0] == has[i]
        if has[i]:
            assert np.array_equal(alone[0], together[i])


def test_tokens_normalise_case_punctuation_and_width():
    assert tokens("Hello, WORLD! ＡＢＣ") == ["hello", "world", "abc"]
    assert tokens("东京很大") == ["东", "京", "很", "大"]


def test_table_columns_and_short_paragraphs():
    out = minhash(pa.table({"text": TEXTS + ["!!!"]}), DedupSettings())
    assert out["signature"].is_null().to_pylist() == [False, False, False, True, True]
    assert out["n_tokens"].to_pylist()[3:] == [2, 0]
    hashes = out["norm_hash"].to_pylist()
    assert hashes[4] == 0 and all(h != 0 for h in hashes[:4])
    again = minhash(pa.table({"text": TEXTS + ["!!!"]}), DedupSettings())
    assert again.equals(out)
