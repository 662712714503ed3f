"""HTTP endpoints of one remote model: load balancing, health, limits and retries.

A model may be served from several base URLs. A channel's requests go to one replica, chosen
by rendezvous hashing on the channel's session id among the healthy endpoints, so the
server's prefix cache keeps its conversation; a request moves to the next replica in the
channel's order only while its own is down or has more than `spill_at` requests waiting. The
session id is sent as `X-Session-ID` (vllm-router's `consistent_hash` policy routes on it).
With `routing = "least_busy"`, or without a channel, a request goes to the healthy endpoint
with the fewest requests in flight (round-robin among equals). An endpoint that refuses a
connection, times out or answers 5xx/429 is skipped for a cool-down. Each endpoint serves at
most `concurrency` requests at once. Connection errors, 429 and 5xx are retried with
exponential backoff (tenacity), honouring `Retry-After` up to `max_retry_wait_s`; a longer
wait is not worth a chat user's time, so the request fails at once and the engine fails
over. 401/403 and other 4xx fail at once with a clear error.
"""

from __future__ import annotations

import asyncio
import email.utils
import hashlib
import json
import logging
import os
import time
from collections.abc import AsyncIterator, Callable, Collection
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

import aiohttp
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    wait_random_exponential,
)

from .base import ModelError

log = logging.getLogger(__name__)
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
COOL_DOWN_S = 10.0
SESSION_HEADER = "X-Session-ID"
Routing = Literal["affinity", "least_busy"]
ROUTINGS: tuple[Routing, ...] = ("affinity", "least_busy")


def session_id(channel: str) -> str:
    """An opaque, stable id for a channel (the servers never see the channel's name)."""
    return hashlib.blake2b(channel.encode(), digest_size=8).hexdigest()


