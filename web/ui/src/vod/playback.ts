// VOD player: playback — attaching a playlist (hls.js, or native HLS where MSE is missing),
// hls.js errors, play/seek/speed/fullscreen, the time display, the saved position
// (localStorage), and the controls' and keyboard shortcuts' listeners (initPlayback).

import Hls from "hls.js/light";
import type { ErrorData } from "hls.js";
import { errorText, formatTime, spokenDuration } from "../api";
import { buildQualityMenu, qualityMenu, speedMenu } from "./menus";
import {
  SEEK_STEP,
  SPEEDS,
  fail,
  fsBtn,
  help,
  helpBtn,
  hideOverlay,
  muteBtn,
  page,
  playBtn,
  player,
  seek,
  setControls,
  setState,
  showNotice,
  timeEl,
  video,
} from "./page";

// ---------------------------------------------------------------- playback

/** Plays url (nothing when it is already playing), resuming where the last playlist or visit left off. */
export function attach(url: string): void {
  if (url === page.src) return;
  const resumeAt = page.src ? video.currentTime : savedPosition();
  const wasPlaying = page.src ? !video.paused : false;
  page.src = url;
  if (Hls.isSupported()) {
    if (!page.hls) {
      const hls = new Hls({ capLevelToPlayerSize: false, startLevel: -1, backBufferLength: 60 });
      page.hls = hls;
      hls.on(Hls.Events.MANIFEST_PARSED, () => buildQualityMenu());
      hls.on(Hls.Events.LEVEL_SWITCHED, () => {
        page.levelSwitches++;
        qualityMenu.setValue(page.hls && page.hls.autoLevelEnabled ? "-1" : String(page.hls?.currentLevel ?? -1));
      });
      hls.on(Hls.Events.ERROR, (_e, data: ErrorData) => onHlsError(data));
      hls.attachMedia(video);
    }
    page.hls.loadSource(url);
    page.hls.startLoad(resumeAt > 0 ? resumeAt : -1);
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

/** Stops playback and forgets the playlist (the recording failed or was deleted). */
export function detach(opts: { load: boolean }): void {
  page.hls?.destroy();
  page.hls = null;
  video.removeAttribute("src");
  if (opts.load) video.load();
  page.src = "";
}

function onHlsError(data: ErrorData): void {
  const hls = page.hls;
  if (!data.fatal || !hls) return;
  if (data.type === Hls.ErrorTypes.MEDIA_ERROR) {
    hls.recoverMediaError();
    return;
  }
  if (data.type === Hls.ErrorTypes.NETWORK_ERROR && page.rec && page.rec.status !== "ready") {
    // The live playlist may not exist yet: retry shortly.
    window.setTimeout(() => page.hls?.startLoad(), 2000);
    return;
  }
  console.warn("relaycast: playback failed:", data.details, data.response?.code ?? "");
  fail(
    data.type === Hls.ErrorTypes.NETWORK_ERROR
      ? "The video could not be loaded from the server. Check your connection and reload the page."
      : "This video could not be played in this browser.",
  );
}

function savedPosition(): number {
  try {
    const v = Number(localStorage.getItem(page.posKey));
    return Number.isFinite(v) && v > 0 ? v : 0;
  } catch {
    return 0;
  }
}

// When the position was last saved (ms): timeupdate saves at most every 2 s.
let lastSave = 0;
function savePosition(force = false): void {
  if (!page.src || !video.duration) return;
  const now = Date.now();
  if (!force && now - lastSave < 2000) return;
  lastSave = now;
  try {
    const t = video.currentTime;
    if (video.ended || t > video.duration - 3) localStorage.removeItem(page.posKey);
    else if (t > 1) localStorage.setItem(page.posKey, t.toFixed(1));
  } catch {
    /* storage full or disabled */
  }
}

function togglePlay(): void {
  if (!page.src) return;
  if (video.paused || video.ended) void video.play().catch((e) => showNotice(`Cannot start playback: ${errorText(e)}`, "error"));
  else video.pause();
}

function seekBy(d: number): void {
  if (!page.src || !Number.isFinite(video.duration)) return;
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
  if (!page.seeking) seek.value = String(video.currentTime);
  seek.setAttribute("aria-valuetext", `${spokenDuration(video.currentTime) || "0 seconds"} of ${spokenDuration(d) || "unknown"}`);
}

/** Connects the video's events, the controls and the keyboard shortcuts; call once. */
export function initPlayback(): void {
  video.addEventListener("timeupdate", () => {
    renderTime();
    savePosition();
  });
  video.addEventListener("durationchange", () => {
    renderTime();
    if (page.src && Number.isFinite(video.duration) && video.duration > 0) seek.disabled = false;
  });
  video.addEventListener("loadedmetadata", () => {
    renderTime();
    if (page.src) seek.disabled = false;
    if (page.state === "loading" || page.state === "waiting") setState("ready");
    hideOverlay();
  });
  video.addEventListener("play", () => {
    playBtn.textContent = "Pause";
    setState("playing");
    hideOverlay();
  });
  video.addEventListener("pause", () => {
    playBtn.textContent = "Play";
    if (page.state === "playing") setState("paused");
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
    page.seeking = true;
    timeEl.textContent = `${formatTime(Number(seek.value))} / ${formatTime(video.duration)}`;
  });
  seek.addEventListener("change", () => {
    page.seeking = false;
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
}
