"""Reward rankers: a sentence encoder exported to ONNX and a linear head fitted to pairs."""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from engines.ranker import PreferencePair, RankerLoadError
from engines.ranker.pairs import split
from engines.ranker.reward import RewardRanker, query_of
from engines.ranker.runtime import load_ranker

pytest.importorskip("torch")
pytest.importorskip("onnx")
pytest.importorskip("sklearn")

TOPICS = ("bread", "violin", "bike", "plan", "rest", "week", "day", "help")


def taste_pairs(n: int, seed: int = 0) -> list[PreferencePair]:
    """A long reply about what was asked beats a curt one about something else."""
    rng = random.Random(seed)
    pairs = []
    for k in range(n):
        topic, other = rng.sample(TOPICS, 2)
        good = f"yes i can help with {topic} . start small with {topic} and try it a day"
        bad = f"no {other}"
        pairs.append(PreferencePair(f"Human: please tell me about {topic}", good, bad,
                                    key=hashlib.sha256(f"{seed}-{k}".encode()).hexdigest()))
    return pairs


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[object, RewardRanker, Path]:
    from engines.ranker.reward_build import build, load_encoder
    from tests.engines.tiny_ranker import write_encoder

    tmp = tmp_path_factory.mktemp("reward")
    encoder = load_encoder(write_encoder(tmp / "enc", seed=2), "tiny")
    train, _ = split(taste_pairs(80), 0.25)
    ranker = build(encoder, train, tmp / "out" / "ranker.onnx", int8=False, say=lambda _: None)
    return encoder, ranker, tmp / "out" / "ranker.onnx"


def test_the_head_learns_the_taste_of_its_pairs_and_serves_from_onnx(built: tuple) -> None:
    encoder, _, path = built
    served = load_ranker(path, threads=1)
    assert isinstance(served, RewardRanker) and served.meta.info["trained_pairs"] == len(
        split(taste_pairs(80), 0.25)[0])
    held = taste_pairs(40, seed=7)  # other topic draws than the training pairs
    assert (served.margins(held) > 0).mean() >= 0.9
    untrained = served.with_meta(replace(served.meta, weights=[0.0] * len(served.meta.weights)))
    assert (untrained.margins(held) > 0).mean() == 0  # all ties: the head is what learned
    # the same head on PyTorch's embeddings gives the same margins as ONNX fp32
    torch_margins = encoder.torch_ranker(served.meta).margins(held)
    assert np.max(np.abs(torch_margins - served.margins(held))) < 1e-3
    ranking = served.rank("Human: please tell me about bike",
                          ["", "no violin", "yes i can help with bike . start small"])
    assert ranking.order == (2, 1, 0) and ranking.scores[0] is None


def test_a_refit_from_a_prior_head_starts_from_what_it_knows(built: tuple) -> None:
    from engines.ranker.reward_build import fit_head

    _, served, _ = built
    few = taste_pairs(3, seed=9)
    chosen, rejected = served.pair_features(few)
    fresh = fit_head(chosen, rejected)
    refit = fit_head(chosen, rejected, prior=served.weights)
    held = taste_pairs(40, seed=11)
    c, r = served.pair_features(held)
    assert ((c - r) @ refit > 0).mean() >= ((c - r) @ fresh > 0).mean()
    assert float(np.dot(refit, served.weights)) > 0  # the refit points the served head's way


def test_a_bad_head_file_is_refused_clearly(built: tuple, tmp_path: Path) -> None:
    _, _, path = built
    for name in ("ranker.onnx", "tokenizer.json", "ranker.json"):
        (tmp_path / name).write_bytes((path.parent / name).read_bytes())
    model, head = tmp_path / "ranker.onnx", tmp_path / "ranker.json"
    data = json.loads(head.read_text())
    head.write_text(json.dumps({**data, "weights": data["weights"][:-1]}))
    with pytest.raises(RankerLoadError, match="head weights"):
        load_ranker(model)
    head.write_text(json.dumps({**data, "format": "something/9"}))
    with pytest.raises(RankerLoadError, match="unknown format"):
        load_ranker(model)
    head.unlink()
    with pytest.raises(RankerLoadError, match=r"no ranker\.json beside it"):
        load_ranker(model)


def test_the_users_last_message_is_the_query() -> None:
    source = "Human: hi\nAssistant: hello!\nHuman: what about bread?"
    assert query_of(source) == "what about bread?"
    assert query_of("no speakers here") == "no speakers here"
