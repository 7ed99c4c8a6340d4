// The live session the broadcast and watch pages share: one /ws socket (signal.ts), the
// publish/watch request of one room, reconnect with backoff, the peer connection's watchdog,
// and the room's status/ended/error messages turned into human sentences. A page supplies its
// role's request (publish or watch) and its peer connection; the chat and auction panels of the
// live room mount on the same session (`on(type, …)` gets every message of the room).

import { Backoff } from "../common";
import { Signal, describeError, isRetryable, type ClientMessage, type ServerMessage, type SocketState } from "../signal";

export type Role = "publish" | "watch";

export interface SessionHooks {
  /** The socket is open: send this role's request now (publish or watch). */
  start(): void;
  /** Drop the page's peer connection: a retry follows, or the session stopped. */
  teardown(): void;
  /** A retry is scheduled in delayMs; text says why, in words for the person at the page. */
  retrying(text: string, delayMs: number): void;
  /** The server refused for good (bad token, no such room…): text says what to do. */
  failed(text: string): void;
  /**
   * The broadcast ended; text is a sentence (empty when the server gave no reason), wasActive
   * whether this socket's request was running (a publisher ignores the end of a session it left),
   * comingBack that the show is not over: the server carrying it to this node went away and it is
   * coming back through the same socket (`live`) as soon as another server has it.
   */
  ended?(text: string, wasActive: boolean, comingBack: boolean): void;
  /** The room's live status: viewers, and since when it is live. */
  status?(viewers: number, live: boolean, since: string): void;
  /** The socket's state changed (for a status line). */
  socket?(state: SocketState): void;
  /**
   * The server is draining (PROTOCOL.md, "Draining"): the session moves to another node at once,
   * through the same URL (no backoff, no error); text is a sentence for the page.
   */
  moving?(text: string): void;
}

const STABLE_AFTER_MS = 10_000; // connected this long: the next drop retries from 1 s again
const DISCONNECTED_GRACE_MS = 5_000; // "disconnected" often recovers by itself
const MOVE_RETRY_MS = 250; // a draining node refused the new socket too: the balancer has not taken it out yet
const MOVE_TRIES = 40; // then back to the usual backoff

/** What the server's `ended` reason means, as a sentence for the pages (no internal words). */
export function endedText(reason: string | undefined, role: Role): string {
  switch ((reason ?? "").trim()) {
    case "":
      return "";
    case "publisher left":
    case "publisher stopped":
      return role === "watch" ? "The seller ended the broadcast." : "The broadcast was stopped.";
    case "publisher connection lost":
    case "publisher did not connect":
      return role === "watch" ? "The seller's connection was lost." : "Your connection to the server was lost.";
    case "publisher reconnected":
      return role === "watch" ? "The seller reconnected." : "This broadcast continues in another tab or window.";
    case "origin lost": // a cluster edge lost the node it pulled the show from: the show goes on
    case "publisher arrived": // … or the seller's page reached this node, which now serves it
      return role === "watch" ? "The server carrying this show changed." : "";
    case "publisher moved to another node": // the cluster's takeover: the seller's page reached another node
      return role === "watch" ? "The seller moved to another server." : "This broadcast continues on another server.";
    case "ended by an operator":
      return role === "watch" ? "The broadcast was ended by the site's staff." : "The site's staff ended your broadcast.";
    case "server shutting down":
      return "The server is restarting.";
    case "publish failed":
      return "The broadcast could not start.";
    default:
      return "";
  }
}

/**
 * Whether an `ended` reason means the show goes on: a cluster edge's pull broke ("origin lost"),
 * the seller's page reached this very node and replaced its pull ("publisher arrived"), or the
 * seller reconnected. `live` follows on the same socket.
 */
export function endIsTemporary(reason: string | undefined): boolean {
  switch ((reason ?? "").trim()) {
    case "origin lost":
    case "publisher arrived":
    case "publisher reconnected":
      return true;
    default:
      return false;
  }
}

/** The socket's close reason (signal.ts words such as "code 1006") as a sentence. */
function socketLostText(reason: string): string {
  if (/stopped answering/.test(reason)) return "The server stopped answering";
  return "Lost the connection to the server";
}

export class LiveSession {
  readonly signal: Signal;
  private readonly backoff = new Backoff(1000, 15000);
  private retryTimer = 0;
  private disconnectTimer = 0;
  private stableTimer = 0;
  private wanted = false;
  /** The server may hold a publish/watch session for this socket. */
  active = false;
  /** The request was sent; no answer, waiting or error yet. */
  awaiting = false;
  /**
   * The live room sent `join` and has no answer yet: an `error` without a `ref` is the join's
   * (join carries none), not the publish/watch request's (the room sends its join first).
   */
  liveJoinPending = false;
  /** The last technical reason (console and automation; never shown as is). */
  lastReason = "";
  private readonly listeners = new Map<string, ((msg: ServerMessage) => void)[]>();
  private readonly openers: (() => void)[] = [];
  /** The live room keeps the socket open (and reconnects it) even without a publish/watch request. */
  private keep = false;
  private keepTimer = 0;
  private readonly keepBackoff = new Backoff(1000, 15000);
  /** Consecutive moves away from a draining node (reset when a socket opens). */
  private moves = 0;

