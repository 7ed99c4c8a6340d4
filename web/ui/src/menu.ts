// A small accessible menu button: a <button aria-haspopup="menu"> that opens a list of
// menuitemradio items. Arrow keys move, Enter/Space choose, Escape/Tab close, focus returns.
// With a boundary (the player), an open menu is moved and shortened to stay inside it: a
// player with `overflow: hidden` would cut off a menu that starts outside it.

export interface MenuItem {
  value: string;
  label: string;
}

export class RadioMenu {
  private items: MenuItem[] = [];
  private value = "";

  constructor(
    private readonly button: HTMLButtonElement,
    private readonly list: HTMLElement,
    private readonly caption: (item: MenuItem | undefined) => string,
    private readonly onChoose: (value: string) => void,
    private readonly boundary: HTMLElement | null = null,
  ) {
    button.addEventListener("click", () => (this.isOpen() ? this.close(true) : this.open()));
    button.addEventListener("keydown", (ev) => {
      if (ev.key === "ArrowDown" || ev.key === "ArrowUp") {
        ev.preventDefault();
        this.open(ev.key === "ArrowUp" ? "last" : "checked");
      }
    });
    list.addEventListener("keydown", (ev) => this.onKey(ev));
    list.addEventListener("focusout", (ev) => {
      const to = ev.relatedTarget as Node | null;
      if (this.isOpen() && (!to || (!list.contains(to) && to !== button))) this.close(false);
    });
    document.addEventListener("pointerdown", (ev) => {
      const t = ev.target as Node;
      if (this.isOpen() && !list.contains(t) && !button.contains(t)) this.close(false);
    });
  }

  setItems(items: MenuItem[], value: string): void {
    this.items = items;
    this.value = value;
    this.list.textContent = "";
    for (const it of items) {
      const li = document.createElement("li");
      li.setAttribute("role", "none");
      const b = document.createElement("button");
      b.type = "button";
      b.setAttribute("role", "menuitemradio");
      b.tabIndex = -1;
      b.dataset.value = it.value;
      b.textContent = it.label;
      b.addEventListener("click", () => this.choose(it.value));
      li.append(b);
      this.list.append(li);
    }
    this.render();
  }

  setValue(value: string): void {
    this.value = value;
    this.render();
  }

  get size(): number {
    return this.items.length;
  }

  isOpen(): boolean {
    return !this.list.hidden;
  }

  open(focus: "checked" | "last" = "checked"): void {
    if (!this.items.length) return;
    this.list.hidden = false;
    this.fit();
    this.button.setAttribute("aria-expanded", "true");
    const buttons = this.buttons();
    const target = focus === "last" ? buttons[buttons.length - 1] : (buttons.find((b) => b.dataset.value === this.value) ?? buttons[0]);
    target?.focus();
  }

  close(returnFocus: boolean): void {
    this.list.hidden = true;
    this.button.setAttribute("aria-expanded", "false");
    if (returnFocus) this.button.focus();
  }

  /** Keeps the open list inside the boundary: shifted sideways, no taller than the room above its button. */
  private fit(): void {
    const s = this.list.style;
    s.right = s.left = s.maxHeight = "";
    if (!this.boundary) return;
    const margin = 8;
    const b = this.boundary.getBoundingClientRect();
    const wrap = (this.list.offsetParent ?? this.button).getBoundingClientRect();
    s.maxHeight = `${Math.max(120, Math.min(288, wrap.top - b.top - margin))}px`;
    let r = this.list.getBoundingClientRect();
    if (r.left < b.left + margin) {
      // Anchored on its right edge: move that edge right until the left one is inside.
      s.right = `${Math.min(0, wrap.right - (b.left + margin + r.width))}px`;
      r = this.list.getBoundingClientRect();
    }
    if (r.right > b.right - margin) s.right = `${wrap.right - (b.right - margin)}px`;
  }

  private choose(value: string): void {
    this.value = value;
    this.render();
    this.close(true);
    this.onChoose(value);
  }

  private buttons(): HTMLButtonElement[] {
    return [...this.list.querySelectorAll<HTMLButtonElement>('[role="menuitemradio"]')];
  }

  private render(): void {
    for (const b of this.buttons()) b.setAttribute("aria-checked", String(b.dataset.value === this.value));
    this.button.textContent = this.caption(this.items.find((i) => i.value === this.value));
  }

  private onKey(ev: KeyboardEvent): void {
    const buttons = this.buttons();
    const i = buttons.indexOf(document.activeElement as HTMLButtonElement);
    let next = -1;
    switch (ev.key) {
      case "ArrowDown":
        next = (i + 1) % buttons.length;
        break;
      case "ArrowUp":
        next = (i - 1 + buttons.length) % buttons.length;
        break;
      case "Home":
        next = 0;
        break;
      case "End":
        next = buttons.length - 1;
        break;
      case "Escape":
        ev.preventDefault();
        ev.stopPropagation();
        this.close(true);
        return;
      case "Tab":
        this.close(false);
        return;
      default:
        return;
    }
    ev.preventDefault();
    ev.stopPropagation();
    buttons[next]?.focus();
  }
}
