// The live room on the shared live session (live/session.ts, the same /ws socket as the video):
// joins the room each time the socket opens, resuming with `after` = the last event seq seen, so
// a reconnect misses nothing and shows nothing twice (events are deduplicated by seq). Keeps the
// room's state (you, settings, the current lot, the seller's lots, the pinned product) and the
// server clock's offset, so a countdown is `ends_at - (Date.now() + offset)`. The chat, lot,
// reactions and studio panels subscribe to its events. Each join carries a ref, so its answer
// (`joined`, or the `error` refusing it) is told apart from any other request's. A guest joins
// with the guest key the server gave this browser before (identity.ts), staying the same guest.

import { type ClientMessage } from "../signal";
import { guestKey, setGuestKey } from "./identity";
import { type LiveSession } from "./session";
import type { Answer, Bid, Joined, Lot, Product, RoomEvent, Settings, You } from "./types";

/** A refused live message: the server's code (K5) and what it said. */
export class LiveError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly minAmount?: number,
  ) {
    super(message || code);
  }
}

type EventFn = (data: unknown, ev: RoomEvent) => void;

export interface RoomOptions {
  /** The room token (bid, chat, moderate or publish grants); "" for a guest. */
  token: () => string;
  /** A guest's chosen display name ("" until chosen). */
  name?: () => string;
}

const ANSWER_TIMEOUT_MS = 10_000;
const OFFSET_SAMPLES = 8;

export class LiveRoom {
  /** The last event seq applied (0 before the first join). */
  seq = 0;
  joined = false;
  /** Joins answered so far, and whether the last one resumed (replayed what was missed). */
  joins = 0;
  resumed = false;
  you: You | null = null;
  settings: Settings = { slow_mode_s: 0, links: true, guest_chat: true };
  /**
   * The lot on screen: the open one, or the last one that ended (until the next opens; on a
   * join while none is open, the server's `last_lot`).
   */
  lot: Lot | null = null;
  /** Every lot of the room, by id (sellers and moderators get them all on join). */
  readonly lots = new Map<string, Lot>();
  product: Product | null = null;
  /** serverTime - Date.now(), in ms (best of the recent samples). */
  offset = 0;
  private samples: number[] = [];
  /**
   * A delayed viewer's clock (the watch page over HLS): the server time (ms) of the picture on
   * screen, or null while the page shows the live edge. Lot and bid events newer than it wait
   * (in order) until the picture reaches them (releaseHeld); the lot countdown counts by it.
   */
  mediaClock: (() => number | null) | null = null;
  /** Lot and bid events received but not yet applied (their moment is not on screen yet). */
  private held: RoomEvent[] = [];
  private readonly handlers = new Map<string, EventFn[]>();
  private readonly joinedFns: ((j: Joined, fresh: boolean) => void)[] = [];
  private readonly errorFns: ((e: LiveError) => void)[] = [];
  private readonly pending = new Map<string, { resolve: (a: Answer) => void; reject: (e: LiveError) => void; timer: number }>();
  private nextRef = 1;

  constructor(
    readonly session: LiveSession,
    private readonly opts: RoomOptions,
  ) {
    session.on("joined", (m) => this.handleJoined(m as unknown as Joined));
    session.on("event", (m) => this.onEvent(m as unknown as RoomEvent, true));
    for (const t of ["bid_result", "lot_result", "ok"]) session.on(t, (m) => this.onAnswer(m as unknown as Answer));
    session.on("error", (m) => this.handleError(m as unknown as { code: string; message?: string; ref?: string; min_amount?: number }));
  }

  get room(): string {
    return this.session.room;
  }

  /** Joins now (if the socket is open) and on every reconnect; keeps the socket open. */
  start(): void {
    this.session.onOpen(() => {
      this.joinRefs.clear(); // a new socket: the old one's joins will never be answered
      this.join();
    });
    this.session.keepOpen();
  }

  /**
   * Sends `join` (again): with after = the last seq seen, the server sends what was missed. A
   * guest joins under the name they chose, or until then under a placeholder ("Guest 4821": a
   * guest needs a name to join at all; the chat asks for a real one before they can write).
   */
  join(): void {
    this.joined = false;
    if (!this.session.signal.features.includes("live")) return; // a server without the live room
    const token = this.opts.token();
    const name = this.opts.name?.() || (token ? "" : this.placeholder);
    const key = token ? "" : guestKey();
    const ref = this.ref();
    const msg = {
      type: "join",
      room: this.room,
      ref,
      ...(token ? { token } : {}),
      ...(name ? { name } : {}),
      ...(key ? { guest_key: key } : {}),
      ...(this.seq > 0 ? { after: this.seq } : {}),
    };
    if (this.send(msg)) {
      this.joinRefs.add(ref);
      this.joinRef = ref;
      this.session.liveJoinPending = true;
    }
  }

