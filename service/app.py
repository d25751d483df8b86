"""The FastAPI application factory: `create_app(settings)`.

Every module in `service/routers/` that defines `router` is mounted (one router per resource).
The app owns one engine and sessionmaker (`app.state`), migrates the database on start, and
refuses to start without a secret unless `settings.demo` is set.
"""
from __future__ import annotations

import importlib
import logging
import pkgutil
import secrets
import time
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError
from sqlalchemy.orm import sessionmaker

from . import __name__ as _pkg
from .db import make_engine, session_factory, upgrade
from .metrics import Metrics
from .security import LoginLimiter
from .settings import Settings, SettingsError

log = logging.getLogger(__name__)

API_DESCRIPTION = """crosswatch: red-light (闯红灯) and wrong-way (逆行) events from crossing cameras.

Log in with `POST /api/auth/login` and send `Authorization: Bearer <token>`, or send an API key
in `X-API-Key`. Lists answer `{data, count}`; `count` is the total matching the filters."""


def router_modules() -> list[str]:
    from . import routers

    return sorted(m.name for m in pkgutil.iter_modules(routers.__path__) if not m.name.startswith("_"))


def create_app(settings: Settings | None = None, *, migrate: bool = True) -> FastAPI:
    settings = settings or Settings.from_env()
    if settings.secret_key is None and not settings.demo:
        raise SettingsError(
            "no secret key: set CROSSWATCH_SECRET_KEY (>= 32 characters), or run the demo (`crosswatch serve --demo`)"
        )
    engine = make_engine(settings.db_url)
    if migrate:
        upgrade(engine)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
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

    app = FastAPI(title="crosswatch", version="0.1.0", description=API_DESCRIPTION, lifespan=lifespan)
    app.state.settings = settings
    app.state.secret_key = settings.secret_key or secrets.token_urlsafe(48)
    app.state.engine = engine
    app.state.sessionmaker = sessionmaker(engine, expire_on_commit=False)
    app.state.write_sessionmaker = session_factory(engine, write=True)
    app.state.login_limiter = LoginLimiter(settings.login_attempts, settings.login_window_s)
    app.state.evidence_dir = settings.resolved_evidence_dir().resolve()
    app.state.startup_hooks = []  # callables(app), e.g. the jobs worker
    app.state.shutdown_hooks = []
    app.state.metrics = Metrics(app)

    @app.middleware("http")
    async def _measure(request: Request, call_next):
        t0 = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        app.state.metrics.observe(request.method, getattr(route, "path", "unmatched"), response.status_code,
                                  time.perf_counter() - t0)
        return response

    @app.middleware("http")
    async def _refuse_nul(request: Request, call_next):
        # NUL cannot be stored or compared in PostgreSQL text: refuse it at the door, for every route.
        if "%00" in request.url.query or "\x00" in request.url.path or "%00" in request.scope.get("raw_path", b"").decode(
                "latin-1").lower():
            return JSONResponse({"detail": "NUL characters are not allowed in the URL"}, status_code=422)
        return await call_next(request)

    @app.exception_handler(DataError)
    async def _data_error(_request: Request, exc: DataError) -> JSONResponse:
        if "NUL" in str(exc.orig):  # e.g. in a JSON body field
            return JSONResponse({"detail": "text may not contain NUL characters"}, status_code=422)
        raise exc

    @app.exception_handler(SettingsError)
    async def _settings_error(_request: Request, exc: SettingsError) -> JSONResponse:  # pragma: no cover
        return JSONResponse({"detail": str(exc)}, status_code=500)

    for name in router_modules():
        module: Any = importlib.import_module(f"{_pkg}.routers.{name}")
        router = getattr(module, "router", None)
        if router is not None:
            app.include_router(router)
        setup = getattr(module, "setup", None)
        if setup is not None:  # optional per-router wiring (startup hooks, state)
            setup(app)
    return app
