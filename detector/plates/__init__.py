"""Licence plates: HyperLPR3 detector + colour classifier (ONNX) and RapidOCR text, voted per road user."""
from .formats import PlateText, parse_plate, plausible_plate
from .models import PlateModelError, PlateModels, load_plate_models
from .reader import PlateReader, PlateReading

__all__ = ["PlateModelError", "PlateModels", "PlateReader", "PlateReading", "PlateText", "load_plate_models", "parse_plate",
           "plausible_plate"]