def _score(session: str, endpoint: Endpoint) -> int:
    digest = hashlib.blake2b(f"{session}|{endpoint.base_url}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


@dataclass(frozen=True, slots=True)
class HttpOptions:
    """Limits and timeouts shared by a model's endpoints."""

    concurrency: int = 4
    connect_timeout_s: float = 5.0
    read_timeout_s: float = 60.0
    max_retries: int = 2
    max_retry_wait_s: float = 10.0
    api_key_env: str | None = None


@dataclass(eq=False, slots=True)
class Endpoint:
    """One base URL: `http://host:8000` or `http://host:8000/v1` (both mean the same server)."""

    base_url: str
    limit: asyncio.Semaphore
    in_flight: int = 0
    waiting: int = 0  # requests waiting for a free slot of `limit`
    down_until: float = 0.0
    last_error: str | None = field(default=None)

    @property
    def root(self) -> str:
        url = self.base_url.rstrip("/")
        return url[: -len("/v1")] if url.endswith("/v1") else url

    def url(self, path: str) -> str:
        """`path` under the server root, e.g. `/v1/chat/completions` or `/tokenize`."""
        return self.root + path


class EndpointError(ModelError):
    """A request to a model's server failed.

    `status` is the HTTP status when the server answered; `retry_after` its requested pause.
    """

    def __init__(self, message: str, *, retryable: bool, retry_after: float | None = None,
                 status: int | None = None):
        super().__init__(message)
        self.retryable = retryable
        self.retry_after = retry_after
        self.status = status


class EndpointPool:
    """A model's endpoints, their health and their in-flight counts."""

    def __init__(
        self, base_urls: Collection[str], concurrency: int,
        clock: Callable[[], float] = time.monotonic, routing: Routing = "affinity",
        spill_at: int | None = None,
    ) -> None:
        if not base_urls:
            raise ValueError("at least one base URL is needed")
        self.endpoints = [Endpoint(u, asyncio.Semaphore(concurrency)) for u in base_urls]
        self.concurrency = concurrency
        self.clock = clock
        self.routing = routing
        self.spill_at = concurrency if spill_at is None else spill_at  # waiting, per endpoint
        self._next = 0

    @property
    def capacity(self) -> int:
        return len(self.endpoints) * self.concurrency

    def is_up(self, endpoint: Endpoint) -> bool:
        return self.clock() >= endpoint.down_until

    def pick(self, avoid: Collection[Endpoint] = (), session: str | None = None) -> Endpoint:
        """The endpoint for a request: the session's replica (affinity routing), else the
        least busy healthy endpoint, preferring ones not in `avoid`."""
        if session is not None and self.routing == "affinity":
            for endpoint in self.order(session):
                if (self.is_up(endpoint) and endpoint not in avoid
                        and endpoint.waiting < self.spill_at):
                    return endpoint
        up = [e for e in self.endpoints if self.is_up(e)]
        pool = ([e for e in up if e not in avoid] or up
                or sorted(self.endpoints, key=lambda e: e.down_until)[:1])
        start = self._next % len(self.endpoints)
        self._next += 1
        rotated = self.endpoints[start:] + self.endpoints[:start]
        return min(pool, key=lambda e: (e.in_flight, rotated.index(e)))

    def order(self, session: str) -> list[Endpoint]:
        """The endpoints in `session`'s rendezvous order: its replica first, then where it
        moves when that one is out (removing one endpoint moves only its own sessions)."""
        return sorted(self.endpoints, key=lambda e: _score(session, e), reverse=True)

    def mark_down(self, endpoint: Endpoint, error: str, seconds: float = COOL_DOWN_S) -> None:
        endpoint.down_until = self.clock() + seconds
        endpoint.last_error = error

    def mark_up(self, endpoint: Endpoint) -> None:
        endpoint.down_until, endpoint.last_error = 0.0, None

    def any_up(self, besides: Endpoint | None = None) -> bool:
        return any(self.is_up(e) and e is not besides for e in self.endpoints)


class HttpClient:
    """JSON POSTs to a model's endpoints with retries; one `aiohttp` session per event loop."""

    def __init__(self, pool: EndpointPool, options: HttpOptions) -> None:
        self.pool = pool
        self.options = options
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._backoff = wait_random_exponential(multiplier=0.25, max=options.max_retry_wait_s)

    def _headers(self) -> dict[str, str]:
        name = self.options.api_key_env
        if name is None:
            return {}
        key = os.environ.get(name)
        if not key:
            raise EndpointError(f"the API key variable {name} is not set in the environment",
                                retryable=False)
        return {"Authorization": f"Bearer {key}"}

    def session(self) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        if self._session is None or self._session.closed or self._loop is not loop:
            timeout = aiohttp.ClientTimeout(
                total=None, sock_connect=self.options.connect_timeout_s,
                connect=self.options.connect_timeout_s, sock_read=self.options.read_timeout_s,
            )
            self._session = aiohttp.ClientSession(timeout=timeout, raise_for_status=False)
            self._loop = loop
        return self._session

    @asynccontextmanager
    async def post(self, path: str, body: dict[str, Any], session: str | None = None
                   ) -> AsyncIterator[aiohttp.ClientResponse]:
        """A 2xx response to POST `path`, after retries; read it inside the block. `session`
        (a `session_id`) keeps a channel on its replica and is sent as `X-Session-ID`."""
        response, endpoint = await self._send(path, body, session)
        try:
            yield response
        except (aiohttp.ClientError, TimeoutError) as exc:
            reason = _describe(exc)
            self.pool.mark_down(endpoint, reason)
            raise EndpointError(f"{endpoint.root}: connection lost while reading the reply "
                                f"({reason})", retryable=False) from exc
        finally:
            response.release()
            endpoint.in_flight -= 1
            endpoint.limit.release()

    async def get_json(self, path: str, body: dict[str, Any]) -> Any:
        """POST `path` once to the least busy healthy endpoint and decode JSON (no retries,
        a short timeout: for quick side requests such as counting tokens)."""
        endpoint = self.pool.pick()
        timeout = aiohttp.ClientTimeout(total=self.options.connect_timeout_s + 10)
        async with self.session().post(endpoint.url(path), json=body, headers=self._headers(),
                                       timeout=timeout) as resp:
            if resp.status >= 400:
                raise EndpointError(f"{endpoint.root}{path} answered {resp.status}",
                                    retryable=False, status=resp.status)
            return await resp.json(content_type=None)

    async def _send(self, path: str, body: dict[str, Any], session: str | None
                    ) -> tuple[aiohttp.ClientResponse, Endpoint]:
        tried: list[Endpoint] = []
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.options.max_retries + 1),
            wait=self._wait,
            retry=retry_if_exception(self._worth_retrying),
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                endpoint = self.pool.pick(avoid=tried, session=session)
                tried.append(endpoint)
                return await self._attempt(endpoint, path, body, session), endpoint
        raise AssertionError("unreachable")  # pragma: no cover - reraise=True

    async def _attempt(self, endpoint: Endpoint, path: str, body: dict[str, Any],
                       session: str | None = None) -> aiohttp.ClientResponse:
        headers = self._headers()
        if session is not None:
            headers[SESSION_HEADER] = session
        endpoint.waiting += 1
        try:
            await endpoint.limit.acquire()
        finally:
            endpoint.waiting -= 1
        endpoint.in_flight += 1
        try:
            response = await self.session().post(endpoint.url(path), json=body, headers=headers)
        except aiohttp.ClientSSLError as exc:
            self._give_back(endpoint)
            self.pool.mark_down(endpoint, _describe(exc))
            raise EndpointError(f"{endpoint.root}: TLS error ({_describe(exc)})",
                                retryable=False) from exc
        except (aiohttp.ClientError, TimeoutError) as exc:
            self._give_back(endpoint)
            self.pool.mark_down(endpoint, _describe(exc))
            raise EndpointError(f"{endpoint.root}: {_describe(exc)}", retryable=True) from exc
        except BaseException:
            self._give_back(endpoint)
            raise
        if response.status < 400:
            self.pool.mark_up(endpoint)
            return response
        try:
            raise await self._status_error(endpoint, path, response)
        finally:
            response.release()
            self._give_back(endpoint)

    @staticmethod
    def _give_back(endpoint: Endpoint) -> None:
        endpoint.in_flight -= 1
        endpoint.limit.release()

    async def _status_error(self, endpoint: Endpoint, path: str,
                            response: aiohttp.ClientResponse) -> EndpointError:
        status = response.status
        detail = await _error_detail(response)
        where = f"{endpoint.root}{path}"
        if status in (401, 403):
            key = self.options.api_key_env
            hint = f"check the key in {key}" if key else "set api_key_env for this model"
            return EndpointError(f"{where} refused the request ({status} {detail}); {hint}",
                                 retryable=False, status=status)
        if status in RETRY_STATUSES:
            retry_after = _retry_after(response.headers.get("Retry-After"))
            self.pool.mark_down(endpoint, f"{status} {detail}",
                                retry_after if retry_after is not None else COOL_DOWN_S)
            return EndpointError(f"{where} answered {status} ({detail})", retryable=True,
                                 retry_after=retry_after, status=status)
        return EndpointError(f"{where} answered {status} ({detail})", retryable=False,
                             status=status)

    def _worth_retrying(self, exc: BaseException) -> bool:
        if not isinstance(exc, EndpointError) or not exc.retryable:
            return False
        if exc.retry_after is not None and exc.retry_after > self.options.max_retry_wait_s:
            log.warning("%s; not waiting %.0fs for a retry", exc, exc.retry_after)
            return False
        log.info("%s; retrying", exc)
        return True

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, EndpointError) and exc.retry_after is not None:
            return exc.retry_after
        if self.pool.any_up():
            return 0.0  # another endpoint can take it now
        return float(self._backoff(state))

    async def close(self) -> None:
        if self._session is not None and not self._session.closed:
            if self._loop is asyncio.get_running_loop():
                await self._session.close()
        self._session = None


def _retry_after(value: str | None) -> float | None:
    """Seconds from a `Retry-After` header: a number of seconds or an HTTP date."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


async def _error_detail(response: aiohttp.ClientResponse) -> str:
    """A short reason from an error response (OpenAI-style `{"error": {"message"}}` or text)."""
    try:
        text = (await response.text(errors="replace")).strip()
    except (aiohttp.ClientError, TimeoutError):
        return response.reason or "no details"
    try:
        data = json.loads(text)
        error = data.get("error") if isinstance(data, dict) else None
        message = error.get("message") if isinstance(error, dict) else error or data.get("detail")
        if message:
            text = str(message)
    except (ValueError, AttributeError):
        pass
    text = " ".join(text.split()) or (response.reason or "no details")
    return text if len(text) <= 200 else text[:197] + "..."


def _describe(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "timed out"
    return str(exc) or type(exc).__name__
