"""The shipped ONNX ranker (a reward ranker), and PairRM models, served without PyTorch."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from engines.ranker import SHIPPED_MODEL, RankerLoadError
from engines.ranker.encoding import Batch
from engines.ranker.reward import RewardRanker
from engines.ranker.runtime import OnnxRanker, load_ranker

OBVIOUS = [  # (source, better, worse): a helpful reply against a rude, cut-off or off-topic one
    ("Human: How do I boil an egg?",
     "Put the egg in boiling water for about nine minutes, then cool it in cold water before "
     "peeling it.",
     "I hate you. Go away."),
    ("Human: Can you recommend a good book for a long flight?",
     "Sure! The Martian by Andy Weir is gripping and funny, perfect for a long flight.",
     "asdf qwerty zxcv banana keyboard"),
    ("Human: I feel lonely today.",
     "I'm sorry you're feeling lonely. Would you like to talk about what's on your mind? "
     "Reaching out to a friend can help too.",
     "Nobody cares, deal with it."),
    ("Human: What's a good way to learn Spanish?",
     "Practice a little every day: use an app for vocabulary, watch shows with Spanish "
     "subtitles, and find a conversation partner.",
     "Spanish is a"),
    ("Human: My cat keeps scratching the sofa. What can I do?",
     "Give her a sturdy scratching post near the sofa, reward her when she uses it, and cover "
     "the sofa corners for a while.",
     "Get rid of the cat lol"),
    ("Human: Can you recommend a movie for tonight?",
     "If you like adventure, try Raiders of the Lost Ark; for something lighter, Paddington 2 "
     "is lovely.",
     "I don't know."),
    ("Human: How long should I boil pasta?",
     "Most dried pasta takes 8 to 12 minutes; check the packet and taste a piece a minute "
     "before.",
     "The weather in Paris is sunny today."),
    ("Human: I'm nervous about my exam tomorrow.",
     "That's completely normal. Review your notes briefly, get a good night's sleep, and "
     "remember you've prepared for this.",
     "Whatever, not my problem."),
    ("Human: What's 12 times 12?", "12 times 12 is 144.", "banana"),
    ("Human: Any tips for running a first 10k?",
     "Build up slowly over six to eight weeks, include one longer run a week, and start the "
     "race at an easy pace.",
     "running a 10k first tips any for"),
    ("Human: Tell me a fun fact about octopuses.",
     "Octopuses have three hearts, and two of them stop beating when they swim.",
     "Octopuses"),
    ("Human: How do I politely decline an invitation?",
     "You could say: 'Thank you so much for inviting me! I'm not able to make it this time, "
     "but I hope it's a wonderful evening.'",
     "Just ignore them."),
    ("Human: What should I pack for a beach day?",
     "Sunscreen, a hat, water, a towel, snacks and something to read.",
     "You are stupid for asking."),
]


class Spy:
    """Wraps a ranker's model call (`run` of a PairRM, the encoder of a reward ranker) to
    record every batch it is given."""

    def __init__(self, ranker: OnnxRanker | RewardRanker) -> None:
        self.batches: list[Batch] = []
        self._name = "run" if isinstance(ranker, OnnxRanker) else "_embed"
        self._inner = getattr(ranker, self._name)
        setattr(ranker, self._name, self)

    def __call__(self, *args: object) -> np.ndarray:
        if self._name == "run":
            (batch,) = args
        else:
            batch = Batch(*args)  # type: ignore[arg-type]
        self.batches.append(batch)  # type: ignore[arg-type]
        return self._inner(*args)


@pytest.fixture(scope="module")
def shipped() -> RewardRanker:
    ranker = load_ranker(SHIPPED_MODEL, threads=1)
    assert isinstance(ranker, RewardRanker)
    return ranker


@pytest.fixture(scope="module")
def pairrm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny PairRM exported to ONNX (a user's own or llm-blender's kind of ranker)."""
    pytest.importorskip("torch")
    pytest.importorskip("onnx")
    from engines.ranker.checkpoint import init_from_backbone
    from engines.ranker.export import export
    from engines.ranker.meta import Budgets
    from tests.engines.tiny_ranker import write_encoder

    tmp = tmp_path_factory.mktemp("pairrm")
    ckpt = init_from_backbone(write_encoder(tmp / "enc"), Budgets(64, 32), seed=3)
    return export(ckpt, tmp / "out" / "ranker.onnx", say=lambda _: None).path


def test_the_shipped_ranker_is_small_and_says_what_it_is(shipped: RewardRanker) -> None:
    assert SHIPPED_MODEL.stat().st_size < 30 * 2**20
    meta = shipped.meta
    assert meta.max_tokens <= 512  # MiniLM's positions
    assert meta.info["trained_pairs"] > 1000 and 0 < meta.info["holdout"] < 1
    assert any(meta.weights)  # a trained head
    assert shipped.providers[-1] == "CPUExecutionProvider"


@pytest.mark.parametrize("aggregation", ["bubble", "max_logits", "max_wins"])
def test_the_shipped_ranker_usually_prefers_the_obviously_better_reply(
        shipped: RewardRanker, aggregation: str) -> None:
    """A small ranker trained on harmlessness pairs is no oracle (it sometimes likes a curt
    reply), but it must beat a coin clearly, and the order candidates come in must not matter."""
    wins = 0
    for source, better, worse in OBVIOUS:
        first = shipped.rank(source, [better, worse], aggregation)
        second = shipped.rank(source, [worse, better], aggregation)
        assert first.order == tuple(reversed(second.order))  # same winner in either order
        wins += first.best == 0
    assert wins >= 0.6 * len(OBVIOUS), f"{wins} of {len(OBVIOUS)}"


