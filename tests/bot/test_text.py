from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.conversation.text import split_message


def test_short_text_is_one_part() -> None:
    assert split_message("hello", 2000) == ["hello"]


def test_splits_on_lines_then_words_within_the_limit() -> None:
    text = "\n".join(f"line {i} " + "word " * 30 for i in range(100))
    parts = split_message(text, 2000)
    assert len(parts) > 1 and all(len(p) <= 2000 for p in parts)
    assert " ".join(" ".join(parts).split()) == " ".join(text.split())  # nothing lost


def test_code_fences_stay_balanced_across_parts() -> None:
    code = "```python\n" + "\n".join(f"x_{i} = {i}  # some comment" for i in range(300)) + "\n```"
    parts = split_message("Here:\n" + code + "\nDone.", 2000)
    assert len(parts) >= 3
    for part in parts:
        assert len(part) <= 2000
        assert part.count("```") % 2 == 0, part[:80]
    assert parts[1].startswith("```python\n")


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(["a", "bb", " ", "\n", "`", "```", "```py\n", "word "]),
                max_size=600).map("".join),
       st.integers(min_value=40, max_value=500))
def test_any_text_parts_fit_and_keep_the_words(text: str, limit: int) -> None:
    parts = split_message(text, limit)
    assert all(len(p) <= limit for p in parts)

    def words(t: str) -> list[str]:  # fence lines may be added to close and reopen blocks
        return [w for w in t.split() if not w.startswith("```") and w.strip("`")]

    assert words(" ".join(parts)) == words(text)


def test_too_small_limit_is_refused() -> None:
    with pytest.raises(ValueError):
        split_message("x", 5)
