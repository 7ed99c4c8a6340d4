// Broadcast page: /broadcast/{room}?token=…[&autostart=1][&currency=EUR]
// Captures camera (or screen) + microphone and publishes them over the live session
// (live/session.ts: /ws, reconnect with backoff); shows how long it has been live and copies the
// viewers' link. Beside the preview: the live room's chat (with moderation) and the seller's
// console (lots, bids, the pinned product; live/studio.ts), joined on the same socket before and
// while live.

import {
  ROOM_RE,
  byId,
  formatBitrate,
  param,
  plural,
  roomFromPath,
  setRichText,
  setStatus,
  toneForPeer,
} from "./common";
import {
  MicMeter,
  VIDEO_MAX_BITRATE,
  VIDEO_MAX_FRAMERATE,
  cameraConstraints,
  describeMediaError,
  fillDeviceSelect,
  mediaSupported,
  micConstraints,
} from "./media";
import { type ServerMessage } from "./signal";
import { LiveSession, formatElapsed } from "./live/session";
import { clockTrack } from "./clock";
import { DEFAULT_REFRESH_ROWS, noiseTrack } from "./noise";
import { simulcastEncodings } from "./quality";
import { LiveRoom } from "./live/room";
import { ChatPanel } from "./live/chat";
import { StudioPanel, consoleHooks } from "./live/studio";
import { Money } from "./live/money";

type State = "idle" | "connecting" | "live" | "reconnecting" | "error";
type Source = "camera" | "screen";

const room = roomFromPath("/broadcast/");
const token = param("token");
const autostart = param("autostart") === "1";
// `&source=clock` (loadtest): publish a canvas painting the current time instead of the camera.
const clockSource = param("source") === "clock";
// `&source=noise` (loadtest): a 1280×720 canvas of noise under the same clock strip, so the
// encoder can spend its whole target (three simulcast layers like a camera of that size).
const noiseSource = param("source") === "noise";
// Simulcast (three layers when the capture is at least 640 px wide) unless `&simulcast=0`; the
// loadtest's clock source stays one full-resolution layer so its strip stays readable.
const simulcast = param("simulcast") !== "0" && !clockSource;
// `&svc=1`: instead of simulcast, one VP9 stream with three spatial layers (L3T3_KEY) when the
// browser can encode it (the server forwards each viewer the layers it chose); else as without.
const svcWanted = param("svc") === "1" && !clockSource;
const SVC_MODE = "L3T3_KEY";
/** The SVC stream's cap: the three simulcast layers' caps together. */
const SVC_MAX_BITRATE = 2_150_000;

// ---- elements ----
const el = {
  roomName: byId("room-name"),
  notice: byId("notice"),
  preview: byId<HTMLVideoElement>("preview"),
  overlay: byId("preview-overlay"),
  enableMedia: byId<HTMLButtonElement>("enable-media"),
  liveBadge: byId("live-badge"),
  viewerBadge: byId("viewer-badge"),
  sending: byId("sending"),
  sourceCamera: byId<HTMLInputElement>("source-camera"),
  sourceScreen: byId<HTMLInputElement>("source-screen"),
  cameraSelect: byId<HTMLSelectElement>("camera-select"),
  micSelect: byId<HTMLSelectElement>("mic-select"),
  goLive: byId<HTMLButtonElement>("go-live"),
  stop: byId<HTMLButtonElement>("stop"),
  error: byId("error"),
  stState: byId("st-state"),
  stViewers: byId("st-viewers"),
  stWs: byId("st-ws"),
  stPc: byId("st-pc"),
  stIce: byId("st-ice"),
  liveRegion: byId("live-region"),
  meter: byId("mic-meter"),
  elapsed: byId("elapsed-badge"),
  stElapsed: byId("st-elapsed"),
  viewerLink: byId<HTMLInputElement>("viewer-link"),
  copyLink: byId<HTMLButtonElement>("copy-link"),
  copyStatus: byId("copy-status"),
};

