"""Optional LLM on any OpenAI-compatible endpoint: re-ranking, kid-friendly explanations and
natural-language search filters, always with the engine's own answer as the fallback."""
