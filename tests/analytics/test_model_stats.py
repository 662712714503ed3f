from __future__ import annotations

from dataclasses import replace

from bot.analytics.model_stats import model_stats
from tests.analytics.helpers import Stream, at


def test_share_continuation_and_feedback_per_model() -> None:
    s = Stream()
    s.user(at(1, "10:00"), "alice")
    g1 = s.bot(at(1, "10:00", 5), "gemma")
    s.user(at(1, "10:04"), "alice")  # within 5 minutes of g1: continued
    m1 = s.bot(at(1, "10:04", 5), "smol")
    s.user(at(1, "10:20"), "alice")  # 16 minutes later: m1 was not continued
    g2 = s.bot(at(1, "10:20", 5), "gemma")
    s.user(at(1, "10:21"), "bob")  # someone else: g2 answered alice, who left
    g3 = s.bot(at(1, "10:21", 5), "gemma")
    s.user(at(1, "10:22"), "alice", channel="c2")  # bob's reply is in c1, alice wrote in c2
    s.user(at(1, "10:22"), "bob")  # continues g3
    s.feedback(at(1, "10:01"), "alice", g1, "up")
    s.feedback(at(1, "10:02"), "bob", g1, "up")  # a second 👍 on the same reply
    s.feedback(at(1, "10:05"), "alice", m1, "down")
    s.feedback(at(1, "10:06"), "alice", m1, "regenerate")
    s.feedback(at(1, "10:30"), "alice", g2, "up")
    s.bot(at(1, "23:58"), "smol")  # its 5 minutes end after the period: not judged

    stats = model_stats(s.events, at(1, "00:00"), at(2, "00:00"))
    gemma, smol = stats["gemma"], stats["smol"]
    assert list(stats) == ["gemma", "smol"]  # most replies first
    assert (gemma.replies, smol.replies) == (3, 2)
    assert (gemma.share, smol.share) == (3 / 5, 2 / 5)
    assert (gemma.judged, gemma.continued, gemma.continuation_rate) == (3, 2, 2 / 3)
    assert (smol.judged, smol.continued, smol.continuation_rate) == (1, 0, 0.0)
    assert gemma.thumbs_up_rate == 2 / 3  # replies with at least one 👍
    assert (smol.thumbs_down_rate, smol.regenerate_rate, smol.thumbs_up_rate) == (0.5, 0.5, 0)
    assert g3.model == "gemma"


def test_replies_outside_the_period_and_without_a_model_do_not_count() -> None:
    s = Stream()
    s.user(at(1, "10:00"), "alice")
    s.bot(at(1, "10:00", 5), "gemma")
    s.user(at(2, "10:00"), "alice")
    s.bot(at(2, "10:00", 5), None)  # an apology, no model
    assert model_stats(s.events, at(2, "00:00"), at(3, "00:00")) == {}


def test_feedback_finds_its_reply_within_its_own_chat() -> None:
    s = Stream()
    s.user(at(1, "10:00"), "alice", channel="c1")
    reply = s.bot(at(1, "10:00", 5), "gemma", channel="c1")
    s.user(at(1, "10:00"), "bob", channel="c2")
    twin = replace(s.bot(at(1, "10:00", 5), "smol", channel="c2"), id=reply.id)
    s.events[-1] = twin  # Telegram: the same message id in another chat
    s.feedback(at(1, "10:01"), "bob", twin, "down")
    stats = model_stats(s.events, at(1, "00:00"), at(2, "00:00"))
    assert (stats["gemma"].thumbs_down, stats["smol"].thumbs_down) == (0, 1)
