"""Quick start: an assistant with long-term memory, in one file.

Run: python examples/assistant_quickstart.py
Offline by default (embedded Postgres, e5 embeddings, Mem0 OSS, the *scripted* model); set
OPENAI_API_KEY (and optionally BRAIN_MODEL) to use a real LLM instead.
"""

from __future__ import annotations

import asyncio
import os

os.environ.setdefault("MEM0_TELEMETRY", "False")  # before mem0 is imported

from langgraph_brain.brain import open_memory_service
from langgraph_brain.checkpointers import BrainSaver
from langgraph_brain.db import resolve_database_url
from langgraph_brain.demo import create_assistant
from langgraph_brain.settings import get_settings


async def main() -> None:
    settings = get_settings()
    url = await asyncio.to_thread(resolve_database_url, settings.database_url, settings.data_dir)
    async with open_memory_service(settings) as memory, BrainSaver.from_conn_string(url) as saver:
        agent = create_assistant(memory, checkpointer=saver)
        # Identity comes from the runtime context, never from the model.
        me = {"user_id": "ana", "company_id": "acme"}

        async def say(thread: str, text: str) -> None:
            out = await agent.ainvoke(
                {"messages": [{"role": "user", "content": text}]},
                {"configurable": {"thread_id": thread, **me}},
                context=me,
            )
            print(f"[{thread}] you> {text}\n[{thread}] agent> {out['messages'][-1].text}")

        await say("quickstart-1", "Remember that my favourite colour is green")
        await say("quickstart-2", "What is my favourite colour?")  # a new thread recalls it


if __name__ == "__main__":
    asyncio.run(main())
