// Library page (/): rooms live now, the "go live" form, and the archive — recordings newest
// first with poster, title, seller/room, date, duration and status; processing items show live
// progress from /api/events; search by title (?q=); "Load more" pages with the API cursor.
//
// Live rooms: the server's event stream carries recordings, not rooms, so the list is refreshed
// from /api/rooms every 10 s and at once when a recording starts or ends (a room went live or
// stopped; recording is on by default).

import {
  api,
  el,
  errorText,
  formatDate,
  formatTime,
  sellerLine,
  shortReason,
  sourceLabel,
  spokenDuration,
  statusBadge,
  subscribe,
  titleOf,
  type Page,
  type ProgressData,
  type Recording,
  type RoomInfo,
} from "./api";
import { ROOM_RE, byId, plural } from "./common";

const ROOMS_REFRESH_MS = 10000;
// Recordings per page; ?limit=N (1..100) changes it (handy on slow links, and for tests).
const PAGE_SIZE = Math.max(1, Math.min(100, Number(new URLSearchParams(location.search).get("limit")) || 24));

// ---------------------------------------------------------------- live rooms

const roomList = byId<HTMLUListElement>("rooms");
const roomsEmpty = byId("rooms-empty");
const roomsSummary = byId("rooms-summary");
const roomsError = byId("rooms-error");
let roomsTimer = 0;
let roomFailures = 0;

function since(iso: string | undefined): string {
  if (!iso) return "";
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return "";
  const m = Math.round(Math.max(0, Date.now() - t) / 60000);
  if (m < 1) return "live for under a minute";
  if (m < 60) return `live for ${m} min`;
  return `live for ${Math.floor(m / 60)} h ${m % 60} min`;
}

function renderRooms(rooms: RoomInfo[]): void {
  const valid = rooms.filter((r) => r && typeof r.room === "string" && ROOM_RE.test(r.room));
  valid.sort((a, b) => (b.viewers ?? 0) - (a.viewers ?? 0) || a.room.localeCompare(b.room));
  roomList.textContent = "";
  for (const r of valid) {
    const viewers = plural(r.viewers ?? 0, "viewer", "viewers");
    const meta = el("span", { className: "room-meta" }, el("span", { className: "badge badge-live", textContent: "Live" }), el("span", { textContent: viewers }));
    const s = since(r.live_since);
    if (s) meta.append(el("span", { textContent: s }));
    const a = el(
      "a",
      { className: "room", href: `/watch/${encodeURIComponent(r.room)}` },
      el("span", { className: "room-name", textContent: r.room }),
      el("span", { className: "room-watch", textContent: "Watch →" }),
      meta,
    );
    a.setAttribute("aria-label", `Watch ${r.room}, live, ${viewers}`);
    a.dataset.room = r.room;
    roomList.append(el("li", {}, a));
  }
  roomsEmpty.hidden = valid.length > 0;
  roomsSummary.textContent = valid.length ? `${plural(valid.length, "room", "rooms")} live` : "Nobody live";
}

async function refreshRooms(): Promise<void> {
  window.clearTimeout(roomsTimer);
  try {
    const data = await api<unknown>("/api/rooms");
    if (!Array.isArray(data)) throw new Error("unexpected answer from /api/rooms");
    renderRooms(data as RoomInfo[]);
    roomsError.hidden = true;
    roomFailures = 0;
  } catch (e) {
    roomFailures++;
    roomsError.textContent = `Could not load the live rooms (${errorText(e)}). Retrying…`;
    roomsError.hidden = false;
    roomsSummary.textContent = "Offline";
  }
  if (!document.hidden) {
    roomsTimer = window.setTimeout(refreshRooms, roomFailures ? Math.min(60000, ROOMS_REFRESH_MS * 2 ** roomFailures) : ROOMS_REFRESH_MS);
  }
}

// ---------------------------------------------------------------- go live form

const form = byId<HTMLFormElement>("golive-form");
const roomInput = byId<HTMLInputElement>("golive-room");
const tokenInput = byId<HTMLInputElement>("golive-token");
const formError = byId("golive-error");

form.addEventListener("submit", (ev) => {
  ev.preventDefault();
  const room = roomInput.value.trim();
  if (!ROOM_RE.test(room)) {
    formError.textContent = "Enter a room name: letters, digits, _ or -, starting with a letter or digit (up to 64).";
    formError.hidden = false;
    roomInput.setAttribute("aria-invalid", "true");
    roomInput.focus();
    return;
  }
  roomInput.removeAttribute("aria-invalid");
  formError.hidden = true;
  const token = tokenInput.value.trim();
  location.assign(`/broadcast/${encodeURIComponent(room)}${token ? `?token=${encodeURIComponent(token)}` : ""}`);
});

