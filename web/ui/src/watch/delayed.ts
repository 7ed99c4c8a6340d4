// Delayed mode of the watch page (docs/LLHLS.md, "Watching in delayed mode and rewinding"):
// - fallback: WebRTC shows no picture FALLBACK_MS after the page asked for it → the live LL-HLS
//   (watch/hls.ts) plays, the "Delayed mode, ~2 s" badge shows, and the live session keeps asking
//   for WebRTC in the background (its own bounded backoff); when a WebRTC picture arrives the
//   page switches back (the WebRTC frame is on screen before hls.js stops: no black gap);
// - `?mode=hls` plays LL-HLS only;
// - rewind (DVR): the timeline under the video spans the whole show: inside the live window it
//   seeks the live playlist, older than that (a recorded room) it plays the show's recording
//   (its progressive EVENT playlist) at the same moment by the server clock; a WebRTC viewer
//   moves to HLS for it, "Back to live" returns to the edge (WebRTC when it plays);
// - the auction by media time: LiveRoom.mediaClock is the server time of the picture on screen,
//   so lot and bid events wait until the video reaches them; the bid button says how far behind
//   live the viewer is (bids still go to the server, which decides by its own clock).

import { api, type Page } from "../api";
import { type LiveRoom } from "../live/room";
import { type ArchiveSource, LiveHls } from "./hls";

export const FALLBACK_MS = 3000;
/**
 * The server starts a room's live HLS at its first request (--live-hls-start on-demand): when
 * WebRTC shows no picture this long after the page asked for it, the page asks for the live
 * playlist once (the answer is not used), so that the fallback at FALLBACK_MS finds it warm.
 */
export const PREWARM_MS = 1200;
/** The prewarm request gives up after this long (the server answers or says 503 sooner). */
const PREWARM_ABORT_MS = 25_000;
/** Events wait for the picture only this far behind live; a viewer rewound further sees the live auction. */
export const HOLD_MAX_MS = 15_000;
const DEFAULT_WINDOW_S = 300;
/**
 * A rewind further back than the live window minus this (s) plays the recording: the window's
 * start moves on while hls.js loads, a seek right at it would fall off.
 */
export const WINDOW_MARGIN_S = 3;
/** How often the page looks for the room's recording: until its playlist exists, then. */
const ARCHIVE_LOOK_MS = 5000;
const ARCHIVE_RELOOK_MS = 30_000;
/** In delayed mode, a WebRTC attempt that shows nothing this long is given up and tried again. */
export const WEBRTC_RETRY_MS = 6000;

export interface DelayedOptions {
  room: string;
  token: () => string;
  stage: HTMLElement;
  webrtcVideo: HTMLVideoElement;
  /** Where the DVR bar goes (before this element, under the stage). */
  barBefore: HTMLElement;
  liveRoom: LiveRoom;
  /** Where the lot card is (the "behind live" note goes into its bid actions). */
  lotMount: HTMLElement;
  /** HLS only (`?mode=hls`). */
  forced: boolean;
  /** The page's WebRTC video shows pictures now. */
  webrtcPlaying: () => boolean;
  /** Whether falling back makes sense now (the page is trying WebRTC for a live room). */
  wantsFallback: () => boolean;
  /** What is on screen changed (the page re-renders its overlay and badges). */
  changed: () => void;
  /** The HLS stream ended (EXT-X-ENDLIST). */
  ended: () => void;
  /**
   * Delayed mode and WebRTC has shown nothing for WEBRTC_RETRY_MS: ask for it again (the live
   * session's bounded backoff paces the attempts).
   */
  retryWebRTC: () => void;
}

export type Shown = "webrtc" | "hls";

/** Timings (Date.now() ms) for automation and the switch-time figures. */
export interface DelayedTimes {
  /** The page started asking for WebRTC (the last time, before a fallback). */
  webrtcAsked: number;
  /** The fallback decided WebRTC failed and started hls.js. */
  fallbackAt: number;
  /** webrtcAsked when the fallback happened. */
  askedBeforeFallback: number;
  /** hls.js showed its first picture (after the fallback or a forced start). */
  hlsPlayingAt: number;
  /** WebRTC took over again. */
  backToWebRTCAt: number;
  /** The page asked for the live playlist ahead of a fallback (PREWARM_MS). */
  prewarmAt: number;
}

