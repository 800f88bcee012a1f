from __future__ import annotations

import copy
import socket
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from django.conf import settings
from django.contrib.auth.hashers import get_hashers, get_hashers_by_algorithm
from django.contrib.auth.models import Group, Permission
from django.core.cache import cache
from django.core.management.base import CommandError
from django.db import OperationalError, connection
from django.test import TransactionTestCase
from psycopg.errors import DeadlockDetected
from rest_framework.test import APIClient
from servestatic.middleware import ServeStaticMiddleware

from arthur_panel.launcher import INTEGRATION_ONLY, SKIP_INTEGRATION
from arthur_panel.redis_client import redis_client
from cluster_app.access.permissions import OPERATOR_GROUP
from cluster_app.access.rules import ADMIN_ROLE, ROLES
from cluster_app.access.throttle import RATE_KEY_PREFIX
from cluster_app.models import ApiToken, Node
from cluster_app.nodes.inventory import GUIDE_NODES
from cluster_app.nodes.poll import INSTANCES_KEY, SNAPSHOT_KEY
from models_app.catalogue.guide import GUIDE_MODELS, GUIDE_PRICES, GUIDE_ROUTES, NAME_ROUTES
from models_app.models import CloudPrice, LlmModel, NameRoute, RouteRule
from models_app.proxy import lookups
from tests import stack as live

LLAMA_1B = "mlx-community/Llama-3.2-1B-Instruct-4bit"
ALLOWED_HOSTS = {"127.0.0.1", "::1", "localhost"}
FLUSH_ATTEMPTS = 3


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(INTEGRATION_ONLY, action="store_true",
                     help="only the integration tests, those on the transactional database (the "
                          "live stack, websockets, racing jobs): the launcher's PostgreSQL pass")
    parser.addoption(SKIP_INTEGRATION, action="store_true",
                     help="all but the integration tests, save those marked sqlite_too or "
                          "sqlite_pass: the launcher's SQLite pass beside its PostgreSQL pass")


def is_integration(item: pytest.Item) -> bool:
    """Whether the test commits for real (`django_db(transaction=True)`)."""
    marker = item.get_closest_marker("django_db")
    return bool(marker and marker.kwargs.get("transaction")) or (
        "transactional_db" in getattr(item, "fixturenames", ()))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    def marked(item: pytest.Item, name: str) -> bool:
        return item.get_closest_marker(name) is not None

    if config.getoption(INTEGRATION_ONLY):
        def keep(item: pytest.Item) -> bool:
            return is_integration(item) and not marked(item, "sqlite_pass")
    elif config.getoption(SKIP_INTEGRATION):
        def keep(item: pytest.Item) -> bool:
            return (not is_integration(item) or marked(item, "sqlite_too")
                    or marked(item, "sqlite_pass"))
    else:
        return
    if dropped := [item for item in items if not keep(item)]:
        config.hook.pytest_deselected(items=dropped)
    items[:] = [item for item in items if keep(item)]


@pytest.fixture(autouse=True, scope="session")
def _no_internet() -> Iterator[None]:
    """Fail any outbound connection that is not to this machine."""
    real_connect = socket.socket.connect

    def guarded(sock: socket.socket, address: Any) -> Any:
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            host = address[0]
            if host not in ALLOWED_HOSTS and not str(host).startswith("127."):
                raise RuntimeError(f"test tried to reach {address}: tests stay on loopback")
        return real_connect(sock, address)

    socket.socket.connect = guarded  # type: ignore[method-assign]
    yield
    socket.socket.connect = real_connect  # type: ignore[method-assign]


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings: None) -> None:
    """On PostgreSQL, this process waits longer than the live stack's before it looks for a
    deadlock: of a deadlock between a test's flush (TRUNCATE) and a stack process's row locks,
    PostgreSQL aborts the side that looks first, which is then the stack's task and not the
    test's teardown. The stack's processes connect by URL, without these options."""
    database = settings.DATABASES["default"]
    if database["ENGINE"] == "django.db.backends.postgresql":
        database.setdefault("OPTIONS", {})["options"] = "-c deadlock_timeout=10s"


@pytest.fixture(autouse=True, scope="session")
def _flush_again_after_a_deadlock() -> Iterator[None]:
    """A transactional test's flush tried again when PostgreSQL aborted it as a deadlock's
    victim: on a busy machine the TRUNCATE can wait past its own deadlock_timeout (above) behind
    a stack process's transaction, and then lose a deadlock with another. Nothing was flushed
    (the flush is one transaction), so once more is safe."""
    flush = TransactionTestCase._fixture_teardown

    def flushed(test_case: TransactionTestCase) -> None:
        for attempt in range(FLUSH_ATTEMPTS):
            try:
                flush(test_case)
                return
            except (CommandError, OperationalError) as error:
                # flush says CommandError, from Django's OperationalError, from psycopg's
                if not _caused_by_deadlock(error) or attempt == FLUSH_ATTEMPTS - 1:
                    raise

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(TransactionTestCase, "_fixture_teardown", flushed)
        yield