// ---------------------------------------------------------------- archive

const grid = byId<HTMLUListElement>("recordings");
const summary = byId("archive-summary");
const emptyBox = byId("archive-empty");
const errorBox = byId("archive-error");
const moreBtn = byId<HTMLButtonElement>("load-more");
const searchForm = byId<HTMLFormElement>("search-form");
const qInput = byId<HTMLInputElement>("q");
const clearBtn = byId<HTMLButtonElement>("search-clear");
const eventsState = byId("events-state");

interface Card {
  rec: Recording;
  li: HTMLLIElement;
  badge: HTMLElement;
  progress: HTMLElement; // wrapper (hidden unless processing)
  bar: HTMLElement;
  progressText: HTMLElement;
}

const cards = new Map<string, Card>();
let cursor = "";
let query = new URLSearchParams(location.search).get("q")?.trim() ?? "";
let loading = false;
let generation = 0; // bumps on a new search: answers of older searches are dropped

function matches(r: Recording): boolean {
  return !query || titleOf(r).toLowerCase().includes(query.toLowerCase());
}

function buildCard(r: Recording): Card {
  const title = titleOf(r);
  const poster = el("div", { className: "rec-poster" });
  if (r.poster_url) {
    poster.append(el("img", { src: r.poster_url, alt: "", loading: "lazy", decoding: "async" }));
  } else {
    poster.append(el("span", { className: "rec-poster-empty", textContent: r.status === "failed" ? "No preview" : "Preview soon" }));
  }
  if (r.duration && r.duration > 0) {
    const d = el("span", { className: "rec-duration", textContent: formatTime(r.duration) });
    d.setAttribute("aria-label", `Duration ${spokenDuration(r.duration)}`);
    poster.append(d);
  }
  const badge = statusBadge(r);
  poster.append(el("span", { className: "rec-status" }, badge));

  const link = el("a", { href: `/v/${encodeURIComponent(r.id)}`, textContent: title });
  const meta = el("p", { className: "rec-meta" }, el("span", { textContent: sellerLine(r) }));
  const date = formatDate(r.started_at);
  if (date) meta.append(el("time", { dateTime: r.started_at ?? "", textContent: date }));
  const src = sourceLabel(r);
  if (src) meta.append(el("span", { textContent: src }));

  const bar = el("span");
  const barWrap = el("div", { className: "progress" }, bar);
  barWrap.setAttribute("role", "progressbar");
  barWrap.setAttribute("aria-label", `Processing ${title}`);
  barWrap.setAttribute("aria-valuemin", "0");
  barWrap.setAttribute("aria-valuemax", "100");
  const progressText = el("span", { className: "muted small" });
  const progress = el("div", { className: "stack stack-xs", hidden: true }, barWrap, progressText);

  const body = el("div", { className: "rec-body" }, el("h3", { className: "rec-title" }, link), meta, progress);
  if (r.status === "failed") body.append(el("p", { className: "rec-error", textContent: `Processing failed: ${shortReason(r.error)}` }));

  const li = el("li", { className: "rec-card", dataset: { id: r.id, status: String(r.status) } }, poster, body);
  const card: Card = { rec: r, li, badge, progress, bar, progressText };
  setProgress(card, r.status === "processing" ? (r.progress ?? -1) : null);
  return card;
}

/** Shows progress pct (0..100; -1 = unknown) or hides the bar (null). */
function setProgress(c: Card, pct: number | null): void {
  const wrap = c.bar.parentElement as HTMLElement;
  if (pct === null) {
    c.progress.hidden = true;
    return;
  }
  c.progress.hidden = false;
  if (pct < 0 || !Number.isFinite(pct)) {
    wrap.dataset.indeterminate = "";
    wrap.removeAttribute("aria-valuenow");
    c.progressText.textContent = c.rec.status === "recording" ? "Recording…" : "Processing…";
  } else {
    delete wrap.dataset.indeterminate;
    const p = Math.max(0, Math.min(100, Math.round(pct)));
    c.bar.style.width = `${p}%`;
    wrap.setAttribute("aria-valuenow", String(p));
    c.progressText.textContent = `Processing ${p}%`;
  }
  c.li.dataset.progress = String(pct);
}

function upsert(r: Recording, where: "append" | "prepend" | "inplace"): void {
  const old = cards.get(r.id);
  if (!matches(r)) {
    if (old) {
      old.li.remove();
      cards.delete(r.id);
    }
    return;
  }
  const card = buildCard(r);
  if (old) {
    // Keep the last known progress when the new record carries none.
    if (r.status === "processing" && !r.progress && old.li.dataset.progress) setProgress(card, Number(old.li.dataset.progress));
    old.li.replaceWith(card.li);
  } else if (where === "prepend") {
    grid.prepend(card.li);
  } else if (where === "append") {
    grid.append(card.li);
  } else {
    return; // an update for a recording not on the page: ignore
  }
  cards.set(r.id, card);
}

