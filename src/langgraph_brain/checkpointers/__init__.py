"""Short-term memory: BrainSaver (extended AsyncPostgresSaver) and the transcript.

Compaction, which archives into the transcript, is `langgraph_brain.middleware.compaction`.

`langgraph.json`: `"checkpointer": {"path": "langgraph_brain.checkpointers.brain_checkpointer"}`.
"""

from .saver import SETUP_LOCK_KEY, BrainSaver, brain_checkpointer
from .serde import BrainSerializer, CheckpointTextError
from .transcript import Transcript, TranscriptEntry, TranscriptPage

__all__ = [
    "SETUP_LOCK_KEY",
    "BrainSaver",
    "BrainSerializer",
    "CheckpointTextError",
    "Transcript",
    "TranscriptEntry",
    "TranscriptPage",
    "brain_checkpointer",
]