// ---- state ----
let state: State = "idle";
let viewers = 0;
let pc: RTCPeerConnection | null = null;
let lastError = "";
let errorLocked = false; // a fatal error is on screen; later errors only go to the console
let wantLive = false;
let wasLive = false; // live at least once since Go live: a drop is "reconnecting"
let liveSince = 0; // Date.now() when this broadcast first went live (0: not live)

let source: Source = "camera";
let videoTrack: MediaStreamTrack | null = null;
let audioTrack: MediaStreamTrack | null = null;
let videoSender: RTCRtpSender | null = null;
let audioSender: RTCRtpSender | null = null;
let videoEncodings: RTCRtpEncodingParameters[] = [];
let svcMode = ""; // the VP9 scalability mode being sent (`&svc=1`), "" otherwise
let svcRefused = false; // the browser refused it: publish as without `&svc=1`
const localStream = new MediaStream();
const meter = new MicMeter(el.meter);

const session = new LiveSession(room, "publish", {
  start: () => void publish(),
  teardown: () => closePC(),
  retrying: (text, delay) => {
    setState(wasLive ? "reconnecting" : "connecting");
    const what = wasLive ? "You are not live right now: reconnecting" : "Connecting";
    showNotice(`${text}. ${what} in ${Math.ceil(delay / 1000)} s…`);
    announce(wasLive ? "Reconnecting to the server…" : "Connecting…");
  },
  // The node is draining: publishing again at once through the same URL (another node takes the
  // room over: same token subject); the camera, the live timer and the recording go on.
  moving: (text) => {
    setState(wasLive ? "reconnecting" : "connecting");
    showNotice(text);
    announce(wasLive ? "Moving the broadcast to another server…" : "Connecting…");
  },
  failed: (text) => {
    wantLive = false;
    showError(text, true);
    setState("error");
  },
  ended: (text, wasActive) => {
    if (!wasActive || !wantLive) return;
    wantLive = false;
    session.stop();
    endLive();
    showNotice(text || "The broadcast was ended.");
    setState("idle");
  },
  status: (n) => {
    viewers = n;
    render();
  },
  socket: () => render(),
});
const signal = session.signal;
session.on("answer", onMessage);

// ---- the live room: chat and the seller's console ----
const money = Money.fromPage();
const liveRoom = new LiveRoom(session, { token: () => token });
const studio = new StudioPanel(liveRoom, byId("studio-panel"), { money, token: () => token, bannerMount: byId("stage") });
const chat = new ChatPanel(liveRoom, byId("seller-chat"), { title: "Chat" });

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
  get viewers(): number {
    return viewers;
  },
  get pc(): RTCPeerConnection | null {
    return pc;
  },
  get error(): string {
    return lastError;
  },
  /** The VP9 scalability mode sent with `&svc=1` ("" when not SVC). */
  get svc(): string {
    return svcMode;
  },
  /** The video encodings sent: their rids (empty strings for one plain encoding). */
  get layers(): string[] {
    return videoEncodings.map((e) => e.rid ?? "");
  },
  start: () => goLive(),
  stop: () => stopLive(),
  /** The live room as the seller's console sees it. */
  live: consoleHooks(liveRoom, chat),
};
void studio;

// ---- UI ----
function setState(next: State): void {
  state = next;
  document.body.dataset.state = next;
  render();
}

