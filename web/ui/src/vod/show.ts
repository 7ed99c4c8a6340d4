// VOD player: the show beside the video — the broadcast's lots as chapters (marks on the seek bar
// and a list; a click seeks to the lot) and the "Show chat" panel, which replays the chat, bids
// and lot changes in sync with the video: an event appears when playback reaches its time, a
// seek rebuilds the panel from the events before the new position. Data from
// GET /api/recordings/{id}/chapters and /events (docs/SHOW.md); deleted messages are never in
// them. Everything a viewer wrote is rendered with textContent only.

import showCss from "./show.css" with { type: "text" };
import { api, el, formatTime, type Recording } from "../api";
import { byId } from "../common";
import { page, seek, video } from "./page";

export interface Chapter {
  lot_id: string;
  title: string;
  start_s: number;
  end_s: number;
  won_s: number | null;
  status: string;
  price: number;
  winner_name: string;
}

export interface ShowEvent {
  t: number;
  seq: number;
  kind: "chat" | "bid" | "lot" | string;
  data: Record<string, unknown>;
}

/** Events shown at most in the panel (older ones scroll out). */
const KEEP = 300;
/** Events per request (the API's pages). */
const PAGE = 5000;

const show = {
  rec: "", // the recording loaded
  status: "",
  chapters: [] as Chapter[],
  events: [] as ShowEvent[],
  shown: 0, // events[0..shown) are in the panel (up to KEEP of them)
  timer: 0,
  loading: false,
};

let marks: HTMLDivElement;
let chaptersCard: HTMLElement;
let chapterList: HTMLOListElement;
let chatCard: HTMLElement;
let chatList: HTMLOListElement;
let chatEmpty: HTMLParagraphElement;

/** Builds the show's elements and follows the video; call once. */
export function initShow(): void {
  try {
    const sheet = new CSSStyleSheet();
    sheet.replaceSync(showCss);
    document.adoptedStyleSheets = [...document.adoptedStyleSheets, sheet];
  } catch (e) {
    console.warn("relaycast: show styles not applied", e);
  }
  // Chapter marks ride on the seek bar.
  const track = el("div", { className: "seek-track" });
  marks = el("div", { className: "chapter-marks", id: "chapter-marks" });
  seek.replaceWith(track);
  track.append(seek, marks);

  chapterList = el("ol", { className: "chapters", id: "chapters" });
  chapterList.setAttribute("aria-label", "Lots of this broadcast");
  chaptersCard = el("section", { className: "card show-card", id: "chapters-card", hidden: true },
    el("h2", { id: "chapters-title", textContent: "Chapters" }), chapterList);
  chaptersCard.setAttribute("aria-labelledby", "chapters-title");
  byId("notice").after(chaptersCard);

  chatList = el("ol", { className: "show-chat", id: "show-chat" });
  chatList.setAttribute("role", "log");
  chatList.setAttribute("aria-live", "off"); // a replay: not read out while the video plays
  chatList.setAttribute("aria-label", "Chat and bids at this point of the video");
  chatEmpty = el("p", { className: "show-empty", id: "show-chat-empty", textContent: "Nothing said yet at this point of the video." });
  chatCard = el("section", { className: "show-card", id: "show-chat-card", hidden: true },
    el("h2", { id: "show-chat-title", textContent: "Show chat" }), chatEmpty, chatList);
  chatCard.setAttribute("aria-labelledby", "show-chat-title");
  const aside = byId("details-title").parentElement!;
  aside.prepend(chatCard);

  video.addEventListener("timeupdate", advance);
  video.addEventListener("seeked", rebuild);
  video.addEventListener("durationchange", renderMarks);
  video.addEventListener("loadedmetadata", renderMarks);
}

/** Loads the show of recording r (again when its status changed; every 15 s while it is live). */
export function showRecording(r: Recording): void {
  if (r.id === show.rec && r.status === show.status) return;
  show.rec = r.id;
  show.status = r.status;
  window.clearInterval(show.timer);
  show.timer = 0;
  if (r.status === "recording" || r.status === "processing") {
    show.timer = window.setInterval(() => void load(r.id), 15000);
  }
  void load(r.id);
}

/** What the automation hook reports. */
export function showState(): { chapters: Chapter[]; events: number; shown: number } {
  return { chapters: show.chapters, events: show.events.length, shown: show.shown };
}

async function load(id: string): Promise<void> {
  if (show.loading) return;
  show.loading = true;
  try {
    const base = `/api/recordings/${encodeURIComponent(id)}`;
    const chapters = await api<Chapter[]>(`${base}/chapters`);
    const events: ShowEvent[] = [];
    for (let after = 0; ; ) {
      const batch = await api<ShowEvent[]>(`${base}/events?after=${after}&limit=${PAGE}`);
      events.push(...batch);
      if (batch.length < PAGE) break;
      after = batch[batch.length - 1]!.seq;
    }
    if (id !== show.rec) return;
    // Stable order by time in the video (then by sequence: the room's order).
    events.sort((a, b) => a.t - b.t || a.seq - b.seq);
    show.chapters = chapters;
    show.events = events;
    renderChapters();
    renderMarks();
    chatCard.hidden = events.every((e) => e.kind === "lot");
    rebuild();
  } catch (e) {
    console.warn("relaycast: the show of this recording could not be loaded", e);
  } finally {
    show.loading = false;
  }
}

// ---------------------------------------------------------------- chapters

function money(cents: number): string {
  const v = cents / 100;
  return `$${Number.isInteger(v) ? v : v.toFixed(2)}`;
}