  private readonly placeholder = `Guest ${1000 + Math.floor(Math.random() * 9000)}`;
  /** The ref of the last join sent, until its answer; an earlier join's answer no longer counts. */
  private joinRef = "";
  /** Refs of every join sent (a refused one's error is recognised and dropped, not misread). */
  private readonly joinRefs = new Set<string>();

  /** The name a guest chose for the chat ("" until chosen). */
  get chosenName(): string {
    return this.opts.name?.() ?? "";
  }

  /** The server's clock now (ms since the epoch), as well as this page can tell. */
  now(): number {
    return Date.now() + this.offset;
  }

  /** ms left on an open lot by the server's clock (0 when over or not open). */
  remaining(lot: Lot | null): number {
    if (!lot || lot.status !== "open" || !lot.ends_at) return 0;
    return Math.max(0, lot.ends_at - (this.mediaClock?.() ?? this.now()));
  }

  /** Events waiting for the picture (a delayed viewer). */
  get heldCount(): number {
    return this.held.length;
  }

  /** Applies the held events whose moment the picture has reached (all of them when live). */
  releaseHeld(): void {
    const t = this.mediaClock?.() ?? null;
    while (this.held.length > 0 && (t === null || this.held[0].at <= t)) this.apply(this.held.shift() as RoomEvent, false);
  }

  has(grant: string): boolean {
    const g = this.you?.grants ?? [];
    return g.includes(grant) || g.includes("admin");
  }

  /** May moderate chat (moderate; publish implies it for the room). */
  get moderator(): boolean {
    return this.has("moderate") || this.has("publish");
  }

  /** May run the room's lots (publish or admin). */
  get seller(): boolean {
    return this.has("publish");
  }

  get canBid(): boolean {
    return !!this.you && !this.you.guest && this.has("bid");
  }

  /** fn gets the data of every room event of this kind, in seq order, once each. */
  on(kind: string, fn: EventFn): void {
    const list = this.handlers.get(kind) ?? [];
    list.push(fn);
    this.handlers.set(kind, list);
  }

  /** fn runs after each `joined` (fresh: the state was rebuilt from a snapshot, not resumed). */
  onJoined(fn: (j: Joined, fresh: boolean) => void): void {
    this.joinedFns.push(fn);
  }

  /** Errors of the room not tied to a request of a panel (join refused, bad_seq handled here). */
  onError(fn: (e: LiveError) => void): void {
    this.errorFns.push(fn);
  }

  /**
   * Sends a live message with a fresh ref and resolves with its answer (bid_result, lot_result
   * or ok); rejects with a LiveError (the server's code, or "offline" / "timeout").
   */
  request(msg: Record<string, unknown> & { type: string }): Promise<Answer> {
    const ref = this.ref();
    return new Promise<Answer>((resolve, reject) => {
      if (!this.send({ ...msg, ref })) {
        reject(new LiveError("offline", "not connected"));
        return;
      }
      const timer = window.setTimeout(() => {
        this.pending.delete(ref);
        reject(new LiveError("timeout", "no answer from the server"));
      }, ANSWER_TIMEOUT_MS);
      this.pending.set(ref, { resolve, reject, timer });
    });
  }

  private send(msg: Record<string, unknown> | ClientMessage): boolean {
    return this.session.send(msg as ClientMessage);
  }

  private ref(): string {
    return `r${this.nextRef++}`;
  }

  /** Whether ref is a join's (and forgets it): the answer to that join. */
  private isJoinRef(ref: string | undefined): boolean {
    return !!ref && this.joinRefs.delete(ref);
  }

  private sample(serverTime: number): void {
    if (!serverTime) return;
    this.samples.push(serverTime - Date.now());
    if (this.samples.length > OFFSET_SAMPLES) this.samples.shift();
    // A message is late by its network delay, never early: the largest sample is the closest.
    this.offset = Math.max(...this.samples);
  }

  private handleJoined(j: Joined): void {
    // resumed: the server had every event after our seq (they come in `events`); else a snapshot.
    const fresh = !j.resumed;
    this.isJoinRef(j.ref);
    if (!j.ref || j.ref === this.joinRef) {
      this.joinRef = "";
      this.session.liveJoinPending = false;
    }
    this.joined = true;
    this.joins++;
    this.resumed = !!j.resumed;
    this.you = j.you;
    if (j.you?.guest && j.you.guest_key) setGuestKey(j.you.guest_key); // the same guest after a reload
    this.settings = j.settings ?? this.settings;
    this.product = j.product ?? null;
    this.sample(j.server_time);
    if (j.lots) {
      this.lots.clear();
      for (const l of j.lots) this.lots.set(l.id, l);
    }
    if (j.lot) this.setLot(j.lot);
    else {
      if (this.lot?.status === "open") this.lot = null; // it ended while we were away; events (if any) say how
      if (j.last_lot) this.setLot(j.last_lot, false); // the last result, for someone joining after it
    }
    const events = (j.events ?? []).slice().sort((a, b) => a.seq - b.seq);
    if (fresh) {
      this.seq = j.seq;
      this.held = []; // the snapshot is newer than anything held
    }
    for (const fn of this.joinedFns) fn(j, fresh);
    for (const ev of events) this.onEvent(ev, false);
    if (j.seq > this.seq) this.seq = j.seq;
  }

