// Simulcast on the pages: the layers the broadcast page publishes, and the watch page's quality
// menu (the `quality` / `layer` messages of signaling/PROTOCOL.md).

import qualityCss from "./styles/quality.css" with { type: "text" };

export type Quality = "auto" | "high" | "medium" | "low";
export const QUALITIES: Quality[] = ["auto", "high", "medium", "low"];

/** Server → viewer: what the viewer of a simulcast room is sent. */
export interface LayerMessage {
  type: "layer";
  quality: Quality;
  /** "high" | "medium" | "low", or "" while no video is sent. */
  layer: string;
  /** The layers the publisher is sending now, lowest first. */
  layers?: string[];
  audio_only: boolean;
}

export function isLayerMessage(m: { type: string }): m is LayerMessage {
  return m.type === "layer";
}

/** One simulcast layer of the broadcast page: scaled down from the capture, with its own cap. */
interface SimulcastLayer {
  rid: string;
  scaleResolutionDownBy: number;
  maxBitrate: number;
}

/** Lowest first; the rids are the ones the server ranks as low / medium / high. */
const LAYERS: SimulcastLayer[] = [
  { rid: "q", scaleResolutionDownBy: 4, maxBitrate: 150_000 },
  { rid: "h", scaleResolutionDownBy: 2, maxBitrate: 500_000 },
  { rid: "f", scaleResolutionDownBy: 1, maxBitrate: 1_500_000 },
];

/**
 * The sendEncodings for a capture `width` pixels wide: three layers from 640 px up, two from
 * 320 px, else one plain encoding (no simulcast), capped at `singleMaxBitrate`.
 */
export function simulcastEncodings(width: number, singleMaxBitrate: number, maxFramerate: number): RTCRtpEncodingParameters[] {
  const n = width >= 640 ? 3 : width >= 320 ? 2 : 1;
  if (n === 1) return [{ maxBitrate: singleMaxBitrate, maxFramerate }];
  return LAYERS.slice(LAYERS.length - n).map((l) => ({
    rid: l.rid,
    scaleResolutionDownBy: l.scaleResolutionDownBy,
    maxBitrate: l.maxBitrate,
    maxFramerate,
  }));
}

let injected = false;
/**
 * Adds quality.css to the page once, as a constructed stylesheet: the pages' Content-Security-Policy
 * (style-src 'self') refuses inline <style> elements but not stylesheets built through the CSSOM.
 */
export function injectQualityStyles(): void {
  if (injected) return;
  injected = true;
  try {
    const sheet = new CSSStyleSheet();
    sheet.replaceSync(qualityCss);
    document.adoptedStyleSheets = [...document.adoptedStyleSheets, sheet];
  } catch (e) {
    console.warn("relaycast: quality styles not applied", e);
  }
}

export function qualityLabel(q: string): string {
  return q ? q.charAt(0).toUpperCase() + q.slice(1) : "";
}