function render(): void {
  const live = state === "live";
  el.liveBadge.textContent =
    state === "live"
      ? "Live"
      : state === "connecting"
        ? "Connecting…"
        : state === "reconnecting"
          ? "Reconnecting…"
          : state === "error"
            ? "Error"
            : "Offline";
  el.liveBadge.classList.toggle("badge-live", live);
  el.liveBadge.classList.toggle("badge-error", state === "error");
  el.viewerBadge.hidden = !live;
  el.viewerBadge.textContent = `${plural(viewers, "viewer", "viewers")}`;

  el.goLive.disabled = wantLive;
  el.stop.disabled = !wantLive;
  el.goLive.textContent = state === "error" ? "Try again" : "Go live";

  const stateText: Record<State, string> = {
    idle: "Not live",
    connecting: "Connecting…",
    live: "Live",
    reconnecting: "Reconnecting to the server…",
    error: "Stopped by an error",
  };
  const busy = state === "connecting" || state === "reconnecting";
  setStatus(el.stState, stateText[state], live ? "ok" : busy ? "warn" : state === "error" ? "bad" : "idle");
  renderElapsed();
  setStatus(el.stViewers, live ? String(viewers) : "—", live ? "ok" : "idle");
  setStatus(el.stWs, signal.state, toneForPeer(signal.state));
  setStatus(el.stPc, pc ? pc.connectionState : "none", pc ? toneForPeer(pc.connectionState) : "idle");
  setStatus(el.stIce, pc ? pc.iceConnectionState : "none", pc ? toneForPeer(pc.iceConnectionState) : "idle");

  const hasMedia = !!(videoTrack || audioTrack);
  el.overlay.hidden = hasMedia;
  el.cameraSelect.disabled = !hasMedia || source !== "camera";
  el.micSelect.disabled = !hasMedia;
}

function renderElapsed(): void {
  const text = liveSince ? formatElapsed(Date.now() - liveSince) : "";
  el.elapsed.hidden = !liveSince || state !== "live";
  el.elapsed.textContent = text;
  el.elapsed.setAttribute("aria-label", text ? `Live for ${text}` : "");
  setStatus(el.stElapsed, liveSince ? text : "—", liveSince ? (state === "live" ? "ok" : "warn") : "idle");
}

function endLive(): void {
  wasLive = false;
  liveSince = 0;
  viewers = 0;
}

function announce(text: string): void {
  el.liveRegion.textContent = text;
}

function showError(text: string, fatal: boolean): void {
  console.warn("relaycast:", text);
  if (errorLocked) return;
  lastError = text;
  errorLocked = fatal;
  setRichText(el.error, text);
  el.error.hidden = false;
  if (fatal) el.error.scrollIntoView({ block: "nearest" });
}

function clearError(): void {
  errorLocked = false;
  lastError = "";
  el.error.hidden = true;
  el.error.textContent = "";
}

function showNotice(text: string): void {
  setRichText(el.notice, text);
  el.notice.hidden = !text;
}

// ---- media ----
function setVideoTrack(track: MediaStreamTrack | null): void {
  if (videoTrack && videoTrack !== track) {
    videoTrack.onended = null;
    videoTrack.stop();
    localStream.removeTrack(videoTrack);
  }
  videoTrack = track;
  if (track) {
    track.contentHint = source === "screen" ? "detail" : "motion";
    localStream.addTrack(track);
    track.onended = () => {
      if (videoTrack !== track) return;
      if (source === "screen") {
        announce("Screen sharing stopped; switching back to the camera.");
        void switchSource("camera");
      } else {
        showError("The camera stopped (unplugged or taken by another app). Pick a camera to continue.", false);
      }
    };
  }
  if (videoSender) void videoSender.replaceTrack(track).catch((e) => console.warn("replaceTrack video", e));
  updatePreview();
  render();
}

function setAudioTrack(track: MediaStreamTrack | null): void {
  if (audioTrack && audioTrack !== track) {
    audioTrack.stop();
    localStream.removeTrack(audioTrack);
  }
  audioTrack = track;
  if (track) localStream.addTrack(track);
  if (audioSender) void audioSender.replaceTrack(track).catch((e) => console.warn("replaceTrack audio", e));
  meter.attach(track);
  updatePreview();
  render();
}

function updatePreview(): void {
  // A <video> showing a stream without tracks delays the page's load event forever.
  const want = localStream.getTracks().length ? localStream : null;
  if (el.preview.srcObject !== want) el.preview.srcObject = want;
}

async function getScreen(): Promise<MediaStreamTrack> {
  const s = await navigator.mediaDevices.getDisplayMedia({
    video: { frameRate: { ideal: 30, max: 30 }, width: { max: 1920 }, height: { max: 1080 } },
    audio: false,
  });
  const t = s.getVideoTracks()[0];
  if (!t) throw new DOMException("no screen track", "NotFoundError");
  return t;
}

