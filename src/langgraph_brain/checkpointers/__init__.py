"""Short-term memory: BrainSaver (extended AsyncPostgresSaver) and the transcript.

Compaction, which archives into the transcript, is `langgraph_brain.middleware.compaction`.

`langgraph.json`: `"checkpointer": {"path": "langgraph_brain.checkpointers.brain_checkpointer"}`.
"""

from .factory import brain_checkpointer
from .migrations import SETUP_LOCK_KEY
from .saver import BrainSaver
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
