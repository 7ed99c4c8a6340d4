// VOD player (/v/{id}): hls.js (MSE) or native HLS where MSE is missing; custom controls (play,
// seek, time, quality Auto + renditions, speed 0.5–2×, subtitles from the recording's WebVTT
// files, fullscreen), keyboard shortcuts with a help dialog, resume from the last position
// (localStorage), inline editing of title and description for the room's seller or an admin.
// While the recording is still processing it plays the playlist of the chunks done so far and
// switches to the final one when /api/events says it is ready.
// Sections: the information panel (vod/info.ts), the editor and subtitle upload (vod/edit.ts);
// menus, playback, controls and the recording's state below.

import Hls from "hls.js/light";
import type { ErrorData } from "hls.js";
import {
  APIError,
  api,
  el,
  errorText,
  formatTime,
  shortReason,
  spokenDuration,
  subscribe,
  type Recording,
} from "./api";
import { byId } from "./common";
import { RadioMenu } from "./menu";
import { editorClosed, fillEdit, hideEditor, initEditor, renderSubsList } from "./vod/edit";
import { renderInfo } from "./vod/info";

type State = "loading" | "waiting" | "ready" | "playing" | "paused" | "ended" | "notfound" | "failed" | "error";

const SPEEDS = [0.5, 0.75, 1, 1.25, 1.5, 2];
const SEEK_STEP = 5;

const player = byId("player");
const video = byId<HTMLVideoElement>("video");
const overlay = byId("overlay");
const spinner = byId("spinner");
const overlayTitle = byId("overlay-title");
const overlayDetail = byId("overlay-detail");
const overlayBack = byId("overlay-back");
const controls = byId("controls");
const seek = byId<HTMLInputElement>("seek");
const playBtn = byId<HTMLButtonElement>("play");
const muteBtn = byId<HTMLButtonElement>("mute");
const speedBtn = byId<HTMLButtonElement>("speed-btn");
const timeEl = byId("time");
const fsBtn = byId<HTMLButtonElement>("fullscreen");
const helpBtn = byId<HTMLButtonElement>("help-btn");
const help = byId<HTMLDialogElement>("help");
const notice = byId("notice");

