"""A guarded client for any OpenAI-compatible chat-completions endpoint.

The LLM is an optional extra on top of the engine, so every way it can fail — off, slow, down,
rate-limited, answering nonsense — ends in ``None`` and the caller keeps the engine's own answer. A
circuit breaker stops a dead endpoint from adding its timeout to every request; identical prompts
are answered from a cache (keyed by a hash of model + prompt), which also makes repeated requests
cost nothing.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from collections.abc import Callable
from typing import Any

import openai
from prometheus_client import Counter

from nextread.cache.backends import CacheBackend, MemoryCache
from nextread.config import Settings
from nextread.observability import get_logger

log = get_logger("nextread.llm")
LLM_CALLS = Counter(
    "nextread_llm_calls_total",
    "LLM calls by task and outcome (ok, cached, timeout, error, malformed, circuit_open)",
    ["task", "outcome"],
)
CACHE_PREFIX = "nextread:llm:"
_FENCE = re.compile(r"^```(?:json)?\s*|\s*```$")


class CircuitBreaker:
    """Closed → open after ``failures`` consecutive failures → after ``cooldown`` seconds half-open:
    exactly one trial call goes through; its success closes the circuit, its failure re-opens it."""

    def __init__(self, failures: int, cooldown: float, clock: Callable[[], float] = time.monotonic):
        self.threshold = failures
        self.cooldown = cooldown
        self.clock = clock
        self.state = "closed"
        self._failures = 0
        self._opened_at = 0.0
        self._lock = threading.Lock()

    def allow(self) -> bool:
        with self._lock:
            if self.state == "closed":
                return True
            if self.state == "open" and self.clock() - self._opened_at >= self.cooldown:
                self.state = "half_open"
                return True
            return False

    def record_success(self) -> None:
        with self._lock:
            self.state = "closed"
            self._failures = 0

    def record_failure(self) -> None:
        with self._lock:
            self._failures += 1
            if self.state == "half_open" or self._failures >= self.threshold:
                self.state = "open"
                self._opened_at = self.clock()


class LLMClient:
    """One pooled OpenAI client per process; no retries inside the client (the breaker decides)."""

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: str = "",
        *,
        timeout: float = 8.0,
        breaker: CircuitBreaker | None = None,
        cache: CacheBackend | None = None,
        cache_seconds: float = 3600.0,
    ) -> None:
        self.model = model
        self.breaker = breaker or CircuitBreaker(3, 30.0)
        self.cache = cache
        self.cache_seconds = cache_seconds
        # Servers without auth (Ollama, llama.cpp) ignore the header; the SDK insists on some key.
        self._openai = openai.OpenAI(
            base_url=base_url, api_key=api_key or "unused", timeout=timeout, max_retries=0
        )

    @classmethod
    def from_settings(cls, settings: Settings, cache: CacheBackend | None = None) -> LLMClient | None:
        """``None`` when no endpoint is configured: the LLM is off and nothing is ever sent."""
        if not settings.llm.llm_base_url:
            return None
        return cls(
            settings.llm.llm_base_url,
            settings.llm.llm_model,
            settings.llm.llm_api_key,
            timeout=settings.llm.llm_timeout_seconds,
            breaker=CircuitBreaker(
                settings.llm.llm_breaker_failures, settings.llm.llm_breaker_cooldown_seconds
            ),
            cache=cache if cache is not None else MemoryCache(4096),
            cache_seconds=settings.llm.llm_cache_seconds,
        )

    def complete_json(self, task: str, system: str, payload: dict[str, Any]) -> dict[str, Any] | None:
        """The model's answer as a JSON object, or ``None`` (off circuit, timeout, HTTP error, not a
        JSON object). ``payload`` is the whole user message: callers build it from allow-listed fields."""
        user = json.dumps(payload, sort_keys=True, ensure_ascii=False)
        key = CACHE_PREFIX + hashlib.sha256(f"{self.model}\n{system}\n{user}".encode()).hexdigest()
        cached = self.cache.get(key) if self.cache is not None and self.cache_seconds > 0 else None
        if cached is not None:
            LLM_CALLS.labels(task, "cached").inc()
            return json.loads(cached)
        if not self.breaker.allow():
            LLM_CALLS.labels(task, "circuit_open").inc()
            return None
        content = self._call(task, system, user)
        if content is None:
            return None
        answer = parse_json_object(content)
        if answer is None:
            LLM_CALLS.labels(task, "malformed").inc()
            log.warning("llm_malformed_answer", task=task, answer=content[:200])
            return None
        LLM_CALLS.labels(task, "ok").inc()
        if self.cache is not None and self.cache_seconds > 0:
            self.cache.set(key, json.dumps(answer).encode(), self.cache_seconds)
        return answer

    def _call(self, task: str, system: str, user: str) -> str | None:
        try:
            response = self._openai.chat.completions.create(
                model=self.model,
                messages=[{"role": "system", "content": system}, {"role": "user", "content": user}],
                temperature=0,
                response_format={"type": "json_object"},
            )
            content = response.choices[0].message.content or ""
        except openai.APITimeoutError:
            return self._failed(task, "timeout", "no answer within the timeout")
        except openai.APIStatusError as error:
            return self._failed(task, "error", f"HTTP {error.status_code}")
        except (openai.OpenAIError, IndexError, AttributeError, TypeError) as error:
            return self._failed(task, "error", f"{type(error).__name__}: {error}")
        self.breaker.record_success()
        return content

    def _failed(self, task: str, outcome: str, reason: str) -> None:
        self.breaker.record_failure()
        LLM_CALLS.labels(task, outcome).inc()
        log.warning("llm_unavailable", task=task, reason=reason, circuit=self.breaker.state)
        return None


def parse_json_object(content: str) -> dict[str, Any] | None:
    """Models wrap JSON in code fences now and then even when asked not to; anything that is not a
    JSON object after removing them is malformed."""
    try:
        answer = json.loads(_FENCE.sub("", content.strip()))
    except ValueError:
        return None
    return answer if isinstance(answer, dict) else None
