// Watch page: /watch/{room}[?token=…][&currency=EUR][&mode=hls]
// Receives a room over the live session (live/session.ts), waits for it when it is not live and
// resumes by itself. When the show ends it says so and links to its recording once it is ready.
// The live room (chat, the lot card with its bid button, reactions, the pinned product) joins
// on the same socket (live/room.ts). A token in `?token=` or `#token=` (the sign-in's return) is
// kept per room in localStorage and removed from the address bar. When WebRTC shows no picture
// within a few seconds the page plays the room's live LL-HLS instead (delayed mode, ~2 s; it
// switches back when WebRTC plays), `?mode=hls` forces it, and the timeline under the video
// rewinds the show (watch/delayed.ts).

import { ROOM_RE, byId, formatBitrate, param, plural, roomFromPath, setRichText } from "./common";
import { type ServerMessage } from "./signal";
import { LiveSession } from "./live/session";
import { watchRecording } from "./live/recording";
import { StatsSampler, type ReceiveStats } from "./stats";
import { ClockReader } from "./clock";
import { QUALITIES, injectQualityStyles, isLayerMessage, qualityLabel, type LayerMessage, type Quality } from "./quality";
import { LiveRoom } from "./live/room";
import { ChatPanel } from "./live/chat";
import { LotCard } from "./live/lot";
import { Reactions } from "./live/reactions";
import { ProductCard } from "./live/product";
import { Money } from "./live/money";
import { Delayed } from "./watch/delayed";
import { authConfig, forgetRoomToken, guestName, loginURL, setGuestName, takeRoomToken, type AuthConfig } from "./live/identity";

type State = "waiting" | "connecting" | "playing" | "ended" | "error";

const room = roomFromPath("/watch/");
const forceHls = param("mode") === "hls";
let token = ROOM_RE.test(room) ? takeRoomToken(room) : param("token");
// The viewer's simulcast choice; `?quality=low` preselects it.
let quality: Quality = (QUALITIES as string[]).includes(param("quality") ?? "") ? (param("quality") as Quality) : "auto";
let layer: LayerMessage | null = null; // what the server says it sends (simulcast rooms only)

const el = {
  roomName: byId("room-name"),
  stage: byId("stage"),
  video: byId<HTMLVideoElement>("video"),
  liveBadge: byId("live-badge"),
  viewerBadge: byId("viewer-badge"),
  overlay: byId("overlay"),
  spinner: byId("spinner"),
  overlayTitle: byId("overlay-title"),
  overlayDetail: byId("overlay-detail"),
  overlayLink: byId<HTMLAnchorElement>("overlay-link"),
  unmute: byId<HTMLButtonElement>("unmute"),
  status: byId("status"),
  mute: byId<HTMLButtonElement>("mute"),
  statsToggle: byId<HTMLButtonElement>("stats-toggle"),
  fullscreen: byId<HTMLButtonElement>("fullscreen"),
  statsPanel: byId("stats-panel"),
  s: {
    bitrate: byId("s-bitrate"),
    resolution: byId("s-resolution"),
    fps: byId("s-fps"),
    rtt: byId("s-rtt"),
    lost: byId("s-lost"),
    jitter: byId("s-jitter"),
    frames: byId("s-frames"),
    codecs: byId("s-codecs"),
  },
};

let state: State = "connecting";
let viewers = 0;
let pc: RTCPeerConnection | null = null;
let sampler = new StatsSampler();
let framesDecoded = 0;
let lastError = "";
let liveSince = ""; // the room's `since` from its last status while live
let stopRecordingWatch: (() => void) | null = null;

const session = new LiveSession(room, "watch", {
  start: () => void watch(),
  teardown: () => closePC(),
  retrying: (text, delay) => {
    lastError = text;
    setState("connecting", `${text}. Reconnecting in ${Math.ceil(delay / 1000)} s…`);
  },
  failed: (text) => fail(text),
  // The node is draining: reconnecting through the same URL at once (another node), no error.
  moving: (text) => setState("connecting", text),
  ended: (text, _was, comingBack) => (comingBack ? onInterrupted(text) : onEnded(text)),
  status: (n, live, since) => {
    viewers = n;
    if (live && since) liveSince = since;
    renderViewers();
  },
});
const signal = session.signal;
for (const t of ["answer", "waiting", "live"]) session.on(t, onMessage);
session.on("layer", onMessage);