/** "sold $45 to Ann at 12:31", "unsold", "open"… */
function outcome(c: Chapter): string {
  switch (c.status) {
    case "sold":
      return `sold ${money(c.price)}${c.winner_name ? ` to ${c.winner_name}` : ""}${c.won_s !== null ? ` at ${formatTime(c.won_s)}` : ""}`;
    case "open":
      return `open, ${money(c.price)}`;
    default:
      return c.status;
  }
}

function chapterText(c: Chapter, i: number): string {
  return `Lot ${i + 1} · ${c.title || "Untitled"} · ${outcome(c)}`;
}

function seekTo(s: number): void {
  if (!page.src) return;
  video.currentTime = Math.max(0, s);
}

function renderChapters(): void {
  chapterList.textContent = "";
  show.chapters.forEach((c, i) => {
    const b = el("button", { type: "button" },
      el("span", { className: "chapter-at", textContent: formatTime(c.start_s) }),
      el("span", { className: "chapter-text", textContent: chapterText(c, i) }));
    b.addEventListener("click", () => seekTo(c.start_s));
    chapterList.append(el("li", { dataset: { lot: c.lot_id, start: String(c.start_s) } }, b));
  });
  chaptersCard.hidden = show.chapters.length === 0;
  markCurrent();
}

function renderMarks(): void {
  if (!marks) return;
  marks.textContent = "";
  const d = Number.isFinite(video.duration) && video.duration > 0 ? video.duration : (page.rec?.duration ?? 0);
  if (!(d > 0)) return;
  show.chapters.forEach((c, i) => {
    const label = `${chapterText(c, i)}, from ${formatTime(c.start_s)}`;
    const m = el("button", { type: "button", className: "chapter-mark", title: label, dataset: { status: c.status } });
    m.setAttribute("aria-label", label);
    m.style.left = `${Math.min(100, Math.max(0, (c.start_s / d) * 100))}%`;
    m.addEventListener("click", () => seekTo(c.start_s));
    marks.append(m);
  });
}

function markCurrent(): void {
  const t = video.currentTime;
  show.chapters.forEach((c, i) => {
    const li = chapterList.children[i];
    if (!li) return;
    if (t >= c.start_s && t < Math.max(c.end_s, c.start_s + 0.5)) li.setAttribute("aria-current", "true");
    else li.removeAttribute("aria-current");
  });
}

// ---------------------------------------------------------------- the replayed chat

function str(v: unknown): string {
  return typeof v === "string" ? v : typeof v === "number" ? String(v) : "";
}
function num(v: unknown): number {
  return typeof v === "number" ? v : 0;
}
function obj(v: unknown): Record<string, unknown> {
  return v && typeof v === "object" ? (v as Record<string, unknown>) : {};
}

/** The line of one event (null: not shown, e.g. a lot being queued). */
function line(e: ShowEvent): HTMLLIElement | null {
  const at = el("span", { className: "at", textContent: formatTime(e.t) });
  const li = (...parts: Node[]) => el("li", { dataset: { kind: e.kind, seq: String(e.seq) } }, at, ...parts);
  const d = e.data;
  switch (e.kind) {
    case "chat": {
      const role = str(d.role);
      const who = str(d.name) + (role ? ` (${role})` : d.guest ? " (guest)" : "");
      return li(el("span", { className: "who", textContent: who }), el("span", { className: "text", textContent: str(d.text) }));
    }
    case "bid": {
      const bid = obj(d.bid);
      const lot = obj(d.lot);
      const text = `${str(bid.name) || "Someone"} bid ${money(num(bid.amount))}${bid.proxy ? " (auto)" : ""}${lot.title ? ` on ${str(lot.title)}` : ""}`;
      return li(el("span", { className: "text", textContent: text }));
    }
    case "lot": {
      const title = str(d.title) || "a lot";
      let text = "";
      switch (str(d.status)) {
        case "open":
          text = num(d.extensions) > 0 ? `Time extended: ${title}` : `Now selling: ${title}, from ${money(num(d.price))}`;
          break;
        case "sold":
          text = `Sold: ${title} for ${money(num(d.price))}${d.winner_name ? ` to ${str(d.winner_name)}` : ""}`;
          break;
        case "unsold":
          text = `Not sold: ${title}`;
          break;
        case "cancelled":
          text = `Cancelled: ${title}`;
          break;
        default:
          return null;
      }
      return li(el("span", { className: "text", textContent: text }));
    }
  }
  return null;
}

function atBottom(): boolean {
  return chatList.scrollHeight - chatList.scrollTop - chatList.clientHeight < 24;
}

function append(from: number, to: number): void {
  const stick = atBottom();
  for (let i = from; i < to; i++) {
    const li = line(show.events[i]!);
    if (li) chatList.append(li);
  }
  while (chatList.childElementCount > KEEP) chatList.firstElementChild!.remove();
  chatEmpty.hidden = chatList.childElementCount > 0;
  if (stick) chatList.scrollTop = chatList.scrollHeight;
}

/** The number of events at or before time t. */
function countUpTo(t: number): number {
  let lo = 0;
  let hi = show.events.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (show.events[mid]!.t <= t) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Shows the events the video has reached; a jump back rebuilds. */
function advance(): void {
  markCurrent();
  const n = countUpTo(video.currentTime);
  if (n < show.shown) {
    rebuild();
    return;
  }
  if (n > show.shown) {
    append(show.shown, n);
    show.shown = n;
  }
}

/** Rebuilds the panel from the events before the current position (after a seek). */
function rebuild(): void {
  if (!chatList) return;
  markCurrent();
  const n = countUpTo(video.currentTime);
  chatList.textContent = "";
  append(Math.max(0, n - KEEP * 2), n);
  show.shown = n;
  chatList.scrollTop = chatList.scrollHeight;
}
