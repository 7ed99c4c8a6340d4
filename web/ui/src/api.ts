// The archive API as the pages use it: recordings, live rooms, the event stream, and the small
// formatting helpers the library, player and admin pages share. Every field the server may leave
// out is optional here, so the pages degrade when an older server lacks it.

export type Status = "recording" | "processing" | "ready" | "failed";

export interface Subtitle {
  lang: string;
  label?: string;
  url: string;
}

export interface Recording {
  id: string;
  room: string;
  title?: string;
  description?: string;
  seller?: string;
  started_at?: string;
  ended_at?: string;
  duration?: number;
  status: Status | string;
  progress?: number;
  renditions?: string[];
  hls_url?: string;
  poster_url?: string;
  /** One short human sentence saying why it failed (contract C1). */
  error?: string;
  /** Operator detail (the tool's output, truncated): admin API responses only. */
  log?: string;
  /** What the recording holds and why a track was dropped. */
  tracks?: Track[];
  /** False when a retry cannot help (not a video, undecodable); absent from older servers. */
  retryable?: boolean;
  source?: "live" | "upload" | "import" | string;
  subtitles?: Subtitle[];
}

export interface Track {
  kind: "video" | "audio" | string;
  codec?: string;
  dropped?: boolean;
  reason?: string;
}

export interface Page {
  recordings: Recording[];
  next_cursor?: string;
}

export interface RoomInfo {
  room: string;
  live_since?: string;
  viewers?: number;
  codecs?: string[];
}

/** An API error with the server's message and the HTTP status. */
export class APIError extends Error {
  constructor(message: string, readonly status: number) {
    super(message);
  }
}

/** Calls the API and returns the parsed JSON body (undefined for 204). Errors carry the server's {"error"} text. */
export async function api<T>(path: string, init: RequestInit & { token?: string } = {}): Promise<T> {
  const headers = new Headers(init.headers);
  headers.set("Accept", "application/json");
  if (init.token) headers.set("Authorization", `Bearer ${init.token}`);
  if (init.body && typeof init.body === "string") headers.set("Content-Type", "application/json");
  let res: Response;
  try {
    res = await fetch(path, { ...init, headers, cache: "no-store", credentials: "same-origin" });
  } catch (e) {
    throw new APIError(`the server cannot be reached (${e instanceof Error ? e.message : e})`, 0);
  }
  if (res.status === 204) return undefined as T;
  let body: unknown = undefined;
  const text = await res.text();
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    /* not JSON */
  }
  if (!res.ok) {
    const msg = body && typeof body === "object" && "error" in body ? String((body as { error: unknown }).error) : text.trim() || res.statusText;
    throw new APIError(msg || `HTTP ${res.status}`, res.status);
  }
  return body as T;
}

export function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

// ---- event stream ----

export interface ServerEvent<T = unknown> {
  type: string;
  id: string;
  data: T;
}

export interface ProgressData {
  id: string;
  progress: number; // overall 0..99, or -1 while the total is unknown (still live)
  chunk?: number;
  chunk_progress?: number;
}

/**
 * Subscribes to /api/events (Server-Sent Events; the browser reconnects by itself).
 * onState reports whether the stream is open, for a "live updates" indicator.
 */
export function subscribe(
  query: string,
  handlers: { recording?: (r: Recording) => void; progress?: (p: ProgressData) => void; deleted?: (id: string) => void },
  onState?: (open: boolean) => void,
): () => void {
  const es = new EventSource(`/api/events${query ? `?${query}` : ""}`);
  const parse = <T>(ev: MessageEvent): ServerEvent<T> | null => {
    try {
      return JSON.parse(ev.data) as ServerEvent<T>;
    } catch {
      return null;
    }
  };
  es.addEventListener("recording", (ev) => {
    const e = parse<Recording>(ev as MessageEvent);
    if (e && e.data && typeof e.data === "object") handlers.recording?.(e.data);
  });
  es.addEventListener("progress", (ev) => {
    const e = parse<ProgressData>(ev as MessageEvent);
    if (e && e.data) handlers.progress?.(e.data);
  });
  es.addEventListener("deleted", (ev) => {
    const e = parse<{ id: string }>(ev as MessageEvent);
    if (e) handlers.deleted?.(e.id);
  });
  es.onopen = () => onState?.(true);
  es.onerror = () => onState?.(es.readyState === EventSource.OPEN);
  return () => es.close();
}

// ---- formatting ----

/** 75 → "1:15", 3725 → "1:02:05". */
export function formatTime(s: number | undefined): string {
  if (s === undefined || !Number.isFinite(s) || s < 0) return "0:00";
  const t = Math.floor(s);
  const h = Math.floor(t / 3600);
  const m = Math.floor((t % 3600) / 60);
  const sec = String(t % 60).padStart(2, "0");
  return h > 0 ? `${h}:${String(m).padStart(2, "0")}:${sec}` : `${m}:${sec}`;
}

