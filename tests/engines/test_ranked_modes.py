"""`best_of_n` and `fuse` through `BlendedEngine`, with stub models and a scripted ranker."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import pytest

from engines import (
    BlendedEngine,
    BlendSettings,
    ChatMessage,
    Conversation,
    Generation,
    ReplyRequest,
)
from engines.ranked import RankedOptions
from engines.ranker import RankerLoadError
from engines.ranker.aggregate import Ranking, rank
from engines.ranker.provider import RankerProvider
from tests.stubs import ScriptedModel, StubModel

CONV = Conversation("system", [ChatMessage("user", "hi there", name="Alice")], bot_name="Bot")


class LengthJudge:
    """Prefers longer replies; records what it was asked."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, list[str]]] = []

    def rank(self, source: str, candidates: Sequence[str], aggregation: str = "bubble"
             ) -> Ranking:
        self.seen.append((source, list(candidates)))
        lengths = [len(c) for c in candidates]

        def compare(pairs: Sequence[tuple[int, int]]) -> list[float]:
            return [float(lengths[i] - lengths[j]) for i, j in pairs]

        return rank(candidates, compare, aggregation)  # type: ignore[arg-type]


class ShortJudge(LengthJudge):
    """Prefers shorter replies."""

    def rank(self, source: str, candidates: Sequence[str], aggregation: str = "bubble"
             ) -> Ranking:
        lengths = [len(c) for c in candidates]

        def compare(pairs: Sequence[tuple[int, int]]) -> list[float]:
            return [float(lengths[j] - lengths[i]) for i, j in pairs]

        return rank(candidates, compare, aggregation)  # type: ignore[arg-type]


class Ready:
    def __init__(self, scorer: object) -> None:
        self.scorer = scorer

    async def get(self) -> object:
        return self.scorer


def engine(*models: StubModel, judge: LengthJudge | None = None, **options: object
           ) -> BlendedEngine:
    return BlendedEngine(list(models), seed=3, ranker=Ready(judge or LengthJudge()),
                         ranked=RankedOptions(**options))  # type: ignore[arg-type]


def request(mode: str, **blend: object) -> ReplyRequest:
    return ReplyRequest("c", CONV, BlendSettings(mode, **blend))  # type: ignore[arg-type]


async def test_best_of_n_asks_every_member_and_sends_the_ranked_best() -> None:
    judge = LengthJudge()
    models = [ScriptedModel("a", "short"), ScriptedModel("b", "the longest reply of all"),
              ScriptedModel("c", "medium reply")]
    gen = await engine(*models, judge=judge).reply(request("best_of_n"))
    assert gen.model_id == "b" and gen.text == "the longest reply of all"
    assert all(len(m.calls) == 1 for m in models)
    assert [(c.model_id, c.rank) for c in gen.candidates] == [("a", 3), ("b", 1), ("c", 2)]
    assert gen.candidates[1].score is not None and gen.candidates[1].score > 0
    assert judge.seen == [("Human: hi there", ["short", "the longest reply of all",
                                               "medium reply"])]


async def test_best_of_n_on_one_model_draws_n_samples_with_different_seeds() -> None:
    seeds: list[int | None] = []

    class Seeded(StubModel):
        async def generate(self, conversation, params, *, channel=None):  # type: ignore[no-untyped-def]
            seeds.append(params.seed)
            return Generation(self.id, "x" * ((params.seed or 0) % 50), 5, 5, 0.0)

    e = engine(Seeded("a"), StubModel("b"), samples=4)
    gen = await e.reply(request("best_of_n", weights={"a": 1}))
    assert len(seeds) == 4 == len(set(seeds)) == len(gen.candidates)
    assert {c.model_id for c in gen.candidates} == {"a"}
    alone = Seeded("solo")
    gen = await engine(alone, samples=3).reply(request("best_of_n"))
    assert [c.model_id for c in gen.candidates] == ["solo"] * 3


async def test_a_single_model_left_from_an_earlier_mode_does_not_narrow_the_blend() -> None:
    gen = await engine(StubModel("a"), StubModel("b")).reply(
        request("best_of_n", model_id="a"))
    assert sorted(c.model_id for c in gen.candidates) == ["a", "b"]


async def test_channel_weights_choose_the_members() -> None:
    a, b, c = StubModel("a"), StubModel("bb"), StubModel("ccc")
    gen = await engine(a, b, c).reply(request("best_of_n", weights={"a": 1, "ccc": 2}))
    assert {x.model_id for x in gen.candidates} == {"a", "ccc"} and b.calls == []


async def test_members_to_avoid_write_no_candidate_and_do_not_fuse() -> None:
    """A member over its spend cap (the request's `avoid`) is not called in ranked modes."""
    a, b, c = StubModel("a"), StubModel("bb"), StubModel("ccc")
    req = request("best_of_n")
    gen = await engine(a, b, c).reply(ReplyRequest(req.channel, req.conversation, req.blend,
                                                   avoid=("bb",)))
    assert {x.model_id for x in gen.candidates} == {"a", "ccc"} and b.calls == []
    a, b = StubModel("a"), StubModel("b")
    req = request("fuse")
    gen = await engine(a, b, fuser="a").reply(ReplyRequest(
        req.channel, req.conversation, req.blend, avoid=("a",)))
    assert a.calls == [] and {x.model_id for x in gen.candidates} == {"b"}


