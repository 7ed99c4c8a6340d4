// The live room's data as the pages use it: the lot, bid, chat and product objects of the room's
// events (signaling/PROTOCOL.md, "live" family; docs/AUCTION.md). Money is an integer number of
// minor units (cents); every time is integer ms since the Unix epoch, by the server's clock.

export type LotStatus = "queued" | "open" | "sold" | "unsold" | "cancelled";
export type LotMode = "standard" | "sudden_death";

export interface Increment {
  /** The step applies to prices below up_to; 0 = the last row (no upper bound). */
  up_to: number;
  step: number;
}

export interface Lot {
  id: string;
  room: string;
  title: string;
  description?: string;
  image_url?: string;
  start_price: number;
  increments?: Increment[];
  duration_s: number;
  mode: LotMode;
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
  created_at?: number;
  started_at?: number;
  ended_at?: number;
}

export interface Bid {
  n: number;
  lot_id: string;
  subject: string;
  name: string;
  amount: number;
  max_amount?: number;
  at: number;
  accepted: boolean;
  reason?: string;
  proxy: boolean;
  price: number;
  leader: string;
}

export interface ChatMessage {
  /** The chat event's seq: unique and ordered within the room. */
  id: number;
  subject: string;
  name: string;
  text: string;
  at: number;
  guest?: boolean;
  role?: string;
}

export interface Settings {
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
}

/** One event of the room's ordered stream. */
export interface RoomEvent {
  room: string;
  seq: number;
  kind: string;
  at: number;
  data: unknown;
}

export interface Joined {
  type: "joined";
  room: string;
  seq: number;
  server_time: number;
  you: You;
  settings: Settings;
  lot: Lot | null;
  lots?: Lot[];
  product: Product | null;
  chat: ChatMessage[];
  events?: RoomEvent[];
}

export interface LotInput {
  title: string;
  description?: string;
  image_url?: string;
  start_price: number;
  increments?: Increment[];
  duration_s: number;
  mode: LotMode;
  extend_window_s?: number;
  extend_to_s?: number;
  max_extensions?: number;
}

export interface BidResult {
  type: "bid_result";
  ref?: string;
  accepted: boolean;
  code?: string;
  min_amount?: number;
  lot?: Lot;
  bid?: Bid;
}

export interface LotResult {
  type: "lot_result";
  ref?: string;
  lot: Lot;
}

/** The room's answer to a message sent with a ref: its result, or an `error` with the same ref. */
export type Answer = BidResult | LotResult | { type: "ok"; ref?: string };