export class Delayed {
  readonly hls: LiveHls;
  readonly badge: HTMLElement;
  private readonly bar: HTMLElement;
  private readonly range: HTMLInputElement;
  private readonly timeLabel: HTMLElement;
  private readonly liveBtn: HTMLButtonElement;
  private readonly note: HTMLElement;
  /** The show's recording in progress (older than the live window plays from it); null: none. */
  private rec: ArchiveSource | null = null;
  private archiveLooked = 0;
  /** The live window's length was read from the playlist (a WebRTC viewer has not loaded it). */
  private windowKnown = false;
  /**
   * A rewind asked before the window was known: the server time (ms) of the moment asked for;
   * once the playlist says how long the window is, a moment older than it plays the recording.
   */
  private askedMoment = 0;
  private fallbackTimer = 0;
  private prewarmTimer = 0;
  private dragging = false;
  private windowS = DEFAULT_WINDOW_S;
  private switching = false;
  /** Why HLS runs: "" (not), "fallback", "forced", "rewind". */
  reason = "";
  readonly times: DelayedTimes = { webrtcAsked: 0, fallbackAt: 0, askedBeforeFallback: 0, hlsPlayingAt: 0, backToWebRTCAt: 0, prewarmAt: 0 };
  /** Switches back to WebRTC so far. */
  switchesBack = 0;
  /** WebRTC attempts given up in delayed mode (each followed by a new one after the backoff). */
  webrtcRetries = 0;

  constructor(private readonly o: DelayedOptions) {
    this.hls = new LiveHls(o.stage, o.webrtcVideo.nextSibling, {
      token: o.token,
      serverNow: () => o.liveRoom.now(),
      playing: () => this.onHlsPlaying(),
      ended: () => {
        this.stop();
        o.ended();
      },
    });

    this.badge = document.createElement("span");
    this.badge.className = "badge badge-delayed";
    this.badge.id = "delayed-badge";
    this.badge.dataset.testid = "delayed-badge";
    this.badge.hidden = true;
    this.badge.title = "WebRTC could not connect: playing the HLS stream, a little behind live";
    const badges = o.stage.querySelector(".stage-badges");
    const live = badges?.querySelector("#live-badge");
    if (live) live.after(this.badge);
    else badges?.append(this.badge);

    this.bar = document.createElement("div");
    this.bar.className = "dvr";
    this.bar.id = "dvr";
    this.bar.hidden = true;
    this.range = document.createElement("input");
    this.range.type = "range";
    this.range.id = "dvr-range";
    this.range.className = "dvr-range";
    this.range.min = String(-DEFAULT_WINDOW_S);
    this.range.max = "0";
    this.range.step = "1";
    this.range.value = "0";
    this.range.setAttribute("aria-label", "Rewind the show");
    this.range.setAttribute("aria-valuetext", "live");
    this.timeLabel = document.createElement("span");
    this.timeLabel.className = "dvr-time small";
    this.timeLabel.id = "dvr-time";
    this.liveBtn = document.createElement("button");
    this.liveBtn.type = "button";
    this.liveBtn.className = "btn btn-sm dvr-live";
    this.liveBtn.id = "to-live";
    this.bar.append(this.range, this.timeLabel, this.liveBtn);
    o.barBefore.before(this.bar);

    this.range.addEventListener("pointerdown", () => (this.dragging = true));
    this.range.addEventListener("input", () => {
      this.dragging = true;
      this.timeLabel.textContent = label(-Number(this.range.value));
    });
    this.range.addEventListener("change", () => {
      this.dragging = false;
      const back = -Number(this.range.value);
      if (back < 1) this.toLive();
      else this.rewind(back);
    });
    this.range.addEventListener("keydown", (ev) => {
      if (ev.key === "End") {
        ev.preventDefault();
        this.toLive();
      }
    });
    this.liveBtn.addEventListener("click", () => this.toLive());

    this.note = document.createElement("p");
    this.note.className = "lot-behind small";
    this.note.id = "behind-live";
    this.note.dataset.testid = "behind-live";
    this.note.hidden = true;

    o.liveRoom.mediaClock = () => this.mediaClock();
    window.setInterval(() => this.tick(), 250);
  }

  /** What the viewer sees. */
  get shown(): Shown {
    return this.showing ? "hls" : "webrtc";
  }

  /** HLS pictures are on screen. */
  get showing(): boolean {
    return this.hls.active && !this.hls.video.hidden;
  }