function updateSummary(): void {
  const n = cards.size;
  summary.textContent = n
    ? `${plural(n, "recording", "recordings")}${query ? ` matching “${query}”` : ""}${cursor ? " shown; more below" : ""}`
    : "";
  emptyBox.hidden = n > 0;
  emptyBox.textContent = query ? `No recording title contains “${query}”.` : "No recordings yet. Broadcasts are recorded and appear here.";
}

async function loadPage(reset: boolean): Promise<void> {
  if (loading && !reset) return;
  const gen = reset ? ++generation : generation;
  loading = true;
  moreBtn.disabled = true;
  if (reset) {
    cursor = "";
    summary.textContent = "Loading…";
  }
  const params = new URLSearchParams({ limit: String(PAGE_SIZE) });
  if (cursor) params.set("cursor", cursor);
  if (query) params.set("q", query);
  try {
    const page = await api<Page>(`/api/recordings?${params}`);
    if (gen !== generation) return;
    if (reset) {
      grid.textContent = "";
      cards.clear();
    }
    for (const r of page.recordings ?? []) upsert(r, "append");
    cursor = page.next_cursor ?? "";
    moreBtn.hidden = !cursor;
    errorBox.hidden = true;
  } catch (e) {
    if (gen !== generation) return;
    errorBox.textContent = `Could not load the archive: ${errorText(e)}.`;
    errorBox.hidden = false;
  } finally {
    if (gen === generation) {
      loading = false;
      moreBtn.disabled = false;
      updateSummary();
    }
  }
}

moreBtn.addEventListener("click", async () => {
  const before = cards.size;
  await loadPage(false);
  // Keep keyboard users in place: focus the first new card's link.
  const first = grid.children[before]?.querySelector("a");
  if (first instanceof HTMLElement) first.focus();
  else if (!moreBtn.hidden) moreBtn.focus();
});

function applySearch(q: string): void {
  query = q.trim();
  qInput.value = query;
  clearBtn.hidden = !query;
  const url = new URL(location.href);
  if (query) url.searchParams.set("q", query);
  else url.searchParams.delete("q");
  history.replaceState(null, "", url);
  void loadPage(true);
}

searchForm.addEventListener("submit", (ev) => {
  ev.preventDefault();
  applySearch(qInput.value);
});
clearBtn.addEventListener("click", () => {
  applySearch("");
  qInput.focus();
});
qInput.addEventListener("search", () => {
  if (!qInput.value && query) applySearch("");
});

// ---------------------------------------------------------------- live updates

let eventsOpen = false;
function onRecording(r: Recording): void {
  if (!r || typeof r.id !== "string") return;
  const known = cards.has(r.id);
  // New recordings appear on top (they are the newest) when they match the search.
  upsert(r, known ? "inplace" : "prepend");
  updateSummary();
  // A recording starting or ending means a room went live or stopped.
  if (!known || r.status === "processing") void refreshRooms();
}

function onProgress(p: ProgressData): void {
  const c = cards.get(p.id);
  if (!c || c.rec.status === "ready" || c.rec.status === "failed") return;
  if (c.rec.status === "recording") return; // chunks done while live: stay "Live"
  setProgress(c, typeof p.progress === "number" ? p.progress : -1);
  if (typeof p.progress === "number" && p.progress > (progressSeen[p.id] ?? -1)) progressSeen[p.id] = p.progress;
}

// The highest progress % shown per recording (for tests).
const progressSeen: Record<string, number> = {};

subscribe(
  "",
  {
    recording: onRecording,
    progress: onProgress,
    deleted: (id) => {
      const c = cards.get(id);
      if (c) {
        c.li.remove();
        cards.delete(id);
        updateSummary();
      }
    },
  },
  (open) => {
    eventsOpen = open;
    eventsState.textContent = open ? "Live updates on" : "Live updates reconnecting…";
  },
);

document.addEventListener("visibilitychange", () => {
  if (!document.hidden) void refreshRooms();
  else window.clearTimeout(roomsTimer);
});

// Automation hook for tests (read-only).
Object.defineProperty(window, "relaycast", {
  value: Object.freeze({
    page: "library",
    get ids() {
      return [...cards.keys()];
    },
    get eventsOpen() {
      return eventsOpen;
    },
    get loading() {
      return loading;
    },
    get progressSeen() {
      return { ...progressSeen };
    },
  }),
});

qInput.value = query;
clearBtn.hidden = !query;
void refreshRooms();
void loadPage(true);
