"""The database a run uses, opened so that an unreachable, unwritable or foreign database is one
line for a person (`UserError`) before any work is done, with the URL's password hidden."""

from __future__ import annotations

from pathlib import Path

from alembic.util import CommandError
from sqlalchemy import Engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from service.db import make_engine, upgrade

from .errors import UserError


def shown_url(db_url: str) -> str:
    """The URL as it may be printed: its password hidden."""
    try:
        return make_url(db_url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):
        return "(not a database URL)"


def _reason(e: BaseException) -> str:
    text = str(getattr(e, "orig", None) or e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def open_database(db_url: str, *, migrate: bool = True) -> Engine:
    """An engine on `db_url`: migrated to the latest schema (`migrate`), or (not `migrate`, for
    commands that only read) an existing database left as it is — a SQLite file that is not there
    is not created. Anything that keeps it from opening is a UserError."""
    shown = shown_url(db_url)
    try:
        url = make_url(db_url)
        if not migrate and url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
            if not Path(url.database).expanduser().is_file():
                raise UserError(f"database {shown}: no such file")
        engine = make_engine(db_url)
    except (ArgumentError, ValueError) as e:
        raise UserError(f"database {shown}: not a usable database URL: {_reason(e)}") from None
    except OSError as e:
        raise UserError(f"database {shown}: cannot create its folder: {e.strerror or e}") from None
    try:
        if migrate:
            upgrade(engine)
        else:
            with engine.connect():
                pass
    except (SQLAlchemyError, OSError) as e:
        engine.dispose()
        raise UserError(f"database {shown}: cannot open it: {_reason(e)}") from None
    except CommandError as e:  # e.g. a schema newer than this program
        engine.dispose()
        raise UserError(f"database {shown}: cannot migrate it: {_reason(e)}") from None
    return engine
