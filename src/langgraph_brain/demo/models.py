"""Choose the chat model: `BRAIN_MODEL` through `init_chat_model`, or the scripted model.

The scripted model (`ScriptedToolCallingModel`) runs when `BRAIN_MODEL=scripted`, or when the
configured provider's API key is missing, so that nothing fails (or calls the network) on a
machine with no key. `describe_model` names it as scripted wherever it is shown.
"""

from __future__ import annotations

import logging
import os

from langchain_core.language_models import BaseChatModel

from ..settings import BrainSettings, get_settings
from .scripted import ScriptedToolCallingModel

logger = logging.getLogger(__name__)
_warned: set[tuple[str, str]] = set()

#: API-key environment variables per init_chat_model provider (any one suffices).
PROVIDER_KEYS: dict[str, tuple[str, ...]] = {
    "openai": ("OPENAI_API_KEY",),
    "azure_openai": ("AZURE_OPENAI_API_KEY",),
    "anthropic": ("ANTHROPIC_API_KEY",),
    "google_genai": ("GOOGLE_API_KEY", "GEMINI_API_KEY"),
    "groq": ("GROQ_API_KEY",),
    "mistralai": ("MISTRAL_API_KEY",),
    "cohere": ("COHERE_API_KEY",),
    "fireworks": ("FIREWORKS_API_KEY",),
    "together": ("TOGETHER_API_KEY",),
    "deepseek": ("DEEPSEEK_API_KEY",),
    "xai": ("XAI_API_KEY",),
}
_PREFIXES = (
    ("gpt-", "openai"),
    ("o1", "openai"),
    ("o3", "openai"),
    ("o4", "openai"),
    ("claude", "anthropic"),
    ("gemini", "google_genai"),
    ("mistral", "mistralai"),
    ("command", "cohere"),
)


def model_provider(spec: str) -> str | None:
    """The provider of an init_chat_model spec, e.g. 'openai:gpt-4o-mini' -> 'openai'."""
    if ":" in spec:
        return spec.split(":", 1)[0].strip().lower()
    for prefix, provider in _PREFIXES:
        if spec.lower().startswith(prefix):
            return provider
    return None


def is_scripted_spec(spec: str) -> bool:
    return spec.strip().lower().split(":", 1)[0] == "scripted"


def missing_model_key(spec: str, settings: BrainSettings | None = None) -> str | None:
    """The env var to set for `spec`, or None when the key is present (or none is needed)."""
    if is_scripted_spec(spec):
        return None
    settings = settings or get_settings()
    provider = model_provider(spec)
    keys = PROVIDER_KEYS.get(provider or "")
    if not keys:
        return None  # local (ollama) or unknown providers: let init_chat_model decide
    if provider == "openai" and settings.openai_api_key is not None:
        return None
    if any(os.environ.get(k) for k in keys):
        return None
    return keys[0]


def resolve_chat_model(
    model: str | BaseChatModel | None = None, *, settings: BrainSettings | None = None
) -> BaseChatModel:
    """A chat model for the agents.

    Args:
        model: a model instance (returned as is), an init_chat_model spec, or None for
            `BRAIN_MODEL`.
        settings: defaults to `get_settings()`.

    Returns:
        `init_chat_model(spec)` when its provider's API key is available, else
        `ScriptedToolCallingModel` (also for the spec "scripted").
    """
    if isinstance(model, BaseChatModel):
        return model
    settings = settings or get_settings()
    spec = model or settings.model
    if is_scripted_spec(spec):
        return ScriptedToolCallingModel()
    missing = missing_model_key(spec, settings)
    if missing is not None:
        if (missing, spec) not in _warned:
            _warned.add((missing, spec))
            logger.warning("%s is not set: using the scripted model instead of %s", missing, spec)
        return ScriptedToolCallingModel()
    from langchain.chat_models import init_chat_model

    if model_provider(spec) == "openai" and settings.openai_api_key is not None:
        return init_chat_model(spec, api_key=settings.openai_api_key.get_secret_value())
    return init_chat_model(spec)


def describe_model(model: BaseChatModel) -> str:
    """A one-line, honest name for `model` (the scripted model always says it is scripted)."""
    if isinstance(model, ScriptedToolCallingModel):
        return "scripted model (ScriptedToolCallingModel: fixed rules, not an LLM)"
    name = getattr(model, "model_name", None) or getattr(model, "model", None) or type(model).__name__
    return f"{type(model).__name__} ({name})"