/** Gets capture tracks if there are none yet. Throws a human message. */
async function ensureMedia(): Promise<void> {
  if (videoTrack || audioTrack) return;
  const unsupported = mediaSupported();
  if (unsupported) throw new Error(unsupported);

  if (clockSource || noiseSource) {
    setVideoTrack(noiseSource ? noiseTrack(Number(param("noise") || DEFAULT_REFRESH_ROWS)) : clockTrack());
    try {
      const a = await navigator.mediaDevices.getUserMedia({ audio: micConstraints(el.micSelect.value) });
      setAudioTrack(a.getAudioTracks()[0] ?? null);
    } catch {
      /* the clock needs no sound */
    }
    return;
  }

  if (source === "screen") {
    try {
      setVideoTrack(await getScreen());
    } catch (e) {
      throw new Error(describeMediaError(e, "screen"));
    }
    try {
      const a = await navigator.mediaDevices.getUserMedia({ audio: micConstraints(el.micSelect.value) });
      setAudioTrack(a.getAudioTracks()[0] ?? null);
    } catch (e) {
      showNotice(describeMediaError(e, "microphone") + " Going live without sound.");
    }
  } else {
    let stream: MediaStream | null = null;
    let firstErr: unknown = null;
    try {
      stream = await navigator.mediaDevices.getUserMedia({
        video: cameraConstraints(el.cameraSelect.value),
        audio: micConstraints(el.micSelect.value),
      });
    } catch (e) {
      firstErr = e;
    }
    if (!stream && !(firstErr instanceof DOMException && firstErr.name === "NotAllowedError")) {
      // Maybe only one of the two exists: try each alone.
      for (const c of [{ video: cameraConstraints("") }, { audio: micConstraints("") }]) {
        try {
          stream = await navigator.mediaDevices.getUserMedia(c);
          showNotice(
            c.video ? "No microphone found: going live without sound." : "No camera found: going live with sound only.",
          );
          break;
        } catch {
          /* try the next */
        }
      }
    }
    if (!stream) throw new Error(describeMediaError(firstErr, "camera and microphone"));
    setVideoTrack(stream.getVideoTracks()[0] ?? null);
    setAudioTrack(stream.getAudioTracks()[0] ?? null);
  }
  await refreshDevices();
}

async function refreshDevices(): Promise<void> {
  if (!navigator.mediaDevices?.enumerateDevices) return;
  const devices = await navigator.mediaDevices.enumerateDevices();
  const camId = (source === "camera" && videoTrack?.getSettings().deviceId) || el.cameraSelect.value;
  const micId = audioTrack?.getSettings().deviceId ?? el.micSelect.value;
  fillDeviceSelect(el.cameraSelect, devices, "videoinput", "Camera", camId);
  fillDeviceSelect(el.micSelect, devices, "audioinput", "Microphone", micId);
  render();
}

async function switchSource(next: Source): Promise<void> {
  el.sourceCamera.checked = next === "camera";
  el.sourceScreen.checked = next === "screen";
  if (next === source && videoTrack) return;
  if (!videoTrack && !audioTrack) {
    source = next; // nothing captured yet; applies on "Turn on camera" / "Go live"
    render();
    return;
  }
  try {
    if (next === "screen") {
      const t = await getScreen(); // keep the camera until the user picked a screen
      source = "screen";
      setVideoTrack(t);
    } else {
      source = "camera";
      setVideoTrack(null); // release before reopening: some devices allow one open at a time
      const s = await navigator.mediaDevices.getUserMedia({ video: cameraConstraints(el.cameraSelect.value) });
      setVideoTrack(s.getVideoTracks()[0] ?? null);
    }
  } catch (e) {
    showNotice(describeMediaError(e, next === "screen" ? "screen" : "camera"));
    el.sourceCamera.checked = source === "camera";
    el.sourceScreen.checked = source === "screen";
  }
  render();
}

async function changeCamera(): Promise<void> {
  if (source !== "camera" || !(videoTrack || audioTrack)) return;
  try {
    setVideoTrack(null);
    const s = await navigator.mediaDevices.getUserMedia({ video: cameraConstraints(el.cameraSelect.value) });
    setVideoTrack(s.getVideoTracks()[0] ?? null);
  } catch (e) {
    showNotice(describeMediaError(e, "camera"));
  }
}

