"""Per-channel KV-cache reuse for llama.cpp: each channel keeps its evaluated prefix.

A llama.cpp context holds one conversation's evaluated tokens. When several channels take
turns, each would otherwise re-read its whole history. `ChannelStates` keeps, per channel,
the tokens evaluated and the matching KV-cache contents of sequence 0 (not the logits, which
are recomputed by the next decode) in RAM, least recently used evicted beyond a byte budget.
`ChannelSwitch` saves the live channel when another one takes the context and restores the
newcomer's saved state when it shares a longer prefix with the new prompt than what is live.
All functions here are blocking and belong on the model's worker thread.
"""

from __future__ import annotations

import ctypes
import logging
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from llama_cpp import Llama

log = logging.getLogger(__name__)
SEQ = 0  # llama-cpp-python evaluates everything in sequence 0


@dataclass(frozen=True, slots=True)
class SavedState:
    """The tokens evaluated for one channel and the KV-cache bytes that go with them."""

    tokens: np.ndarray
    data: ctypes.Array[ctypes.c_uint8]

    @property
    def nbytes(self) -> int:
        return len(self.data) + self.tokens.nbytes


class ChannelStates:
    """Saved states by channel, least recently used dropped beyond `budget_bytes`."""

    def __init__(self, budget_bytes: int) -> None:
        self.budget_bytes = budget_bytes
        self._states: OrderedDict[str, SavedState] = OrderedDict()
        self._bytes = 0

    @property
    def nbytes(self) -> int:
        return self._bytes

    def __len__(self) -> int:
        return len(self._states)

    def __contains__(self, channel: object) -> bool:
        return channel in self._states

    def get(self, channel: str) -> SavedState | None:
        state = self._states.get(channel)
        if state is not None:
            self._states.move_to_end(channel)
        return state

    def put(self, channel: str, state: SavedState) -> None:
        self.drop(channel)
        if state.nbytes > self.budget_bytes:
            return  # larger than the whole budget: not worth evicting everything
        self._states[channel] = state
        self._bytes += state.nbytes
        while self._bytes > self.budget_bytes:
            oldest, evicted = self._states.popitem(last=False)
            self._bytes -= evicted.nbytes
            log.debug("KV cache: evicted channel %s (%d bytes)", oldest, evicted.nbytes)

    def drop(self, channel: str) -> None:
        old = self._states.pop(channel, None)
        if old is not None:
            self._bytes -= old.nbytes

    def clear(self) -> None:
        self._states.clear()
        self._bytes = 0


def capture(llm: Llama) -> SavedState | None:
    """The live context's evaluated tokens and KV cache, or None when nothing is evaluated."""
    import llama_cpp

    n_tokens = llm.n_tokens
    if n_tokens == 0:
        return None
    size = llama_cpp.llama_state_seq_get_size(llm.ctx, SEQ)
    data = (ctypes.c_uint8 * size)()
    written = llama_cpp.llama_state_seq_get_data(llm.ctx, data, size, SEQ)
    if written != size:
        log.warning("KV cache: could not save the context (%d of %d bytes)", written, size)
        return None
    return SavedState(np.array(llm.input_ids[:n_tokens], copy=True), data)


def restore(llm: Llama, state: SavedState) -> bool:
    """Replace the live context with `state`; False (and an empty context) on failure."""
    import llama_cpp

    llm._ctx.kv_cache_clear()
    n = len(state.tokens)
    read = llama_cpp.llama_state_seq_set_data(llm.ctx, state.data, len(state.data), SEQ)
    if read != len(state.data):
        llm._ctx.kv_cache_clear()
        llm.reset()
        log.warning("KV cache: could not restore a saved context; evaluating afresh")
        return False
    llm.input_ids[:n] = state.tokens
    llm.n_tokens = n
    llm._requires_eval = True  # logits are stale: the next decode recomputes them
    return True


def common_prefix(a: np.ndarray, b: Sequence[int]) -> int:
    """Length of the shared prefix of two token sequences."""
    n = min(len(a), len(b))
    if n == 0:
        return 0
    diff = np.flatnonzero(a[:n] != np.asarray(b[:n], dtype=a.dtype))
    return int(diff[0]) if len(diff) else n


class ChannelSwitch:
    """Which channel owns a llama.cpp context, and handing it from one channel to the next."""

    def __init__(self, budget_bytes: int) -> None:
        self.states = ChannelStates(budget_bytes)
        self.live: str | None = None  # the channel whose tokens the context holds
        self.dirty = False  # the live context changed since it was last saved

    @property
    def enabled(self) -> bool:
        return self.states.budget_bytes > 0

    def enter(self, llm: Llama, channel: str | None, prompt: Sequence[int]) -> None:
        """Before `channel` evaluates `prompt`: park the live channel, bring back this one."""
        if not self.enabled:
            return
        if channel is not None and channel == self.live:
            self.dirty = True
            return
        if self.live is not None and self.dirty:
            saved = capture(llm)
            if saved is not None:
                self.states.put(self.live, saved)
        self.live, self.dirty = channel, True
        state = self.states.get(channel) if channel is not None else None
        if state is None:
            return
        live_match = common_prefix(llm.input_ids[: llm.n_tokens], prompt)
        if common_prefix(state.tokens, prompt) > live_match:
            restore(llm, state)

    def forget(self) -> None:
        """Drop every saved state (the context itself was reset or closed)."""
        self.states.clear()
        self.live, self.dirty = None, False
