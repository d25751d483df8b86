"""Training a road-user detector for crosswatch: data set building (labels completed by a teacher), the
training recipe, and its class set. Needs ultralytics + PyTorch only for `train`; the rest is numpy/OpenCV."""
