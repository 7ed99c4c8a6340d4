// VOD player: the information panel (title, seller, date, length, status badge, source) and the
// details list beside the player; a failure shows its short reason only.

import { el, formatDate, formatTime, sellerLine, shortReason, sourceLabel, spokenDuration, titleOf, updateBadge, type Recording } from "../api";
import { byId } from "../common";

// ---------------------------------------------------------------- info panel

const titleEl = byId("title");
const descEl = byId("description");
const sellerEl = byId("seller");
const dateEl = byId<HTMLTimeElement>("date");
const durationEl = byId("duration");
const badgeSlot = byId("status-badge");
const sourceEl = byId("source");
const details = byId("details");

export function renderInfo(r: Recording, video: HTMLVideoElement): void {
  const title = titleOf(r);
  titleEl.textContent = title;
  document.title = `${title} · relaycast`;
  video.setAttribute("aria-label", title);
  descEl.textContent = r.description ?? "";
  descEl.hidden = !r.description;
  sellerEl.textContent = sellerLine(r);
  dateEl.textContent = formatDate(r.started_at);
  dateEl.dateTime = r.started_at ?? "";
  durationEl.textContent = r.duration ? formatTime(r.duration) : "";
  durationEl.setAttribute("aria-label", r.duration ? `Duration ${spokenDuration(r.duration)}` : "");
  let badge = badgeSlot.firstElementChild as HTMLElement | null;
  if (!badge) {
    badge = el("span");
    badgeSlot.append(badge);
  }
  updateBadge(badge, r);
  sourceEl.textContent = sourceLabel(r);

  details.textContent = "";
  const row = (k: string, v: string) => {
    if (v) details.append(el("dt", { textContent: k }), el("dd", { textContent: v }));
  };
  row("Room", r.room);
  row("Seller", r.seller ?? "");
  row("Recorded", formatDate(r.started_at));
  row("Length", r.duration ? formatTime(r.duration) : "");
  row("Renditions", (r.renditions ?? []).join(", "));
  row("Subtitles", (r.subtitles ?? []).map((s) => s.label || s.lang).join(", "));
  if (r.status === "failed") row("Problem", shortReason(r.error));
}

