"""Liveness/readiness and Prometheus metrics (no authentication; no personal data in either)."""
from __future__ import annotations

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel
from sqlalchemy import text

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


@router.get("/metrics", response_class=Response, responses={200: {"content": {"text/plain": {}}}})
def metrics(request: Request) -> Response:
    return Response(request.app.state.metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")
