// After a show ends, the watch page links to its recording: the newest recording of the room
// (not one that ended before the show went live), followed over /api/events until
// it is ready. Only existing APIs: GET /api/recordings?room= and the event stream.

import { api, subscribe, type Page, type Recording } from "../api";

export interface RecordingLink {
  /** The player's address once the recording can be watched; "" before. */
  href: string;
  text: string;
  /** A sentence about the recording while there is no link ("" when there is nothing to say). */
  note: string;
}

/** Calls onLink with the show's recording as it changes; returns a function that stops. */
export function watchRecording(room: string, liveSince: string, onLink: (l: RecordingLink) => void): () => void {
  const since = Date.parse(liveSince);
  let best: Recording | null = null;
  let stopped = false;

  const consider = (r: Recording): void => {
    if (stopped || r.room !== room) return;
    const started = Date.parse(r.started_at ?? "");
    const ended = Date.parse(r.ended_at ?? "");
    // The show's own recording, not an older one that ended before this show went live (one
    // recording may span a reconnect, so it can start before the room's latest `since`).
    if (Number.isFinite(since) && Number.isFinite(ended) && ended < since - 10_000) return;
    if (best && best.id !== r.id && Date.parse(best.started_at ?? "") > started) return;
    best = r;
    onLink(linkOf(r));
  };

  const stop = subscribe(`room=${encodeURIComponent(room)}`, { recording: consider }, (open) => {
    if (open) void look();
  });
  const look = async (): Promise<void> => {
    try {
      const page = await api<Page>(`/api/recordings?room=${encodeURIComponent(room)}&limit=1`);
      const r = page.recordings?.[0];
      if (r) consider(r);
    } catch {
      /* the event stream still tells us */
    }
  };
  void look();
  return () => {
    stopped = true;
    stop();
  };
}

function linkOf(r: Recording): RecordingLink {
  switch (r.status) {
    case "ready":
      return { href: `/v/${encodeURIComponent(r.id)}`, text: "Watch the recording", note: "" };
    case "failed":
      return { href: "", text: "", note: "Its recording could not be processed." };
    default:
      return { href: "", text: "", note: "Its recording is being prepared: the link appears here when it is ready." };
  }
}
