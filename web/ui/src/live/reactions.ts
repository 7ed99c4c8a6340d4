// Reactions: a hearts button and hearts floating up over the video. A tap sends `react`; what
// floats is the room's aggregated `reactions` event (every node flushes its counts twice a
// second), so every screen shows the same crowd, a handful of hearts per flush at most.

import { type LiveRoom } from "./room";

const MAX_FLOATING = 24;
const PER_FLUSH = 8;

export class Reactions {
  readonly button: HTMLButtonElement;
  private readonly layer: HTMLElement;
  /** Hearts counted from the room's events since the page joined (automation). */
  total = 0;

  constructor(
    private readonly room: LiveRoom,
    buttonMount: HTMLElement,
    layerMount: HTMLElement,
  ) {
    this.button = document.createElement("button");
    this.button.type = "button";
    this.button.className = "btn react-heart";
    this.button.setAttribute("aria-label", "Send a heart");
    this.button.textContent = "♥";
    this.button.addEventListener("click", () => this.tap());
    buttonMount.append(this.button);
    this.layer = document.createElement("div");
    this.layer.className = "react-layer";
    this.layer.setAttribute("aria-hidden", "true");
    layerMount.append(this.layer);
    room.on("reactions", (d) => {
      const counts = (d as { counts?: Record<string, number> }).counts ?? {};
      const hearts = Number(counts.heart ?? 0);
      if (hearts > 0) {
        this.total += hearts;
        this.float(Math.min(PER_FLUSH, hearts));
      }
    });
  }

  private tap(): void {
    if (!this.room.joined) return;
    this.room.session.send({ type: "react", kind: "heart" });
    this.button.classList.remove("react-pop");
    void this.button.offsetWidth; // restart the animation
    this.button.classList.add("react-pop");
  }

  private float(n: number): void {
    for (let i = 0; i < n; i++) {
      if (this.layer.childElementCount >= MAX_FLOATING) return;
      const h = document.createElement("span");
      h.className = "react-float";
      h.textContent = "♥";
      h.style.setProperty("--x", `${Math.round((Math.random() - 0.5) * 60)}px`);
      h.style.setProperty("--delay", `${i * 70}ms`);
      h.addEventListener("animationend", () => h.remove());
      window.setTimeout(() => h.remove(), 4000); // reduced motion: no animationend
      this.layer.append(h);
    }
  }
}
