// VOD player: what its sections share — the page's elements, the one mutable page state object
// (`page`: the recording, the player's state, the hls.js instance, the playlist played…), and
// the overlay, notice and controls helpers. The other sections read and write `page` only.

import type Hls from "hls.js/light";
import { el, type Recording } from "../api";
import { byId } from "../common";

export type State = "loading" | "waiting" | "ready" | "playing" | "paused" | "ended" | "notfound" | "failed" | "error";

export const SPEEDS = [0.5, 0.75, 1, 1.25, 1.5, 2];
export const SEEK_STEP = 5;

export const player = byId("player");
export const video = byId<HTMLVideoElement>("video");
export const overlay = byId("overlay");
export const spinner = byId("spinner");
export const overlayTitle = byId("overlay-title");
export const overlayDetail = byId("overlay-detail");
export const overlayBack = byId("overlay-back");
export const controls = byId("controls");
export const seek = byId<HTMLInputElement>("seek");
export const playBtn = byId<HTMLButtonElement>("play");
export const muteBtn = byId<HTMLButtonElement>("mute");
export const speedBtn = byId<HTMLButtonElement>("speed-btn");
export const timeEl = byId("time");
export const fsBtn = byId<HTMLButtonElement>("fullscreen");
export const helpBtn = byId<HTMLButtonElement>("help-btn");
export const help = byId<HTMLDialogElement>("help");
export const notice = byId("notice");
export const qualityBtn = byId<HTMLButtonElement>("quality-btn");

/** The page's mutable state, shared by its sections (and read by the automation hook). */
export interface PageState {
  /** The recording's id, from the address. */
  readonly id: string;
  /** localStorage key of the saved position. */
  readonly posKey: string;
  rec: Recording | null;
  state: State;
  lastError: string;
  hls: Hls | null;
  /** The playlist being played ("" before one is attached). */
  src: string;
  /** The seek bar is being dragged: timeupdate leaves its value alone. */
  seeking: boolean;
  levelSwitches: number;
}

const id = decodeURIComponent(location.pathname.replace(/^\/v\//, "").replace(/\/+$/, ""));

export const page: PageState = {
  id,
  posKey: `relaycast.pos.${id}`,
  rec: null,
  state: "loading",
  lastError: "",
  hls: null,
  src: "",
  seeking: false,
  levelSwitches: 0,
};

export function setState(s: State): void {
  page.state = s;
  document.body.dataset.state = s;
}

export function showOverlay(title: string, detail = "", opts: { spin?: boolean; back?: boolean } = {}): void {
  overlay.hidden = false;
  overlayTitle.textContent = title;
  overlayDetail.textContent = detail;
  spinner.hidden = !opts.spin;
  overlayBack.hidden = !opts.back;
}

export function hideOverlay(): void {
  overlay.hidden = true;
}

/**
 * Play, Mute, Speed and Fullscreen act on the video as soon as a playlist is attached (Play
 * before the first frame starts it when it arrives); before that, and when nothing can play,
 * they are disabled rather than enabled and inert. Seek waits for a duration; Quality for the
 * renditions (buildQualityMenu).
 */
export function setControls(on: boolean): void {
  for (const b of [playBtn, muteBtn, speedBtn, fsBtn]) b.disabled = !on;
  if (!on) {
    seek.disabled = true;
    qualityBtn.disabled = true;
  }
}

export function showNotice(text: string, tone: "info" | "error" = "info", link?: { href: string; label: string }): void {
  notice.textContent = text;
  if (link) notice.append(" ", el("a", { href: link.href, textContent: link.label }));
  notice.className = tone === "error" ? "alert alert-error" : "alert";
  notice.hidden = !text;
}

export function fail(msg: string): void {
  page.lastError = msg;
  setControls(false);
  setState("error");
  showOverlay("Cannot play this recording", msg, { back: true });
}
