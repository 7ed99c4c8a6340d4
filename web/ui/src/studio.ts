// Studio page: /studio/{room}?token=…[&currency=EUR]
// The seller's console without a camera, for sellers who stream from OBS (WHIP): the live room's
// chat with moderation and the lots (queue, start, live bids, end, cancel) and pinned product of
// live/studio.ts, on a live session that publishes nothing (live/session.ts keeps its socket).

import { ROOM_RE, byId, param, plural, roomFromPath, setRichText } from "./common";
import { LiveSession } from "./live/session";
import { LiveRoom } from "./live/room";
import { ChatPanel } from "./live/chat";
import { StudioPanel, consoleHooks } from "./live/studio";
import { Money } from "./live/money";

const room = roomFromPath("/studio/");
const token = param("token");

const el = {
  roomName: byId("room-name"),
  notice: byId("notice"),
  state: byId("studio-state"),
  liveBadge: byId("live-badge"),
  whip: byId("whip-url"),
  viewerLink: byId<HTMLInputElement>("viewer-link"),
  openViewer: byId<HTMLAnchorElement>("open-viewer"),
};

let live = false;
let viewers = 0;
let lastError = "";

function showNotice(text: string): void {
  setRichText(el.notice, text);
  el.notice.hidden = !text;
}

// No media: the session's request hooks have nothing to start; the room keeps the socket open.
const session = new LiveSession(room, "publish", {
  start: () => {},
  teardown: () => {},
  retrying: () => {},
  failed: (text) => {
    lastError = text;
    showNotice(text);
  },
  socket: (s) => {
    if (s !== "open") el.state.textContent = s === "connecting" ? "Connecting…" : "Reconnecting to the server…";
  },
});
// The room's video status, as the watch page hears it (`live`, `status`, `ended`).
session.on("status", (m) => {
  const st = m as { live?: boolean; viewers?: number };
  live = !!st.live;
  viewers = st.viewers ?? 0;
  render();
});
session.on("live", () => {
  live = true;
  render();
});
session.on("ended", () => {
  live = false;
  render();
});

const money = Money.fromPage();
const liveRoom = new LiveRoom(session, { token: () => token });
const studio = new StudioPanel(liveRoom, byId("studio-panel"), { money, token: () => token });
const chat = new ChatPanel(liveRoom, byId("seller-chat"), { title: "Chat" });
liveRoom.onJoined(() => {
  if (!liveRoom.seller) {
    showNotice(`This link's token may not run this room's lots. Open the studio with a publish token: \`relaycast token --room ${room} --publish\`.`);
  }
  render();
});
liveRoom.onError((e) => {
  lastError = e.message;
  showNotice(e.code === "unauthorized" || e.code === "forbidden" ? "This link's token is not valid for this room. Ask for a new studio link with a publish token." : `The room refused to join: ${e.message}`);
});

function render(): void {
  el.liveBadge.textContent = live ? "Live" : "Offline";
  el.liveBadge.classList.toggle("badge-live", live);
  el.state.textContent = liveRoom.joined
    ? live
      ? `Your stream is live · ${plural(viewers, "viewer", "viewers")}.`
      : "Connected to the room. The video is not live: start streaming from OBS."
    : "Connecting…";
}

declare global {
  interface Window {
    relaycast: unknown;
  }
}
window.relaycast = {
  get state(): string {
    return liveRoom.joined ? "joined" : "connecting";
  },
  get error(): string {
    return lastError;
  },
  live: consoleHooks(liveRoom, chat),
};
void studio;

el.roomName.textContent = room || "(no room)";
document.title = `Studio ${room} · relaycast`;
el.whip.textContent = `${location.origin}/whip/${encodeURIComponent(room)}`;
const viewerURL = `${location.origin}/watch/${encodeURIComponent(room)}`;
el.viewerLink.value = viewerURL;
el.openViewer.href = viewerURL;
if (!ROOM_RE.test(room)) {
  showNotice(`"${room}" is not a valid room name.`);
} else {
  if (!token) showNotice(`This link has no token. The studio needs ?token=… from \`relaycast token --room ${room} --publish\`.`);
  // A viewer-less watch (no SDP) on the same socket tells the console whether the video is live.
  session.onOpen(() => session.send({ type: "watch", room }));
  liveRoom.start();
}