async def test_a_failing_member_is_left_out_and_recorded() -> None:
    models = [StubModel("a"), StubModel("b", fail_after=0), StubModel("cc")]
    gen = await engine(*models).reply(request("best_of_n"))
    assert {c.model_id for c in gen.candidates} == {"a", "cc"}
    assert gen.failed_over_from == ("b",)


async def test_streaming_sends_the_chosen_reply_in_one_piece() -> None:
    e = engine(ScriptedModel("a", "one two"), ScriptedModel("b", "one two three four"))
    items = [x async for x in e.stream(request("best_of_n"))]
    assert items[0] == "one two three four" and isinstance(items[1], Generation)
    assert len(items) == 2 and len(items[1].candidates) == 2


async def test_a_ranker_that_cannot_load_falls_back_to_uniform(
        caplog: pytest.LogCaptureFixture) -> None:
    def broken(path, threads=None):  # type: ignore[no-untyped-def]
        raise RankerLoadError(f"cannot load ranker model {path}: not a valid ONNX model")

    provider = RankerProvider("bad.onnx", loader=broken)  # type: ignore[arg-type]
    e = BlendedEngine([StubModel("a"), StubModel("b")], seed=1, ranker=provider)
    with caplog.at_level(logging.WARNING):
        first = await e.reply(request("best_of_n"))
        items = [x async for x in e.stream(request("fuse"))]
    assert first.text.endswith("reply 1") and first.candidates == ()
    assert isinstance(items[-1], Generation) and items[-1].candidates == ()
    assert "answered as uniform" in caplog.text and "not a valid ONNX model" in caplog.text
    assert sum(m.calls.__len__() for m in e.models.values()) == 2  # one generation per reply


async def test_fuse_merges_the_top_k_with_a_genfuser_prompt() -> None:
    fuser = ScriptedModel("fuser", "a merged reply that combines")
    models = [fuser, ScriptedModel("b", "bbbb bbbb"), ScriptedModel("c", "c"),
              ScriptedModel("d", "dd dd dd dd dd")]
    e = engine(*models, top_k=2, aggregation="max_logits")
    gen = await e.reply(request("fuse"))
    assert gen.text == "a merged reply that combines" and gen.model_id == "fuser"
    assert len(fuser.calls) == 2  # its own candidate, then the fusion
    prompt = fuser.calls[1].post_history
    assert "Draft 1: a merged reply that combines" in prompt  # the ranked best first
    assert "Draft 2: dd dd dd dd dd" in prompt and "Draft 3" not in prompt
    assert "combines their strengths" in prompt
    assert fuser.calls[1].history == CONV.history
    assert [c.rank for c in gen.candidates] == [1, 3, 4, 2]


@pytest.mark.parametrize("fused", ["", "Draft 1: copy Draft 2: copy", "la la la " * 20])
async def test_a_degenerate_fusion_falls_back_to_the_best_candidate(fused: str) -> None:
    class Fuser(ScriptedModel):
        def _words(self) -> list[str]:
            return (fused if len(self.calls) > 1 else self.text).split(" ")

    e = engine(Fuser("f", "ok"), ScriptedModel("b", "the best candidate here"))
    gen = await e.reply(request("fuse"))
    assert gen.text == "the best candidate here" and gen.model_id == "b"
    assert len(gen.candidates) == 2


async def test_engines_without_a_ranker_do_not_offer_ranked_modes() -> None:
    e = BlendedEngine([StubModel("a")])
    assert "best_of_n" not in e.modes and "fuse" not in e.modes
    assert {"best_of_n", "fuse"} <= set(engine(StubModel("a")).modes)


async def test_a_switched_ranker_serves_from_the_next_reply_and_a_bad_one_is_not_taken(
        caplog: pytest.LogCaptureFixture) -> None:
    served = ["old.onnx"]
    loads: list[str] = []

    def load(path, threads=None):  # type: ignore[no-untyped-def]
        loads.append(str(path))
        if str(path) == "broken.onnx":
            raise RankerLoadError(f"cannot load ranker model {path}: not a valid ONNX model")
        return LengthJudge() if str(path) == "old.onnx" else ShortJudge()

    provider = RankerProvider(lambda: Path(served[0]), loader=load)
    e = BlendedEngine([ScriptedModel("a", "short"), ScriptedModel("b", "a longer reply")],
                      seed=1, ranker=provider)
    assert (await e.reply(request("best_of_n"))).text == "a longer reply"
    served[0] = "new.onnx"  # `ranker refresh` switched
    assert (await e.reply(request("best_of_n"))).text == "short"
    served[0] = "broken.onnx"
    with caplog.at_level(logging.ERROR):
        assert (await e.reply(request("best_of_n"))).text == "short"  # the new one serves on
        assert (await e.reply(request("best_of_n"))).text == "short"
    assert loads == ["old.onnx", "new.onnx", "broken.onnx"]
    assert caplog.text.count("not a valid ONNX model") == 1
