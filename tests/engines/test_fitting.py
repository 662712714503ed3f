"""History fitting with each model's own tokenizer and prompt format."""

from __future__ import annotations

import pytest

from engines import ChatMessage, Conversation, SamplingParams
from engines.fitting import fit_conversation, reply_budget
from engines.llamacpp import LlamaCppModel

pytestmark = pytest.mark.model

SYSTEM = "You are Blendbot. SYSTEM-MARKER keep me."


def long_history(turns: int) -> list[ChatMessage]:
    history = []
    for i in range(turns):
        history.append(ChatMessage("user", f"turn {i}: " + "tell me about boats " * 8,
                                   name="Alice" if i % 2 else "Bob"))
        history.append(ChatMessage("assistant", f"answer {i}: " + "boats float well " * 8))
    history.append(ChatMessage("user", "NEWEST-MARKER what now?", name="Alice"))
    return history


def fit(model: LlamaCppModel, conv: Conversation, n_ctx: int, max_tokens: int):
    model.llama  # noqa: B018 - load
    return fit_conversation(conv, model._format, model._tokenizer, n_ctx, max_tokens)


@pytest.mark.parametrize("name", ["smollm2", "gemma"])
def test_oldest_turns_go_first_and_reply_budget_is_reserved(
    name: str, request: pytest.FixtureRequest
) -> None:
    model: LlamaCppModel = request.getfixturevalue(name)
    conv = Conversation(SYSTEM, long_history(60), bot_name="Blendbot")
    fitted = fit(model, conv, n_ctx=1024, max_tokens=200)
    assert fitted.dropped_turns > 0
    assert len(fitted.tokens) <= 1024 - reply_budget(1024, 200)
    assert "SYSTEM-MARKER" in fitted.prompt.text  # system part kept
    assert "NEWEST-MARKER" in fitted.prompt.text  # newest turn kept
    assert "turn 0:" not in fitted.prompt.text  # oldest dropped
    kept = fitted.conversation.history
    assert kept == conv.history[fitted.dropped_turns:]  # a contiguous newest suffix
    # greedy: one more turn would not have fitted
    one_more = Conversation(SYSTEM, conv.history[fitted.dropped_turns - 1:], "Blendbot")
    rendered = model._format.render(one_more).text
    assert len(model._tokenizer.encode(rendered)) > 1024 - reply_budget(1024, 200) - 1


def test_each_model_fits_with_its_own_tokenizer(smollm2: LlamaCppModel,
                                                gemma: LlamaCppModel) -> None:
    conv = Conversation(SYSTEM, long_history(60), bot_name="Blendbot")
    a = fit(smollm2, conv, 1024, 200)
    b = fit(gemma, conv, 1024, 200)
    assert a.dropped_turns != b.dropped_turns  # different tokenizers, different fits


def test_short_history_is_untouched(smollm2: LlamaCppModel) -> None:
    conv = Conversation(SYSTEM, long_history(1), bot_name="Blendbot")
    fitted = fit(smollm2, conv, 2048, 200)
    assert fitted.dropped_turns == 0 and fitted.notices == ()


@pytest.mark.parametrize("name", ["smollm2", "gemma"])
async def test_message_longer_than_the_context_is_cut_with_a_notice(
    name: str, request: pytest.FixtureRequest
) -> None:
    model: LlamaCppModel = request.getfixturevalue(name)
    huge = "the sea is wide and deep " * 2000  # ~12k tokens, n_ctx is 2048
    conv = Conversation(SYSTEM, [*long_history(3)[:-1], ChatMessage("user", huge, "Bob")],
                        bot_name="Blendbot")
    gen = await model.generate(conv, SamplingParams(max_tokens=4, seed=1))
    assert gen.notices and "too long" in gen.notices[0]
    assert gen.prompt_tokens <= model.context_window - 4
