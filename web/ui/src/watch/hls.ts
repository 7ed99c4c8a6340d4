// The watch page's live LL-HLS player (docs/LLHLS.md, "Watching in delayed mode and rewinding"):
// hls.js in low-latency mode on /live/{room}/index.m3u8, in its own <video> laid over the WebRTC
// one, so the page can switch between the two without a black frame (the next one plays before
// the previous one stops). It knows the live window (what can be rewound), the server time of
// the picture on screen (EXT-X-PROGRAM-DATE-TIME via hls.playingDate) and how far behind the
// live edge it is. A fatal load error (no stream yet, the node restarting) retries by itself
// with a bounded backoff while the page wants HLS.

import Hls from "hls.js/light";
import type { ErrorData, LevelDetails } from "hls.js";

export interface LiveHlsOptions {
  /** The room token for `Authorization: Bearer` ("" without one). */
  token: () => string;
  /** The player started showing pictures (first frame after start or a restart). */
  playing?: () => void;
  /** The show ended (EXT-X-ENDLIST reached). */
  ended?: () => void;
  /** The server's clock (ms): how far behind live an archive picture is. */
  serverNow?: () => number;
}

/**
 * Where the archive's media time is on the server clock: the recording's progressive EVENT
 * playlist carries no EXT-X-PROGRAM-DATE-TIME, its media time 0 is the recording's start.
 */
export interface ArchiveSource {
  url: string;
  /** Server time (ms) of archive media time 0: the recording's started_at. */
  startMs: number;
}

/** How far behind the live edge hls.js aims (s): ~1 s plus a part, so ~2 s glass to glass. */
export const LIVE_SYNC_S = 1.0;
/** Further than this behind while "at live" (a stall): jump back to the live edge. */
const CATCH_UP_S = 4;
/** The picture has not moved this long while playing: start hls.js again where it should be. */
const STALL_MS = 2500;
const RETRY_MIN_MS = 1000;
const RETRY_MAX_MS = 5000;

export class LiveHls {
  readonly video: HTMLVideoElement;
  private hls: Hls | null = null;
  private url = "";
  private retryMs = RETRY_MIN_MS;
  private retryTimer = 0;
  private details: LevelDetails | null = null;
  /** The viewer rewound (DVR): hls.js must not be pulled to the live edge. */
  rewound = false;
  /** A position to seek to once the playlist is known (s behind the live edge). */
  private pendingBack = 0;
  /** Fatal errors so far (automation). */
  errors = 0;
  private shown = false;
  private lastT = -1;
  private lastProgress = 0;
  /** Frozen pictures restarted so far (automation). */
  stalls = 0;
  /** hls.js instances started so far (a new one drops the video's frame callbacks). */
  generation = 0;
  /** Playing the show's recording (older than the live window) instead of the live playlist. */
  private arch: ArchiveSource | null = null;
  /** The archive position (s of media time) to restart at after an error or a freeze. */
  private archAt = 0;

  constructor(
    stage: HTMLElement,
    before: Node | null,
    private readonly opts: LiveHlsOptions,
  ) {
    const v = document.createElement("video");
    v.id = "hls-video";
    v.className = "hls-video";
    v.playsInline = true;
    v.autoplay = true;
    v.hidden = true;
    v.setAttribute("aria-label", "Live video (delayed mode)");
    stage.insertBefore(v, before);
    this.video = v;
    v.addEventListener("playing", () => {
      if (!this.hls) return;
      this.retryMs = RETRY_MIN_MS;
      if (!this.shown) {
        this.shown = true;
        this.opts.playing?.();
      }
    });
    v.addEventListener("ended", () => {
      if (this.hls && !this.arch && this.details && !this.details.live) this.opts.ended?.();
    });
    v.addEventListener("timeupdate", () => this.catchUp());
  }

  static supported(): boolean {
    return Hls.isSupported();
  }

  /** Whether hls.js is attached (loading or playing). */
  get active(): boolean {
    return this.hls !== null;
  }

  /** Whether it shows pictures now. */
  get playing(): boolean {
    const v = this.video;
    return this.active && this.shown && !v.paused && v.readyState >= 2;
  }

  /** Starts playing url (the live edge, or backS seconds behind it). */
  start(url: string, backS = 0): void {
    if (this.hls && this.arch) this.stop(true); // from the archive back to the live playlist
    this.url = url;
    this.pendingBack = backS;
    this.rewound = backS > 0;
    if (this.hls) {
      if (backS > 0) this.seekBack(backS);
      return;
    }
    this.attach(url, null, 0);
  }