// ---- the live room: chat, lot, reactions, product ----
const money = Money.fromPage();
let auth: AuthConfig = { oidc: false, loginPath: "/auth/login" };
const liveRoom = new LiveRoom(session, { token: () => token, name: () => guestName() });
const signInLink = () => (auth.oidc ? { href: loginURL(room, auth), text: "Sign in to bid" } : null);
const roomPanel = byId("room-panel");
const lotMount = byId("room-lot");
const chatMount = byId("room-chat");
const product = new ProductCard(liveRoom, lotMount, money);
const lotCard = new LotCard(liveRoom, lotMount, {
  money,
  bannerMount: el.stage,
  bidding: true,
  signIn: () =>
    signInLink() ?? {
      note: token
        ? "This link doesn't allow bidding. Open the show again from the shop's link to bid."
        : "Bidding needs an account: open this show from the shop's link, which signs you in.",
    },
});
const chat = new ChatPanel(liveRoom, chatMount, {
  onName: (name) => {
    setGuestName(name);
    liveRoom.join();
  },
  signIn: () => (auth.oidc ? { href: loginURL(room, auth), text: "Sign in" } : null),
});
const reactions = new Reactions(liveRoom, chat.bar, el.stage);
liveRoom.onJoined(() => {
  roomPanel.dataset.joined = "1";
  lotCard.render();
});
liveRoom.onError((e) => {
  if (e.code === "bad_request" && !token && guestName()) {
    // The server refused the chosen name: join under the placeholder and ask again.
    setGuestName("");
    chat.notice("That name can't be used in the chat: pick another (letters, digits and spaces, 32 at most).");
    liveRoom.join();
    return;
  }
  if ((e.code === "unauthorized" || e.code === "forbidden") && token) {
    // The stored token was refused (expired, another room): forget it and join as a guest.
    forgetRoomToken(room);
    token = "";
    console.warn("relaycast: the room refused the token:", e.message);
    liveRoom.join();
  }
});
void authConfig().then((c) => {
  auth = c;
  lotCard.render();
});
void product;

// ---- delayed mode (LL-HLS fallback, ?mode=hls, rewind) ----
const delayed = new Delayed({
  room,
  token: () => token,
  stage: el.stage,
  webrtcVideo: el.video,
  barBefore: document.querySelector(".watch-video .toolbar") as HTMLElement,
  liveRoom,
  lotMount,
  forced: forceHls,
  webrtcPlaying: () => !!pc && state === "playing" && !el.video.paused && el.video.readyState >= 2,
  wantsFallback: () => state === "connecting" && session.running,
  changed: () => setState(state, el.overlayDetail.textContent ?? ""),
  ended: () => onEnded(""),
  retryWebRTC: () => {
    if (state !== "connecting" || !session.running || session.retryPending) return;
    session.lastReason = "no picture over WebRTC in delayed mode";
    session.retry("The live connection did not connect");
  },
});
// When each lot/bid event arrived over the socket and when it reached the page (automation: the
// events-by-media-time check compares them with the picture's time).
const eventLog: { seq: number; kind: string; at: number; status: string; received: number; applied: number; media: number | null }[] = [];
session.on("event", (m) => {
  const ev = m as unknown as { seq: number; kind: string; at: number; data?: { status?: string; lot?: { status?: string } } };
  if (ev.kind !== "lot" && ev.kind !== "bid") return;
  if (eventLog.length > 500 || eventLog.some((e) => e.seq === ev.seq)) return;
  eventLog.push({ seq: ev.seq, kind: ev.kind, at: ev.at, status: ev.data?.status ?? ev.data?.lot?.status ?? "", received: Date.now(), applied: 0, media: null });
});
for (const kind of ["lot", "bid"]) {
  liveRoom.on(kind, (_d, ev) => {
    const e = eventLog.find((x) => x.seq === ev.seq);
    if (e && !e.applied) {
      e.applied = Date.now();
      e.media = delayed.hls.playingDate;
    }
  });
}