  private onEvent(ev: RoomEvent, live: boolean): void {
    if (ev.room && ev.room !== this.room) return;
    if (!this.joined || ev.seq <= this.seq) return; // before the snapshot, or seen already
    this.seq = ev.seq;
    if (live) this.sample(ev.at);
    if (HELD_KINDS.has(ev.kind) && this.mediaClock) {
      const t = this.mediaClock();
      if (this.held.length > 0 || (t !== null && ev.at > t)) {
        this.held.push(ev);
        return;
      }
    }
    this.apply(ev, live);
  }

  private apply(ev: RoomEvent, live: boolean): void {
    switch (ev.kind) {
      case "lot":
        this.setLot(ev.data as Lot, true, live);
        break;
      case "bid": {
        const d = ev.data as { lot_id: string; bid: Bid; lot: Lot };
        if (d.lot) this.setLot(d.lot, true, live);
        break;
      }
      case "room.settings":
        this.settings = ev.data as Settings;
        break;
      case "product":
        this.product = (ev.data as Product | null) ?? null;
        break;
    }
    for (const fn of this.handlers.get(ev.kind) ?? []) fn(ev.data, ev);
    for (const fn of this.handlers.get("*") ?? []) fn(ev.data, ev);
  }

  /**
   * Applies a lot. Events come in seq order (ordered); an answer's snapshot may be older than an
   * event already applied (the bid event can overtake the bid_result), so it never goes back.
   * fresh: the lot's server_time is of now (not a replayed event), a sample of the server clock.
   */
  private setLot(l: Lot, ordered = true, fresh = true): void {
    if (!l || !l.id) return;
    if (fresh && l.server_time) this.sample(l.server_time); // a replayed event's time is old: no clock sample
    const known = this.lots.get(l.id);
    if (!ordered && known && isOlder(l, known)) return;
    this.lots.set(l.id, l);
    if (this.lot && this.lot.id === l.id) this.lot = l;
    else if (l.status === "open") this.lot = l;
    else if (l.status !== "queued" && (!this.lot || this.lot.status !== "open")) this.lot = l;
  }

  private onAnswer(a: Answer): void {
    const ref = a.ref ?? "";
    const p = this.pending.get(ref);
    if (!p) return;
    this.pending.delete(ref);
    window.clearTimeout(p.timer);
    if ((a.type === "bid_result" || a.type === "lot_result") && a.lot) this.setLot(a.lot, false);
    p.resolve(a);
  }

  private handleError(m: { code: string; message?: string; ref?: string; min_amount?: number }): void {
    const err = new LiveError(m.code, m.message ?? "", m.min_amount);
    if (this.isJoinRef(m.ref)) {
      // A join was refused (nothing changed on the server). An earlier join's refusal is moot:
      // a later join is on its way.
      if (m.ref !== this.joinRef) return;
      this.joinRef = "";
      this.session.liveJoinPending = false;
      if (m.code === "bad_seq") {
        // Our seq is ahead of the room's (a stale or forged resume): start over from a snapshot.
        this.seq = 0;
        this.join();
        return;
      }
      for (const fn of this.errorFns) fn(err);
      return;
    }
    const p = m.ref ? this.pending.get(m.ref) : undefined;
    if (p && m.ref) {
      this.pending.delete(m.ref);
      window.clearTimeout(p.timer);
      p.reject(err);
      return;
    }
    if (m.code === "not_joined" && this.joined) this.join(); // the server forgot us (it restarted the room)
  }
}

/** What a delayed viewer sees by media time; chat, reactions and settings stay live. */
const HELD_KINDS = new Set(["lot", "bid"]);

const TERMINAL = new Set(["sold", "unsold", "cancelled"]);

/** a is an older state of the same lot than b. */
function isOlder(a: Lot, b: Lot): boolean {
  if (TERMINAL.has(b.status) && !TERMINAL.has(a.status)) return true;
  if (b.status === "open" && a.status === "queued") return true;
  return a.status === b.status && a.bid_count < b.bid_count;
}
