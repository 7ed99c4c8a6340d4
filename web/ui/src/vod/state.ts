// VOD player: the recording's state — loading it, following it over /api/events (a processing
// recording plays the chunks done so far, then its final playlist), and what each status shows.

import { APIError, api, errorText, shortReason, subscribe, type Recording } from "../api";
import { byId } from "../common";
import { editorClosed, fillEdit, hideEditor, renderSubsList } from "./edit";
import { renderInfo } from "./info";
import { renderSubtitles } from "./menus";
import { fail, overlayDetail, page, setControls, setState, showNotice, showOverlay, video } from "./page";
import { attach, detach } from "./playback";
import { showRecording } from "./show";

// ---------------------------------------------------------------- recording state

/** Shows recording r: its information, subtitles and editor, and what its status plays. */
export function apply(r: Recording): void {
  const prev = page.rec;
  page.rec = r;
  renderInfo(r, video);
  renderSubtitles(r);
  renderSubsList(r);
  if (editorClosed()) fillEdit(r);
  if (r.status !== "failed") showRecording(r);
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
      } else if (!page.src) {
        setState("waiting");
        showOverlay(r.status === "recording" ? "Recording in progress" : "Processing…", "The video appears here as soon as its first part is ready.", { spin: true });
      }
      break;
    case "failed":
      // Also when parts done before the failure were already playing (a later chunk may be
      // transcoded before the one that failed): the recording is incomplete, so say so.
      if (page.src) detach({ load: true });
      setControls(false);
      setState("failed");
      showOverlay("Processing failed", shortReason(r.error), { back: true });
      break;
  }
}

/** Loads the recording named by the address, then follows its events. */
export async function load(): Promise<void> {
  const id = page.id;
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
      if (r.id !== id) return;
      eventsSeen++;
      apply(r);
    },
    progress: (p) => {
      const rec = page.rec;
      if (p.id !== id || !rec || page.src || (rec.status !== "processing" && rec.status !== "recording")) return;
      if (rec.status === "processing") overlayDetail.textContent = p.progress >= 0 ? `${Math.round(p.progress)}% done.` : "Working on it…";
      // A chunk finished: the playlist of the parts done so far exists now (the server announces
      // it with the next recording event only), so fetch the recording once for its hls_url.
      if ((p as { kind?: string }).kind === "chunk") void refetch();
    },
    deleted: (d) => {
      if (d !== id) return;
      detach({ load: false });
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

// eventsSeen counts the recording events applied: an answer fetched before the latest of them
// is older than what the page shows (a "processing" read just before a "failed" event must not
// undo it), so it is dropped.
let eventsSeen = 0;

async function resync(): Promise<void> {
  const seen = eventsSeen;
  try {
    const r = await api<Recording>(`/api/recordings/${encodeURIComponent(page.id)}`);
    if (seen !== eventsSeen) return;
    if (!page.rec || r.status !== page.rec.status || r.hls_url !== page.rec.hls_url) apply(r);
  } catch {
    // the next event or reconnect tries again
  }
}

// One refetch at a time: chunk events may come faster than the answers.
let refetching = false;
async function refetch(): Promise<void> {
  if (refetching) return;
  refetching = true;
  const seen = eventsSeen;
  try {
    const r = await api<Recording>(`/api/recordings/${encodeURIComponent(page.id)}`);
    if (seen === eventsSeen && r.hls_url && !page.src) apply(r);
  } catch {
    /* the next event tries again */
  } finally {
    refetching = false;
  }
}