// ---- automation hook ----
declare global {
  interface Window {
    relaycast: unknown;
  }
}
window.relaycast = {
  get state(): State {
    return state;
  },
  get pc(): RTCPeerConnection | null {
    return pc;
  },
  get viewers(): number {
    return viewers;
  },
  get error(): string {
    return lastError;
  },
  /** Simulcast: the layer being received ("high" | "medium" | "low"; "" without simulcast or while none). */
  get layer(): string {
    return layer?.layer ?? "";
  },
  get quality(): Quality {
    return quality;
  },
  get audioOnly(): boolean {
    return layer?.audio_only ?? false;
  },
  /** Picks a quality as the menu does. */
  setQuality: (q: Quality) => chooseQuality(q),
  /** Video frames decoded by the current peer connection (sampled from getStats twice a second). */
  framesDecoded: (): number => framesDecoded,
  /** After the show ended: its recording's link ("" until ready) and what is known of it. */
  get recordingLink(): string {
    return el.overlayLink.hidden ? "" : el.overlayLink.getAttribute("href") ?? "";
  },
  get liveSince(): string {
    return liveSince;
  },
  /** Delayed mode: what is on screen and the HLS player's figures. */
  hls: {
    get shown(): string {
      return delayed.shown;
    },
    get reason(): string {
      return delayed.reason;
    },
    get active(): boolean {
      return delayed.hls.active;
    },
    get playing(): boolean {
      return delayed.hls.playing;
    },
    get currentTime(): number {
      return delayed.hls.video.currentTime;
    },
    /** Seconds behind the live sync point; hls.js's own latency figure. */
    get behindEdge(): number {
      return delayed.hls.behindEdge;
    },
    get latency(): number {
      return delayed.hls.latency;
    },
    get rewound(): boolean {
      return delayed.hls.rewound;
    },
    get windowSeconds(): number {
      return delayed.hls.windowSeconds;
    },
    /** Rewind (DVR): "live" (the live playlist), "archive" (the show's recording) or "" (no HLS). */
    get source(): string {
      return delayed.source;
    },
    /** The recording's playlist the page rewinds into ("" when the room is not recorded). */
    get archiveUrl(): string {
      return delayed.archiveUrl;
    },
    /** Seconds the timeline spans (the whole show when recorded, else the live window). */
    get showSeconds(): number {
      return delayed.showSeconds;
    },
    /** Server time (ms) of the picture on screen (EXT-X-PROGRAM-DATE-TIME); null on WebRTC. */
    get playingDate(): number | null {
      return delayed.hls.playingDate;
    },
    /** ms behind live by the server clock (what the bid button says). */
    get behindMs(): number {
      return delayed.behindMs;
    },
    get times() {
      return { ...delayed.times };
    },
    get switchesBack(): number {
      return delayed.switchesBack;
    },
    get webrtcRetries(): number {
      return delayed.webrtcRetries;
    },
    get errors(): number {
      return delayed.hls.errors;
    },
    get stalls(): number {
      return delayed.hls.stalls;
    },
    get held(): number {
      return liveRoom.heldCount;
    },
    get events() {
      return eventLog.map((e) => ({ ...e }));
    },
    /** Frames the HLS video presented (the media element's own count). */
    frames: (): number => delayed.hls.video.getVideoPlaybackQuality?.().totalVideoFrames ?? 0,
    rewind: (s: number) => delayed.rewind(s),
    toLive: () => delayed.toLive(),
  },
  /** The live room (chat, lots) as this page sees it. */
  live: {
    get joined(): boolean {
      return liveRoom.joined;
    },
    get seq(): number {
      return liveRoom.seq;
    },
    /** Joins answered on this page, and whether the last one resumed after a reconnect. */
    get joins(): number {
      return liveRoom.joins;
    },
    get resumed(): boolean {
      return liveRoom.resumed;
    },
    get you() {
      return liveRoom.you;
    },
    get lot() {
      return liveRoom.lot;
    },
    get offset(): number {
      return liveRoom.offset;
    },
    get messages() {
      return chat.messages;
    },
    get hearts(): number {
      return reactions.total;
    },
    remaining: (): number => liveRoom.remaining(liveRoom.lot),
  },
  /** Loadtest: glass-to-glass delays (ms) read from a `source=clock` broadcast since the last call. */
  readClock: (): number[] => {
    clockReader ??= new ClockReader(el.video);
    if (!hlsClockReader || hlsClockGen !== delayed.hls.generation) {
      // A new hls.js reloads the element, which drops its pending frame callbacks.
      hlsClockReader = new ClockReader(delayed.hls.video);
      hlsClockGen = delayed.hls.generation;
    }
    const a = clockReader.drain();
    const b = hlsClockReader.drain();
    return delayed.showing ? b : a;
  },
};
let clockReader: ClockReader | null = null;
let hlsClockReader: ClockReader | null = null;
let hlsClockGen = 0;