const id = decodeURIComponent(location.pathname.replace(/^\/v\//, "").replace(/\/+$/, ""));
const posKey = `relaycast.pos.${id}`;

let rec: Recording | null = null;
let state: State = "loading";
let lastError = "";
let hls: Hls | null = null;
let src = ""; // playlist being played
let seeking = false;
let levelSwitches = 0;

function setState(s: State): void {
  state = s;
  document.body.dataset.state = s;
}

function showOverlay(title: string, detail = "", opts: { spin?: boolean; back?: boolean } = {}): void {
  overlay.hidden = false;
  overlayTitle.textContent = title;
  overlayDetail.textContent = detail;
  spinner.hidden = !opts.spin;
  overlayBack.hidden = !opts.back;
}

function hideOverlay(): void {
  overlay.hidden = true;
}

/**
 * Play, Mute, Speed and Fullscreen act on the video as soon as a playlist is attached (Play
 * before the first frame starts it when it arrives); before that, and when nothing can play,
 * they are disabled rather than enabled and inert. Seek waits for a duration; Quality for the
 * renditions (buildQualityMenu).
 */
function setControls(on: boolean): void {
  for (const b of [playBtn, muteBtn, speedBtn, fsBtn]) b.disabled = !on;
  if (!on) {
    seek.disabled = true;
    qualityBtn.disabled = true;
  }
}

function showNotice(text: string, tone: "info" | "error" = "info", link?: { href: string; label: string }): void {
  notice.textContent = text;
  if (link) notice.append(" ", el("a", { href: link.href, textContent: link.label }));
  notice.className = tone === "error" ? "alert alert-error" : "alert";
  notice.hidden = !text;
}

// ---------------------------------------------------------------- menus

const speedMenu = new RadioMenu(
  speedBtn,
  byId("speed-menu"),
  (it) => `Speed ${it ? it.label : "1×"}`,
  (v) => {
    video.playbackRate = Number(v);
  },
  player,
);
speedMenu.setItems(
  SPEEDS.map((s) => ({ value: String(s), label: `${s}×` })),
  "1",
);

const qualityBtn = byId<HTMLButtonElement>("quality-btn");
const qualityMenu = new RadioMenu(
  qualityBtn,
  byId("quality-menu"),
  (it) => {
    if (!it || it.value === "-1") {
      const cur = hls && hls.currentLevel >= 0 ? hls.levels[hls.currentLevel] : undefined;
      return `Quality Auto${cur ? ` (${levelName(cur.height, cur.bitrate)})` : ""}`;
    }
    const l = hls?.levels[Number(it.value)];
    return `Quality ${l ? levelName(l.height, l.bitrate) : it.label}`;
  },
  (v) => {
    if (!hls) return;
    const i = Number(v);
    // currentLevel switches now (flushes the buffer); -1 hands control back to ABR.
    hls.currentLevel = i;
  },
  player,
);

function levelName(height: number, bitrate: number): string {
  if (height) return `${height}p`;
  return bitrate ? `${Math.round(bitrate / 1000)} kbps` : "source";
}

const subsMenu = new RadioMenu(
  byId<HTMLButtonElement>("subs-btn"),
  byId("subs-menu"),
  (it) => `Subtitles ${it && it.value !== "off" ? it.label : "Off"}`,
  (v) => setSubtitle(v),
  player,
);

function setSubtitle(lang: string): void {
  for (const t of Array.from(video.textTracks)) t.mode = t.language === lang ? "showing" : "disabled";
}

function renderSubtitles(r: Recording): void {
  const subs = (r.subtitles ?? []).filter((s) => s && s.url && s.lang);
  const have = new Set(Array.from(video.querySelectorAll("track")).map((t) => t.srclang));
  for (const s of subs) {
    if (have.has(s.lang)) continue;
    const t = el("track", { kind: "subtitles", srclang: s.lang, label: s.label || s.lang, src: s.url });
    video.append(t);
  }
  for (const t of Array.from(video.querySelectorAll("track"))) {
    if (!subs.some((s) => s.lang === t.srclang)) t.remove();
  }
  const cur = Array.from(video.textTracks).find((t) => t.mode === "showing")?.language ?? "off";
  subsMenu.setItems([{ value: "off", label: "Off" }, ...subs.map((s) => ({ value: s.lang, label: s.label || s.lang }))], cur);
  byId("subs-btn").closest(".menu-wrap")!.toggleAttribute("hidden", subs.length === 0);
  setSubtitle(cur);
}

// ---------------------------------------------------------------- playback

function attach(url: string): void {
  if (url === src) return;
  const resumeAt = src ? video.currentTime : savedPosition();
  const wasPlaying = src ? !video.paused : false;
  src = url;
  if (Hls.isSupported()) {
    if (!hls) {
      hls = new Hls({ capLevelToPlayerSize: false, startLevel: -1, backBufferLength: 60 });
      hls.on(Hls.Events.MANIFEST_PARSED, () => buildQualityMenu());
      hls.on(Hls.Events.LEVEL_SWITCHED, () => {
        levelSwitches++;
        qualityMenu.setValue(hls && hls.autoLevelEnabled ? "-1" : String(hls?.currentLevel ?? -1));
      });
      hls.on(Hls.Events.ERROR, (_e, data: ErrorData) => onHlsError(data));
      hls.attachMedia(video);
    }
    hls.loadSource(url);
    hls.startLoad(resumeAt > 0 ? resumeAt : -1);
  } else if (video.canPlayType("application/vnd.apple.mpegurl")) {
    video.src = url;
    buildQualityMenu();
  } else {
    fail("This browser cannot play HLS video (no Media Source Extensions and no native HLS).");
    return;
  }
  if (resumeAt > 0) {
    video.addEventListener(
      "loadedmetadata",
      () => {
        if (resumeAt < (video.duration || Infinity) - 3) video.currentTime = resumeAt;
        if (resumeAt > 1 && savedPosition() > 0) {
          showNotice(`Resumed at ${formatTime(resumeAt)}. Press Home on the seek bar to start over.`);
        }
        if (wasPlaying) void video.play().catch(() => {});
      },
      { once: true },
    );
  }
  setControls(true);
  if (Number.isFinite(video.duration) && video.duration > 0) seek.disabled = false;
}

function buildQualityMenu(): void {
  const levels = hls ? hls.levels : [];
  const items = [{ value: "-1", label: "Auto" }];
  const order = levels.map((l, i) => ({ l, i })).sort((a, b) => b.l.height - a.l.height || b.l.bitrate - a.l.bitrate);
  for (const { l, i } of order) items.push({ value: String(i), label: `${levelName(l.height, l.bitrate)}${l.bitrate ? ` · ${Math.round(l.bitrate / 1000)} kbps` : ""}` });
  qualityMenu.setItems(items, hls && !hls.autoLevelEnabled ? String(hls.currentLevel) : "-1");
  qualityBtn.disabled = items.length < 2;
  qualityBtn.title = items.length < 2 ? "Only one quality (or the browser picks it: native HLS)" : "";
}

function onHlsError(data: ErrorData): void {
  if (!data.fatal || !hls) return;
  if (data.type === Hls.ErrorTypes.MEDIA_ERROR) {
    hls.recoverMediaError();
    return;
  }
  if (data.type === Hls.ErrorTypes.NETWORK_ERROR && rec && rec.status !== "ready") {
    // The live playlist may not exist yet: retry shortly.
    window.setTimeout(() => hls?.startLoad(), 2000);
    return;
  }
  console.warn("relaycast: playback failed:", data.details, data.response?.code ?? "");
  fail(
    data.type === Hls.ErrorTypes.NETWORK_ERROR
      ? "The video could not be loaded from the server. Check your connection and reload the page."
      : "This video could not be played in this browser.",
  );
}

function fail(msg: string): void {
  lastError = msg;
  setControls(false);
  setState("error");
  showOverlay("Cannot play this recording", msg, { back: true });
}

function savedPosition(): number {
  try {
    const v = Number(localStorage.getItem(posKey));
    return Number.isFinite(v) && v > 0 ? v : 0;
  } catch {
    return 0;
  }
}

let lastSave = 0;
function savePosition(force = false): void {
  if (!src || !video.duration) return;
  const now = Date.now();
  if (!force && now - lastSave < 2000) return;
  lastSave = now;
  try {
    const t = video.currentTime;
    if (video.ended || t > video.duration - 3) localStorage.removeItem(posKey);
    else if (t > 1) localStorage.setItem(posKey, t.toFixed(1));
  } catch {
    /* storage full or disabled */
  }
}

function togglePlay(): void {
  if (!src) return;
  if (video.paused || video.ended) void video.play().catch((e) => showNotice(`Cannot start playback: ${errorText(e)}`, "error"));
  else video.pause();
}

function seekBy(d: number): void {
  if (!src || !Number.isFinite(video.duration)) return;
  video.currentTime = Math.max(0, Math.min(video.duration - 0.1, video.currentTime + d));
}

function changeSpeed(dir: 1 | -1): void {
  const i = SPEEDS.indexOf(video.playbackRate);
  const next = SPEEDS[Math.max(0, Math.min(SPEEDS.length - 1, (i < 0 ? 2 : i) + dir))]!;
  video.playbackRate = next;
}

function toggleFullscreen(): void {
  if (document.fullscreenElement) void document.exitFullscreen();
  else void player.requestFullscreen?.().catch((e) => showNotice(`Fullscreen refused: ${errorText(e)}`, "error"));
}

function renderTime(): void {
  const d = Number.isFinite(video.duration) ? video.duration : 0;
  timeEl.textContent = `${formatTime(video.currentTime)} / ${formatTime(d)}`;
  seek.max = String(d || 0);
  if (!seeking) seek.value = String(video.currentTime);
  seek.setAttribute("aria-valuetext", `${spokenDuration(video.currentTime) || "0 seconds"} of ${spokenDuration(d) || "unknown"}`);
}

video.addEventListener("timeupdate", () => {
  renderTime();
  savePosition();
});
video.addEventListener("durationchange", () => {
  renderTime();
  if (src && Number.isFinite(video.duration) && video.duration > 0) seek.disabled = false;
});
video.addEventListener("loadedmetadata", () => {
  renderTime();
  if (src) seek.disabled = false;
  if (state === "loading" || state === "waiting") setState("ready");
  hideOverlay();
});
video.addEventListener("play", () => {
  playBtn.textContent = "Pause";
  setState("playing");
  hideOverlay();
});
video.addEventListener("pause", () => {
  playBtn.textContent = "Play";
  if (state === "playing") setState("paused");
  savePosition(true);
});
video.addEventListener("ended", () => {
  playBtn.textContent = "Play";
  setState("ended");
  savePosition(true);
});
video.addEventListener("ratechange", () => speedMenu.setValue(String(video.playbackRate)));
video.addEventListener("volumechange", () => {
  muteBtn.textContent = video.muted ? "Unmute" : "Mute";
  muteBtn.setAttribute("aria-pressed", String(video.muted));
});
video.addEventListener("click", togglePlay);
window.addEventListener("pagehide", () => savePosition(true));

seek.addEventListener("input", () => {
  seeking = true;
  timeEl.textContent = `${formatTime(Number(seek.value))} / ${formatTime(video.duration)}`;
});
seek.addEventListener("change", () => {
  seeking = false;
  video.currentTime = Number(seek.value);
});
seek.addEventListener("keydown", (ev) => {
  // Same 5 s steps as the global arrows; Home/End jump to the ends.
  if (ev.key === "ArrowLeft" || ev.key === "ArrowRight") {
    ev.preventDefault();
    ev.stopPropagation();
    seekBy(ev.key === "ArrowLeft" ? -SEEK_STEP : SEEK_STEP);
  } else if (ev.key === "Home" || ev.key === "End") {
    ev.preventDefault();
    video.currentTime = ev.key === "Home" ? 0 : Math.max(0, video.duration - 0.5);
    if (ev.key === "Home") showNotice("");
  }
});
playBtn.addEventListener("click", togglePlay);
muteBtn.addEventListener("click", () => (video.muted = !video.muted));
fsBtn.addEventListener("click", toggleFullscreen);
document.addEventListener("fullscreenchange", () => (fsBtn.textContent = document.fullscreenElement ? "Exit fullscreen" : "Fullscreen"));
helpBtn.addEventListener("click", () => help.showModal());
if (!document.fullscreenEnabled) fsBtn.hidden = true;

document.addEventListener("keydown", (ev) => {
  if (ev.ctrlKey || ev.metaKey || ev.altKey || ev.defaultPrevented) return;
  const t = ev.target as HTMLElement;
  if (t.closest("input:not([type=range]), textarea, select, [contenteditable], dialog, .menu")) return;
  const onButton = t instanceof HTMLButtonElement;
  switch (ev.key) {
    case " ":
      if (onButton) return; // the focused button handles Space itself
      ev.preventDefault();
      togglePlay();
      break;
    case "k":
    case "K":
      togglePlay();
      break;
    case "ArrowLeft":
    case "ArrowRight":
      ev.preventDefault();
      seekBy(ev.key === "ArrowLeft" ? -SEEK_STEP : SEEK_STEP);
      break;
    case "f":
    case "F":
      toggleFullscreen();
      break;
    case "m":
    case "M":
      video.muted = !video.muted;
      break;
    case "<":
      changeSpeed(-1);
      break;
    case ">":
      changeSpeed(1);
      break;
    case "?":
      ev.preventDefault();
      help.showModal();
      break;
    default:
      return;
  }
});

// ---------------------------------------------------------------- recording state

function apply(r: Recording): void {
  const prev = rec;
  rec = r;
  renderInfo(r, video);
  renderSubtitles(r);
  renderSubsList(r);
  if (editorClosed()) fillEdit(r);
  switch (r.status) {
    case "ready":
      if (r.hls_url) attach(r.hls_url);
      if (prev && prev.status !== "ready") showNotice("Processing finished: now playing the final version.");
      break;
    case "recording":
    case "processing":
      if (r.hls_url) {
        attach(r.hls_url);
        if (r.status === "recording") {
          showNotice("This broadcast is still live: you are watching what is archived so far.", "info", {
            href: `/watch/${encodeURIComponent(r.room)}`,
            label: "Watch it live",
          });
        } else {
          showNotice("Still processing: you are watching the parts that are ready. The full version loads by itself.");
        }
      } else if (!src) {
        setState("waiting");
        showOverlay(r.status === "recording" ? "Recording in progress" : "Processing…", "The video appears here as soon as its first part is ready.", { spin: true });
      }
      break;
    case "failed":
      // Also when parts done before the failure were already playing (a later chunk may be
      // transcoded before the one that failed): the recording is incomplete, so say so.
      if (src) {
        hls?.destroy();
        hls = null;
        video.removeAttribute("src");
        video.load();
        src = "";
      }
      setControls(false);
      setState("failed");
      showOverlay("Processing failed", shortReason(r.error), { back: true });
      break;
  }
}

async function load(): Promise<void> {
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/.test(id)) {
    setState("notfound");
    showOverlay("No such recording", "This link does not name a recording.", { back: true });
    return;
  }
  try {
    apply(await api<Recording>(`/api/recordings/${encodeURIComponent(id)}`));
  } catch (e) {
    if (e instanceof APIError && e.status === 404) {
      setState("notfound");
      document.title = "Not found · relaycast";
      byId("title").textContent = "Recording not found";
      showOverlay("Recording not found", "It may have been deleted, or the link is wrong.", { back: true });
      hideEditor();
      return;
    }
    fail(`Could not load the recording: ${errorText(e)}.`);
    return;
  }
  subscribe(`id=${encodeURIComponent(id)}`, {
    recording: (r) => {
      if (r.id === id) apply(r);
    },
    progress: (p) => {
      if (p.id !== id || !rec || src || (rec.status !== "processing" && rec.status !== "recording")) return;
      if (rec.status === "processing") overlayDetail.textContent = p.progress >= 0 ? `${Math.round(p.progress)}% done.` : "Working on it…";
      // A chunk finished: the playlist of the parts done so far exists now (the server announces
      // it with the next recording event only), so fetch the recording once for its hls_url.
      if ((p as { kind?: string }).kind === "chunk") void refetch();
    },
    deleted: (d) => {
      if (d !== id) return;
      hls?.destroy();
      hls = null;
      video.removeAttribute("src");
      src = "";
      setControls(false);
      setState("notfound");
      showOverlay("This recording was deleted", "", { back: true });
    },
  }, (open) => {
    // Events sent before the stream opened (or while it reconnected) are not replayed: look
    // once more when it opens, so a recording that failed or finished meanwhile is not missed.
    if (open) void resync();
  });
}

async function resync(): Promise<void> {
  try {
    const r = await api<Recording>(`/api/recordings/${encodeURIComponent(id)}`);
    if (!rec || r.status !== rec.status || r.hls_url !== rec.hls_url) apply(r);
  } catch {
    // the next event or reconnect tries again
  }
}

let refetching = false;
async function refetch(): Promise<void> {
  if (refetching) return;
  refetching = true;
  try {
    const r = await api<Recording>(`/api/recordings/${encodeURIComponent(id)}`);
    if (r.hls_url && !src) apply(r);
  } catch {
    /* the next event tries again */
  } finally {
    refetching = false;
  }
}

// ---------------------------------------------------------------- automation hook

Object.defineProperty(window, "relaycast", {
  value: Object.freeze({
    page: "vod",
    get state() {
      return state;
    },
    get error() {
      return lastError;
    },
    get recording() {
      return rec;
    },
    get src() {
      return src;
    },
    get hls() {
      return hls;
    },
    video,
    /** Renditions as hls.js sees them: [{height, bitrate}], in hls.levels order. */
    levels() {
      return hls ? hls.levels.map((l) => ({ height: l.height, bitrate: l.bitrate })) : [];
    },
    /** The level playing now (-1 before the first fragment), and whether ABR picks it. */
    get currentLevel() {
      return hls ? hls.currentLevel : -1;
    },
    get autoLevel() {
      return hls ? hls.autoLevelEnabled : true;
    },
    get levelSwitches() {
      return levelSwitches;
    },
  }),
});

initEditor({ current: () => rec, apply, notice: (text) => showNotice(text) });
controls.hidden = false;
setState("loading");
void load();