def test_empty_candidates_rank_last_without_a_model_call() -> None:
    ranker = load_ranker(SHIPPED_MODEL, threads=1)
    spy = Spy(ranker)  # type: ignore[arg-type]
    ranking = ranker.rank("Human: hi", ["", "Hello! How can I help?", "   \n"])
    assert spy.batches == [] and ranking.order == (1, 0, 2)
    ranking = ranker.rank("Human: hi", ["", "Hello there!", "Hi! What's up?", " "], "max_logits")
    assert ranking.order[2:] == (0, 3)
    assert sum(b.input_ids.shape[0] for b in spy.batches) == 3  # the user's message, 2 replies


def test_a_turn_encodes_the_message_and_each_reply_once_cut_to_the_limit(
        shipped: RewardRanker) -> None:
    spy = Spy(shipped)
    try:
        candidates = ["Sure.", "Here is a longer answer with several words in it.", "Maybe.",
                      "No"]
        ranking = shipped.rank("Human: Can you help me plan a picnic?", candidates, "bubble")
        assert sum(b.input_ids.shape[0] for b in spy.batches) == 5
        assert sorted(ranking.order) == [0, 1, 2, 3]
        assert all(b.attention_mask.all() for b in spy.batches)  # one text a run: no padding
        spy.batches.clear()
        huge = "word " * 20_000
        shipped.rank("Human: tell me everything. " * 2_000, [huge, "Okay!", huge])
        assert max(b.input_ids.shape[1] for b in spy.batches) == shipped.meta.max_tokens
    finally:
        shipped._embed = spy._inner


def test_a_pairrm_turn_is_one_run_padded_to_its_longest_pair(pairrm: Path) -> None:
    ranker = OnnxRanker.load(pairrm, threads=1)
    spy = Spy(ranker)
    candidates = ["good help", "please tell me about bread and the violin", "yes", "no"]
    ranker.rank("Human: can you help me plan a day", candidates, "max_logits")
    (batch,) = spy.batches
    enc = ranker.encoder
    src = enc.source("Human: can you help me plan a day")
    ids = [enc.candidate(c) for c in candidates]
    longest = max(len(enc.pair(src, ids[i], ids[j])) for i in range(4) for j in range(4)
                  if i != j)
    assert batch.input_ids.shape == (12, longest)
    assert batch.attention_mask.sum(axis=1).max() == longest


def test_overlong_pairrm_candidates_and_sources_are_cut_to_the_budget(pairrm: Path) -> None:
    ranker = OnnxRanker.load(pairrm, threads=1)
    spy = Spy(ranker)
    huge = "bread " * 20_000
    ranking = ranker.rank("Human: tell me everything. " * 2_000, [huge, "yes", huge],
                          "max_logits")  # every pair, so the two huge ones meet
    assert sorted(ranking.order) == [0, 1, 2]
    (batch,) = spy.batches
    assert batch.input_ids.shape[1] == ranker.meta.budgets.total  # 64 + 2 × 32, not more


def _copy(tmp_path: Path) -> Path:
    for name in ("ranker.onnx", "tokenizer.json", "ranker.json"):
        shutil.copy(SHIPPED_MODEL.parent / name, tmp_path / name)
    return tmp_path / "ranker.onnx"


def test_a_missing_model_is_refused_clearly(tmp_path: Path) -> None:
    with pytest.raises(RankerLoadError, match="does not exist"):
        load_ranker(tmp_path / "nope.onnx")


def test_a_corrupt_model_is_refused_clearly(tmp_path: Path) -> None:
    model = _copy(tmp_path)
    model.write_bytes(model.read_bytes()[:5000])  # a truncated download
    with pytest.raises(RankerLoadError, match="not a valid ONNX model"):
        load_ranker(model)
    model.write_text("this is not a model")
    with pytest.raises(RankerLoadError, match="not a valid ONNX model"):
        load_ranker(model)


def test_a_tokenizer_that_does_not_match_is_refused(tmp_path: Path) -> None:
    model = _copy(tmp_path)
    data = json.loads((tmp_path / "tokenizer.json").read_text())
    vocab = data["model"]["vocab"]
    first, second = list(vocab)[1000:1002]
    vocab[first], vocab[second] = vocab[second], vocab[first]  # two ids swapped
    (tmp_path / "tokenizer.json").write_text(json.dumps(data))
    with pytest.raises(RankerLoadError, match="does not match the ranker model"):
        load_ranker(model)
    (tmp_path / "tokenizer.json").write_text("{broken")
    with pytest.raises(RankerLoadError, match="cannot read tokenizer"):
        load_ranker(model)
    (tmp_path / "tokenizer.json").unlink()
    with pytest.raises(RankerLoadError, match=r"tokenizer .* is missing"):
        load_ranker(model)


BLOCK_TORCH = ("import sys\nfor name in ('torch', 'transformers', 'onnx'):\n"
               "    sys.modules[name] = None\n")


def test_serving_needs_no_torch(tmp_path: Path) -> None:
    script = BLOCK_TORCH + (
        "from engines.ranker.runtime import load_ranker\n"
        "from engines.ranker import SHIPPED_MODEL\n"
        "r = load_ranker(SHIPPED_MODEL, threads=1)\n"
        "print(r.rank('Human: hi', ['Hello! Nice to meet you.', '', 'go away']).order)\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          cwd=Path(__file__).resolve().parents[2], timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith(", 1)")  # the empty one last
