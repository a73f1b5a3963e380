"""Quick start: an assistant with long-term memory, in one file.

Run: python examples/assistant_quickstart.py
Offline by default (embedded Postgres, e5 embeddings, Mem0 OSS, the *scripted* model); set
OPENAI_API_KEY (and optionally BRAIN_MODEL) to use a real LLM instead.
"""

from __future__ import annotations

import asyncio
import os

os.environ.setdefault("MEM0_TELEMETRY", "False")  # before mem0 is imported

from langgraph_brain import brain_checkpointer, get_settings, open_memory_service
from langgraph_brain.demo import create_assistant


async def main() -> None:
    # Both read the same settings: DATABASE_URL (or the embedded server), BRAIN_AUTO_MIGRATE,
    # BRAIN_TENANT_KEY; in production they run no DDL and refuse an un-migrated database.
    settings = get_settings()
    async with open_memory_service(settings) as memory, brain_checkpointer(settings) as saver:
        agent = create_assistant(memory, checkpointer=saver)
        # Identity comes from the runtime context, never from the model.
        me = {"user_id": "ana", "company_id": "acme"}

        async def say(thread: str, text: str) -> None:
            out = await agent.ainvoke(
                {"messages": [{"role": "user", "content": text}]},
                {"configurable": {"thread_id": thread}},
                context=me,
            )
            print(f"[{thread}] you> {text}\n[{thread}] agent> {out['messages'][-1].text}")

        await say("quickstart-1", "Remember that my favourite colour is green")
        await say("quickstart-2", "What is my favourite colour?")  # a new thread recalls it


if __name__ == "__main__":
    asyncio.run(main())
