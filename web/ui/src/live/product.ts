// The pinned product on the watch page: title, image, price and stock, with the shop's buy link.

import { type LiveRoom } from "./room";
import { type Money } from "./money";

export class ProductCard {
  readonly root: HTMLElement;

  constructor(
    private readonly room: LiveRoom,
    mount: HTMLElement,
    private readonly money: Money,
  ) {
    this.root = document.createElement("section");
    this.root.className = "product";
    this.root.setAttribute("aria-label", "Pinned product");
    this.root.hidden = true;
    mount.append(this.root);
    room.onJoined(() => this.render());
    room.on("product", () => this.render());
  }

  private render(): void {
    const p = this.room.product;
    this.root.hidden = !p;
    this.root.textContent = "";
    if (!p) return;
    if (p.image_url && /^https?:\/\//i.test(p.image_url)) {
      const img = document.createElement("img");
      img.className = "product-image";
      img.alt = "";
      img.src = p.image_url;
      img.addEventListener("error", () => img.remove());
      this.root.append(img);
    }
    const info = document.createElement("div");
    info.className = "product-info";
    const title = document.createElement("p");
    title.className = "product-title";
    title.textContent = p.title;
    const meta = document.createElement("p");
    meta.className = "small product-meta";
    meta.textContent = `${this.money.format(p.price)} · ${p.stock > 0 ? `${p.stock} left` : "sold out"}`;
    info.append(title, meta);
    this.root.append(info);
    if (p.url && /^https?:\/\//i.test(p.url) && p.stock > 0) {
      const a = document.createElement("a");
      a.className = "btn btn-sm product-buy";
      a.href = p.url;
      a.target = "_blank";
      a.rel = "noopener";
      a.textContent = "Buy now";
      this.root.append(a);
    }
  }
}
