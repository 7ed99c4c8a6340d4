// Message types of the relaycast WebSocket signaling protocol (signaling/PROTOCOL.md): the
// TypeScript side of signaling/wire (Go). Every message is one JSON object whose `type` names it
// (the envelope); the other fields are the message's own. signaling/wire's TestWireTSMatches
// checks that this file declares every message type and field the Go package has: when adding a
// message or a field there, add it here (one `export interface` per message, one field a line).

export const PROTOCOL_VERSION = 1;

export type ErrorCode =
  | "bad_request"
  | "unauthorized"
  | "forbidden"
  | "not_found"
  | "conflict"
  | "unsupported"
  | "busy"
  | "internal";

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
}

export interface PongMessage {
  type: "pong";
}

export interface LayerMessage {
  type: "layer";
  quality?: string;
  layer: string;
  layers?: string[];
  audio_only: boolean;
}

export type ClientMessage = PublishMessage | WatchMessage | QualityMessage | CandidateMessage | StopMessage | PingMessage;

export type ServerMessage =
  | HelloMessage
  | AnswerMessage
  | WaitingMessage
  | LiveMessage
  | StatusMessage
  | EndedMessage
  | ErrorMessage
  | PongMessage
  | LayerMessage;