// ---- UI ----
function setState(next: State, detail = ""): void {
  state = next;
  document.body.dataset.state = next;
  const overlay: Record<State, [string, boolean]> = {
    connecting: ["Connecting…", true],
    waiting: ["Waiting for the broadcast to start", true],
    ended: ["The show has ended", false],
    error: ["Can't play this broadcast", false],
    playing: ["", false],
  };
  const [title, spin] = overlay[next];
  // Delayed mode shows pictures while WebRTC is (re)connecting in the background.
  const hlsShown = delayed.showing && next !== "ended" && next !== "error";
  el.overlay.hidden = next === "playing" || hlsShown;
  el.overlayTitle.textContent = title;
  setRichText(el.overlayDetail, detail);
  el.spinner.hidden = !spin;
  if (next !== "ended") showRecordingLink(null);
  el.liveBadge.textContent = next === "playing" ? "Live" : next === "error" ? "Error" : next === "connecting" ? "Connecting" : "Offline";
  el.liveBadge.classList.toggle("badge-live", next === "playing");
  el.liveBadge.classList.toggle("badge-error", next === "error");
  el.liveBadge.hidden = hlsShown && next !== "playing";
  el.status.textContent =
    next === "playing" && !hlsShown
      ? "Playing live"
      : hlsShown
        ? forceHls
          ? "Playing the HLS stream (delayed mode)"
          : "Delayed mode: WebRTC could not connect, playing the HLS stream. Trying WebRTC again in the background."
        : next === "error"
          ? detail || title
          : title;
  delayed.render();
  renderViewers();
}

function renderViewers(): void {
  el.viewerBadge.hidden = state !== "playing" || delayed.showing; // HLS viewers are not in the room's WebRTC count
  el.viewerBadge.textContent = plural(viewers, "viewer", "viewers");
}

// ---- watching ----
async function watch(): Promise<void> {
  session.endRequest(true);
  setState("connecting");
  delayed.armFallback();

  const myPc = new RTCPeerConnection({ bundlePolicy: "max-bundle", iceServers: signal.iceServers });
  pc = myPc;
  sampler = new StatsSampler();
  framesDecoded = 0;
  myPc.addTransceiver("audio", { direction: "recvonly" });
  myPc.addTransceiver("video", { direction: "recvonly" });

  const stream = new MediaStream();
  let started = false;
  myPc.ontrack = (ev) => {
    if (pc !== myPc) return;
    stream.addTrack(ev.track);
    if (!started) {
      started = true;
      el.video.srcObject = stream;
      void tryPlay();
    }
  };

  const pending: (RTCIceCandidateInit | null)[] = [];
  let offerSent = false;
  myPc.onicecandidate = (ev) => {
    if (pc !== myPc) return;
    if (ev.candidate && !ev.candidate.candidate) return;
    const c = ev.candidate ? ev.candidate.toJSON() : null;
    if (offerSent) {
      if (session.active) session.send({ type: "candidate", candidate: c });
    } else pending.push(c);
  };
  session.watchPeer(myPc, (s) => {
    if (pc === myPc && s === "connected" && !el.video.paused && el.video.readyState >= 2) setState("playing");
  });

  try {
    await myPc.setLocalDescription(await myPc.createOffer());
  } catch (e) {
    fail(`This browser could not create an offer: ${e instanceof Error ? e.message : e}`);
    return;
  }
  if (pc !== myPc) return;
  const watchMsg = {
    type: "watch" as const,
    room,
    sdp: myPc.localDescription?.sdp ?? "",
    ...(token ? { token } : {}),
    ...(quality !== "auto" ? { quality } : {}),
  };
  if (!session.request(watchMsg as Parameters<typeof session.request>[0])) return;
  offerSent = true;
  for (const c of pending) session.send({ type: "candidate", candidate: c });
}

