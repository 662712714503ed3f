"""The mode registry, and modes run against a small fake `Members` instead of an engine."""

from __future__ import annotations

import ast
import random
from collections.abc import AsyncIterator, Collection, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

import engines
from engines import (
    MODE_NAMES,
    MODES,
    AllModelsDownError,
    BlendedEngine,
    BlendError,
    BlendSettings,
    ChatMessage,
    ChatModel,
    Conversation,
    Members,
    ReplyRequest,
    UnsupportedModeError,
)
from engines.candidates import plan
from engines.draw_one import DrawOneMode
from engines.policies import DRAW_ONE_POLICIES, SelectionPolicy
from engines.ranked import BestOfNMode, RankedOptions
from engines.ranker.aggregate import Ranking
from tests.stubs import ScriptedModel, StubModel

CONV = Conversation("system", [ChatMessage("user", "hi", name="Alice")], bot_name="Bot")
ENGINES = Path(engines.__file__).parent


class FakeMembers:
    """Just what a mode may use; records what the mode did with it."""

    def __init__(self, *models: ChatModel, down: Collection[str] = ()) -> None:
        self.models = {m.id: m for m in models}
        self.down = set(down)
        self.events: list[str] = []
        self.in_cpu_turn = False

    def available_members(self) -> list[str]:
        return [m for m in self.models if m not in self.down]

    def draw(self, policy: SelectionPolicy, blend: BlendSettings,
             exclude: Collection[str] = ()) -> ChatModel:
        ids = [m for m in self.available_members() if m not in exclude]
        if not ids:
            raise AllModelsDownError("none left")
        return self.models[policy.choose(ids, blend, dict.fromkeys(ids, 1.0), random.Random(0))]

    @asynccontextmanager
    async def turn(self, model: ChatModel, channel: str) -> AsyncIterator[None]:
        self.events.append(f"turn {model.id} {channel}")
        yield

    @asynccontextmanager
    async def cpu_turn(self, channel: str) -> AsyncIterator[None]:
        self.events.append(f"cpu {channel}")
        self.in_cpu_turn = True
        try:
            yield
        finally:
            self.in_cpu_turn = False

    def record_success(self, model: ChatModel) -> None:
        self.events.append(f"ok {model.id}")

    def record_failure(self, model: ChatModel, error: BaseException, *, started: bool) -> None:
        self.events.append(f"failed {model.id}")


def request(mode: str, **blend: object) -> ReplyRequest:
    return ReplyRequest("c", CONV, BlendSettings(mode, **blend))  # type: ignore[arg-type]


def test_the_registry_lists_every_servable_mode_once_with_a_description() -> None:
    assert MODE_NAMES == ("single", "uniform", "weighted", "learned", "best_of_n", "fuse")
    assert all(m.description.strip() for m in MODES)
    assert [m.name for m in MODES if m.ranked] == ["best_of_n", "fuse"]
    assert not hasattr(engines, "ALL_MODES")


async def test_an_engine_serves_the_registry_modes_it_can_in_registry_order() -> None:
    class Ready:
        async def get(self) -> object:
            return object()

    plain = BlendedEngine([StubModel("a")])
    assert list(plain.modes) == [m.name for m in MODES if not m.ranked]
    ranked = BlendedEngine([StubModel("a")], ranker=Ready())  # type: ignore[arg-type]
    assert tuple(ranked.modes) == MODE_NAMES
    custom = BlendedEngine([StubModel("a")], modes={
        "uniform": DrawOneMode(DRAW_ONE_POLICIES["uniform"]),
        "single": DrawOneMode(DRAW_ONE_POLICIES["single"])})
    assert list(custom.modes) == ["single", "uniform"]


def test_a_mode_outside_the_registry_cannot_be_installed() -> None:
    with pytest.raises(BlendError, match=r"'chaos' is not in engines\.modes\.MODES"):
        BlendedEngine([StubModel("a")],
                      modes={"chaos": DrawOneMode(DRAW_ONE_POLICIES["uniform"])})


