"""signal: lamp scores and raw classification on synthetic BGR pictures, the debounced
SignalTimeline, PlanSignals, and lamp crops from the real shared clips (skipped when absent)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # the project may not be pip-installed in the test environment
    sys.path.insert(0, str(ROOT))

from detector import assets  # noqa: E402
from detector.config import PlanStep, Signal, SignalPlan, parse_crossing  # noqa: E402
from detector.signal import (  # noqa: E402
    LampSignals,
    LampThresholds,
    PlanSignals,
    SignalTimeline,
    classify_lamps,
    lamp_scores,
)
from detector.types import SignalState  # noqa: E402

R, Y, G, U = SignalState.RED, SignalState.YELLOW, SignalState.GREEN, SignalState.UNKNOWN

# -- synthetic signal heads ----------------------------------------------------------------------
LAMPS = {"red": (10, 10, 12, 12), "yellow": (10, 26, 12, 12), "green": (10, 42, 12, 12)}
HEAD = Signal.model_validate({"id": "main", "lamps": LAMPS})
HEAD_NO_AMBER = Signal.model_validate({"id": "main", "lamps": {"red": LAMPS["red"], "green": LAMPS["green"]}})

LIT_RED = (100, 200, 254)  # BGR: orange-ish, saturated (how many cameras see a red LED)
LIT_RED_DEEP = (58, 17, 150)
LIT_YELLOW = (30, 190, 250)
LIT_GREEN_CYAN = (252, 250, 232)  # nearly white-cyan: an over-exposed green LED
LIT_GREEN_DARK = (113, 98, 6)
DARK = (72, 70, 69)  # an unlit lamp: grey
HOUSING = (25, 25, 25)


def head_image(red=DARK, yellow=DARK, green=DARK, size=(40, 64)) -> np.ndarray:
    w, h = size
    img = np.full((h, w, 3), HOUSING, np.uint8)
    for colour, bgr in (("red", red), ("yellow", yellow), ("green", green)):
        x, y, bw, bh = LAMPS[colour]
        img[y : y + bh, x : x + bw] = bgr
    return img


@pytest.mark.parametrize(
    "image, expected",
    [
        (head_image(red=LIT_RED), R),
        (head_image(red=LIT_RED_DEEP), R),
        (head_image(yellow=LIT_YELLOW), Y),
        (head_image(green=LIT_GREEN_CYAN), G),
        (head_image(green=LIT_GREEN_DARK), G),
        (head_image(red=LIT_RED, yellow=LIT_YELLOW), R),  # red + amber: still red
        (head_image(red=LIT_RED_DEEP, yellow=LIT_YELLOW), R),
        (head_image(), U),  # nothing lit
        (np.zeros((64, 40, 3), np.uint8), U),  # black picture
        (head_image(red=(60, 60, 95)), U),  # reddish but too dim to be lit
        (head_image(red=(200, 200, 210)), U),  # bright but grey: not red
        (head_image(red=LIT_GREEN_CYAN), U),  # green-ish light where the red lamp is: not red
        (head_image(green=LIT_RED), U),  # red light where the green lamp is: not green
    ],
    ids=[
        "red-orange",
        "red-deep",
        "yellow",
        "green-cyan",
        "green-dark",
        "red+yellow",
        "red-deep+yellow",
        "all-dark",
        "black",
        "red-dim",
        "red-lamp-grey-glare",
        "cyan-in-red-lamp",
        "red-in-green-lamp",
    ],
)
def test_classify_synthetic_heads(image, expected):
    assert classify_lamps(lamp_scores(image, HEAD)) is expected


def test_lamp_scores_values_on_uniform_lamps():
    sc = lamp_scores(head_image(red=LIT_RED, green=LIT_GREEN_DARK), HEAD)
    assert set(sc) == {"red", "yellow", "green"}
    assert sc["red"] == pytest.approx((254 - (200 + 100) / 2, 254))  # R - (G+B)/2, max channel
    assert sc["green"] == pytest.approx(((98 + 113) / 2 - 6 / 2, 113))  # (G+B)/2 - R/2
    assert sc["yellow"] == pytest.approx(((70 + 69) / 2 - 72, 72))  # dark lamp: (R+G)/2 - B


def test_round_lamp_is_read_from_its_brightest_quarter():
    """A lit disc filling ~40 % of the lamp box, dark housing around it, still reads lit."""
    img = head_image()
    x, y, bw, bh = LAMPS["red"]
    yy, xx = np.mgrid[0:bh, 0:bw]
    disc = (yy - bh / 2 + 0.5) ** 2 + (xx - bw / 2 + 0.5) ** 2 <= (bw * 0.36) ** 2
    assert 0.3 < disc.mean() < 0.5
    img[y : y + bh, x : x + bw][disc] = LIT_RED_DEEP
    assert classify_lamps(lamp_scores(img, HEAD)) is R


def test_tiny_highlight_on_a_dark_lamp_is_not_lit():
    img = head_image()
    x, y, _, _ = LAMPS["green"]
    img[y + 5 : y + 7, x + 5 : x + 7] = LIT_GREEN_CYAN  # 4 of 144 pixels: a reflection
    assert classify_lamps(lamp_scores(img, HEAD)) is U


def test_lamp_box_outside_the_picture():
    sig = Signal.model_validate({"id": "s", "lamps": {"red": (100, 100, 10, 10), "green": (35, 42, 12, 12)}})
    img = head_image()  # 40 px wide: the green box is partly outside, the red one fully
    img[42:54, 35:40] = LIT_GREEN_CYAN
    sc = lamp_scores(img, sig)
    assert sc["red"] == (0.0, 0.0)
    assert classify_lamps(sc) is G  # the visible half of the green lamp is enough


def test_stricter_thresholds():
    sc = lamp_scores(head_image(green=LIT_GREEN_DARK), HEAD)  # green score 102.5, brightness 113
    assert classify_lamps(sc, LampThresholds(min_brightness=120)) is U
    assert classify_lamps(sc, LampThresholds(green=110)) is U
    assert classify_lamps(sc, LampThresholds(green=100)) is G


# -- SignalTimeline ------------------------------------------------------------------------------
def run(raw: str, *, has_yellow=True, dt=0.1, t0=0.0, **kw):
    """Push one reading per character (R/Y/G/U) every dt seconds; returns (timeline, readings)."""
    tl = SignalTimeline("main", has_yellow=has_yellow, **kw)
    codes = {"R": R, "Y": Y, "G": G, "U": U}
    out = [tl.push(round(t0 + i * dt, 6), codes[c]) for i, c in enumerate(raw)]
    return tl, out


def states(readings) -> str:
    return "".join(r.state.value[0] for r in readings)


@pytest.mark.parametrize(
    "raw, has_yellow, expected",
    [
        ("RRRRRGRRRRR", True, "RRRRRRRRRRR"),  # one-frame glitch
        ("RRRRRGGRRRR", True, "RRRRRRRRRRR"),  # two frames are only 0.1 s: under debounce_s
        ("RRRRRGGGGGG", True, "RRRRRRRGGGG"),  # accepted on the 3rd reading (0.2 s >= 0.15 s)
        ("RRRRGRGRGRGR", True, "RRRRRRRRRRRR"),  # alternating glitches never add up
        ("GGGGRRRR", True, "GGGGGGRR"),
        ("GGGRRRRR", False, "GGGGGRRR"),
        ("G", True, "G"),  # the first reading is taken at once
        ("URRRR", True, "UUURR"),  # ... but not when it is dark: the first lit state needs debounce
        ("RRRURURURURURUR", True, "RRRRRRRRRRRRRRR"),  # LED flicker / PWM aliasing: hold
        ("RRRURURURURURUR", False, "RRRRRRRRRRRRRRR"),  # holding works on a head without amber too
        ("GGGGUUUUUUUURRRR", False, "GGGGGGYYYYYYYYRR"),  # no amber lamp: dark after green = amber
        # amber lamp exists: dark is held for hold_s after the last lit reading (0.3 -> 1.3 inclusive),
        # then UNKNOWN is debounced like any state (dark from 1.4, accepted at 1.6)
        ("GGGGUUUUUUUUUUUUUUU", True, "GGGGGGGGGGGGGGGGUUU"),
        ("RRRRUUUUUUUUUUUUUUU", False, "RRRRRRRRRRRRRRRRUUU"),  # dark after red: held, then unknown
        ("GGGYYYYRRRR", True, "GGGGGYYYYRR"),
    ],
    ids=[
        "glitch-1",
        "glitch-2",
        "change-3",
        "alternating",
        "green-to-red",
        "green-to-red-no-amber",
        "first",
        "first-dark",
        "flicker-amber-head",
        "flicker-no-amber",
        "dark-means-amber",
        "dark-held-then-unknown",
        "dark-after-red-no-amber",
        "g-y-r",
    ],
)
def test_timeline_debounce_and_dark(raw, has_yellow, expected):
    _, out = run(raw, has_yellow=has_yellow)
    assert states(out) == expected


@pytest.mark.parametrize(
    "raw, has_yellow, index, state, since",
    [
        ("GGGGGRRRRR", True, 7, R, 0.2),  # onset = first RED reading (t=0.5), accepted at t=0.7
        ("GGGGGRRRRR", True, 9, R, 0.4),
        ("GGGGGRRRRR", True, 4, G, 0.4),
        ("GGGGGRGRRRR", True, 10, R, 0.3),  # the glitch at 0.5 restarted nothing: onset is the 0.7 reading
        ("GGGGUUUUUUUU", False, 10, Y, 0.6),  # amber begins with the first dark reading (t=0.4)
        ("RRRRUUUUUUUUUUUUUUUUU", True, 20, U, 0.6),  # last lit 0.3; held to 1.3 -> UNKNOWN onset 1.4
        ("URRRRRR", True, 6, R, 0.5),
        ("UUUU", True, 3, U, 0.3),
    ],
    ids=[
        "red-onset",
        "red-later",
        "before-change",
        "glitch-then-change",
        "amber-onset",
        "unknown-onset",
        "from-dark",
        "dark-only",
    ],
)
def test_timeline_onset_and_since(raw, has_yellow, index, state, since):
    _, out = run(raw, has_yellow=has_yellow)
    assert out[index].state is state
    assert out[index].since_s == pytest.approx(since)
    assert out[index].source == "lamp" and out[index].signal_id == "main"


def test_timeline_hold_s_is_configurable():
    _, out = run("RR" + "U" * 40, hold_s=3.0)
    # last lit 0.1; raw dark from t=3.2 on (3.1 - 0.1 is within hold_s); accepted at 3.4
    assert states(out[:34]) == "R" * 34
    assert out[34].state is U and out[34].since_s == pytest.approx(0.2)


def test_timeline_at_lookups():
    tl, _ = run("GGGGGGGGGGRRRRRRRRRR", t0=10.0)  # GREEN from 10.0, RED from 11.0 (accepted 11.2)
    assert tl.at(9.99).state is U and tl.at(9.99).since_s == 0.0  # before the first reading
    assert tl.at(10.0).state is G and tl.at(10.0).since_s == pytest.approx(0.0)
    assert tl.at(10.55).state is G and tl.at(10.55).since_s == pytest.approx(0.55)  # between readings
    assert tl.at(11.25).state is R and tl.at(11.25).since_s == pytest.approx(0.25)
    assert tl.at(11.9).state is R and tl.at(11.9).since_s == pytest.approx(0.9)
    assert tl.at(50.0).state is R and tl.at(50.0).since_s == pytest.approx(39.0)  # after the last: last state


def test_timeline_at_agrees_with_the_accepted_onset():
    tl, out = run("GGGGGGGGGGRRRRRRRRRR")  # RED onset 1.0 (first RED reading), accepted at 1.2
    assert out[-1].state is R and out[-1].since_s == pytest.approx(0.9)  # RED since 1.0
    assert tl.at(1.1).state is R  # actual: GREEN since 1.1
    assert tl.at(1.1).since_s == pytest.approx(0.1)


def test_timeline_dark_for_long_after_green_without_amber_becomes_unknown():
    _, out = run("GGGG" + "U" * 100, has_yellow=False)  # 10 s dark; an amber phase lasts ~3-5 s
    assert out[6].state is Y  # right after green (once debounced): amber
    assert out[-1].state is U  # actual: YELLOW since 0.4 s


def test_timeline_red_lamp_dropout_soon_after_amber_stays_red():
    # no amber lamp: green 0-1.9 s, dark (= amber) 2.0-4.9 s, red from 5.0 s, red lamp hidden 6.0-6.3 s
    tl, out = run("G" * 20 + "U" * 30 + "R" * 10 + "UUUU" + "R" * 10, has_yellow=False)
    assert states(out[52:]) == "R" * 22  # red accepted at 5.2 s; actual: ...RRRRYYYYRRR...
    assert tl.at(6.2).state is R
    assert out[-1].since_s == pytest.approx(7.3 - 5.0)  # red since 5.0 s; actual: since 6.4 s


def test_timeline_forgets_old_history():
    tl, _ = run("R" * 100 + "G" * 100, keep_s=5.0)  # 20 s of readings, 5 s kept
    assert tl.at(19.0).state is G
    assert tl.at(1.0).state is U  # too old: unknown rather than a guess
    assert len(tl._times) <= 52  # memory stays flat


# -- LampSignals ---------------------------------------------------------------------------------
def test_lamp_signals_reads_every_signal_of_a_crossing():
    crossing = parse_crossing(
        {
            "id": "two-heads",
            "name": "two heads",
            "frame_size": [40, 64],
            "signals": [
                {"id": "main", "lamps": LAMPS},
                {"id": "arrow", "lamps": {"red": LAMPS["red"], "green": LAMPS["green"]}},
            ],
        }
    )
    ls = LampSignals(crossing)
    assert ls.timelines["main"].has_yellow and not ls.timelines["arrow"].has_yellow
    red, green = head_image(red=LIT_RED), head_image(green=LIT_GREEN_CYAN)
    for i in range(30):
        t = i / 10
        readings = ls.update(red if t < 1.5 else green, t)
    assert set(readings) == {"main", "arrow"}
    assert readings["main"].state is G and readings["main"].since_s == pytest.approx(1.4)
    assert ls.at("main", 1.0).state is R and ls.at("arrow", 1.0).state is R
    assert ls.at("main", 2.0) == ls.timelines["main"].at(2.0)
    assert ls.source == "lamp"


# -- PlanSignals ---------------------------------------------------------------------------------
def _plan(**signals) -> SignalPlan:
    return SignalPlan(signals={sid: [PlanStep(t=t, state=s) for t, s in steps] for sid, steps in signals.items()})


PLAN = _plan(main=[(2, "RED"), (10, "RED"), (20, "GREEN"), (50, "YELLOW"), (53, "RED")], arrow=[(0, "GREEN")])


@pytest.mark.parametrize(
    "sid, t, state, since",
    [
        ("main", 1.99, U, 0.0),  # before the first step
        ("main", 2.0, R, 0.0),
        ("main", 5.0, R, 3.0),
        ("main", 15.0, R, 13.0),  # the repeated RED step at 10 s does not restart the red time
        ("main", 20.0, G, 0.0),
        ("main", 49.9, G, 29.9),
        ("main", 52.0, Y, 2.0),
        ("main", 60.0, R, 7.0),
        ("arrow", 60.0, G, 60.0),
        ("nope", 5.0, U, 0.0),
    ],
    ids=["before", "onset", "red", "merged-red", "green-onset", "green", "yellow", "red-again", "arrow", "unknown-id"],
)
def test_plan_signals(sid, t, state, since):
    r = PlanSignals(PLAN).at(sid, t)
    assert (r.signal_id, r.state, r.source) == (sid, state, "plan")
    assert r.since_s == pytest.approx(since)


def test_plan_signals_update_returns_every_signal():
    readings = PlanSignals(PLAN).update(np.zeros((4, 4, 3), np.uint8), 21.0)
    assert {k: (v.state, v.since_s) for k, v in readings.items()} == {"main": (G, 1.0), "arrow": (G, 21.0)}


def test_plan_signals_merge_many_repeats():
    ps = PlanSignals(_plan(main=[(0, "GREEN"), (5, "RED"), (6, "RED"), (7, "RED"), (9, "GREEN")]))
    assert ps.at("main", 8.5).since_s == pytest.approx(3.5)
    assert ps.at("main", 9.5).since_s == pytest.approx(0.5)


# -- real lamp crops from the shared clips -------------------------------------------------------
SAMPLES = assets.default_mirror() / "sample_videos"  # the shared mirror (../shared or $CROSSWATCH_ASSETS_MIRROR)
VN = SAMPLES / "vn_rear_stopline.mp4"
HANOI = SAMPLES / "hanoi_giangvo_langha.mp4"


def _decode(path: Path, wanted: set[int] | None = None, upto: int | None = None) -> list[tuple[int, float, np.ndarray]]:
    """(index, t, BGR) of the wanted frames (all when wanted is None), decoding in order."""
    av = pytest.importorskip("av")
    out = []
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        last = upto if upto is not None else (max(wanted) if wanted else None)
        for i, f in enumerate(container.decode(stream)):
            if wanted is None or i in wanted:
                out.append((i, float(f.time), f.to_ndarray(format="bgr24")))
            if last is not None and i >= last:
                break
    return out


def _decode_cfr_by_seeking(path: Path, indices: list[int], fps: int) -> dict[int, np.ndarray]:
    """Frames of a constant-frame-rate clip by index (index = t * fps), seeking to the key frame before each."""
    av = pytest.importorskip("av")
    out: dict[int, np.ndarray] = {}
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        assert stream.average_rate == fps
        start = stream.start_time or 0
        for target in indices:
            container.seek(start + int(target / fps / stream.time_base), stream=stream, backward=True)
            for f in container.decode(stream):
                index = round(float((f.pts - start) * stream.time_base) * fps)
                if index >= target:
                    assert index == target
                    out[target] = f.to_ndarray(format="bgr24")
                    break
    return out


def _crossing(size, lamps):
    return parse_crossing(
        {"id": "real", "name": "real", "frame_size": list(size), "signals": [{"id": "main", "lamps": lamps}]}
    )


@pytest.fixture(scope="module")
def vn_frames():
    if not VN.exists():
        pytest.skip(f"{VN} is not present (shared sample clips not mounted)")
    return _decode_cfr_by_seeking(VN, [0, 300, 800, 900], fps=30)


@pytest.fixture(scope="module")
def hanoi_frames():
    if not HANOI.exists():
        pytest.skip(f"{HANOI} is not present (shared sample clips not mounted)")
    return _decode(HANOI)


@pytest.mark.parametrize("index, expected", [(0, R), (300, R), (800, G), (900, G)], ids=["f0", "f300", "f800", "f900"])
def test_real_lamps_vn_rear_stopline(vn_frames, index, expected):
    crossing = _crossing(
        (1620, 720), {"red": [1547, 23, 26, 26], "yellow": [1547, 47, 26, 22], "green": [1547, 71, 26, 26]}
    )
    ls = LampSignals(crossing)
    image = vn_frames[index]
    assert image.shape == (720, 1620, 3)
    assert classify_lamps(lamp_scores(image, crossing.signal("main")), ls.thresholds) is expected
    assert ls.update(image, 0.0)["main"].state is expected  # the first reading is taken as is


HANOI_LAMPS = {"red": [620, 176, 10, 10], "green": [618, 210, 10, 10]}


def test_real_lamps_hanoi_raw(hanoi_frames):
    crossing = _crossing((640, 480), HANOI_LAMPS)
    sig = crossing.signal("main")
    raw = {i: classify_lamps(lamp_scores(img, sig)) for i, _, img in hanoi_frames}
    assert raw[0] is G
    late = {i: s for i, s in raw.items() if i >= 40}
    assert len(late) > 300
    assert {s for s in late.values()} == {R}, {i: s for i, s in late.items() if s is not R}


def test_real_lamps_hanoi_timeline(hanoi_frames):
    """6 fps clip; head without amber: GREEN, dark (= amber) for ~3 s, then RED for the rest."""
    ls = LampSignals(_crossing((640, 480), HANOI_LAMPS))
    times = [t for _, t, _ in hanoi_frames]
    for _, t, img in hanoi_frames:
        ls.update(img, t)
    assert ls.at("main", times[0]).state is G
    amber = ls.at("main", times[15])
    assert amber.state is Y and 0.5 < amber.since_s < 2.5
    red = ls.at("main", times[60])
    assert red.state is R
    onset = times[60] - red.since_s
    assert 3.0 < onset < 5.0  # the red lamp lights about 4.2 s into the clip
    assert ls.at("main", times[-1]).state is R
