"""The FastAPI application factory: `create_app(settings)`.

The routers mounted are the explicit list `ROUTES` (one module per resource in `service.api.routes`);
a module may also define `setup(app)` for its own wiring (startup hooks, caches).
The app owns one engine and sessionmaker (`app.state`), migrates the database on start, and
refuses to start without a secret unless `settings.demo` is set.
"""

from __future__ import annotations

import logging
import secrets
import time
from contextlib import asynccontextmanager
from types import ModuleType

import anyio
import anyio.to_thread
from anyio.lowlevel import RunVar
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.orm import sessionmaker
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .. import db as _db
from .. import policy
from ..audit import audit_key
from ..db import make_engine, session_factory, upgrade
from ..http_guards import BodyLimit, SecurityHeaders
from ..metrics import Metrics
from ..security import LoginLimiter
from ..settings import Settings, SettingsError
from .routes import audit as audit_routes
from .routes import (
    auth,
    basemap,
    crossing_frames,
    crossings,
    events,
    health,
    jobs,
    media,
    meta,
    reports,
    review_batch,
    review_desk,
    reviews,
    stats,
    users,
    web,
)

log = logging.getLogger(__name__)

API_DESCRIPTION = """crosswatch: red-light (闯红灯) and wrong-way (逆行) events from crossing cameras.

Log in with `POST /api/auth/login` and send `Authorization: Bearer <token>`, or send an API key
in `X-API-Key`. Lists answer `{data, count}`; `count` is the total matching the filters."""


class _Measure:
    """Request count and latency per route template and status (Prometheus, `service.metrics`)."""

    def __init__(self, app: ASGIApp, metrics: Metrics):
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        t0 = time.perf_counter()
        status = 500  # what ServerErrorMiddleware answers if nothing was sent

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = scope.get("route")  # set by the router in this same scope
            self.metrics.observe(scope["method"], getattr(route, "path", "unmatched"), status, time.perf_counter() - t0)


class _Admission:
    """At most `limit` requests inside the app at once; the others wait here, in arrival order,
    holding nothing (no thread, no database connection).

    Why: a request holds its database connection until its response is built, and FastAPI
    builds a sync handler's response on the thread pool. Without a bound, requests holding
    connections wait for pool threads while pool threads wait for connections: under 200
    concurrent clients the service stopped until the pool timeout. With `limit` no larger than
    the pool (`db.SERVICE_THREADS`, pool = threads + overflow), no admitted request ever waits
    for a connection, so that cycle cannot form: load queues instead of failing. Health and
    metrics probes are not held back (a saturated service is alive; the pool's overflow covers
    their connection). Nor is login: it is async, takes a connection only inside its short
    database steps on a thread (never while waiting), and waits for its password check holding
    nothing (`routes/auth.login`): a login flood must not queue every other request behind it."""

    EXEMPT = frozenset({"/healthz", "/metrics", "/api/auth/login"})

    def __init__(self, app: ASGIApp, limit: int):
        self.app = app
        self.limit = limit
        # one semaphore per event loop (an app may be served by several in turn, e.g. in tests)
        self._semaphore: RunVar[anyio.Semaphore] = RunVar(f"crosswatch_admission_{id(self)}")

    def _gate(self) -> anyio.Semaphore:
        try:
            return self._semaphore.get()
        except LookupError:
            semaphore = anyio.Semaphore(self.limit)
            self._semaphore.set(semaphore)
            return semaphore

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path") in self.EXEMPT:
            await self.app(scope, receive, send)
            return
        async with self._gate():
            await self.app(scope, receive, send)


