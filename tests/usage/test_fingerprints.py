import hashlib
import random

import pytest

from usage.fingerprints import hamming, normalise, prompt_fingerprints, prompt_hash, simhash64, text_of_messages

WORDS = (
    "the invoice customer refund ticket order shipping delay account manager escalate policy review "
    "summary answer draft email please thanks today tomorrow urgent priority status update report"
).split()


def paragraph(seed: int, length: int = 200) -> list[str]:
    rng = random.Random(seed)
    return [rng.choice(WORDS) for _ in range(length)]


def test_prompt_hash_is_sha256_of_normalised_text():
    assert normalise("  Hello\t\nWORLD  ") == "hello world"
    assert prompt_hash("  Hello\t\nWORLD  ") == hashlib.sha256(b"hello world").hexdigest()


def test_simhash_is_stable_across_processes():
    # A fixed value: BLAKE2b, not Python's per-process seeded hash(), so stored fingerprints stay comparable.
    assert simhash64("hello world") == -8681194425623006896
    # Many bigrams: the per-bit majority over their digests, as fingerprints already stored were computed.
    sentence = "The quick brown fox jumps over the lazy dog, then naps in the afternoon sun."
    assert simhash64(sentence) == 7044272648295788674
    assert simhash64("Summarise this: " + " ".join(f"word{i % 37}" for i in range(60))) == 247214948259089327


def test_simhash_ignores_case_and_spacing():
    assert simhash64("Summarise  this\nTicket please") == simhash64("summarise this ticket please")


def test_simhash_fits_a_signed_bigint():
    values = [simhash64(" ".join(paragraph(seed, 20))) for seed in range(200)]

    assert all(-(2**63) <= v < 2**63 for v in values)
    assert any(v < 0 for v in values) and any(v > 0 for v in values)


def test_one_word_edit_stays_near_and_unrelated_text_is_far():
    words = paragraph(1)
    edited = words[:100] + ["zebra"] + words[101:]

    near = hamming(simhash64(" ".join(words)), simhash64(" ".join(edited)))
    far = hamming(simhash64(" ".join(words)), simhash64(" ".join(paragraph(2))))

    assert near <= 3
    assert far > 10


@pytest.mark.parametrize("text", ["", "  \n ", "word", "  Hello\t\nWORLD  ", "Summarise the ﬁle, café " * 20])
def test_a_prompts_two_fingerprints_together_are_the_two_alone(text):
    assert prompt_fingerprints(text) == (prompt_hash(text), simhash64(text))


def test_text_without_words_has_no_fingerprint():
    assert (simhash64(""), simhash64(" \n\t ")) == (0, 0)
    assert simhash64("word") != 0


def test_hamming_reads_signed_and_unsigned_forms_alike():
    value = simhash64("hello world")

    assert hamming(value, value & (2**64 - 1)) == 0
    assert hamming(-1, 0) == 64
    assert hamming(0b1011, 0b0001) == 2


@pytest.mark.parametrize(
    ("body", "text"),
    [
        (
            {"model": "m", "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]},
            "Be brief.\nHi",
        ),
        (
            {
                "messages": [
                    {
                        "role": "user",
                        "content": [
                            {"type": "text", "text": "What is this?"},
                            {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
                            {"type": "text", "text": "Be precise."},
                        ],
                    }
                ]
            },
            "What is this?\nBe precise.",
        ),
        (
            {
                "messages": [
                    {"role": "assistant", "content": None, "tool_calls": []},
                    {"role": "tool", "tool_call_id": "1", "content": "42"},
                ]
            },
            "42",
        ),
        ({"prompt": "Once upon a time"}, "Once upon a time"),
        ({"prompt": ["first", "second"]}, "first\nsecond"),
        ({"prompt": [1, 2, 3]}, "1 2 3"),
        ({"input": [[5, 6], [7]]}, "5 6\n7"),
        ({"input": ["embed me", "and me"]}, "embed me\nand me"),
        ({"instructions": "You are terse.", "input": "Hello"}, "You are terse.\nHello"),
        (
            {
                "input": [
                    {"role": "user", "content": "plain"},
                    {
                        "type": "message",
                        "role": "user",
                        "content": [{"type": "input_text", "text": "parts"}, {"type": "input_image", "image_url": "x"}],
                    },
                    {"type": "function_call_output", "call_id": "c", "output": "result"},
                    {"type": "reasoning", "summary": []},
                ]
            },
            "plain\nparts\nresult",
        ),
        ({"model": "m"}, ""),
        ({"messages": "not a list", "prompt": 7}, "not a list"),
    ],
)
def test_extracts_prompt_text_from_request_bodies(body, text):
    assert text_of_messages(body) == text