  /** How far behind live (ms, by the server clock) the picture is; 0 on WebRTC or before a picture. */
  get behindMs(): number {
    if (!this.showing) return 0;
    const t = this.hls.playingDate;
    return t === null ? 0 : Math.max(0, this.o.liveRoom.now() - t);
  }

  /** Seconds the timeline spans: the whole show when it is recorded, else the live window. */
  get showSeconds(): number {
    const rec = this.rec;
    if (!rec) return this.windowS;
    return Math.max(this.windowS, Math.floor((this.o.liveRoom.now() - rec.startMs) / 1000));
  }

  /** The recording the page rewinds into ("" when the room is not recorded). */
  get archiveUrl(): string {
    return this.rec?.url ?? "";
  }

  /** What the HLS player plays: "live" (the live playlist), "archive" (the recording) or "". */
  get source(): string {
    if (!this.hls.active) return "";
    return this.hls.archive ? "archive" : "live";
  }

  private url(): string {
    return `/live/${encodeURIComponent(this.o.room)}/index.m3u8`;
  }

  /** The page asks for WebRTC now: fall back to HLS if no picture comes within FALLBACK_MS. */
  armFallback(): void {
    if (this.o.forced) return;
    this.times.webrtcAsked = Date.now();
    if (this.hls.active) return; // already in delayed mode: WebRTC retries in the background
    window.clearTimeout(this.fallbackTimer);
    window.clearTimeout(this.prewarmTimer);
    this.prewarmTimer = window.setTimeout(() => {
      this.prewarmTimer = 0;
      if (this.o.webrtcPlaying() || !this.o.wantsFallback() || this.hls.active) return;
      this.prewarm();
    }, PREWARM_MS);
    this.fallbackTimer = window.setTimeout(() => {
      this.fallbackTimer = 0;
      if (this.o.webrtcPlaying() || !this.o.wantsFallback()) return;
      this.times.fallbackAt = Date.now();
      this.times.askedBeforeFallback = this.times.webrtcAsked;
      this.startHls("fallback", 0);
    }, FALLBACK_MS);
  }

  cancelFallback(): void {
    window.clearTimeout(this.fallbackTimer);
    this.fallbackTimer = 0;
    window.clearTimeout(this.prewarmTimer);
    this.prewarmTimer = 0;
  }

  /**
   * Asks for the live playlist once, its answer unused: a server that starts a room's live HLS
   * on demand starts it now, and holds the request until the first segment exists.
   */
  private prewarm(): void {
    this.times.prewarmAt = Date.now();
    const headers: Record<string, string> = {};
    const t = this.o.token();
    if (t) headers.Authorization = `Bearer ${t}`;
    const ctl = new AbortController();
    const abort = window.setTimeout(() => ctl.abort(), PREWARM_ABORT_MS);
    void fetch(this.url(), { headers, signal: ctl.signal, cache: "no-store" })
      .then((r) => r.arrayBuffer())
      .catch(() => undefined)
      .finally(() => window.clearTimeout(abort));
  }

  /** `?mode=hls`: plays HLS only. */
  startForced(): void {
    this.startHls("forced", 0);
  }

  private startHls(reason: string, backS: number): void {
    this.reason = reason;
    this.hls.video.muted = this.o.webrtcVideo.muted;
    this.hls.start(this.url(), backS);
    this.render();
  }

  private onHlsPlaying(): void {
    if (!this.times.hlsPlayingAt || this.reason !== "rewind") this.times.hlsPlayingAt = Date.now();
    // The HLS picture is there: show it over the WebRTC video, which goes quiet underneath.
    this.hls.video.hidden = false;
    this.o.webrtcVideo.muted = true;
    this.render();
    this.o.changed();
  }

  /**
   * The page's WebRTC video plays: unless the viewer rewound, switch to it (its frame is on screen
   * before hls.js stops).
   */
  webrtcStarted(): void {
    this.cancelFallback();
    if (!this.hls.active || this.o.forced || this.hls.rewound || this.switching) return;
    this.switchToWebRTC();
  }

  private switchToWebRTC(): void {
    const v = this.o.webrtcVideo as HTMLVideoElement & { requestVideoFrameCallback?: (cb: () => void) => number };
    this.switching = true;
    const done = (): void => {
      this.switching = false;
      if (!this.hls.active || !this.o.webrtcPlaying()) return;
      v.muted = this.hls.video.muted;
      this.stop();
      this.times.backToWebRTCAt = Date.now();
      this.switchesBack++;
      this.o.changed();
    };
    if (v.requestVideoFrameCallback) v.requestVideoFrameCallback(done);
    else window.setTimeout(done, 100);
  }

