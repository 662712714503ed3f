"""Discord adapter (discord.py 2.x): translates Discord events to the platform-neutral core."""

from __future__ import annotations

import aiohttp
import discord
import yarl
from discord.gateway import DiscordWebSocket
from discord.http import Route

from ...config import ConfigError, Settings
from ...conversation import Conversations
from .client import BlendBot

__all__ = ["BlendBot", "configure_endpoints", "run_discord"]


def configure_endpoints(api_url: str, gateway_url: str | None) -> None:
    """Point discord.py at a Discord-compatible REST base and gateway (proxies, tests)."""
    Route.BASE = api_url.rstrip("/")
    if gateway_url:
        DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(gateway_url)


async def run_discord(core: Conversations, settings: Settings) -> None:
    """Run the bot until it is closed; bad credentials or intents raise `ConfigError`."""
    if settings.discord_token is None:
        raise ConfigError("DISCORD_TOKEN is not set")
    configure_endpoints(settings.discord_api_url, settings.discord_gateway_url)
    bot = BlendBot(core, *settings.discord_shard_range, settings.discord_dev_guild,
                   gateway_url=settings.discord_gateway_url)
    try:
        async with bot:
            await bot.start(settings.discord_token.get_secret_value())
    except discord.LoginFailure:
        raise ConfigError("Discord rejected DISCORD_TOKEN (invalid token)") from None
    except (aiohttp.ClientConnectionError, OSError) as exc:  # OSError: DNS, refused, reset
        raise ConfigError(
            f"cannot reach Discord at {settings.discord_api_url} "
            f"({type(exc).__name__}); check the network and discord_api_url") from None
    except discord.PrivilegedIntentsRequired:
        raise ConfigError(
            "Discord refused the Message Content intent: enable it for this bot in the "
            "Developer Portal (Bot → Privileged Gateway Intents)"
        ) from None