class _RefuseNul:
    """NUL cannot be stored or compared in PostgreSQL text: refuse it at the door, for every route."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and (
            b"%00" in scope.get("query_string", b"")
            or "\x00" in scope.get("path", "")
            or b"%00" in scope.get("raw_path", b"")
        ):
            response = JSONResponse({"detail": "NUL characters are not allowed in the URL"}, status_code=422)
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


# every router, mounted in this order (it is the order of the OpenAPI document)
ROUTES: tuple[ModuleType, ...] = (
    audit_routes,
    auth,
    basemap,
    crossing_frames,
    crossings,
    events,
    health,
    jobs,
    media,
    meta,
    reports,
    reviews,
    review_batch,
    review_desk,
    stats,
    users,
    web,
)


def create_app(settings: Settings | None = None, *, migrate: bool = True) -> FastAPI:
    settings = settings or Settings.from_env()
    if settings.secret_key is None and not settings.demo:
        raise SettingsError(
            "no secret key: set CROSSWATCH_SECRET_KEY (>= 32 characters), or run the demo (`crosswatch serve --demo`)"
        )
    engine = make_engine(settings.db_url, **_db.service_pool_options(settings.db_url))
    if migrate:
        upgrade(engine)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        # sync handlers run on anyio's thread pool: as many at once as the engine has connections
        anyio.to_thread.current_default_thread_limiter().total_tokens = _db.SERVICE_THREADS
        hooks = list(app.state.startup_hooks)
        for hook in hooks:
            hook(app)
        try:
            yield
        finally:
            for hook in reversed(app.state.shutdown_hooks):
                try:
                    hook(app)
                except Exception:  # pragma: no cover - shutdown must go on
                    log.exception("shutdown hook failed")
            engine.dispose()

    # docs_url/redoc_url off: FastAPI's pages load Swagger UI / ReDoc from a CDN (blank offline);
    # routes/web.py serves /docs from the local npm install instead
    app = FastAPI(
        title="crosswatch",
        version="0.1.0",
        description=API_DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.secret_key = settings.secret_key or secrets.token_urlsafe(48)
    app.state.engine = engine
    app.state.sessionmaker = sessionmaker(engine, expire_on_commit=False)
    app.state.write_sessionmaker = session_factory(engine, write=True)
    app.state.login_limiter = LoginLimiter(settings.login_attempts, settings.login_window_s)
    app.state.audit_key = audit_key(settings)
    for maker in (app.state.sessionmaker, app.state.write_sessionmaker):
        maker.configure(info={"audit_key": app.state.audit_key})  # audit.append/verify read it from the session
    if migrate:
        policy.enforce(app.state.write_sessionmaker, settings)
    app.state.evidence_dir = settings.resolved_evidence_dir().resolve()
    app.state.startup_hooks = []  # callables(app), e.g. the jobs worker
    app.state.shutdown_hooks = []
    app.state.metrics = Metrics(app)

    # Pure ASGI middleware, not `@app.middleware("http")`: that wrapper runs every request through
    # an extra task and memory streams, ~20 % of the CPU of a request served from a cache.
    app.add_middleware(_Admission, limit=_db.SERVICE_THREADS)
    app.add_middleware(_Measure, metrics=app.state.metrics)  # measures the wait for admission too
    app.add_middleware(_RefuseNul)  # refused URLs are not measured
    app.add_middleware(
        BodyLimit, limit=settings.max_body_bytes, exempt=frozenset({"/api/jobs/upload", crossing_frames.UPLOAD_PATH})
    )
    app.add_middleware(SecurityHeaders)  # added last = outermost: every answer, refusals too, has the headers

    @app.exception_handler(DataError)
    async def _data_error(_request: Request, exc: DataError) -> JSONResponse:
        if "NUL" in str(exc.orig):  # e.g. in a JSON body field
            return JSONResponse({"detail": "text may not contain NUL characters"}, status_code=422)
        raise exc

    @app.exception_handler(PoolTimeoutError)
    async def _pool_exhausted(_request: Request, exc: PoolTimeoutError) -> JSONResponse:
        # every connection busy for SERVICE_POOL_TIMEOUT_S: an overload, not a bug; ask to retry
        log.warning("database pool exhausted: %s", exc)
        return JSONResponse(
            {"detail": "the service is busy; retry shortly"}, status_code=503, headers={"Retry-After": "2"}
        )

    @app.exception_handler(SettingsError)
    async def _settings_error(_request: Request, exc: SettingsError) -> JSONResponse:  # pragma: no cover
        return JSONResponse({"detail": str(exc)}, status_code=500)

    for module in ROUTES:
        app.include_router(module.router)
        setup = getattr(module, "setup", None)
        if setup is not None:  # optional per-router wiring (startup hooks, state)
            setup(app)
    return app
