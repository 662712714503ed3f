from __future__ import annotations

import math
from collections import Counter

import pytest

from engines import (
    BlendedEngine,
    BlendError,
    BlendSettings,
    ChatMessage,
    Conversation,
    ReplyRequest,
    UnsupportedModeError,
)
from engines.policies import parse_weights
from tests.stubs import StubModel

CONV = Conversation("system", [ChatMessage("user", "hi", name="Alice")], bot_name="Bot")


def chi_square_p(observed: list[int], expected: list[float]) -> float:
    """Upper-tail p-value of Pearson's chi-square for 1 or 2 degrees of freedom."""
    x = sum((o - e) ** 2 / e for o, e in zip(observed, expected, strict=True))
    df = len(observed) - 1
    if df == 1:
        return math.erfc(math.sqrt(x / 2))
    if df == 2:
        return math.exp(-x / 2)
    raise ValueError(df)


def engine(*ids: str, seed: int = 7, **kw) -> BlendedEngine:
    return BlendedEngine([StubModel(i) for i in ids], seed=seed, **kw)


async def draws(e: BlendedEngine, blend: BlendSettings, n: int) -> Counter[str]:
    counts: Counter[str] = Counter()
    for _ in range(n):
        gen = await e.reply(ReplyRequest("c", CONV, blend))
        counts[gen.model_id] += 1  # the reply records which model wrote it
    return counts


async def test_uniform_draws_each_model_with_probability_one_over_n() -> None:
    e = engine("a", "b", "c")
    counts = await draws(e, BlendSettings("uniform"), 3000)
    p = chi_square_p([counts[i] for i in "abc"], [1000.0] * 3)
    assert p > 0.001, counts


async def test_weighted_draws_follow_channel_weights() -> None:
    e = engine("a", "b", "c")
    blend = BlendSettings("weighted", weights={"a": 3, "b": 1})  # c weighs 0: never drawn
    counts = await draws(e, blend, 2000)
    assert counts["c"] == 0
    assert chi_square_p([counts["a"], counts["b"]], [1500.0, 500.0]) > 0.001, counts
    # and a skewed draw is detected: the same counts are not uniform
    assert chi_square_p([counts["a"], counts["b"]], [1000.0, 1000.0]) < 1e-6


async def test_weighted_without_channel_weights_uses_configured_defaults() -> None:
    e = engine("a", "b", default_weights={"a": 0.0, "b": 1.0})
    counts = await draws(e, BlendSettings("weighted"), 50)
    assert counts == Counter({"b": 50})


async def test_single_uses_named_model_or_first() -> None:
    e = engine("a", "b")
    assert (await draws(e, BlendSettings("single", model_id="b"), 20)) == Counter({"b": 20})
    assert (await draws(e, BlendSettings("single"), 5)) == Counter({"a": 5})


async def test_seeded_engines_make_the_same_draws() -> None:
    seq = []
    for _ in range(2):
        e = engine("a", "b", "c", seed=123)
        seq.append([(await e.reply(ReplyRequest("c", CONV, BlendSettings()))).model_id
                    for _ in range(30)])
    assert seq[0] == seq[1]


async def test_stream_yields_pieces_then_generation() -> None:
    e = engine("a")
    items = [x async for x in e.stream(ReplyRequest("c", CONV, BlendSettings("single")))]
    assert "".join(i for i in items if isinstance(i, str)) == "a reply 1"
    assert items[-1].model_id == "a"


@pytest.mark.parametrize(
    ("blend", "message"),
    [
        (BlendSettings("best_of_n"),
         "mode 'best_of_n' is not available here "
         "(available: single, uniform, weighted, learned)"),
        (BlendSettings("chaos"),
         "unknown mode 'chaos' (choose from single, uniform, weighted, learned)"),
        (BlendSettings("single", model_id="zz"), "unknown model 'zz' (choose from a, b)"),
        (BlendSettings("weighted", weights={"a": 0}), "at least one model"),
        (BlendSettings("weighted", weights={"q": 1}), "unknown model 'q'"),
    ],
)
def test_unservable_blends_are_refused_with_a_reason(blend: BlendSettings, message: str) -> None:
    with pytest.raises(BlendError, match=message.replace("(", r"\(").replace(")", r"\)")):
        engine("a", "b").check(blend)


def test_unbuilt_mode_is_an_unsupported_mode_error() -> None:
    with pytest.raises(UnsupportedModeError):
        engine("a").check(BlendSettings("fuse"))


def test_parse_weights() -> None:
    assert parse_weights("smollm2-135m=2, gemma3-270m=1") == {
        "smollm2-135m": 2.0, "gemma3-270m": 1.0
    }
    for bad in ["", "a", "a=x", "a=1,b"]:
        with pytest.raises(BlendError):
            parse_weights(bad)