async function tryPlay(): Promise<void> {
  const v = el.video;
  if (delayed.showing) {
    // The HLS picture is on screen: the WebRTC video starts quietly underneath.
    v.muted = true;
    await v.play().catch(() => {});
    return;
  }
  try {
    v.muted = false;
    await v.play();
    el.unmute.hidden = true;
  } catch (e) {
    if (!(e instanceof DOMException) || e.name !== "NotAllowedError") return; // AbortError: a newer source
    v.muted = true;
    el.unmute.hidden = false;
    try {
      await v.play();
    } catch {
      /* nothing more to try; the Unmute click will call play() */
    }
  }
  renderMute();
}

function onMessage(msg: ServerMessage): void {
  switch (msg.type) {
    case "answer": {
      const myPc = pc;
      if (!myPc || myPc.signalingState !== "have-local-offer") return;
      myPc.setRemoteDescription({ type: "answer", sdp: msg.sdp }).catch((e) => {
        if (pc !== myPc) return;
        session.lastReason = `the server's answer was not usable: ${e instanceof Error ? e.message : e}`;
        session.retry("The server's answer could not be used");
      });
      break;
    }
    case "waiting":
      // The server did not use our offer; it tells us with `live` when to send a new one.
      session.released();
      closePC();
      delayed.stop();
      setState("waiting", "This page starts playing by itself when the broadcast begins.");
      break;
    case "live":
      if (state === "waiting" || state === "ended" || !pc) {
        window.clearTimeout(comingBackTimer);
        session.run();
      }
      break;
    default: {
      const m = msg as { type: string };
      if (isLayerMessage(m)) {
        layer = m;
        renderQuality();
      }
      break;
    }
  }
}

// ---- simulcast quality ----
const quality$ = buildQualityMenu();

function buildQualityMenu() {
  injectQualityStyles();
  const box = document.createElement("label");
  box.className = "quality";
  box.hidden = true;
  const text = document.createElement("span");
  text.className = "quality-label";
  text.textContent = "Quality";
  const select = document.createElement("select");
  select.className = "select";
  select.id = "quality";
  for (const q of QUALITIES) select.append(new Option(qualityLabel(q), q, false, q === quality));
  select.addEventListener("change", () => chooseQuality(select.value as Quality));
  box.append(text, select);
  document.querySelector(".toolbar-actions")?.prepend(box);

  const badge = document.createElement("span");
  badge.className = "badge badge-audio-only";
  badge.id = "audio-only-badge";
  badge.textContent = "Audio only";
  badge.hidden = true;
  document.querySelector(".stage-badges")?.append(badge);

  const note = document.createElement("p");
  note.className = "stage-audio-only";
  note.setAttribute("role", "status");
  note.textContent = "The connection is too slow for video: playing sound only. Video comes back when it improves.";
  note.hidden = true;
  el.stage.append(note);
  return { box, select, badge, note };
}

function chooseQuality(q: Quality): void {
  if (!QUALITIES.includes(q)) return;
  quality = q;
  if (session.active) session.send({ type: "quality", quality: q } as unknown as Parameters<typeof signal.send>[0]);
  renderQuality();
}

