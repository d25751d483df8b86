"""Rules: confirmed track observations + signal states -> violations and exposure counts."""

from .counting import TrafficCounter
from .red_light import RedLightRule
from .wrong_way import WrongWayRule

__all__ = ["RedLightRule", "TrafficCounter", "WrongWayRule"]
