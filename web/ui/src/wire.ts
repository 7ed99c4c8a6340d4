// Message types of the relaycast WebSocket signaling protocol (signaling/PROTOCOL.md): the
// TypeScript side of signaling/wire (Go). Every message is one JSON object whose `type` names it
// (the envelope); the other fields are the message's own. signaling/wire's TestWireTSMatches
// checks that this file declares every message type and field the Go package has: when adding a
// message or a field there, add it here (one `export interface` per message, one field a line).

export const PROTOCOL_VERSION = 1;
// The minor version of the live room (chat, lots, bids); the server announces it with
// `features: ["live"]` in `hello`.
export const PROTOCOL_MINOR = "1.1";

export type ErrorCode =
  | "bad_request"
  | "unauthorized"
  | "forbidden"
  | "not_found"
  | "conflict"
  | "unsupported"
  | "busy"
  | "internal"
  | "redirect" // another node serves the room: repeat the request at url
  // live room (1.1)
  | "not_joined"
  | "bad_seq"
  | "too_long"
  | "rate_limited"
  | "slow_mode"
  | "links_off"
  | "timed_out"
  | "banned"
  | "guests_off"
  | "too_low"
  | "lot_closed"
  | "not_open"
  | "already_leading";

// Client → server (media family: publish, watch, quality, candidate, stop; session family: ping).

export interface PublishMessage {
  type: "publish";
  room: string;
  sdp: string;
  token?: string;
}

export interface WatchMessage {
  type: "watch";
  room: string;
  sdp?: string;
  token?: string;
  quality?: string;
}

export interface QualityMessage {
  type: "quality";
  quality: string;
}

export interface CandidateMessage {
  type: "candidate";
  candidate: RTCIceCandidateInit | null;
}

export interface StopMessage {
  type: "stop";
}

export interface PingMessage {
  type: "ping";
}

// Server → client.

export interface HelloMessage {
  type: "hello";
  version: number;
  ice_servers?: RTCIceServer[];
  features?: string[];
}

export interface AnswerMessage {
  type: "answer";
  sdp: string;
}

export interface WaitingMessage {
  type: "waiting";
  room: string;
}

export interface LiveMessage {
  type: "live";
  room: string;
}

export interface StatusMessage {
  type: "status";
  room: string;
  live: boolean;
  viewers: number;
  since?: string;
}

export interface EndedMessage {
  type: "ended";
  room: string;
  reason?: string;
}

export interface ErrorMessage {
  type: "error";
  code: ErrorCode | string;
  message?: string;
  ref?: string;
  min_amount?: number;
  url?: string;
  /** rate_limited: when to send again, ms (the socket's message limit). */
  retry_after_ms?: number;
}

export interface PongMessage {
  type: "pong";
}

/** The node is draining: close this socket and connect again at once (PROTOCOL.md, "Draining"). */
export interface ReconnectMessage {
  type: "reconnect";
  reason?: string;
}

export interface LayerMessage {
  type: "layer";
  quality?: string;
  layer: string;
  layers?: string[];
  audio_only: boolean;
}

// Live room (family "live", protocol 1.1): data shapes. Money is integer minor units (cents);
// every time is integer milliseconds since the Unix epoch (server clock).

export interface Increment {
  up_to: number; // 0 = no upper bound (the last step)
  step: number;
}

export type LotStatus = "queued" | "open" | "sold" | "unsold" | "cancelled";

export interface Lot {
  id: string;
  room: string;
  title: string;
  description?: string;
  image_url?: string;
  start_price: number;
  increments: Increment[];
  duration_s: number;
  mode: "standard" | "sudden_death";
  extend_window_s: number;
  extend_to_s: number;
  max_extensions: number;
  status: LotStatus;
  price: number;
  min_amount: number;
  leader: string | null;
  leader_name?: string;
  bid_count: number;
  ends_at: number;
  server_time: number;
  winner: string | null;
  winner_name?: string;
  extensions: number;
  created_at: number;
  started_at: number;
  ended_at: number;
}

export interface LotInput {
  title: string;
  description?: string;
  image_url?: string;
  start_price: number;
  increments?: Increment[];
  duration_s: number;
  mode?: "standard" | "sudden_death";
  extend_window_s?: number;
  extend_to_s?: number;
  max_extensions?: number;
}

export interface Bid {
  n: number;
  lot_id: string;
  subject?: string;
  name: string;
  amount: number;
  max_amount?: number;
  at: number;
  accepted: boolean;
  reason?: string;
  proxy: boolean;
  price: number;
  leader?: string;
}