async function changeMic(): Promise<void> {
  if (!(videoTrack || audioTrack)) return;
  try {
    const s = await navigator.mediaDevices.getUserMedia({ audio: micConstraints(el.micSelect.value) });
    setAudioTrack(s.getAudioTracks()[0] ?? null);
  } catch (e) {
    showNotice(describeMediaError(e, "microphone"));
  }
}

// ---- publishing ----
async function goLive(): Promise<void> {
  if (wantLive) return;
  clearError();
  if (!ROOM_RE.test(room)) {
    showError(`"${room}" is not a valid room name.`, true);
    setState("error");
    return;
  }
  wantLive = true;
  meter.resume();
  setState("connecting");
  try {
    await ensureMedia();
  } catch (e) {
    wantLive = false;
    showError(e instanceof Error ? e.message : String(e), true);
    setState("error");
    return;
  }
  if (!wantLive) return; // stopped while waiting for permission
  attempt();
}

function attempt(): void {
  if (!wantLive) return;
  setState("connecting");
  session.run();
}

async function publish(): Promise<void> {
  closePC();
  const myPc = new RTCPeerConnection({ bundlePolicy: "max-bundle", iceServers: signal.iceServers });
  pc = myPc;
  if (videoTrack) {
    const size = videoTrack.getSettings();
    const svcCodecs = svcWanted && !svcRefused && (size.width ?? 0) >= 640 ? await vp9SVCCodecs(size.width ?? 0, size.height ?? 0) : null;
    if (pc !== myPc) return; // replaced while asking
    svcMode = "";
    if (svcCodecs) {
      try {
        const enc = { scalabilityMode: SVC_MODE, maxBitrate: SVC_MAX_BITRATE, maxFramerate: VIDEO_MAX_FRAMERATE };
        const t = myPc.addTransceiver(videoTrack, { direction: "sendonly", streams: [localStream], sendEncodings: [enc] });
        t.setCodecPreferences(svcCodecs);
        videoEncodings = [enc];
        videoSender = t.sender;
        svcMode = SVC_MODE;
      } catch (e) {
        console.warn("relaycast: VP9 SVC not available, publishing as usual", e);
        svcRefused = true;
        return publish(); // a fresh connection without it
      }
    }
    if (!svcMode) {
      const width = simulcast ? (videoTrack.getSettings().width ?? 0) : 0;
      videoEncodings = simulcastEncodings(width, VIDEO_MAX_BITRATE, VIDEO_MAX_FRAMERATE);
      videoSender = myPc.addTransceiver(videoTrack, {
        direction: "sendonly",
        streams: [localStream],
        sendEncodings: videoEncodings,
      }).sender;
    }
  }
  if (audioTrack) {
    audioSender = myPc.addTransceiver(audioTrack, { direction: "sendonly", streams: [localStream] }).sender;
  }

  // Candidates found before `publish` is sent wait here, so the server sees the offer first.
  const pending: (RTCIceCandidateInit | null)[] = [];
  let offerSent = false;
  myPc.onicecandidate = (ev) => {
    if (pc !== myPc) return;
    if (ev.candidate && !ev.candidate.candidate) return; // legacy end-of-generation marker
    const c = ev.candidate ? ev.candidate.toJSON() : null;
    if (offerSent) session.send({ type: "candidate", candidate: c });
    else pending.push(c);
  };
  session.watchPeer(myPc, (s) => onPeerState(myPc, s));
  myPc.oniceconnectionstatechange = () => render();

  try {
    const offer = await myPc.createOffer();
    await myPc.setLocalDescription(offer);
  } catch (e) {
    if (pc !== myPc) return;
    session.lastReason = `could not create an offer: ${e instanceof Error ? e.message : e}`;
    session.retry("This browser could not start the video connection");
    return;
  }
  if (pc !== myPc || !wantLive) return;
  if (!session.request({ type: "publish", room, sdp: myPc.localDescription?.sdp ?? "", ...(token ? { token } : {}) })) return;
  offerSent = true;
  for (const c of pending) session.send({ type: "candidate", candidate: c });
  render();
}

