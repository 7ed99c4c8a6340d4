// hls.js ships types for its full build only; the light build (no EME, no alternate audio, no
// in-manifest subtitles: the player adds WebVTT files as <track> elements itself) has the same API.
declare module "hls.js/light" {
  export * from "hls.js";
  export { default } from "hls.js";
}