function renderQuality(): void {
  const { box, select, badge, note } = quality$;
  box.hidden = !layer;
  const showing = layer?.layer ?? "";
  for (const opt of Array.from(select.options)) {
    const q = opt.value as Quality;
    let label = qualityLabel(q);
    if (q === "auto" && showing) label += ` (${qualityLabel(showing)})`;
    else if (q === quality && showing && showing !== q) label += ` (showing ${qualityLabel(showing)})`;
    opt.textContent = label;
  }
  if (select.value !== quality) select.value = quality;
  box.dataset.layer = showing;
  box.title = showing ? `Receiving the ${showing} layer` : "";
  const audioOnly = !!layer?.audio_only;
  badge.hidden = !audioOnly;
  note.hidden = !audioOnly;
}

function fail(text: string): void {
  console.warn("relaycast:", text);
  lastError = text;
  session.stop();
  setState("error", text);
}

/** How long the page waits for an interrupted show to come back before it says it ended. */
const COMING_BACK_MS = 12_000;
const ASK_AGAIN_MS = 1_000;
let comingBackTimer = 0;
let askAgainTimer = 0;

/**
 * The show is not over but this node lost it (a cluster edge's origin died): the socket hears
 * `live` as soon as another node serves it and the page plays again; until then it reconnects,
 * and only if nothing comes back does it say the show ended.
 */
function onInterrupted(text: string): void {
  closePC();
  setState("connecting", `${text ? `${text} ` : ""}Reconnecting…`);
  window.clearTimeout(comingBackTimer);
  window.clearTimeout(askAgainTimer);
  // Ask again shortly (the node may serve the show again already: its pull restarted, or the
  // seller came back to the same server); otherwise `live` comes when another node has it.
  askAgainTimer = window.setTimeout(() => {
    if (state === "connecting" && !pc) session.run();
  }, ASK_AGAIN_MS);
  comingBackTimer = window.setTimeout(() => {
    if (state === "connecting" && !pc) onEnded("");
  }, COMING_BACK_MS);
}

/** The show ended: say so (no spinner), then link to its recording once it is ready. */
function onEnded(text: string): void {
  window.clearTimeout(comingBackTimer);
  window.clearTimeout(askAgainTimer);
  closePC();
  delayed.stop();
  viewers = 0;
  setState("ended", `${text ? `${text} ` : ""}This page plays again by itself if the broadcast restarts.`);
  stopRecordingWatch?.();
  stopRecordingWatch = watchRecording(room, liveSince, (link) => {
    if (state === "ended") showRecordingLink(link);
  });
}

function showRecordingLink(link: { href: string; text: string; note: string } | null): void {
  if (!link) {
    stopRecordingWatch?.();
    stopRecordingWatch = null;
  }
  el.overlayLink.hidden = !link?.href;
  if (link?.href) {
    el.overlayLink.href = link.href;
    el.overlayLink.textContent = link.text;
  }
  el.overlay.dataset.recording = link ? (link.href ? "ready" : "pending") : "";
  const note = el.overlay.querySelector<HTMLElement>(".overlay-note");
  if (note) {
    note.textContent = link?.note ?? "";
    note.hidden = !link?.note;
  }
}

function closePC(): void {
  const old = pc;
  pc = null;
  framesDecoded = 0;
  if (old) {
    old.ontrack = old.onicecandidate = old.onconnectionstatechange = null;
    old.close();
  }
  el.video.srcObject = null;
  el.unmute.hidden = true;
  layer = null;
  renderQuality();
}

// ---- controls ----
/** The video the viewer sees and hears (the HLS one in delayed mode). */
function shownVideo(): HTMLVideoElement {
  return delayed.showing ? delayed.hls.video : el.video;
}

function renderMute(): void {
  const muted = shownVideo().muted;
  el.mute.textContent = muted ? "Unmute" : "Mute";
  el.mute.setAttribute("aria-pressed", String(muted));
  if (!muted) el.unmute.hidden = true;
}

function setMuted(muted: boolean): void {
  const v = shownVideo();
  v.muted = muted;
  if (!muted) void v.play().catch(() => {});
  renderMute();
}

function toggleFullscreen(): void {
  if (document.fullscreenElement) {
    void document.exitFullscreen();
    return;
  }
  if (el.stage.requestFullscreen) {
    el.stage.requestFullscreen().catch(() => {});
    return;
  }
  // iOS Safari only lets the video element itself go fullscreen.
  const v = el.video as HTMLVideoElement & { webkitEnterFullscreen?: () => void };
  v.webkitEnterFullscreen?.();
}