async function applyAnswer(sdp: string): Promise<void> {
  const myPc = pc;
  if (!myPc || myPc.signalingState !== "have-local-offer") return;
  try {
    await myPc.setRemoteDescription({ type: "answer", sdp });
  } catch (e) {
    if (pc !== myPc) return;
    session.lastReason = `the server's answer was not usable: ${e instanceof Error ? e.message : e}`;
    session.retry("The server's answer could not be used");
    return;
  }
  if (videoSender) await ensureBitrate(videoSender);
}

type CodecList = NonNullable<ReturnType<typeof RTCRtpSender.getCapabilities>>["codecs"];

/**
 * VP9 first, then the other video codecs, when the browser can encode VP9 with SVC_MODE and
 * lets the page order codecs; null otherwise.
 */
async function vp9SVCCodecs(width: number, height: number): Promise<CodecList | null> {
  if (typeof RTCRtpSender === "undefined" || !RTCRtpSender.getCapabilities) return null;
  if (typeof RTCRtpTransceiver === "undefined" || !("setCodecPreferences" in RTCRtpTransceiver.prototype)) return null;
  const codecs = RTCRtpSender.getCapabilities("video")?.codecs ?? [];
  const vp9 = codecs.filter((c) => c.mimeType.toLowerCase() === "video/vp9");
  if (vp9.length === 0) return null;
  // Older Chromium lists each codec's scalability modes; newer ones answer through Media
  // Capabilities. Without either, addTransceiver refuses a mode it cannot encode.
  const modes = (vp9[0] as { scalabilityModes?: string[] }).scalabilityModes;
  if (modes) {
    if (!modes.includes(SVC_MODE)) return null;
  } else if (navigator.mediaCapabilities?.encodingInfo) {
    try {
      const info = await navigator.mediaCapabilities.encodingInfo({
        type: "webrtc",
        video: { contentType: "video/VP9", width, height, bitrate: SVC_MAX_BITRATE, framerate: VIDEO_MAX_FRAMERATE, scalabilityMode: SVC_MODE },
      } as MediaEncodingConfiguration);
      if (!info.supported) return null;
    } catch {
      return null;
    }
  }
  return [...vp9, ...codecs.filter((c) => c.mimeType.toLowerCase() !== "video/vp9")];
}

/** Some browsers ignore sendEncodings in addTransceiver; set the caps again after negotiation. */
async function ensureBitrate(sender: RTCRtpSender): Promise<void> {
  try {
    const p = sender.getParameters();
    if (!p.encodings || p.encodings.length === 0) p.encodings = [{}];
    let changed = false;
    p.encodings.forEach((enc, i) => {
      // Simulcast: each layer its own cap (matched by rid); one encoding: the page's cap.
      const want = videoEncodings.find((e) => e.rid && e.rid === enc.rid) ?? (i === 0 ? videoEncodings[0] : undefined);
      const cap = want?.maxBitrate ?? VIDEO_MAX_BITRATE;
      if (enc.maxBitrate !== cap) {
        enc.maxBitrate = cap;
        changed = true;
      }
    });
    if (changed) await sender.setParameters(p);
  } catch (e) {
    console.warn("relaycast: could not cap the video bitrate", e);
  }
}

function onPeerState(myPc: RTCPeerConnection, s: RTCPeerConnectionState): void {
  if (pc !== myPc) return;
  if (s === "connected") {
    announce(wasLive ? "You are live again." : "You are live.");
    showNotice("");
    if (!errorLocked) clearError();
    wasLive = true;
    if (!liveSince) liveSince = Date.now();
    setState("live");
  }
  render();
}

function onMessage(msg: ServerMessage): void {
  if (msg.type === "answer") void applyAnswer(msg.sdp);
}

function closePC(): void {
  const old = pc;
  pc = null;
  videoSender = audioSender = null;
  if (old) {
    old.onicecandidate = old.onconnectionstatechange = old.oniceconnectionstatechange = null;
    old.close();
  }
  render();
}

