"""crosswatch service: database layer (`db`, `models`, `repository`) and, later, the web API.

Nothing here imports the detector; the detector writes through `service.repository.Repository`.
"""