@pytest.mark.parametrize(
    ("mode", "message"),
    [
        ("chaos", "unknown mode 'chaos' (choose from single, uniform, weighted, learned)"),
        ("fuse", "mode 'fuse' is not available here (available: single, uniform, weighted, "
                 "learned)"),
    ],
)
def test_check_tells_unknown_modes_from_unavailable_ones(mode: str, message: str) -> None:
    with pytest.raises(UnsupportedModeError) as info:
        BlendedEngine([StubModel("a")]).check(BlendSettings(mode))
    assert str(info.value) == message


def test_the_engine_is_the_members_its_modes_use() -> None:
    members: Members = BlendedEngine([StubModel("a")])  # checked by mypy, too
    assert members.available_members() == ["a"]


async def test_draw_one_fails_over_through_members() -> None:
    members = FakeMembers(StubModel("a", fail_after=0), StubModel("b"))
    gen = await DrawOneMode(DRAW_ONE_POLICIES["single"]).generate(members, request("single"))
    assert gen.model_id == "b" and gen.failed_over_from == ("a",)
    assert members.events == ["turn a c", "failed a", "turn b c", "ok b"]


async def test_draw_one_keeps_a_lone_members_own_error() -> None:
    mode = DrawOneMode(DRAW_ONE_POLICIES["uniform"])
    with pytest.raises(AllModelsDownError, match="model 'a' failed while generating"):
        await mode.generate(FakeMembers(StubModel("a", fail_after=0)), request("uniform"))
    resting = FakeMembers(StubModel("a", fail_after=0), StubModel("b"), down={"b"})
    with pytest.raises(AllModelsDownError, match="none left"):  # b might have answered
        await mode.generate(resting, request("uniform"))


async def test_best_of_n_ranks_on_the_cpu_turn() -> None:
    members = FakeMembers(ScriptedModel("a", "short"), ScriptedModel("b", "a longer one"))

    class Judge:
        def rank(self, source: str, candidates: Sequence[str], aggregation: str = "bubble"
                 ) -> Ranking:
            assert members.in_cpu_turn
            order = sorted(range(len(candidates)), key=lambda i: -len(candidates[i]))
            return Ranking(tuple(order), (None,) * len(candidates))

    class Ready:
        async def get(self) -> Judge:
            return Judge()

    gen = await BestOfNMode(Ready(), RankedOptions()).generate(members, request("best_of_n"))
    assert gen.text == "a longer one"
    assert members.events[-1] == "cpu c" and sorted(members.events[:-1]) == [
        "ok a", "ok b", "turn a c", "turn b c"]


def test_candidate_plan_uses_only_healthy_members() -> None:
    members = FakeMembers(StubModel("a"), StubModel("b"), StubModel("c"), down={"b"})
    assert [m.id for m, _ in plan(members, request("best_of_n"), 3)] == ["a", "c"]
    members.down |= {"a", "c"}
    with pytest.raises(AllModelsDownError):
        plan(members, request("best_of_n"), 3)


def _imports(package: Path) -> dict[str, set[str]]:
    """Module -> the package's modules it imports anywhere (functions, TYPE_CHECKING too)."""
    root = package.parent
    files = {}
    for path in package.rglob("*.py"):
        parts = list(path.relative_to(root).with_suffix("").parts)
        files[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    graph: dict[str, set[str]] = {}
    for name, path in files.items():
        here = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found |= {a.name for a in node.names if a.name in files}
            elif isinstance(node, ast.ImportFrom):
                start = here[:len(here) - node.level + 1] if node.level else []
                target = ".".join([*start, *([node.module] if node.module else [])])
                for alias in node.names:
                    sub = f"{target}.{alias.name}"
                    found.add(sub if sub in files else target)
        graph[name] = (found & set(files)) - {name}
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt):], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_engine_modules_import_each_other_without_a_circle() -> None:
    graph = _imports(ENGINES)
    assert {"engines.blended", "engines.ranked", "engines.candidates"} <= set(graph)
    assert _cycle(graph) is None
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
