"""Prompt formats: the model's own chat template, or a `Name: text` transcript for base models."""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Literal

from .base import ChatMessage, Conversation, Role
from .controls import DEFAULT, Neutraliser

if TYPE_CHECKING:
    from llama_cpp.llama_types import ChatCompletionRequestMessage

PromptFormatName = Literal["chat_template", "transcript"]


@dataclass(frozen=True, slots=True)
class RenderedPrompt:
    """Prompt text ready for a completion call."""

    text: str
    stop: tuple[str, ...]
    added_special: bool  # True when the text already carries the BOS token


class PromptFormat(abc.ABC):
    """Turns a `Conversation` into prompt text."""

    neutralise: Neutraliser = DEFAULT  # untrusted text's control strings made inert

    @abc.abstractmethod
    def render(self, conversation: Conversation) -> RenderedPrompt:
        """The prompt for the next bot turn."""

    def clean_reply(self, text: str, conversation: Conversation) -> str:
        """Tidy generated text: strip whitespace and the bot echoing its own name."""
        text = text.strip()
        prefix = f"{conversation.bot_name}:"
        if text.startswith(prefix):
            text = text[len(prefix) :].lstrip()
        return text


def speaker_line(message: ChatMessage) -> str:
    """A user turn as the model sees it: `Alice: text` in group-aware prompts."""
    if message.role == "user" and message.name:
        return f"{message.name}: {message.content}"
    return message.content


def with_post_history(conversation: Conversation) -> Sequence[ChatMessage]:
    """History with post-history instructions appended to the last user turn."""
    history = list(conversation.history)
    if conversation.post_history and history and history[-1].role == "user":
        last = history[-1]
        history[-1] = replace(last, content=f"{last.content}\n\n{conversation.post_history}")
    return history


class ChatTemplateFormat(PromptFormat):
    """The chat template stored in the GGUF (rendered in a sandboxed Jinja environment)."""

    def __init__(self, template: str, bos_token: str, eos_token: str,
                 controls: Sequence[str] = ()) -> None:
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        self.neutralise = Neutraliser([*controls, bos_token, eos_token])

        self._formatter = Jinja2ChatFormatter(
            template=template, bos_token=bos_token, eos_token=eos_token
        )

    def _messages(self, conversation: Conversation, fold_system: bool
                  ) -> list[ChatCompletionRequestMessage]:
        turns: list[tuple[Role, str]] = []
        for message in with_post_history(conversation):
            content = self.neutralise(speaker_line(message))
            if turns and turns[-1][0] == message.role:  # templates want alternating roles
                turns[-1] = (message.role, f"{turns[-1][1]}\n{content}")
            else:
                turns.append((message.role, content))
        system = self.neutralise(conversation.system_text())
        if system:
            if not fold_system:
                turns.insert(0, ("system", system))
            elif turns and turns[0][0] == "user":
                turns[0] = ("user", f"{system}\n\n{turns[0][1]}")
            else:
                turns.insert(0, ("user", system))
        return [_request_message(role, content) for role, content in turns]

    def render(self, conversation: Conversation) -> RenderedPrompt:
        try:
            result = self._formatter(messages=self._messages(conversation, fold_system=False))
        except Exception:
            result = self._formatter(messages=self._messages(conversation, fold_system=True))
        stop = [result.stop] if isinstance(result.stop, str) else list(result.stop or [])
        return RenderedPrompt(result.prompt, tuple(stop), bool(result.added_special))


def _request_message(role: Role, content: str) -> ChatCompletionRequestMessage:
    if role == "system":
        return {"role": "system", "content": content}
    if role == "user":
        return {"role": "user", "content": content}
    return {"role": "assistant", "content": content}


class TranscriptFormat(PromptFormat):
    """`Name: text` lines for base models, stopping when another speaker would begin."""

    def __init__(self, controls: Sequence[str] = ()) -> None:
        self.neutralise = Neutraliser(controls)

    def render(self, conversation: Conversation) -> RenderedPrompt:
        lines: list[str] = []
        speakers = {conversation.bot_name, "User"}
        for message in with_post_history(conversation):
            content = self.neutralise(message.content)
            if message.role == "assistant":
                lines.append(f"{conversation.bot_name}: {one_turn(content)}")
            elif message.role == "user":
                name = one_line(message.name or "User")
                speakers.add(name)
                lines.append(f"{name}: {one_turn(content)}")
            else:
                lines.append(content)
        system = self.neutralise(conversation.system_text())
        head = f"{system}\n\n" if system else ""
        text = head + "\n".join(lines) + f"\n{conversation.bot_name}:"
        stop = (*sorted(f"\n{name}:" for name in speakers), "\n\n")
        return RenderedPrompt(text, stop, added_special=False)


def one_turn(text: str) -> str:
    """A message's own line breaks indented, so no line of it opens a `Name:` turn (and no
    blank line ends the transcript's turn early)."""
    return "\n".join(line if i == 0 else f"  {line}"
                     for i, line in enumerate(text.strip().splitlines() or [""]))


def one_line(name: str) -> str:
    return " ".join(name.split()) or "User"
