"""langgraph-brain: memory for LangGraph agents."""
