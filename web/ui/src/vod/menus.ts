// VOD player: the speed, quality (Auto + the renditions hls.js found) and subtitle menus.

import { el, type Recording } from "../api";
import { byId } from "../common";
import { RadioMenu } from "../menu";
import { SPEEDS, page, player, qualityBtn, speedBtn, video } from "./page";

// ---------------------------------------------------------------- menus

export const speedMenu = new RadioMenu(
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

export const qualityMenu = new RadioMenu(
  qualityBtn,
  byId("quality-menu"),
  (it) => {
    const hls = page.hls;
    if (!it || it.value === "-1") {
      const cur = hls && hls.currentLevel >= 0 ? hls.levels[hls.currentLevel] : undefined;
      return `Quality Auto${cur ? ` (${levelName(cur.height, cur.bitrate)})` : ""}`;
    }
    const l = hls?.levels[Number(it.value)];
    return `Quality ${l ? levelName(l.height, l.bitrate) : it.label}`;
  },
  (v) => {
    if (!page.hls) return;
    const i = Number(v);
    // currentLevel switches now (flushes the buffer); -1 hands control back to ABR.
    page.hls.currentLevel = i;
  },
  player,
);

function levelName(height: number, bitrate: number): string {
  if (height) return `${height}p`;
  return bitrate ? `${Math.round(bitrate / 1000)} kbps` : "source";
}

/** Fills the quality menu with Auto and the renditions, best first (Auto only with native HLS). */
export function buildQualityMenu(): void {
  const hls = page.hls;
  const levels = hls ? hls.levels : [];
  const items = [{ value: "-1", label: "Auto" }];
  const order = levels.map((l, i) => ({ l, i })).sort((a, b) => b.l.height - a.l.height || b.l.bitrate - a.l.bitrate);
  for (const { l, i } of order) items.push({ value: String(i), label: `${levelName(l.height, l.bitrate)}${l.bitrate ? ` · ${Math.round(l.bitrate / 1000)} kbps` : ""}` });
  qualityMenu.setItems(items, hls && !hls.autoLevelEnabled ? String(hls.currentLevel) : "-1");
  qualityBtn.disabled = items.length < 2;
  qualityBtn.title = items.length < 2 ? "Only one quality (or the browser picks it: native HLS)" : "";
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

/** Keeps the video's <track>s and the subtitle menu in step with the recording's subtitles. */
export function renderSubtitles(r: Recording): void {
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
