"""The campaign bulletin (创城简报): `data.collect` gathers it (from the statistics functions of
`/api/stats/*`), `render.render` writes it as an A4 PDF or DOCX; served by
`service/api/routes/reports.py` and the `crosswatch report` command (`service/cli/report.py`)."""
