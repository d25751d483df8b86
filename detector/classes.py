"""Model class names -> the pipeline's road-user classes.

The pipeline speaks COCO's road-user names (`person, bicycle, car, motorcycle, bus, truck`, see
`types.COCO_ROAD_USERS`). A COCO model keeps its names. crosswatch's own trained models
(`detector/training`) have the classes in `TRAINED_CLASSES`, where `two_wheeler` is a rider and the
motorbike/scooter/e-bike under them as ONE box: it becomes the pipeline's `motorcycle`, so the rules and
the evidence treat it as every two-wheeler, and the rider merge (`riders.py`) has nothing to fold
(pedestrians stay `person`). A model with none of these names is refused.
"""

from __future__ import annotations

# The trained model's classes, in id order (docs/training.md).
TRAINED_CLASSES: tuple[str, ...] = ("two_wheeler", "car", "bus", "truck", "bicycle", "person")

# Every model class name crosswatch understands -> the pipeline class it becomes.
ROAD_USER_OF: dict[str, str] = {
    "person": "person",
    "pedestrian": "person",
    "bicycle": "bicycle",
    "car": "car",
    "motorcycle": "motorcycle",
    "motorbike": "motorcycle",
    "motobike": "motorcycle",
    "two_wheeler": "motorcycle",
    "bus": "bus",
    "truck": "truck",
}


def road_user_classes(names: dict[int, str]) -> dict[int, str]:
    """The model's class ids that are road users -> pipeline class name (others are ignored)."""
    return {int(i): ROAD_USER_OF[n] for i, n in names.items() if n in ROAD_USER_OF}
