"""Liveness/readiness (public: a probe has no credentials; it says only "ok" or what failed) and
Prometheus metrics (NOT public: request counts per route and event counts per review status are
operational intelligence; a scraper sends `Authorization: Bearer <settings.metrics_token>`, or an
admin's token or API key works). The decision is written in README ("Exposure")."""

from __future__ import annotations

import hmac

from fastapi import APIRouter, Depends, HTTPException, Request, Response, status
from fastapi.security import HTTPAuthorizationCredentials
from pydantic import BaseModel
from sqlalchemy import text

from ..deps import current_principal

router = APIRouter(tags=["health"])


class HealthOut(BaseModel):
    status: str
    database: str


@router.get("/healthz", response_model=HealthOut, responses={503: {"model": HealthOut}})
def health(request: Request, response: Response) -> HealthOut:
    try:
        with request.app.state.engine.connect() as c:
            c.execute(text("SELECT 1"))
        return HealthOut(status="ok", database="ok")
    except Exception as e:  # report, do not raise: a probe wants a body
        response.status_code = 503
        return HealthOut(status="degraded", database=type(e).__name__)


async def metrics_reader(request: Request) -> None:
    """The metrics token (constant-time compare), else an admin; 401/403 otherwise."""
    token = request.app.state.settings.metrics_token
    auth = request.headers.get("authorization", "")
    if token and auth.startswith("Bearer ") and hmac.compare_digest(auth[7:].encode(), token.encode()):
        return
    bearer = None
    if auth.startswith("Bearer "):
        bearer = HTTPAuthorizationCredentials(scheme="Bearer", credentials=auth[7:])
    p = await current_principal(request, bearer, request.headers.get("x-api-key"))
    if p.role != "admin":
        raise HTTPException(status.HTTP_403_FORBIDDEN, "metrics: admins or the metrics token only")


@router.get(
    "/metrics",
    response_class=Response,
    dependencies=[Depends(metrics_reader)],
    responses={200: {"content": {"text/plain": {}}}, 401: {}, 403: {}},
)
def metrics(request: Request) -> Response:
    return Response(request.app.state.metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")
