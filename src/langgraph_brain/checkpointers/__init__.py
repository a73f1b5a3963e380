"""Short-term memory: BrainSaver (extended AsyncPostgresSaver), compaction and the transcript.

`langgraph.json`: `"checkpointer": {"path": "langgraph_brain.checkpointers.brain_checkpointer"}`.
"""

from .compaction import CompactionMiddleware, Compactor, compaction_cut, make_compaction_node
from .saver import SETUP_LOCK_KEY, BrainSaver, brain_checkpointer
from .serde import BrainSerializer, CheckpointTextError
from .transcript import Transcript, TranscriptEntry, TranscriptPage

__all__ = [
    "SETUP_LOCK_KEY",
    "BrainSaver",
    "BrainSerializer",
    "CheckpointTextError",
    "CompactionMiddleware",
    "Compactor",
    "Transcript",
    "TranscriptEntry",
    "TranscriptPage",
    "brain_checkpointer",
    "compaction_cut",
    "make_compaction_node",
]
