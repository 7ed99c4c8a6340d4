// Delayed mode of the watch page (docs/LLHLS.md, "Watching in delayed mode and rewinding"):
// - fallback: WebRTC shows no picture FALLBACK_MS after the page asked for it → the live LL-HLS
//   (watch/hls.ts) plays, the "Delayed mode, ~2 s" badge shows, and the live session keeps asking
//   for WebRTC in the background (its own bounded backoff); when a WebRTC picture arrives the
//   page switches back (the WebRTC frame is on screen before hls.js stops: no black gap);
// - `?mode=hls` plays LL-HLS only;
// - rewind (DVR): the timeline under the video goes back into the live window; a WebRTC viewer
//   moves to HLS for it, "Back to live" returns to the edge (WebRTC when it plays);
// - the auction by media time: LiveRoom.mediaClock is the server time of the picture on screen,
//   so lot and bid events wait until the video reaches them; the bid button says how far behind
//   live the viewer is (bids still go to the server, which decides by its own clock).

import { api, type Page } from "../api";
import { type LiveRoom } from "../live/room";
import { LiveHls } from "./hls";

export const FALLBACK_MS = 3000;
/** Events wait for the picture only this far behind live; a viewer rewound further sees the live auction. */
export const HOLD_MAX_MS = 15_000;
const DEFAULT_WINDOW_S = 300;
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
}

export class Delayed {
  readonly hls: LiveHls;
  readonly badge: HTMLElement;
  private readonly bar: HTMLElement;
  private readonly range: HTMLInputElement;
  private readonly timeLabel: HTMLElement;
  private readonly liveBtn: HTMLButtonElement;
  private readonly note: HTMLElement;
  /** Older than the live window: the show's recording (its progressive playlist, in the player). */
  private readonly archive: HTMLAnchorElement;
  private archiveId = "";
  private archiveLooked = 0;
  private fallbackTimer = 0;
  private dragging = false;
  private windowS = DEFAULT_WINDOW_S;
  private switching = false;
  /** Why HLS runs: "" (not), "fallback", "forced", "rewind". */
  reason = "";
  readonly times: DelayedTimes = { webrtcAsked: 0, fallbackAt: 0, askedBeforeFallback: 0, hlsPlayingAt: 0, backToWebRTCAt: 0 };
  /** Switches back to WebRTC so far. */
  switchesBack = 0;
  /** WebRTC attempts given up in delayed mode (each followed by a new one after the backoff). */
  webrtcRetries = 0;

  constructor(private readonly o: DelayedOptions) {
    this.hls = new LiveHls(o.stage, o.webrtcVideo.nextSibling, {
      token: o.token,
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
    this.timeLabel = document.createElement("span");
    this.timeLabel.className = "dvr-time small";
    this.timeLabel.id = "dvr-time";
    this.liveBtn = document.createElement("button");
    this.liveBtn.type = "button";
    this.liveBtn.className = "btn btn-sm dvr-live";
    this.liveBtn.id = "to-live";
    this.archive = document.createElement("a");
    this.archive.className = "dvr-archive small";
    this.archive.id = "dvr-archive";
    this.archive.hidden = true;
    this.archive.textContent = "Earlier: the recording from the start";
    this.bar.append(this.range, this.timeLabel, this.liveBtn, this.archive);
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

  private url(): string {
    return `/live/${encodeURIComponent(this.o.room)}/index.m3u8`;
  }

  /** The page asks for WebRTC now: fall back to HLS if no picture comes within FALLBACK_MS. */
  armFallback(): void {
    if (this.o.forced) return;
    this.times.webrtcAsked = Date.now();
    if (this.hls.active) return; // already in delayed mode: WebRTC retries in the background
    window.clearTimeout(this.fallbackTimer);
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

  /** Plays from backS seconds behind live (HLS; a WebRTC viewer moves to HLS for it). */
  rewind(backS: number): void {
    backS = Math.max(0, Math.min(backS, this.windowS));
    if (!this.hls.active) this.startHls("rewind", backS);
    else this.hls.seekBack(backS);
    this.render();
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
    this.hls.toLive();
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
    this.hls.watchdog();
    this.o.liveRoom.releaseHeld();
    if (this.showing && !this.o.forced && !this.switching && this.times.webrtcAsked && !this.o.webrtcPlaying() && Date.now() - this.times.webrtcAsked > WEBRTC_RETRY_MS) {
      this.times.webrtcAsked = 0; // armFallback sets it again with the next attempt
      this.webrtcRetries++;
      this.o.retryWebRTC();
    }
    const w = this.hls.windowSeconds;
    if (w > 0) this.windowS = Math.max(10, Math.floor(w));
    if (!this.bar.hidden && Date.now() - this.archiveLooked > 30_000) void this.lookArchive();
    this.render();
  }

  /** The room's recording in progress (the live show's), if the server records it. */
  private async lookArchive(): Promise<void> {
    this.archiveLooked = Date.now();
    try {
      const page = await api<Page>(`/api/recordings?room=${encodeURIComponent(this.o.room)}&limit=1`);
      const r = page.recordings?.[0];
      this.archiveId = r && r.status === "recording" && r.hls_url ? r.id : "";
    } catch {
      this.archiveId = "";
    }
  }

  /** The badge, the DVR bar and the "behind live" note. */
  render(): void {
    const showing = this.showing;
    const rewound = showing && this.hls.rewound;
    const behindS = this.hls.behindEdge;
    this.badge.hidden = !showing;
    this.badge.dataset.rewound = rewound ? "1" : "";
    this.badge.textContent = rewound ? `Rewound ${label(behindS)}` : "Delayed mode, ~2 s";

    this.bar.hidden = !(showing || this.o.webrtcPlaying());
    this.range.min = String(-this.windowS);
    if (!this.dragging) this.range.value = String(rewound ? -Math.round(behindS) : 0);
    if (!this.dragging) this.timeLabel.textContent = rewound ? label(behindS) : "";
    this.liveBtn.textContent = rewound ? "Back to live" : "LIVE";
    this.liveBtn.classList.toggle("dvr-at-live", !rewound);
    this.liveBtn.setAttribute("aria-pressed", String(!rewound));
    // At the start of the live window, the rest of the show is in its recording.
    const atStart = this.dragging ? -Number(this.range.value) >= this.windowS - 1 : rewound && behindS >= this.windowS - 3;
    this.archive.hidden = !this.archiveId || !atStart;
    if (this.archiveId) this.archive.href = `/v/${encodeURIComponent(this.archiveId)}`;

    const actions = this.o.lotMount.querySelector(".lot-actions");
    if (actions && this.note.parentElement !== actions) actions.prepend(this.note);
    const ms = this.behindMs;
    this.note.hidden = !showing || ms <= 0;
    if (!this.note.hidden) {
      this.note.textContent =
        ms > HOLD_MAX_MS
          ? `You are watching ${label(ms / 1000)} behind live; the lot shows the live auction. Bids go to the server, which decides by its own clock.`
          : `You are ${(ms / 1000).toFixed(1)} s behind live. Bids go to the server, which decides by its own clock.`;
    }
    this.note.dataset.behind = String(Math.round(ms));
  }
}

/** "0:20 behind" style: seconds as m:ss. */
function label(s: number): string {
  const t = Math.max(0, Math.round(s));
  return `−${Math.floor(t / 60)}:${String(t % 60).padStart(2, "0")}`;
}
