// Small helpers shared by the pages: DOM lookup, URL parameters, backoff.

/** Room names accepted by the server (see signaling/PROTOCOL.md). */
export const ROOM_RE = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;

/** Returns the element with the given id, typed, or throws (a page bug). */
export function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const el = document.getElementById(id);
  if (!el) throw new Error(`missing element #${id}`);
  return el as T;
}

/** Room name from a path such as /watch/{room} or /broadcast/{room}. */
export function roomFromPath(prefix: string): string {
  const rest = location.pathname.slice(prefix.length).replace(/\/+$/, "");
  let room = rest;
  try {
    room = decodeURIComponent(rest);
  } catch {
    /* keep it raw; validation below rejects it */
  }
  return room;
}

export function param(name: string): string {
  return new URLSearchParams(location.search).get(name) ?? "";
}

/** Exponential backoff with jitter: 1s, 2s, 4s, ... capped, each scaled by 0.75..1.25. */
export class Backoff {
  private attempt = 0;
  constructor(private readonly baseMs = 1000, private readonly maxMs = 15000) {}
  next(): number {
    const raw = Math.min(this.maxMs, this.baseMs * 2 ** this.attempt);
    this.attempt = Math.min(this.attempt + 1, 16);
    return Math.round(raw * (0.75 + Math.random() * 0.5));
  }
  reset(): void {
    this.attempt = 0;
  }
}

export type Tone = "ok" | "warn" | "bad" | "idle";

/** Writes a label and a coloured dot into a status <dd>. */
export function setStatus(el: HTMLElement, text: string, tone: Tone): void {
  let dot = el.querySelector<HTMLElement>(".dot");
  let label = el.querySelector<HTMLElement>(".label");
  if (!dot || !label) {
    el.textContent = "";
    dot = document.createElement("span");
    dot.className = "dot";
    dot.setAttribute("aria-hidden", "true");
    label = document.createElement("span");
    label.className = "label";
    el.append(dot, label);
  }
  dot.dataset.tone = tone;
  label.textContent = text;
}

export function toneForPeer(state: string): Tone {
  switch (state) {
    case "connected":
    case "completed":
    case "open":
      return "ok";
    case "new":
    case "checking":
    case "connecting":
    case "disconnected":
      return "warn";
    case "failed":
      return "bad";
    default:
      return "idle";
  }
}

export function plural(n: number, one: string, many: string): string {
  return `${n} ${n === 1 ? one : many}`;
}

export function formatBitrate(bps: number): string {
  if (!Number.isFinite(bps) || bps <= 0) return "—";
  if (bps >= 1e6) return `${(bps / 1e6).toFixed(2)} Mbps`;
  return `${Math.round(bps / 1e3)} kbps`;
}

/** Sets text where `backticked` parts become <code> elements (no HTML parsing). */
export function setRichText(el: HTMLElement, text: string): void {
  el.textContent = "";
  text.split("`").forEach((part, i) => {
    if (!part) return;
    if (i % 2 === 1) {
      const code = document.createElement("code");
      code.textContent = part;
      el.append(code);
    } else {
      el.append(part);
    }
  });
}