function stopLive(): void {
  wantLive = false;
  session.stop();
  endLive();
  showNotice("");
  el.sending.textContent = "";
  announce("The broadcast stopped.");
  setState("idle");
}

// ---- outgoing stats line ----
let lastBytes = 0;
let lastTs = 0;
window.setInterval(async () => {
  const myPc = pc;
  if (!myPc || state !== "live") {
    lastBytes = lastTs = 0;
    if (state !== "live") el.sending.textContent = "";
    return;
  }
  const stats = await myPc.getStats();
  let bytes = 0;
  let ts = 0;
  let res = "";
  let fps = 0;
  let resWidth = 0;
  let layers = 0;
  let scalability = "";
  stats.forEach((r) => {
    if (r.type === "outbound-rtp" && r.kind === "video") {
      bytes += r.bytesSent ?? 0;
      ts = r.timestamp;
      if (r.frameWidth) layers++;
      if (r.scalabilityMode) scalability = r.scalabilityMode;
      // Simulcast: show the largest layer being sent.
      if (r.frameWidth && r.frameWidth > resWidth) {
        resWidth = r.frameWidth;
        res = `${r.frameWidth}×${r.frameHeight}`;
      }
      if (r.framesPerSecond) fps = Math.max(fps, r.framesPerSecond);
    }
  });
  if (layers > 1) res += ` · ${layers} layers`;
  if (svcMode && res) res += ` · VP9 ${scalability || "without SVC"}`;
  if (lastTs && ts > lastTs) {
    const rate = ((bytes - lastBytes) * 8 * 1000) / (ts - lastTs);
    el.sending.textContent = ["Sending " + formatBitrate(rate), res, fps ? `${Math.round(fps)} fps` : ""]
      .filter(Boolean)
      .join(" · ");
  }
  lastBytes = bytes;
  lastTs = ts;
}, 1000);

// ---- wire up ----
el.roomName.textContent = room || "(no room)";
document.title = `Broadcast ${room} · relaycast`;
if (!token) {
  showNotice(`This link has no token. Publishing needs ?token=… from \`relaycast token --room ${room} --publish\`.`);
}
const unsupported = mediaSupported();
if (unsupported) {
  showError(unsupported, true);
  el.enableMedia.disabled = true;
  el.goLive.disabled = true;
}

el.enableMedia.addEventListener("click", async () => {
  meter.resume();
  try {
    await ensureMedia();
  } catch (e) {
    showError(e instanceof Error ? e.message : String(e), false);
  }
});
el.goLive.addEventListener("click", () => void goLive());
el.stop.addEventListener("click", () => stopLive());
el.sourceCamera.addEventListener("change", () => void switchSource("camera"));
el.sourceScreen.addEventListener("change", () => void switchSource("screen"));
el.cameraSelect.addEventListener("change", () => void changeCamera());
el.micSelect.addEventListener("change", () => void changeMic());
navigator.mediaDevices?.addEventListener?.("devicechange", () => {
  if (videoTrack || audioTrack) void refreshDevices();
});
window.addEventListener("pagehide", () => {
  if (session.active) session.send({ type: "stop" });
});

// ---- viewer link ----
const viewerURL = `${location.origin}/watch/${encodeURIComponent(room)}`;
el.viewerLink.value = viewerURL;
el.copyLink.addEventListener("click", async () => {
  let ok = false;
  try {
    await navigator.clipboard.writeText(viewerURL);
    ok = true;
  } catch {
    // No clipboard access (an insecure origin, or refused): select the link for Ctrl+C.
    el.viewerLink.focus();
    el.viewerLink.select();
    ok = document.execCommand?.("copy") ?? false;
  }
  el.copyStatus.textContent = ok ? "Viewer link copied." : "Press Ctrl+C (⌘C) to copy the selected link.";
  window.setTimeout(() => (el.copyStatus.textContent = ""), 4000);
});
window.setInterval(() => {
  if (liveSince) renderElapsed();
}, 1000);

setState("idle");
if (ROOM_RE.test(room)) liveRoom.start();
if (autostart && !unsupported) void goLive();
