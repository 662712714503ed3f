"""The deploy stack as data: compose services, Prometheus targets, the proxy's workers."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def compose() -> dict[str, Any]:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text())


def services() -> dict[str, dict[str, Any]]:
    return compose()["services"]


def bot_processes() -> dict[str, dict[str, Any]]:
    """The services that run `blendbot run` (each one Prometheus target)."""
    return {name: s for name, s in services().items() if s.get("command") == ["run"]}


def prometheus_targets() -> dict[str, list[str]]:
    config = yaml.safe_load((DEPLOY / "prometheus.yml").read_text())
    return {job["job_name"]: [t for sc in job["static_configs"] for t in sc["targets"]]
            for job in config["scrape_configs"]}


def proxy_upstreams() -> list[str]:
    return re.findall(r"^\s*server\s+([\w.-]+:\d+)", (DEPLOY / "nginx.conf").read_text(),
                      re.MULTILINE)


def substitute(value: str, env: dict[str, str]) -> str:
    """Compose's `${NAME}`, `${NAME:-default}` and `${NAME:?error}` with `env`."""
    def one(match: re.Match[str]) -> str:
        name, op, rest = match.group(1), match.group(2), match.group(3) or ""
        if name in env:
            return env[name]
        if op == ":?":
            raise KeyError(f"{name} must be set ({rest})")
        return rest if op == ":-" else ""

    return re.sub(r"\$\{(\w+)(:-|:\?)?([^}]*)\}", one, value)
