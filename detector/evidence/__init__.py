"""Evidence for a violation: full-scene pictures, close-ups, the plate, a captioned composite and an
H.264 clip, every file hashed, plus the anti-forgery code (防伪码) and seal.

Evidence may become a fine, so every file is complete, timestamped, hashed and written atomically.
File names depend only on the kind of file, so recording the same event again to the same folder
replaces the files in place (idempotent).

Pixels come from re-decoding the source video around each event with PyAV (seek before the window,
decode by presentation time); ``record_many`` decodes each stretch of video once for all the events
whose windows overlap. A live stream cannot be re-read: ``record_frames`` takes its pixels from a
``FrameSource`` instead (``detector.ring.RingFrames``). The plate reader, when given, runs here on
the road user's best pictures of the window (reading there is cheapest).

Modules: files (hashing, atomic writes), fonts, drawing, frames (decoding), scene (geometry and
caption text), job (one event), composite (the pictures), boxes (the road user's box in each scene
picture, carried by the composite), seal (anti-forgery), recorder.
"""

from .boxes import SceneBox, read_scene_boxes
from .drawing import BOX_COLOUR, _draw_box, boxed_yuv420
from .files import EvidenceBatchError, EvidenceError, EvidenceFile, FontNotFoundError, sha256_file, verify
from .fonts import Fonts, find_cjk_font, find_latin_font
from .frames import FrameSource, _Source
from .recorder import EvidenceRecorder
from .scene import KEY_FRAME_KINDS

__all__ = [
    "BOX_COLOUR",
    "KEY_FRAME_KINDS",
    "SceneBox",
    "EvidenceBatchError",
    "EvidenceError",
    "EvidenceFile",
    "EvidenceRecorder",
    "FontNotFoundError",
    "Fonts",
    "FrameSource",
    "_Source",
    "_draw_box",
    "boxed_yuv420",
    "find_cjk_font",
    "find_latin_font",
    "read_scene_boxes",
    "sha256_file",
    "verify",
]
