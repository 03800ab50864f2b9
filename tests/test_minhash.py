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
