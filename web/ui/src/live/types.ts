// The live room's data as the pages use it: the shapes of wire.ts (signaling/PROTOCOL.md, "Live
// room", protocol 1.1) under the names the panels use. Money is an integer number of minor units
// (cents); every time is integer ms since the Unix epoch, by the server's clock.

import type { BidResultMessage, ChatLine, JoinedMessage, LotResultMessage, OkMessage, RoomSettings } from "../wire";

export type { Bid, Increment, Lot, LotInput, LotStatus, Product, RoomEvent, You } from "../wire";
export type LotMode = "standard" | "sudden_death";
export type ChatMessage = ChatLine;
export type Settings = RoomSettings;
export type Joined = JoinedMessage;

/** The room's answer to a message sent with a ref: its result, or an `error` with the same ref. */
export type Answer = BidResultMessage | LotResultMessage | OkMessage;
