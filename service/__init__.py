"""crosswatch service: everything built on the vision library (`detector`).

- `cli/`: the `crosswatch` command line, one module per command;
- `runs/`: the use cases — process a video (`ProcessRequest`, `process_video`), batches, live
  watches, the task and job-item lifecycle shared by `crosswatch batch` and the jobs `worker`;
- the store: `db`, `models`, `repository` and the `*_repo` modules;
- the codes (event type, review status, role, reason, ...) and their labels: `vocabulary`; the
  review rule: `review_policy`;
- the web API: `api/` (`api.app.create_app`, `api/routes/`); the web UI: `web/`.

Imports go one way: `cli` → `worker` → `runs` → store and `detector`; `detector` imports nothing
from here (`tests/test_architecture.py`).
"""