def _caused_by_deadlock(error: BaseException | None) -> bool:
    while error is not None:
        if isinstance(error, DeadlockDetected):
            return True
        error = error.__cause__ or error.__context__
    return False


@pytest.fixture(autouse=True, scope="session")
def _static_files_listed_once() -> Iterator[None]:
    """ServeStatic's middleware lists and reads the status of every static file each time it
    is made, about 40 ms; a test client makes Django's middleware anew, over a thousand times a
    run. Each listing is made once (the static files do not change during a run)."""
    listings: dict[tuple[Any, ...], tuple[dict[str, Any], list[tuple[str, str]]]] = {}
    list_them = ServeStaticMiddleware.add_files_from_finders

    def listed_once(middleware: ServeStaticMiddleware) -> None:
        key = (middleware.static_prefix, tuple(map(str, settings.STATICFILES_DIRS)))
        if key not in listings:
            before = len(middleware.directories)
            list_them(middleware)
            listings[key] = (dict(middleware.files),
                             middleware.directories[:len(middleware.directories) - before])
            return
        files, directories = listings[key]
        middleware.files.update(files)
        for root, prefix in reversed(directories):
            middleware.insert_directory(root, prefix)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(ServeStaticMiddleware, "add_files_from_finders", listed_once)
        yield


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup: None, django_db_blocker: Any) -> Iterator[None]:
    """pytest-django's, and at the end, on PostgreSQL, the sessions that other threads of this
    process left open (websocket consumers' database threads) closed: PostgreSQL drops no
    database while a session uses it."""
    yield
    with django_db_blocker.unblock():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                               "WHERE datname = current_database() AND pid <> pg_backend_pid()")


@pytest.fixture(autouse=True, scope="session")
def _quick_password_hashing() -> None:
    """Each account a test makes and each login it does would otherwise spend a fifth of a
    second hashing (a million PBKDF2 rounds)."""
    settings.PASSWORD_HASHERS = ["tests.hashers.QuickPBKDF2PasswordHasher"]
    get_hashers.cache_clear()
    get_hashers_by_algorithm.cache_clear()


@pytest.fixture(autouse=True)
def _no_cluster_snapshot() -> None:
    """Each test polls for itself; no snapshot is left over from another test."""
    cache.delete_many([SNAPSHOT_KEY, INSTANCES_KEY])


@pytest.fixture(autouse=True)
def _no_proxy_lookups() -> None:
    """A flushed test database fires no signals: forget the proxy's kept look-ups."""
    lookups.forget()


@pytest.fixture(autouse=True)
def _no_rate_counters() -> None:
    """Rate-limit counters are kept per user pk and key id, and each test's users reuse the
    last test's pks: start every test with none."""
    client = redis_client()
    if stale := list(client.scan_iter(f"{RATE_KEY_PREFIX}*", count=1000)):
        client.delete(*stale)


@pytest.fixture
def nodes(db: None) -> dict[str, Node]:
    """The guide's inventory (transactional tests flush the migration's seed)."""
    return {fields["name"]: Node.objects.get_or_create(name=fields["name"], defaults=fields)[0]
            for fields in GUIDE_NODES}


@pytest.fixture
def guide_models(db: None) -> None:
    """The guide's catalogue (transactional tests flush the migration's seed)."""
    for fields in GUIDE_MODELS:
        LlmModel.objects.get_or_create(slug=fields["slug"], defaults={**fields, "source": "guide"})
    for task, description, slugs in GUIDE_ROUTES:
        RouteRule.objects.get_or_create(task=task, defaults={"description": description,
                                                             "slugs": slugs})
    for position, (pattern, task, description) in enumerate(NAME_ROUTES, start=1):
        NameRoute.objects.get_or_create(pattern=pattern, defaults={
            "rule": RouteRule.objects.get(task=task), "position": 10 * position,
            "description": description})
    for name, given, taken in GUIDE_PRICES:
        CloudPrice.objects.get_or_create(name=name, defaults={
            "input_usd_per_million": given, "output_usd_per_million": taken})


@pytest.fixture
def alice(django_user_model: Any) -> Any:
    return django_user_model.objects.create_user("alice", password="alice-password-1")


@pytest.fixture
def bob(django_user_model: Any) -> Any:
    """An ordinary account: reads everything, operates nothing."""
    return django_user_model.objects.create_user("bob", password="bob-password-1")


def grant_role(user: Any, role: str) -> Any:
    """Put `user` in the role's group (made here too: transactional tests flush the seed)."""
    group, _ = Group.objects.get_or_create(name=role)
    for permission in ROLES[role]:
        app_label, codename = permission.split(".")
        group.permissions.add(Permission.objects.get(content_type__app_label=app_label,
                                                     codename=codename))
    user.groups.add(group)
    return type(user).objects.get(pk=user.pk)  # a fresh object: permissions are cached


def grant_operator(user: Any) -> Any:
    return grant_role(user, OPERATOR_GROUP)


