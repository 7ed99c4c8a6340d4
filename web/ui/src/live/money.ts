// Money on the live pages: amounts are integer minor units (cents) everywhere on the wire; the
// pages show them with Intl.NumberFormat in the page's currency (`?currency=EUR`, default USD).

import { param } from "../common";

export class Money {
  readonly currency: string;
  /** Minor units per major unit (100 for USD and EUR, 1 for JPY). */
  readonly scale: number;
  private readonly fmt: Intl.NumberFormat;
  private readonly digits: number;

  constructor(currency = "USD", locale?: string) {
    let fmt: Intl.NumberFormat;
    try {
      fmt = new Intl.NumberFormat(locale, { style: "currency", currency });
    } catch {
      currency = "USD"; // an unknown code: fall back rather than break the page
      fmt = new Intl.NumberFormat(locale, { style: "currency", currency });
    }
    this.currency = currency.toUpperCase();
    this.fmt = fmt;
    this.digits = fmt.resolvedOptions().maximumFractionDigits ?? 2;
    this.scale = 10 ** this.digits;
  }

  /** The page's currency: `?currency=XXX` (ISO 4217), else USD. */
  static fromPage(): Money {
    const c = param("currency").trim().toUpperCase();
    return new Money(/^[A-Z]{3}$/.test(c) ? c : "USD");
  }

  /** "$12.50" for 1250. */
  format(minor: number): string {
    return this.fmt.format(minor / this.scale);
  }

  /**
   * Minor units from what a person typed ("12.5", "12,50", "$1,200"), or null when it is not an
   * amount. A comma followed by exactly the currency's digits at the end is a decimal comma.
   */
  parse(text: string): number | null {
    let t = text.replace(/[^\d.,]/g, "");
    if (!t) return null;
    const decComma = this.digits > 0 ? new RegExp(`,\\d{1,${this.digits}}$`) : null;
    if (decComma && decComma.test(t) && !t.includes(".")) t = t.replace(/,(\d+)$/, ".$1");
    t = t.replace(/,/g, "");
    if (!/^\d*(\.\d*)?$/.test(t) || t === ".") return null;
    const [whole, frac = ""] = t.split(".");
    if (frac.length > this.digits) return null;
    const minor = Number(whole || "0") * this.scale + Number((frac + "0".repeat(this.digits)).slice(0, this.digits) || "0");
    return Number.isSafeInteger(minor) ? minor : null;
  }

  /** The amount as a plain number for an input field ("12.50"). */
  plain(minor: number): string {
    return (minor / this.scale).toFixed(this.digits);
  }
}