  /** Stops HLS (the show ended or is not live; or WebRTC took over). */
  stop(): void {
    this.cancelFallback();
    if (this.hls.active || this.hls.retrying) this.hls.forget();
    this.reason = "";
    this.o.liveRoom.releaseHeld();
    this.render();
  }

  /**
   * Plays from backS seconds behind live (HLS; a WebRTC viewer moves to HLS for it): inside the
   * live window from the live playlist, older from the recording (when the room is recorded).
   */
  rewind(backS: number): void {
    const rec = this.rec;
    backS = Math.max(0, Math.min(backS, this.showSeconds));
    this.askedMoment = 0;
    if (rec && backS > this.windowS - WINDOW_MARGIN_S && this.windowKnown) {
      this.toArchive(rec, backS);
    } else {
      // Not knowing the window yet (a WebRTC viewer): the live playlist first, the recording
      // once the playlist shows the moment is older than its window (tick).
      if (rec && !this.windowKnown && backS > 0) this.askedMoment = this.o.liveRoom.now() - backS * 1000;
      backS = Math.min(backS, this.windowS);
      if (!this.hls.active) this.startHls("rewind", backS);
      else if (this.hls.archive) this.hls.start(this.url(), backS);
      else this.hls.seekBack(backS);
    }
    this.render();
  }

  /**
   * The recording at the moment backS seconds behind live: its media time is the server time
   * minus the recording's start (docs/LLHLS.md, "Rewind (DVR)").
   */
  private toArchive(rec: ArchiveSource, backS: number): void {
    const at = (this.o.liveRoom.now() - backS * 1000 - rec.startMs) / 1000;
    if (!this.hls.active) {
      this.reason = "rewind";
      this.hls.video.muted = this.o.webrtcVideo.muted;
    }
    this.hls.startArchive(rec, at);
  }

  /**
   * Playing the recording: at its end (the transcoder is behind, or the viewer stalled into the
   * window) the live playlist takes over at the same moment, or at the window's start.
   */
  private archiveForward(): void {
    const end = this.hls.archiveEnd();
    if (!this.hls.archive || end === null || this.hls.archivePosition < end - 0.5) return;
    const behind = this.hls.playingDate === null ? this.windowS : this.hls.behindEdge;
    this.hls.start(this.url(), Math.max(1, Math.min(behind, this.windowS - WINDOW_MARGIN_S)));
  }

  /** Back to the live edge: WebRTC when it plays, else the HLS live edge. */
  toLive(): void {
    this.range.value = "0";
    if (!this.hls.active) return;
    if (!this.o.forced && this.o.webrtcPlaying()) {
      this.hls.rewound = false;
      this.switchToWebRTC();
      return;
    }
    if (this.hls.archive) this.hls.start(this.url(), 0);
    else this.hls.toLive();
    if (this.reason === "rewind") this.reason = "fallback";
    this.render();
  }

  /** The server time of the picture, while events should wait for it (see HOLD_MAX_MS). */
  private mediaClock(): number | null {
    if (!this.showing) return null;
    const t = this.hls.playingDate;
    if (t === null) return null;
    return this.o.liveRoom.now() - t > HOLD_MAX_MS ? null : t;
  }

  private tick(): void {
    this.archiveForward();
    this.hls.watchdog();
    this.o.liveRoom.releaseHeld();
    if (this.showing && !this.o.forced && !this.switching && this.times.webrtcAsked && !this.o.webrtcPlaying() && Date.now() - this.times.webrtcAsked > WEBRTC_RETRY_MS) {
      this.times.webrtcAsked = 0; // armFallback sets it again with the next attempt
      this.webrtcRetries++;
      this.o.retryWebRTC();
    }
    const w = this.hls.windowSeconds;
    if (w > 0) {
      // What the live playlist holds: with on-demand live HLS its window starts at the room's
      // first HLS request, so it may be younger than --live-hls-window and than the show.
      this.windowS = Math.max(1, Math.floor(w));
      this.windowKnown = true;
    }
    if (this.askedMoment && this.windowKnown) {
      const back = (this.o.liveRoom.now() - this.askedMoment) / 1000;
      this.askedMoment = 0;
      if (this.rec && this.hls.rewound && back > this.windowS - WINDOW_MARGIN_S) this.toArchive(this.rec, back);
    }
    const every = this.rec ? ARCHIVE_RELOOK_MS : ARCHIVE_LOOK_MS;
    if (!this.bar.hidden && Date.now() - this.archiveLooked > every) void this.lookArchive();
    this.render();
  }

