"""Memory that forms itself: extraction of memories from conversations, summaries and upkeep.

Import from the modules (`extraction.extractor`, `extraction.summarize`, ...): this package
imports nothing eagerly, so that `brain --help` does not load LangChain.
"""