@pytest.fixture
def operator(alice: Any) -> Any:
    """Alice, in the operator group: she may run jobs and start and stop exo."""
    return grant_operator(alice)


@pytest.fixture
def carol(django_user_model: Any) -> Any:
    """Carol, in the admin group: also other users' keys and node settings."""
    return grant_role(django_user_model.objects.create_user("carol", password="carol-password-1"),
                      ADMIN_ROLE)


@pytest.fixture
def alice_token(operator: Any) -> str:
    """A key with every scope for Alice, an operator (scripts load models and run jobs)."""
    return ApiToken.issue(user=operator, name="tests")[1]


@pytest.fixture
def operator_token(operator: Any) -> str:
    return ApiToken.issue(user=operator, name="operator tests")[1]


@pytest.fixture
def api_client(operator: Any) -> APIClient:
    """Alice, an operator, in the browser session: she may run jobs and stop exo."""
    client = APIClient()
    client.force_login(operator)
    return client


@pytest.fixture(scope="session")
def exo_url(tmp_path_factory: Any, hub_endpoint: str) -> Iterator[str]:
    """The exo simulator, as a separate server process, for the whole session; it asks the hub
    simulator for the model cards it does not know, never the real Hub."""
    with live.running_simulator("exo", tmp_path_factory.mktemp("exo"),
                                "--hf-endpoint", hub_endpoint) as url:
        settings.EXO_API_URL = url
        yield url


def delete_custom_cards(exo_url: str) -> None:
    listing = httpx.get(f"{exo_url}/models", timeout=10).json()["data"]
    for card in listing:
        if card.get("is_custom"):
            httpx.delete(f"{exo_url}/models/custom/{card['id']}", timeout=10)


@pytest.fixture
def exo_built_in_cards(exo_url: str) -> Iterator[str]:
    """The session's exo simulator with only its built-in model cards, before and after the
    test: the cards a test has exo add would otherwise show in the next test's exo catalogue."""
    delete_custom_cards(exo_url)
    yield exo_url
    delete_custom_cards(exo_url)


@pytest.fixture(scope="session")
def hub_endpoint(tmp_path_factory: Any) -> Iterator[str]:
    """The hub simulator with its small test manifest, for the whole session."""
    with live.running_simulator("hub", tmp_path_factory.mktemp("hub")) as url:
        yield url


@pytest.fixture
def hub(hub_endpoint: str, settings: Any) -> str:
    """Point the panel at the hub simulator, without a token."""
    settings.HF_ENDPOINT = hub_endpoint
    settings.HF_TOKEN = ""
    return hub_endpoint


# The session's stack, once a test has started it.
_SESSION_STACK: list[live.Stack] = []


@pytest.fixture(scope="session")
def live_stack(django_db_setup: None, exo_url: str, hub_endpoint: str,
               tmp_path_factory: Any) -> Iterator[live.Stack]:
    """Real uvicorn, Celery workers and beat on the test database, private Redis, exo simulator."""
    database = live.stack_database_url()
    with live.running_stack(database, exo_url, hub_endpoint,
                            tmp_path_factory.mktemp("stack")) as running:
        _SESSION_STACK.append(running)
        yield running
        _SESSION_STACK.clear()


@pytest.fixture(autouse=True)
def _session_stack_paused(request: pytest.FixtureRequest) -> Iterator[None]:
    """A test that commits for real shares the database with the session's stack, once that
    runs; unless the test uses it, the stack's beat is paused meanwhile, as it would act on the
    test's rows (its recovery hands a silent job, or a queued one left unsent, to its own
    workers)."""
    if not _SESSION_STACK or "live_stack" in request.fixturenames or not is_integration(
            request.node):
        yield
        return
    with live.beats_paused([_SESSION_STACK[0].beat]):
        yield


@pytest.fixture
def loaded_llama(live_stack: live.Stack, operator_token: str, nodes: dict[str, Node],
                 guide_models: None) -> Iterator[str]:
    """Llama 3.2 1B loaded on the session's exo simulator (its instance id), unloaded after."""
    with live.api(live_stack, operator_token) as client:
        job = client.post("/api/v1/instances/", json={"model": LLAMA_1B}).json()
        live.wait_until(lambda: client.get(f"/api/v1/jobs/{job['id']}/").json()["state"]
                        == "succeeded", timeout=30)
        instance_id = client.get(f"/api/v1/jobs/{job['id']}/").json()["result"]["instance_id"]
        yield instance_id
        client.delete(f"/api/v1/instances/{instance_id}/")
        live.wait_until(lambda: client.get(f"/api/v1/instances/{instance_id}/").status_code
                        == 404, timeout=30)


@pytest.fixture
def stack_layer(live_stack: live.Stack, settings: Any) -> None:
    """Events this process publishes (its signals too) go to the live stack's channel layer,
    as from a `manage.py shell` beside the panel."""
    layers = copy.deepcopy(settings.CHANNEL_LAYERS)
    layers["default"]["CONFIG"]["hosts"][0]["address"] = live_stack.env["REDIS_URL"]
    settings.CHANNEL_LAYERS = layers