  /** The room's recording in progress (the live show's), if the server records it. */
  private async lookArchive(): Promise<void> {
    this.archiveLooked = Date.now();
    try {
      const page = await api<Page>(`/api/recordings?room=${encodeURIComponent(this.o.room)}&limit=1`);
      const r = page.recordings?.[0];
      const startMs = r?.started_at ? Date.parse(r.started_at) : NaN;
      // Its playlist exists once the first chunk is transcoded.
      this.rec = r && r.status === "recording" && r.hls_url && Number.isFinite(startMs) ? { url: r.hls_url, startMs } : null;
    } catch {
      // Keep what was known: a failed look does not shorten the timeline.
    }
  }

  /** The badge, the DVR bar and the "behind live" note. */
  render(): void {
    const showing = this.showing;
    const rewound = showing && this.hls.rewound;
    const behindS = this.hls.behindEdge;
    this.badge.hidden = !showing;
    this.badge.dataset.rewound = rewound ? "1" : "";
    const fromRec = showing && this.hls.archive !== null;
    this.badge.dataset.source = fromRec ? "archive" : "live";
    this.badge.textContent = rewound ? `Rewound ${label(behindS)}${fromRec ? " · recording" : ""}` : "Delayed mode, ~2 s";
    this.badge.title = fromRec
      ? "Playing the show's recording, further back than the live stream keeps"
      : "WebRTC could not connect: playing the HLS stream, a little behind live";

    this.bar.hidden = !(showing || this.o.webrtcPlaying());
    this.range.min = String(-this.showSeconds);
    if (!this.dragging) this.range.value = String(rewound ? -Math.round(behindS) : 0);
    const at = this.dragging ? -Number(this.range.value) : rewound ? behindS : 0;
    if (!this.dragging) this.timeLabel.textContent = rewound ? label(behindS) : "";
    this.range.setAttribute("aria-valuetext", at < 1 ? "live" : `${spoken(at)} behind live`);
    this.liveBtn.textContent = rewound ? "Back to live" : "LIVE";
    this.liveBtn.classList.toggle("dvr-at-live", !rewound);
    this.liveBtn.setAttribute("aria-pressed", String(!rewound));
    this.bar.dataset.source = this.rec ? "show" : "window";

    const actions = this.o.lotMount.querySelector(".lot-actions");
    if (actions && this.note.parentElement !== actions) actions.prepend(this.note);
    const ms = this.behindMs;
    this.note.hidden = !showing || ms <= 0;
    if (!this.note.hidden) {
      this.note.textContent =
        ms > HOLD_MAX_MS
          ? `You are watching ${label(ms / 1000).slice(1)} behind live; the lot shows the live auction. Bids go to the server, which decides by its own clock.`
          : `You are ${(ms / 1000).toFixed(1)} s behind live. Bids go to the server, which decides by its own clock.`;
    }
    this.note.dataset.behind = String(Math.round(ms));
  }
}

/** "0:20 behind" style: seconds as m:ss (h:mm:ss from an hour). */
function label(s: number): string {
  const t = Math.max(0, Math.round(s));
  const h = Math.floor(t / 3600);
  const m = Math.floor((t % 3600) / 60);
  const ss = String(t % 60).padStart(2, "0");
  return h > 0 ? `−${h}:${String(m).padStart(2, "0")}:${ss}` : `−${m}:${ss}`;
}

/** For screen readers: "2 minutes 5 seconds". */
function spoken(s: number): string {
  const t = Math.max(0, Math.round(s));
  const h = Math.floor(t / 3600);
  const m = Math.floor((t % 3600) / 60);
  const parts: string[] = [];
  if (h) parts.push(`${h} hour${h === 1 ? "" : "s"}`);
  if (m) parts.push(`${m} minute${m === 1 ? "" : "s"}`);
  if (t % 60 || !parts.length) parts.push(`${t % 60} second${t % 60 === 1 ? "" : "s"}`);
  return parts.join(" ");
}
