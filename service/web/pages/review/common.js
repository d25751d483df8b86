// Shared pieces of the review queue (#/review): constants, loading one event with its media as
// object URLs, the filters of the hash query, and labels. No state.
//
// Media (`/api/media/{uid}`) need the Authorization header, which <img>/<video> cannot send: each
// file is fetched with api(..., {raw: true}) into a Blob and shown through an object URL (clips
// are short evidence windows, ~1 MB; a blob also seeks and loops without further requests and is
// hashed by the server once, not once per Range request). Object URLs are revoked when an event
// leaves the small cache.

import { api, hasT, lang, nextDay, t, zonedDayStart } from "../../app.js";

export const CLASSES = ["motorcycle", "bicycle", "car", "bus", "truck", "person"];
// picture kinds in display order: the scene frames of red light, then of wrong way, then close-ups
export const PICTURE_KINDS = ["composite", "frame_before", "frame_past", "frame_junction", "frame_start", "frame_middle",
  "frame_end", "closeup", "signal", "plate"];
export const CACHE_SIZE = 6; // loaded events kept (object URLs); the rest are revoked
export const SLOW_RATE = 0.25;
export const DEFAULT_FRAME_S = 1 / 30;

// ---------------------------------------------------------------- loading

/** Fetch one evidence file as an object URL (null + the error when it cannot be served). */
async function fetchMedia(ev) {
  try {
    const res = await api(ev.url, { raw: true });
    return { url: URL.createObjectURL(await res.blob()), error: null };
  } catch (e) {
    return { url: null, error: e.message };
  }
}

/** An event's detail plus all its media as object URLs, the composite decoded (ready to paint). */
export async function loadEvent(uid) {
  const detail = await api(`/api/events/${encodeURIComponent(uid)}`);
  const media = {};
  await Promise.all(detail.evidence.map(async (ev) => { media[ev.kind] = { ...(await fetchMedia(ev)), ev }; }));
  const main = media.composite || media[PICTURE_KINDS.find((k) => media[k])];
  if (main && main.url) {
    const img = new Image();
    img.src = main.url;
    try { await img.decode(); } catch { /* shown as broken; the decision still works */ }
  }
  return { uid, detail, media };
}

export function revoke(loaded) {
  for (const m of Object.values(loaded.media)) if (m.url) URL.revokeObjectURL(m.url);
}

/** Filters of the queue from the hash query (crossing, type, class, from, to as YYYY-MM-DD). */
export function readFilters(query) {
  const f = {};
  for (const k of ["crossing_id", "type", "class_name", "from", "to"]) {
    const v = query.get(k);
    if (v) f[k] = v;
  }
  return f;
}

/** The API query of the filters (days become instants in the shown time zone). */
export function apiFilters(f) {
  return {
    crossing_id: f.crossing_id, type: f.type, class_name: f.class_name,
    from: f.from ? zonedDayStart(f.from) : undefined,
    to: f.to ? zonedDayStart(nextDay(f.to)) : undefined,
  };
}

// ---------------------------------------------------------------- labels

export function reasonLabel(r) {
  return lang() === "en" ? r.en : r.zh;
}

export function classLabel(name) {
  const key = `common.class.${name}`;
  return hasT(key) ? t(key) : name;
}