function renderStats(s: ReceiveStats): void {
  const lossPct = s.packetsLost + s.packetsReceived > 0 ? (100 * s.packetsLost) / (s.packetsLost + s.packetsReceived) : 0;
  el.s.bitrate.textContent = formatBitrate(s.bitrate);
  el.s.resolution.textContent = s.width ? `${s.width}×${s.height}` : "—";
  el.s.fps.textContent = s.fps ? `${Math.round(s.fps)} fps` : "—";
  el.s.rtt.textContent = s.rttMs === null ? "—" : `${Math.round(s.rttMs)} ms`;
  el.s.lost.textContent = `${s.packetsLost} (${lossPct.toFixed(1)}%)`;
  el.s.jitter.textContent = s.jitterBufferMs === null ? "—" : `${Math.round(s.jitterBufferMs)} ms`;
  el.s.frames.textContent = String(s.framesDecoded);
  el.s.codecs.textContent = s.codecs.length ? s.codecs.join(", ") : "—";
}

function clearStats(): void {
  for (const dd of Object.values(el.s)) dd.textContent = "—";
}

let tick = 0;
window.setInterval(async () => {
  const myPc = pc;
  tick++;
  if (!myPc) {
    if (!el.statsPanel.hidden) clearStats();
    return;
  }
  try {
    // Sample twice a second for framesDecoded(); the panel shows every other sample.
    const s = await sampler.sample(myPc);
    if (pc !== myPc) return;
    framesDecoded = s.framesDecoded;
    if (!el.statsPanel.hidden && tick % 2 === 0) renderStats(s);
  } catch {
    /* pc closed mid-call */
  }
}, 500);

el.video.addEventListener("playing", () => {
  if (pc && (state === "connecting" || state === "waiting" || state === "ended")) {
    lastError = "";
    setState("playing");
  }
  if (pc) delayed.webrtcStarted();
});
delayed.hls.video.addEventListener("volumechange", renderMute);
// Browsers pause a muted-autoplaying video that is unmuted without a user gesture:
// fall back to muted playback (and the Unmute button) instead of a frozen picture.
el.video.addEventListener("pause", () => {
  if (pc && el.video.srcObject) void tryPlay();
});
el.video.addEventListener("volumechange", renderMute);
el.video.addEventListener("dblclick", toggleFullscreen);
el.unmute.addEventListener("click", () => setMuted(false));
el.mute.addEventListener("click", () => setMuted(!el.video.muted));
el.fullscreen.addEventListener("click", toggleFullscreen);
document.addEventListener("fullscreenchange", () => {
  el.fullscreen.textContent = document.fullscreenElement ? "Exit fullscreen" : "Fullscreen";
});
el.statsToggle.addEventListener("click", () => {
  const open = el.statsPanel.hidden;
  el.statsPanel.hidden = !open;
  el.statsToggle.setAttribute("aria-expanded", String(open));
});
document.addEventListener("keydown", (ev) => {
  if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
  const t = ev.target as HTMLElement | null;
  if (t && (t.tagName === "INPUT" || t.tagName === "TEXTAREA" || t.tagName === "SELECT")) return;
  if (ev.key === "f") toggleFullscreen();
  else if (ev.key === "m") setMuted(!el.video.muted);
});

// ---- start ----
el.roomName.textContent = room || "(no room)";
document.title = `${room} · live on relaycast`;
renderMute();
if (!ROOM_RE.test(room)) {
  fail(`"${room}" is not a valid room name.`);
} else if (forceHls) {
  // HLS only: the live room (chat, lots) still joins over the socket; no WebRTC request.
  setState("connecting", "Delayed mode: loading the HLS stream…");
  liveRoom.start();
  delayed.startForced();
} else if (typeof RTCPeerConnection === "undefined") {
  // No WebRTC at all: the HLS stream is the way to watch.
  setState("connecting", "Delayed mode: loading the HLS stream…");
  liveRoom.start();
  delayed.startForced();
} else {
  setState("connecting");
  liveRoom.start();
  session.run();
}
