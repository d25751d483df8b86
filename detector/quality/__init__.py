"""Measure detection and signal-classifier quality on a labelled image set, to choose defaults.

    python -m detector.quality [--dataset DIR] [--models NAME,...] [--sizes 640,960,1280] [--json OUT]

A measurement, not a test: it prints numbers. The default data set is
`../shared/datasets/redlight_intersections_40` (40 images, 640x640, YOLO txt labels with the classes
of its data.yaml: car, green_light, motobike, red_light, stop_line, yellow_light).

1. Road users, per model of the manifest and per input size (OpenVINO IRs and the ONNX file are static
   640x640 exports: other sizes are reported as not runnable, never silently run at 640), plus a
   tiled variant (full image + 2x2 overlapping tiles, each upscaled to the model's 640, merged with
   per-class NMS by `YoloDetector(tiles=...)`). Recall / precision at IoU 0.5, greedy matching by
   IoU per class, for `car` (COCO car/bus/truck) and `motobike` (COCO motorcycle/bicycle; people
   never count). Two post-processings of the same detections:
     raw     the detector's boxes as they come (a rider and its bike are two boxes)
     merged  what the pipeline does: `merge_riders`, then the family NMS at 0.6
             (so a bike box covers rider + bike, as the labels do)
     person  merged, and a person left on no bike counts as a motobike (seen from above, a rider
             often hides the bike, and the bike is not detected): a what-if for a rider rule
   and two thresholds, from one detector run at the pipeline's conf (0.1):
     0.25    boxes >= 0.25, then the post-processing (a usable single threshold)
     pipe    post-processing on all boxes >= 0.1 (riders merge at 0.1, as in the pipeline), then
             boxes >= the tracker's high threshold (0.35): what can start and lead a track
   Filtering a conf-0.1 run at 0.25 gives the same boxes as running at 0.25 (NMS only lets a box
   suppress weaker ones).
2. Signal colour: `classify_lamps(lamp_scores(...))` on every labelled red/yellow/green light box.
   Those boxes cover a whole signal head (vertical 3-lamp heads, horizontal heads, and countdown
   digit displays coloured by the phase), not the lit lamp, so two ways to make lamps from a box:
     split   the box cut in three along its long axis: red top/left, yellow middle, green
             bottom/right (what a user configures; on horizontal heads the order is a guess, and
             the set contains mirrored images)
     whole   each colour's lamp is the whole box: the colour test alone, no geometry
   Confusion matrices, accuracy, failure crops under --fail-dir, and the thresholds that would have
   scored best on this data (a fit on few boxes: indicative only).

Modules: `labels` (data sets), `matching` (IoU matching, P/R), `detection` (road users per model),
`signal` (signal colour), `cli` (the command line).
"""

from __future__ import annotations

from .cli import main
from .detection import (
    COCO_TO_LABEL,
    Row,
    detection_table,
    grid_tiles,
    measure_config,
    measure_detection,
    pipeline_thresholds,
    postprocess,
    size_table,
    static_input_size,
    summary,
    summary_table,
    to_label_classes,
    variants,
)
from .labels import (
    DEFAULT_DATASET,
    LABEL_ALIASES,
    ROAD_CLASSES,
    Label,
    LabelError,
    Sample,
    load_dataset,
    read_bgr,
    read_class_names,
    read_yolo_labels,
)
from .matching import (
    PR,
    SIZE_BUCKETS,
    evaluate_image,
    match_greedy,
    pr_counts,
    recall_by_size,
    size_bucket,
)
from .signal import (
    COLOURS,
    DEFAULT_FAIL_DIR,
    LIGHT_CLASSES,
    STATES,
    classify_arrays,
    fit_thresholds,
    head_shape,
    is_night,
    lamp_sets,
    measure_signal,
    signal_report,
    split_head,
    top_quarter_bgr,
)

__all__ = [
    "COCO_TO_LABEL",
    "COLOURS",
    "DEFAULT_DATASET",
    "DEFAULT_FAIL_DIR",
    "LABEL_ALIASES",
    "LIGHT_CLASSES",
    "PR",
    "ROAD_CLASSES",
    "SIZE_BUCKETS",
    "STATES",
    "Label",
    "LabelError",
    "Row",
    "Sample",
    "classify_arrays",
    "detection_table",
    "evaluate_image",
    "fit_thresholds",
    "grid_tiles",
    "head_shape",
    "is_night",
    "lamp_sets",
    "load_dataset",
    "main",
    "match_greedy",
    "measure_config",
    "measure_detection",
    "measure_signal",
    "pipeline_thresholds",
    "postprocess",
    "pr_counts",
    "read_bgr",
    "read_class_names",
    "read_yolo_labels",
    "recall_by_size",
    "signal_report",
    "size_bucket",
    "size_table",
    "split_head",
    "static_input_size",
    "summary",
    "summary_table",
    "to_label_classes",
    "top_quarter_bgr",
    "variants",
]
