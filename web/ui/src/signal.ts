// WebSocket client for the relaycast signaling protocol (signaling/PROTOCOL.md).
// One Signal is one socket; the pages decide when to reconnect.

import { PROTOCOL_VERSION, type ClientMessage, type LayerMessage, type ServerMessage as AnyServerMessage } from "./wire";

// The message types live in wire.ts (the reference of signaling/wire); re-exported here so the
// pages keep importing them from signal.ts.
export { PROTOCOL_VERSION, type ClientMessage, type ErrorCode } from "./wire";

/** A server message as handlers.message types it: every one but `layer`, which pages that use it
 * narrow to with quality.ts's isLayerMessage (as before wire.ts). */
export type ServerMessage = Exclude<AnyServerMessage, LayerMessage>;

export interface SignalHandlers {
  /** The socket is open and the server said hello with our protocol version. */
  open(): void;
  message(msg: ServerMessage): void;
  /** The socket closed (or never opened). Not called after close() by us. */
  closed(reason: string): void;
}

export type SocketState = "closed" | "connecting" | "open";

const PING_EVERY_MS = 15_000;
const DEAD_AFTER_MS = 45_000;

export function socketURL(): string {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${location.host}/ws`;
}

export class Signal {
  state: SocketState = "closed";
  /** STUN/TURN servers the server announced in `hello`, for new RTCPeerConnections. */
  iceServers: RTCIceServer[] = [];
  /** Optional parts the server announced in `hello` (`"live"`: the live room, protocol 1.1). */
  features: string[] = [];
  private ws: WebSocket | null = null;
  private timer = 0;
  private lastHeard = 0;

  constructor(private readonly handlers: SignalHandlers, private readonly onState: (s: SocketState) => void = () => {}) {}

  connect(): void {
    this.teardown();
    const ws = new WebSocket(socketURL());
    this.ws = ws;
    this.setState("connecting");
    this.lastHeard = Date.now();

    ws.onmessage = (ev) => {
      if (this.ws !== ws) return;
      this.lastHeard = Date.now();
      if (typeof ev.data !== "string") return;
      let msg: AnyServerMessage;
      try {
        msg = JSON.parse(ev.data) as AnyServerMessage;
      } catch {
        return;
      }
      if (!msg || typeof msg.type !== "string") return;
      if (msg.type === "hello") {
        if (msg.version !== PROTOCOL_VERSION) {
          this.fail(`server speaks protocol version ${msg.version}, this page speaks ${PROTOCOL_VERSION}; reload the page`);
          return;
        }
        this.iceServers = Array.isArray(msg.ice_servers) ? msg.ice_servers : [];
        this.features = Array.isArray(msg.features) ? msg.features : [];
        this.setState("open");
        this.handlers.open();
        return;
      }
      if (msg.type === "pong") return;
      this.handlers.message(msg as ServerMessage);
    };
    ws.onclose = (ev) => {
      if (this.ws !== ws) return;
      const why = ev.reason ? `${ev.reason} (${ev.code})` : `code ${ev.code}`;
      this.fail(`connection to the server closed: ${why}`);
    };
    // onerror is always followed by onclose; nothing to do here.
    ws.onerror = () => {};

    this.timer = window.setInterval(() => {
      if (this.ws !== ws) return;
      if (Date.now() - this.lastHeard > DEAD_AFTER_MS) {
        this.fail("the server stopped answering");
        return;
      }
      if (ws.readyState === WebSocket.OPEN) this.send({ type: "ping" });
    }, PING_EVERY_MS);
  }

  send(msg: ClientMessage): boolean {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return false;
    this.ws.send(JSON.stringify(msg));
    return true;
  }

  get isOpen(): boolean {
    return this.state === "open";
  }

  /** Closes the socket without calling handlers.closed. */
  close(): void {
    this.teardown();
    this.setState("closed");
  }

  private fail(reason: string): void {
    this.teardown();
    this.setState("closed");
    this.handlers.closed(reason);
  }

  private teardown(): void {
    window.clearInterval(this.timer);
    const ws = this.ws;
    this.ws = null;
    if (ws) {
      ws.onmessage = ws.onclose = ws.onerror = null;
      if (ws.readyState === WebSocket.OPEN || ws.readyState === WebSocket.CONNECTING) ws.close(1000);
    }
  }

  private setState(s: SocketState): void {
    this.state = s;
    this.onState(s);
  }
}

/** Human text for an `error` message, by code. */
export function describeError(code: string, message: string | undefined, role: "publish" | "watch"): string {
  switch (code) {
    case "unauthorized":
      return role === "publish"
        ? "This link's token is not valid for this room. Ask for a new publish link (token from `relaycast token --room ROOM --publish`)."
        : "This broadcast needs a viewer link with a valid token for this room.";
    case "forbidden":
      return role === "publish" ? "This token may not publish to this room." : "This token may not watch this room.";
    case "conflict":
      return "Someone else is already live in this room.";
    case "busy":
      return "The server is full right now.";
    case "unsupported":
      return "This browser offered no codec the server accepts (VP8, VP9, H.264 or AV1 video; Opus audio).";
    case "not_found":
      return "This room does not exist.";
    case "redirect":
      // Another node of the cluster serves the room (its owner is moving, or no edge here yet):
      // the page tries again through the same address.
      return role === "publish" ? "Someone else is already live in this room." : "This broadcast is moving to another server.";
    case "bad_request":
      return `The server rejected the request${message ? `: ${message}` : "."}`;
    case "internal":
      return "The server hit an internal error.";
    default:
      return message || `Error: ${code}`;
  }
}

/** Errors worth retrying after a pause; others need a human. */
export function isRetryable(code: string): boolean {
  return code === "busy" || code === "internal" || code === "conflict" || code === "redirect";
}
