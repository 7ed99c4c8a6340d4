// Receive-side statistics for the watch page, computed from RTCPeerConnection.getStats().

export interface ReceiveStats {
  bitrate: number; // bits/s, audio + video, since the previous sample
  width: number;
  height: number;
  fps: number;
  rttMs: number | null;
  packetsLost: number;
  packetsReceived: number;
  jitterBufferMs: number | null; // average delay of frames emitted since the previous sample
  framesDecoded: number;
  codecs: string[];
}

interface Totals {
  ts: number;
  bytes: number;
  jbDelay: number;
  jbCount: number;
}

/** Keeps the previous sample so rates can be computed; one per peer connection. */
export class StatsSampler {
  private prev: Totals | null = null;

  async sample(pc: RTCPeerConnection): Promise<ReceiveStats> {
    const report = await pc.getStats();
    const out: ReceiveStats = {
      bitrate: 0,
      width: 0,
      height: 0,
      fps: 0,
      rttMs: null,
      packetsLost: 0,
      packetsReceived: 0,
      jitterBufferMs: null,
      framesDecoded: 0,
      codecs: [],
    };
    const now: Totals = { ts: 0, bytes: 0, jbDelay: 0, jbCount: 0 };
    const codecIds: string[] = [];
    let selectedPair = "";

    report.forEach((r) => {
      if (r.type === "inbound-rtp") {
        now.ts = Math.max(now.ts, r.timestamp);
        now.bytes += r.bytesReceived ?? 0;
        out.packetsLost += Math.max(0, r.packetsLost ?? 0);
        out.packetsReceived += r.packetsReceived ?? 0;
        if (r.codecId) codecIds.push(r.codecId);
        if (r.kind === "video") {
          out.width = r.frameWidth ?? 0;
          out.height = r.frameHeight ?? 0;
          out.fps = r.framesPerSecond ?? 0;
          out.framesDecoded = r.framesDecoded ?? 0;
          now.jbDelay += r.jitterBufferDelay ?? 0;
          now.jbCount += r.jitterBufferEmittedCount ?? 0;
        }
      } else if (r.type === "transport" && r.selectedCandidatePairId) {
        selectedPair = r.selectedCandidatePairId;
      }
    });

    // Round trip: the selected candidate pair, or the nominated succeeded one.
    report.forEach((r) => {
      if (r.type !== "candidate-pair") return;
      const chosen = selectedPair ? r.id === selectedPair : r.nominated && r.state === "succeeded";
      if (chosen && typeof r.currentRoundTripTime === "number") out.rttMs = r.currentRoundTripTime * 1000;
    });

    for (const id of codecIds) {
      const c = report.get(id);
      if (c?.mimeType) out.codecs.push(String(c.mimeType).replace(/^(audio|video)\//, ""));
    }

    const prev = this.prev;
    if (prev && now.ts > prev.ts) {
      out.bitrate = ((now.bytes - prev.bytes) * 8 * 1000) / (now.ts - prev.ts);
      const dCount = now.jbCount - prev.jbCount;
      if (dCount > 0) out.jitterBufferMs = ((now.jbDelay - prev.jbDelay) / dCount) * 1000;
    }
    if (out.jitterBufferMs === null && now.jbCount > 0) out.jitterBufferMs = (now.jbDelay / now.jbCount) * 1000;
    this.prev = now;
    return out;
  }
}