export interface ChatLine {
  id: number;
  subject: string;
  name: string;
  text: string;
  at: number;
  guest?: boolean;
  role?: "seller" | "moderator";
}

export interface RoomSettings {
  slow_mode_s: number;
  links: boolean;
  guest_chat: boolean;
}

export interface Product {
  id: string;
  title: string;
  image_url?: string;
  price: number;
  stock: number;
  url?: string;
}

export interface You {
  subject: string;
  name: string;
  guest: boolean;
  grants: string[];
  /** Guests only: keep it (per browser) and send it as join.guest_key to stay the same guest. */
  guest_key?: string;
}

// Event kinds: chat, chat.deleted, user.timeout, user.ban, user.unban, room.settings, reactions,
// lot, bid, product, room.live, room.ended (PROTOCOL.md "Event kinds").
export type EventKind =
  | "chat"
  | "chat.deleted"
  | "user.timeout"
  | "user.ban"
  | "user.unban"
  | "room.settings"
  | "reactions"
  | "lot"
  | "bid"
  | "product"
  | "room.live"
  | "room.ended";

export interface RoomEvent {
  room: string;
  seq: number;
  kind: EventKind | string;
  at: number;
  data: any;
}

// Live room: client → server.

export interface JoinMessage {
  type: "join";
  room: string;
  token?: string;
  name?: string;
  after?: number;
  guest_key?: string;
  ref?: string;
}

export interface LeaveMessage {
  type: "leave";
  ref?: string;
}

export interface ChatSendMessage {
  type: "chat";
  text: string;
  ref?: string;
}

export interface ReactMessage {
  type: "react";
  kind: string;
}

export interface BidMessage {
  type: "bid";
  lot_id: string;
  amount?: number;
  max_amount?: number;
  ref?: string;
}

export interface LotCreateMessage {
  type: "lot_create";
  ref?: string;
  lot: LotInput;
}

export interface LotStartMessage {
  type: "lot_start";
  lot_id: string;
  ref?: string;
}

export interface LotEndMessage {
  type: "lot_end";
  lot_id: string;
  ref?: string;
}

export interface LotCancelMessage {
  type: "lot_cancel";
  lot_id: string;
  ref?: string;
}

export interface ModerateMessage {
  type: "moderate";
  ref?: string;
  action: "delete" | "timeout" | "ban" | "unban" | "settings" | "pin" | "unpin";
  id?: number;
  subject?: string;
  seconds?: number;
  settings?: Partial<RoomSettings>;
  product?: Product;
}

// Live room: server → client.

export interface JoinedMessage {
  type: "joined";
  ref?: string;
  room: string;
  seq: number;
  server_time: number;
  you: You;
  settings: RoomSettings;
  lot: Lot | null;
  /** While no lot is open: the room's most recently ended lot (sold, unsold, cancelled), else null. */
  last_lot: Lot | null;
  lots?: Lot[];
  product: Product | null;
  chat: ChatLine[];
  resumed: boolean;
  events?: RoomEvent[];
}

export interface EventMessage {
  type: "event";
  room: string;
  seq: number;
  kind: EventKind | string;
  at: number;
  data: any;
}

export interface BidResultMessage {
  type: "bid_result";
  ref?: string;
  accepted: boolean;
  code?: string;
  min_amount: number;
  lot: Lot | null;
  bid?: Bid;
}

export interface LotResultMessage {
  type: "lot_result";
  ref?: string;
  lot: Lot;
}

export interface OkMessage {
  type: "ok";
  ref?: string;
}

export type LiveClientMessage =
  | JoinMessage
  | LeaveMessage
  | ChatSendMessage
  | ReactMessage
  | BidMessage
  | LotCreateMessage
  | LotStartMessage
  | LotEndMessage
  | LotCancelMessage
  | ModerateMessage;

export type LiveServerMessage = JoinedMessage | EventMessage | BidResultMessage | LotResultMessage | OkMessage;

export type ClientMessage =
  | PublishMessage
  | WatchMessage
  | QualityMessage
  | CandidateMessage
  | StopMessage
  | PingMessage
  | LiveClientMessage;

export type ServerMessage =
  | HelloMessage
  | AnswerMessage
  | WaitingMessage
  | LiveMessage
  | StatusMessage
  | EndedMessage
  | ErrorMessage
  | PongMessage
  | LayerMessage
  | ReconnectMessage
  | LiveServerMessage;