  constructor(
    readonly room: string,
    readonly role: Role,
    private readonly hooks: SessionHooks,
  ) {
    this.signal = new Signal(
      {
        open: () => {
          this.moves = 0;
          this.keepBackoff.reset();
          this.liveJoinPending = false;
          for (const fn of this.openers) fn();
          if (this.wanted) this.hooks.start();
        },
        message: (msg) => this.onMessage(msg),
        closed: (reason) => {
          this.active = false;
          this.awaiting = false;
          this.lastReason = reason;
          console.warn("relaycast:", reason);
          if (/\bdraining\b/.test(reason)) {
            this.move(); // the `reconnect` message was lost: the close reason says the same
            return;
          }
          if (/protocol version/.test(reason)) {
            this.wanted = false;
            this.keep = false;
            this.hooks.teardown();
            this.hooks.failed("This page is out of date: reload it to connect.");
            return;
          }
          this.retry(socketLostText(reason));
          this.reopen();
        },
      },
      (s) => this.hooks.socket?.(s),
    );
  }

  get running(): boolean {
    return this.wanted;
  }

  get retryPending(): boolean {
    return this.retryTimer !== 0;
  }

  /** Starts (or resumes) the session: connects, or sends the request on an open socket. */
  run(): void {
    this.wanted = true;
    this.clearRetry();
    if (this.signal.isOpen) this.hooks.start();
    else if (this.signal.state === "closed") this.signal.connect();
    // else: connecting; its open handler starts.
  }

  /** Stops for good (the page's Stop): the server is told, the peer connection dropped. */
  stop(): void {
    this.wanted = false;
    this.clearRetry();
    this.endRequest(true);
    this.backoff.reset();
    if (this.signal.state === "closed") this.reopen(); // stopped while away: the live room still wants its socket
  }

  /** Sends the role's request (publish or watch); false (and a retry) when the socket is down. */
  request(msg: ClientMessage): boolean {
    if (!this.signal.send(msg)) {
      this.retry("Lost the connection to the server");
      return false;
    }
    this.active = true;
    this.awaiting = true;
    return true;
  }

  send(msg: ClientMessage): boolean {
    return this.signal.send(msg);
  }

  /**
   * fn runs each time the socket opens (before the role's request): the live room joins (and
   * resumes) there. Runs at once when the socket is already open.
   */
  onOpen(fn: () => void): void {
    this.openers.push(fn);
    if (this.signal.isOpen) fn();
  }

  /**
   * Keeps the socket open without a publish/watch request (chat and lots before going live, the
   * studio page without a camera): connects now and reconnects with backoff after a drop.
   */
  keepOpen(): void {
    this.keep = true;
    if (this.signal.state === "closed" && !this.retryTimer) this.signal.connect();
  }

  private reopen(): void {
    if (!this.keep || this.wanted || this.keepTimer) return; // a wanted session reconnects through retry()
    this.keepTimer = window.setTimeout(() => {
      this.keepTimer = 0;
      if (this.signal.state === "closed" && !this.retryTimer) this.signal.connect();
    }, this.keepBackoff.next());
  }

  /** Every message of type for this room (the chat and auction panels' entry point). */
  on(type: string, fn: (msg: ServerMessage) => void): void {
    const list = this.listeners.get(type) ?? [];
    list.push(fn);
    this.listeners.set(type, list);
  }

  /** The server let go of the request without a session (`waiting`): nothing to stop. */
  released(): void {
    this.active = false;
    this.awaiting = false;
    this.backoff.reset();
  }

  /** Drops the peer connection and, if asked, tells the server the request is over. */
  endRequest(sendStop: boolean): void {
    window.clearTimeout(this.disconnectTimer);
    window.clearTimeout(this.stableTimer);
    this.disconnectTimer = this.stableTimer = 0;
    if (sendStop && this.active && this.signal.isOpen) this.signal.send({ type: "stop" });
    this.active = false;
    this.awaiting = false;
    this.hooks.teardown();
  }

  /** Schedules a new attempt after a pause; text is the human reason. No-op when stopped. */
  retry(text: string): void {
    if (!this.wanted || this.retryTimer) return;
    this.endRequest(true);
    const delay = this.backoff.next();
    this.hooks.retrying(text, delay);
    this.retryTimer = window.setTimeout(() => {
      this.retryTimer = 0;
      if (!this.wanted) return;
      if (this.signal.isOpen) this.hooks.start();
      else if (this.signal.state === "closed") this.signal.connect();
    }, delay);
  }

