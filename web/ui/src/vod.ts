// VOD player (/v/{id}): hls.js (MSE) or native HLS where MSE is missing; custom controls (play,
// seek, time, quality Auto + renditions, speed 0.5–2×, subtitles from the recording's WebVTT
// files, fullscreen), keyboard shortcuts with a help dialog, resume from the last position
// (localStorage), inline editing of title and description for the room's seller or an admin.
// While the recording is still processing it plays the playlist of the chunks done so far and
// switches to the final one when /api/events says it is ready.
// Sections: the shared elements and page state (vod/page.ts), the information panel
// (vod/info.ts), the editor and subtitle upload (vod/edit.ts), the speed/quality/subtitle menus
// (vod/menus.ts), playback (vod/playback.ts), the recording's state (vod/state.ts) and the show
// beside the video — chapters and the replayed chat (vod/show.ts); this entry wires them and
// exposes the automation hook.

import { initEditor } from "./vod/edit";
import { controls, page, setState, showNotice, video } from "./vod/page";
import { initPlayback } from "./vod/playback";
import { initShow, showState } from "./vod/show";
import { apply, load } from "./vod/state";

initPlayback();
initShow();

// ---------------------------------------------------------------- automation hook

Object.defineProperty(window, "relaycast", {
  value: Object.freeze({
    page: "vod",
    get state() {
      return page.state;
    },
    get error() {
      return page.lastError;
    },
    get recording() {
      return page.rec;
    },
    get src() {
      return page.src;
    },
    get hls() {
      return page.hls;
    },
    video,
    /** Renditions as hls.js sees them: [{height, bitrate}], in hls.levels order. */
    levels() {
      const hls = page.hls;
      return hls ? hls.levels.map((l) => ({ height: l.height, bitrate: l.bitrate })) : [];
    },
    /** The level playing now (-1 before the first fragment), and whether ABR picks it. */
    get currentLevel() {
      return page.hls ? page.hls.currentLevel : -1;
    },
    get autoLevel() {
      return page.hls ? page.hls.autoLevelEnabled : true;
    },
    get levelSwitches() {
      return page.levelSwitches;
    },
    /** The show beside the video: its chapters, the events loaded and how many the video reached. */
    get show() {
      return showState();
    },
  }),
});

initEditor({ current: () => page.rec, apply, notice: (text) => showNotice(text) });
controls.hidden = false;
setState("loading");
void load();
