"""Pure ASGI guards every response and request passes: security headers and the request-body
size limit.

Headers (all responses): `X-Content-Type-Options: nosniff`, `X-Frame-Options: DENY`,
`Referrer-Policy: no-referrer`, `Cross-Origin-Opener-Policy: same-origin`, and a
Content-Security-Policy:
- the UI (`/`, `/static/...`): scripts, styles, fonts and connections from this origin only (no
  inline script, no eval); inline *styles* are allowed because ECharts positions its tooltip and
  the dashboard draws its legend gradient with them (styles cannot run code); images and media
  also from `blob:`/`data:` (snapshots and evidence are fetched with the token and shown as
  object URLs); `frame-ancestors 'none'`, `object-src 'none'`, `base-uri 'none'`.
- the API (JSON, files): `default-src 'none'; frame-ancestors 'none'; sandbox`: a response opened
  directly in a browser can run nothing and be framed nowhere.
- `/docs`, `/redoc`: FastAPI's pages load Swagger UI / ReDoc from jsDelivr with an inline
  bootstrap script; they hold no data, so they get a policy allowing exactly that.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

UI_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' blob: data:; "
    "media-src 'self' blob:; connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
API_CSP = "default-src 'none'; frame-ancestors 'none'; sandbox"
DOCS_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
    "style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net https://fonts.googleapis.com; "
    "img-src 'self' data: https://fastapi.tiangolo.com https://cdn.redoc.ly; font-src 'self' https://fonts.gstatic.com; "
    "worker-src 'self' blob:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)
_COMMON = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
]


def csp_for(path: str) -> str:
    if path == "/" or path.startswith("/static/"):
        return UI_CSP
    if path in ("/docs", "/redoc", "/docs/oauth2-redirect"):
        return DOCS_CSP
    return API_CSP


class SecurityHeaders:
    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = [*_COMMON, (b"content-security-policy", csp_for(scope.get("path", "")).encode())]

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                names = {k.lower() for k, _ in message.get("headers", [])}
                message["headers"] = [*message.get("headers", []), *((k, v) for k, v in extra if k not in names)]
            await send(message)

        await self.app(scope, receive, send_with_headers)


class BodyLimit:
    """At most `limit` bytes of request body (413 at once when `Content-Length` says more, else as
    soon as the streamed body passes it), except on `exempt` paths (the video upload, which
    enforces its own, larger limit while streaming to disk)."""

    def __init__(self, app: ASGIApp, limit: int, exempt: frozenset[str] = frozenset()):
        self.app, self.limit, self.exempt = app, limit, exempt

    async def _refuse(self, send: Send) -> None:
        body = b'{"detail":"request body too large (limit %d bytes)"}' % self.limit
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path") in self.exempt:
            await self.app(scope, receive, send)
            return
        for k, v in scope.get("headers", []):
            if k == b"content-length":
                try:
                    announced = int(v)
                except ValueError:
                    announced = self.limit + 1
                if announced > self.limit:
                    await self._refuse(send)
                    return
        seen, started, refused = 0, False, False

        async def counting_receive() -> Message:
            # Past the limit: answer 413 now and tell the app the client went away (an exception
            # here would be turned into a 400 by FastAPI's body parsing).
            nonlocal seen, started, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    refused = True
                    if not started:
                        started = True
                        await self._refuse(send)
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if refused:
                return  # the 413 was sent; whatever the app answers after the disconnect is dropped
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except Exception:
            if not refused:
                raise