  /**
   * Plays the show's recording (its progressive EVENT playlist) from atS seconds of its media
   * time: the page's rewind older than the live window. The picture stays on screen meanwhile.
   */
  startArchive(src: ArchiveSource, atS: number): void {
    atS = Math.max(0, atS);
    if (this.hls && this.arch?.url === src.url) {
      this.video.currentTime = atS;
      void this.video.play().catch(() => {});
      return;
    }
    if (this.hls) this.stop(true);
    this.url = src.url;
    this.pendingBack = 0;
    this.rewound = true;
    this.attach(src.url, src, atS);
  }

  /** The archive this player plays (null: the live playlist). */
  get archive(): ArchiveSource | null {
    return this.hls ? this.arch : null;
  }

  /** The archive's media time on screen, or the one asked for before the first picture (s). */
  get archivePosition(): number {
    return this.shown ? this.video.currentTime : this.archAt;
  }

  /** The archive's playable media time: [0, end] (s), null on the live playlist or before it loaded. */
  archiveEnd(): number | null {
    if (!this.arch || !this.details) return null;
    return this.details.edge;
  }

  private attach(url: string, arch: ArchiveSource | null, atS: number): void {
    window.clearTimeout(this.retryTimer);
    this.shown = false;
    this.generation++;
    this.arch = arch;
    this.archAt = atS;
    const live = arch === null;
    const hls = new Hls({
      // The archive is a plain (not low-latency) EVENT playlist of whole chunks.
      lowLatencyMode: live,
      ...(live ? {} : { startPosition: atS }),
      liveSyncDuration: LIVE_SYNC_S,
      // hls.js seeks to the live edge when further behind than this: never within the rewind
      // window (the page catches up by itself while "at live", see catchUp).
      liveMaxLatencyDuration: 6 * 3600,
      maxLiveSyncPlaybackRate: live ? 1.5 : 1,
      // A stall raises hls.js's target latency by this much (default 1 s, which ratchets the
      // delay up on a busy machine; the page jumps back to the edge past CATCH_UP_S anyway).
      liveSyncOnStallIncrease: 0.25,
      backBufferLength: 30,
      manifestLoadingMaxRetry: 2,
      levelLoadingMaxRetry: 4,
      fragLoadingMaxRetry: 4,
      xhrSetup: (xhr) => {
        // The room token goes to the live playlist only (the archive may be on object storage).
        const t = live ? this.opts.token() : "";
        if (t) xhr.setRequestHeader("Authorization", `Bearer ${t}`);
      },
    });
    this.hls = hls;
    hls.on(Hls.Events.LEVEL_UPDATED, (_e, d) => this.onDetails(d.details));
    hls.on(Hls.Events.LEVEL_LOADED, (_e, d) => this.onDetails(d.details));
    hls.on(Hls.Events.ERROR, (_e, d: ErrorData) => this.onError(d));
    hls.attachMedia(this.video);
    hls.loadSource(url);
    this.video.muted = this.video.muted; // keep the page's choice
    void this.video.play().catch(() => {});
  }

  /**
   * Stops and forgets hls.js (the WebRTC video took over, or the show ended). keepShown: a
   * switch between the live playlist and the archive, the video stays where it is on the page.
   */
  stop(keepShown = false): void {
    window.clearTimeout(this.retryTimer);
    this.retryTimer = 0;
    const h = this.hls;
    this.hls = null;
    this.details = null;
    this.shown = false;
    this.rewound = false;
    this.arch = null;
    h?.destroy();
    this.video.removeAttribute("src");
    this.video.load();
    if (!keepShown) this.video.hidden = true;
  }

  /** The rewindable window, in the video's time: [start, liveEdge] (null before the playlist). */
  window(): { start: number; edge: number } | null {
    const d = this.details;
    if (!this.hls || !d || this.arch) return null;
    const edge = this.hls.liveSyncPosition ?? d.edge;
    return { start: d.fragmentStart, edge: Math.max(d.fragmentStart, edge) };
  }

  /** Seconds of the show the live window holds (0 before the playlist). */
  get windowSeconds(): number {
    const w = this.window();
    return w ? Math.max(0, w.edge - w.start) : 0;
  }

  /** Seconds behind the live sync point the picture is (0 before playing). */
  get behindEdge(): number {
    if (this.arch) {
      const t = this.playingDate;
      return t === null || !this.opts.serverNow ? 0 : Math.max(0, (this.opts.serverNow() - t) / 1000);
    }
    const w = this.window();
    if (!w || !this.shown) return 0;
    return Math.max(0, w.edge - this.video.currentTime);
  }

