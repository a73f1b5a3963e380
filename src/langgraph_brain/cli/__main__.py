"""`python -m langgraph_brain.cli` runs `brain`."""

from .app import main

main()
