"""Draw the three far cars of nl_motorway_overpass (A2-03, A2-04, A2-05) with the boxes of crosswatch's three
reversed-clip events, on the forward clip's frames (reversed time t_r = duration - t_f, to within a frame).

    .venv/bin/python docs/measurements/2026-12-07-session6/motorway_far_cars.py OUT.jpg

Events (eval --reverse --json, main at 183462c): track 28 t_r 7.941 [896.3, 0.0, 915.2, 10.4];
track 29 t_r 8.542 [886.1, 3.1, 904.1, 15.6]; track 32 t_r 8.742 [923.5, 4.0, 943.8, 15.2].
Labels' last boxes (forward): A2-03 dark, 3.003 s [889, 1, 908, 10]; A2-04 silver, 3.57 s [830, 0, 845, 7];
A2-05 silver, 3.57 s [875, 0, 893, 8].
"""

import sys

import av
import cv2
import numpy as np

DURATION = 11.178
EVENTS = {
    28: (7.941, (896.3, 0.0, 915.2, 10.4)),
    29: (8.542, (886.1, 3.1, 904.1, 15.6)),
    32: (8.742, (923.5, 4.0, 943.8, 15.2)),
}
LABELS = {"A2-03": (3.003, (889, 1, 908, 10)), "A2-04": (3.57, (830, 0, 845, 7)), "A2-05": (3.57, (875, 0, 893, 8))}
X0, X1, Y1, ZOOM = 780, 1100, 40, 3

marks: list[tuple[float, str, tuple, tuple]] = [
    (DURATION - t, f"event track {k}", b, (0, 0, 255)) for k, (t, b) in EVENTS.items()
] + [(t, f"label {n} end", b, (0, 200, 0)) for n, (t, b) in LABELS.items()]
marks.sort()
frames: dict[float, tuple[float, np.ndarray]] = {}
with av.open("assets/sample_videos/nl_motorway_overpass.mp4") as c:
    for f in c.decode(video=0):
        t = float(f.pts * f.time_base)
        for want, *_ in marks:
            if want not in frames and t >= want - 0.017:
                frames[want] = (t, f.to_ndarray(format="bgr24"))
        if len(frames) == len(marks):
            break
rows = []
for want, name, b, colour in marks:
    t, img = frames[want]
    crop = cv2.resize(img[0:Y1, X0:X1], None, fx=ZOOM, fy=ZOOM, interpolation=cv2.INTER_CUBIC)
    x1, y1, x2, y2 = ((b[0] - X0) * ZOOM, b[1] * ZOOM, (b[2] - X0) * ZOOM, b[3] * ZOOM)
    cv2.rectangle(crop, (int(x1), int(y1)), (int(x2), int(y2)), colour, 2)
    cv2.putText(
        crop, f"forward t={t:.2f}  {name}", (5, Y1 * ZOOM - 8), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (0, 255, 255), 1
    )
    rows.append(crop)
cv2.imwrite(sys.argv[1], np.vstack(rows), [cv2.IMWRITE_JPEG_QUALITY, 85])