  /** Watches a peer connection: a failure (or 5 s disconnected) retries; 10 s connected resets the backoff. */
  watchPeer(pc: RTCPeerConnection, onState: (s: RTCPeerConnectionState) => void): void {
    pc.onconnectionstatechange = () => {
      const s = pc.connectionState;
      window.clearTimeout(this.disconnectTimer);
      this.disconnectTimer = 0;
      if (s === "connected") {
        window.clearTimeout(this.stableTimer);
        this.stableTimer = window.setTimeout(() => this.backoff.reset(), STABLE_AFTER_MS);
      } else if (s === "failed") {
        this.lastReason = "the media connection failed";
        this.retry("The video connection failed");
      } else if (s === "disconnected") {
        this.disconnectTimer = window.setTimeout(() => {
          if (pc.connectionState !== "connected") {
            this.lastReason = "the media connection dropped";
            this.retry("The video connection dropped");
          }
        }, DISCONNECTED_GRACE_MS);
      }
      onState(s);
    };
  }

  /**
   * The node is draining: drop the peer connection without `stop` (a seller's broadcast goes on
   * under the takeover rule on the next node) and connect again at once through the same URL,
   * which the load balancer sends to another node; a socket the draining node refuses again
   * (the balancer has not taken it out yet) retries after MOVE_RETRY_MS.
   */
  private move(): void {
    this.lastReason = "the server is draining";
    this.clearRetry();
    window.clearTimeout(this.keepTimer);
    this.keepTimer = 0;
    this.endRequest(false);
    this.signal.close();
    if (!this.wanted && !this.keep) return;
    if (this.moves >= MOVE_TRIES) {
      this.moves = 0;
      if (this.wanted) this.retry("The server is restarting");
      else this.reopen();
      return;
    }
    this.hooks.moving?.("The server is restarting: moving you to another one…");
    const delay = this.moves++ === 0 ? 0 : MOVE_RETRY_MS;
    this.retryTimer = window.setTimeout(() => {
      this.retryTimer = 0;
      if ((this.wanted || this.keep) && this.signal.state === "closed") this.signal.connect();
    }, delay);
  }

  private clearRetry(): void {
    window.clearTimeout(this.retryTimer);
    this.retryTimer = 0;
  }

  private onMessage(msg: ServerMessage): void {
    const room = (msg as { room?: string }).room;
    if (room !== undefined && room !== this.room) return;
    switch (msg.type) {
      case "reconnect":
        this.move();
        return;
      case "answer":
        this.awaiting = false;
        break;
      case "status":
        this.hooks.status?.(msg.viewers ?? 0, !!msg.live, msg.since ?? "");
        break;
      case "ended": {
        // The server closed our peer connection (a viewer's socket stays and hears `live` again).
        const was = this.active;
        this.active = false;
        this.awaiting = false;
        this.hooks.ended?.(endedText(msg.reason, this.role), was, endIsTemporary(msg.reason));
        break;
      }
      case "error":
        // An answer to a join, chat, bid or lot message: the live room's panels handle it.
        if (isLiveError(msg) || this.liveJoinPending) break;
        if (!this.awaiting && msg.code === "bad_request") {
          // Not an answer to the request: a trickled candidate (or a setting) the server could not use.
          console.warn("relaycast: server rejected a message:", msg.message);
          break;
        }
        this.awaiting = false;
        this.active = false; // a failed request leaves no session behind
        if (!this.wanted) {
          console.warn("relaycast: server error while stopped:", msg.code, msg.message);
          break;
        }
        this.lastReason = `${msg.code}: ${msg.message ?? ""}`;
        if (isRetryable(msg.code)) this.retry(describeError(msg.code, msg.message, this.role).replace(/\.$/, "").replace("ROOM", this.room));
        else {
          this.wanted = false;
          this.clearRetry();
          this.endRequest(false);
          this.hooks.failed(describeError(msg.code, msg.message, this.role).replace("ROOM", this.room));
        }
        break;
      default:
        break;
    }
    for (const fn of this.listeners.get(msg.type) ?? []) fn(msg);
  }
}

/** Error codes only the live room's messages get (K5): never an answer to publish/watch. */
const LIVE_CODES = new Set([
  "not_joined",
  "bad_seq",
  "too_long",
  "rate_limited",
  "slow_mode",
  "links_off",
  "timed_out",
  "banned",
  "guests_off",
  "too_low",
  "lot_closed",
  "not_open",
  "already_leading",
]);

/**
 * An `error` that answers a live-room message (it carries the message's `ref`, which the live
 * room always sends, or a live-only code) and so says nothing about the publish/watch request.
 */
export function isLiveError(msg: { code: string; ref?: unknown }): boolean {
  return (msg.ref !== undefined && msg.ref !== null && msg.ref !== "") || LIVE_CODES.has(msg.code);
}

/** "1:05" or "1:02:05" for an elapsed time in ms. */
export function formatElapsed(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = String(s % 60).padStart(2, "0");
  return h ? `${h}:${String(m).padStart(2, "0")}:${sec}` : `${m}:${sec}`;
}
