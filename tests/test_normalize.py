import numpy as np

from tasks.shard.normalize import content_hash32, normalize, own_words_text, words


def test_words_fold_case_width_punctuation_and_scripts():
    assert words(["Hello, WORLD! ＡＢＣ don’t co-operate",
                  "东京很大", "नमस्ते दुनिया", "", None]).to_pylist() == [
        ["hello", "world", "abc", "don", "t", "co", "operate"],
        ["东京", "京很", "很大"],  # character pairs
        ["नमस्ते", "दुनिया"],
        [],
        [],
    ]


def test_exact_key_ignores_case_and_punctuation_but_not_order():
    n = normalize(["Hello, world!", "HELLO WORLD", "world hello", "!!!"])
    assert n.norm_hash[0] == n.norm_hash[1] != n.norm_hash[2]
    assert n.norm_hash[3] == 0


def test_content_sets_leave_out_function_words_and_repeats():
    n = normalize(["The cat and the dog and the cat", "Die Katze und der Hund"])
    assert sorted(n.content_of(0).tolist()) == sorted(content_hash32(w) for w in ("cat", "dog"))
    assert sorted(n.content_of(1).tolist()) == sorted(content_hash32(w) for w in ("katze", "hund"))


def test_own_words_leave_out_quotations():
    assert own_words_text('He said “we will stop” and left, "for now".') == "He said   and left,  ."
    assert own_words_text("An open quotation “runs to the end") == "An open quotation  "
    n = normalize(["Krishna said “IBM opposes mass surveillance” today", "No quotes here today"])
    assert n.quoted.tolist() == [True, False]
    assert sorted(n.own_of(0).tolist()) == sorted(content_hash32(w) for w in ("krishna", "today"))
    assert np.array_equal(n.own_of(1), n.content_of(1))


def test_long_paragraphs_keep_a_bottom_k_sample():
    text = " ".join(f"word{i}" for i in range(1000))
    n = normalize([text, "short text here"])
    assert len(n.content_of(0)) == 256
    every = sorted(content_hash32(f"word{i}") for i in range(1000))
    assert n.content_of(0).tolist() == every[:256]
    assert len(n.content_of(1)) == 2