/** Spoken form for screen readers: "1 minute 15 seconds". */
export function spokenDuration(s: number | undefined): string {
  if (!s || !Number.isFinite(s)) return "";
  const t = Math.round(s);
  const h = Math.floor(t / 3600);
  const m = Math.floor((t % 3600) / 60);
  const sec = t % 60;
  const parts: string[] = [];
  if (h) parts.push(`${h} hour${h === 1 ? "" : "s"}`);
  if (m) parts.push(`${m} minute${m === 1 ? "" : "s"}`);
  if (sec || !parts.length) parts.push(`${sec} second${sec === 1 ? "" : "s"}`);
  return parts.join(" ");
}

const dateFmt = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });

export function formatDate(iso: string | undefined): string {
  if (!iso) return "";
  const t = Date.parse(iso);
  return Number.isNaN(t) ? "" : dateFmt.format(t);
}

export const STATUS_LABEL: Record<string, string> = {
  recording: "Live",
  processing: "Processing",
  ready: "Ready",
  failed: "Failed",
};

/** A status badge element for a recording. */
export function statusBadge(r: Pick<Recording, "status" | "progress">): HTMLSpanElement {
  const b = document.createElement("span");
  updateBadge(b, r);
  return b;
}

export function updateBadge(b: HTMLElement, r: Pick<Recording, "status" | "progress">): void {
  const st = String(r.status);
  b.className = `badge badge-${STATUS_LABEL[st] ? st : "plain"}`;
  b.textContent = STATUS_LABEL[st] ?? st;
  b.dataset.status = st;
}

const GENERIC_FAILURE = "The video could not be processed.";

/**
 * The reason a recording failed, as one short sentence for the public pages. The server sends
 * one (contract C1); a long or technical text (a tool's output, from an older server) is never
 * shown: it becomes a generic sentence, and the admin page keeps the detail.
 */
export function shortReason(error: string | undefined): string {
  const e = (error ?? "").trim();
  if (!e) return GENERIC_FAILURE;
  // An older server's error chains name the cause first: say that cause in words.
  if (/(^|: )not a video file/.test(e)) return "This file is not a video, or it is cut short.";
  if (/(^|: )undecodable media/.test(e)) return "The video could not be decoded.";
  const technical = /exit status|@ 0x|\[[a-z0-9_]+ @|ffmpeg|ffprobe|stderr|skip retry|asynq|panic|0x[0-9a-f]{6,}/i;
  // A Go error chain ("transcode: undecodable media: …") starts lower-case or stacks "x: y: z".
  const chain = /^[a-z]/.test(e) || (e.match(/: /g)?.length ?? 0) >= 2;
  if (e.length > 160 || technical.test(e) || chain || e.includes("\n")) return GENERIC_FAILURE;
  return /[.!?]$/.test(e) ? e : `${e}.`;
}

/** Whether a retry can help: not when the server says it cannot (C1 `retryable: false`). */
export function canRetry(r: Pick<Recording, "retryable">): boolean {
  return r.retryable !== false;
}

export function titleOf(r: Recording): string {
  return (r.title ?? "").trim() || `${r.room} — ${formatDate(r.started_at)}`;
}

/** Who sold on it: the seller (publish token subject) when known, and the room. */
export function sellerLine(r: Recording): string {
  const seller = (r.seller ?? "").trim();
  return seller && seller !== r.room ? `${seller} · ${r.room}` : r.room;
}

export function sourceLabel(r: Recording): string {
  switch (r.source) {
    case "upload":
      return "Upload";
    case "import":
      return "Imported";
    default:
      return "";
  }
}

/** Element factory: el("p", {className: "x"}, "text", child). */
export function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  props: Partial<HTMLElementTagNameMap[K]> & { dataset?: Record<string, string> } = {},
  ...children: (Node | string | null | undefined | false)[]
): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  const { dataset, ...rest } = props;
  Object.assign(e, rest);
  if (dataset) Object.assign(e.dataset, dataset);
  for (const c of children) if (c) e.append(c);
  return e;
}

// ---- tokens (kept per tab in sessionStorage, never put into URLs the pages create) ----

export const ADMIN_TOKEN_KEY = "relaycast.admin-token";
export const TOKEN_KEY = "relaycast.token";

export function storedToken(key: string): string {
  try {
    return sessionStorage.getItem(key) ?? "";
  } catch {
    return "";
  }
}

export function storeToken(key: string, token: string): void {
  try {
    if (token) sessionStorage.setItem(key, token);
    else sessionStorage.removeItem(key);
  } catch {
    /* storage disabled: the token lives only in memory */
  }
}

/** The claims of a JWT, read without verifying (the server verifies; this only shapes the UI). */
export function tokenClaims(token: string): { room?: string; grants?: string[]; sub?: string; exp?: number } | null {
  const part = token.split(".")[1];
  if (!part) return null;
  try {
    const json = atob(part.replace(/-/g, "+").replace(/_/g, "/").padEnd(Math.ceil(part.length / 4) * 4, "="));
    const c = JSON.parse(json);
    return c && typeof c === "object" ? c : null;
  } catch {
    return null;
  }
}

/** Whether token may edit recordings of room (its publisher or an admin), as far as the claims say. */
export function tokenCanEdit(token: string, room: string): boolean {
  const c = tokenClaims(token);
  if (!c || !Array.isArray(c.grants)) return false;
  if (c.exp && c.exp * 1000 < Date.now()) return false;
  const roomOK = c.room === "*" || c.room === room;
  return roomOK && (c.grants.includes("publish") || c.grants.includes("admin"));
}