  /** hls.js's distance from the playlist's live edge (s), its own latency figure. */
  get latency(): number {
    return this.hls?.latency ?? 0;
  }

  /** The server time (ms) of the picture on screen, from EXT-X-PROGRAM-DATE-TIME; null before. */
  get playingDate(): number | null {
    if (!this.hls || !this.shown) return null;
    // The archive: its media time from the recording's start (docs/LLHLS.md, "Rewind (DVR)").
    if (this.arch) return this.arch.startMs + this.video.currentTime * 1000;
    const d = this.hls.playingDate;
    return d ? d.getTime() : null;
  }

  /** Plays from backS seconds behind the live edge (clamped to the window). */
  seekBack(backS: number): void {
    if (this.arch) return; // the page moves the archive by startArchive / start
    const w = this.window();
    if (!w) {
      this.pendingBack = backS;
      this.rewound = backS > 0;
      return;
    }
    this.rewound = backS > 0.5;
    const t = Math.max(w.start + 0.1, w.edge - Math.max(0, backS));
    this.video.currentTime = t;
    void this.video.play().catch(() => {});
  }

  /** Back to the live edge. */
  toLive(): void {
    if (this.arch) return; // the page starts the live playlist again (start)
    this.rewound = false;
    const w = this.window();
    if (w) this.video.currentTime = w.edge;
    void this.video.play().catch(() => {});
  }

  private onDetails(d: LevelDetails): void {
    this.details = d;
    if (this.pendingBack > 0 && this.video.readyState >= 1) {
      const back = this.pendingBack;
      this.pendingBack = 0;
      this.seekBack(back);
    }
  }

  /** At live, hls.js speeds up a little to stay near the edge; after a long stall, jump. */
  private catchUp(): void {
    if (!this.hls || this.rewound || !this.shown || this.arch) return;
    if (this.pendingBack > 0 && this.details) {
      const back = this.pendingBack;
      this.pendingBack = 0;
      this.seekBack(back);
      return;
    }
    if (this.behindEdge > CATCH_UP_S) this.toLive();
  }

  private onError(d: ErrorData): void {
    const hls = this.hls;
    if (!hls || !d.fatal) return;
    this.errors++;
    if (d.type === Hls.ErrorTypes.MEDIA_ERROR) {
      hls.recoverMediaError();
      return;
    }
    // No stream yet (404), the node restarting, a proxy hiccup: start over after a while.
    console.warn("relaycast: live HLS:", d.details, d.response?.code ?? "");
    const url = this.url;
    const back = this.rewound ? this.behindEdge : 0;
    const arch = this.arch;
    const at = this.shown ? this.video.currentTime : this.archAt;
    this.stop(arch !== null);
    this.hls = null;
    this.retryTimer = window.setTimeout(() => {
      this.retryTimer = 0;
      if (this.url !== url) return;
      if (arch) this.startArchive(arch, at);
      else this.start(url, back);
    }, this.retryMs);
    this.retryMs = Math.min(RETRY_MAX_MS, this.retryMs * 2);
  }

  /**
   * Called a few times a second: a picture that stopped moving (a stream whose tracks changed
   * under MSE, a lost part) gets a fresh hls.js at the same distance from the live edge.
   */
  watchdog(): void {
    const now = Date.now();
    const v = this.video;
    if (!this.hls || !this.shown || v.paused || v.seeking) {
      this.lastProgress = now;
      this.lastT = v.currentTime;
      return;
    }
    if (v.currentTime !== this.lastT) {
      this.lastT = v.currentTime;
      this.lastProgress = now;
      return;
    }
    if (now - this.lastProgress < STALL_MS) return;
    this.lastProgress = now;
    this.stalls++;
    console.warn("relaycast: the HLS picture froze; starting hls.js again");
    const url = this.url;
    const back = this.rewound ? this.behindEdge : 0;
    const arch = this.arch;
    const at = v.currentTime;
    const muted = v.muted;
    this.stop(arch !== null);
    v.muted = muted;
    if (arch) this.startArchive(arch, at);
    else this.start(url, back);
  }

  /** Whether a retry is scheduled (the page wants HLS but hls.js is not attached). */
  get retrying(): boolean {
    return this.retryTimer !== 0;
  }

  /** Forget the wanted url: no more retries. */
  forget(): void {
    this.url = "";
    this.stop();
  }
}
