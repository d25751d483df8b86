"""crosswatch's vision library: decode → detect → track → signal → rules → evidence.

It knows nothing of databases, jobs or command lines (`service/` builds those on top of it and
this package imports nothing from there). The public API, by stage:

- crossing configuration: `Crossing`, `load_crossing`, `parse_crossing`, `load_signal_plan`, `ConfigError`
- video: `probe`, `file_sha256`, `VideoInfo`, `VideoError`
- detection: `YoloDetector`, `pick_device`, `ModelError`; the `Detector` protocol of the pipeline
- the pipeline: `Pipeline`, `PipelineSettings`, `PipelineResult`, `FrameSession` (frames one at a time)
- what it finds: `ViolationEvent`, `ViolationType`, `SignalState`, `LineCrossing`, `Detections`, `Frame`
- evidence: `EvidenceRecorder`, `EvidenceFile`, `EvidenceError`
- live streams: `detector.live` (sources, reader, processor and its `EventSink` port)
- models and clips: `detector.assets`; scoring against labels: `detector.evaluation`

Names are imported on first use (`detector.Pipeline` loads the pipeline then), so `import detector`
stays cheap for code that needs only one stage.
"""

from __future__ import annotations

import importlib
from typing import Any

_PUBLIC = {
    "ConfigError": "config",
    "Crossing": "config",
    "load_crossing": "config",
    "parse_crossing": "config",
    "load_signal_plan": "config",
    "VideoError": "video",
    "VideoInfo": "video",
    "probe": "video",
    "file_sha256": "video",
    "ModelError": "detection",
    "YoloDetector": "detection",
    "pick_device": "detection",
    "Detector": "pipeline",
    "FrameSession": "pipeline",
    "Pipeline": "pipeline",
    "PipelineResult": "pipeline",
    "PipelineSettings": "pipeline",
    "Detections": "types",
    "Frame": "types",
    "LineCrossing": "types",
    "SignalState": "types",
    "ViolationEvent": "types",
    "ViolationType": "types",
    "EvidenceError": "evidence",
    "EvidenceFile": "evidence",
    "EvidenceRecorder": "evidence",
    "EventSink": "live",
}

__all__ = sorted(_PUBLIC)


def __getattr__(name: str) -> Any:
    module = _PUBLIC.get(name)
    if module is None:
        raise AttributeError(f"module 'detector' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_PUBLIC))
