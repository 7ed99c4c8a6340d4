// Home page: rooms live now (from /api/rooms, refreshed) and a "go live" form.

import { ROOM_RE, byId, plural } from "./common";

interface RoomInfo {
  room: string;
  live_since?: string;
  viewers?: number;
  codecs?: string[];
}

const REFRESH_MS = 5000;

const list = byId<HTMLUListElement>("rooms");
const empty = byId("rooms-empty");
const summary = byId("rooms-summary");
const errorBox = byId("rooms-error");
let timer = 0;
let failures = 0;

function since(iso: string | undefined): string {
  if (!iso) return "";
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return "";
  const s = Math.max(0, Math.round((Date.now() - t) / 1000));
  if (s < 60) return "live for under a minute";
  const m = Math.round(s / 60);
  if (m < 60) return `live for ${m} min`;
  const h = Math.floor(m / 60);
  return `live for ${h} h ${m % 60} min`;
}

function codecLabel(codecs: string[] | undefined): string {
  return (codecs ?? []).map((c) => c.replace(/^(audio|video)\//i, "")).join(" · ");
}

function renderRooms(rooms: RoomInfo[]): void {
  const valid = rooms.filter((r) => r && typeof r.room === "string" && ROOM_RE.test(r.room));
  valid.sort((a, b) => (b.viewers ?? 0) - (a.viewers ?? 0) || a.room.localeCompare(b.room));
  list.textContent = "";
  for (const r of valid) {
    const li = document.createElement("li");
    const a = document.createElement("a");
    a.className = "room";
    a.href = `/watch/${encodeURIComponent(r.room)}`;

    const name = document.createElement("span");
    name.className = "room-name";
    name.textContent = r.room;

    const go = document.createElement("span");
    go.className = "room-watch";
    go.textContent = "Watch →";

    const meta = document.createElement("span");
    meta.className = "room-meta";
    const live = document.createElement("span");
    live.className = "badge badge-live";
    live.textContent = "Live";
    const viewers = document.createElement("span");
    viewers.textContent = plural(r.viewers ?? 0, "viewer", "viewers");
    meta.append(live, viewers);
    for (const text of [since(r.live_since), codecLabel(r.codecs)]) {
      if (!text) continue;
      const s = document.createElement("span");
      s.textContent = text;
      meta.append(s);
    }
    a.setAttribute("aria-label", `Watch ${r.room}, ${plural(r.viewers ?? 0, "viewer", "viewers")}`);
    a.append(name, go, meta);
    li.append(a);
    list.append(li);
  }
  empty.hidden = valid.length > 0;
  summary.textContent = valid.length ? `${plural(valid.length, "room", "rooms")} live` : "Nobody live";
}

async function refresh(): Promise<void> {
  window.clearTimeout(timer);
  try {
    const res = await fetch("/api/rooms", { cache: "no-store", headers: { Accept: "application/json" } });
    if (!res.ok) throw new Error(`the server answered ${res.status}`);
    const data: unknown = await res.json();
    if (!Array.isArray(data)) throw new Error("unexpected answer from /api/rooms");
    renderRooms(data as RoomInfo[]);
    errorBox.hidden = true;
    failures = 0;
  } catch (e) {
    failures++;
    errorBox.textContent = `Could not load the live rooms (${e instanceof Error ? e.message : e}). Retrying…`;
    errorBox.hidden = false;
    summary.textContent = "Offline";
  }
  if (!document.hidden) timer = window.setTimeout(refresh, failures ? Math.min(30000, REFRESH_MS * 2 ** failures) : REFRESH_MS);
}

document.addEventListener("visibilitychange", () => {
  if (!document.hidden) void refresh();
  else window.clearTimeout(timer);
});

// ---- go live form ----
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

void refresh();
