"""The web API (FastAPI): `app.create_app` mounts the routers of `routes/` (one module per
resource); `deps` (session, caller, roles), `params`, `errors` and `schemas/` are what the
routers share. Routers import those and the domain (`service.*`), never each other."""
