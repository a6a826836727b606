// Types of tender's gift card enabler (/enabler/connector-enabler.es.js, and the UMD build's
// global `TenderEnabler`). The interface is the commercetools gift card connector's:
// new Enabler(options) → createGiftCardBuilder() → build(options) → {mount, balance, submit}.

/** An amount in minor units. The template spells the currency `currencyCode`, the seed
 * `currency`; the enabler accepts either. */
export type Amount =
  | { centAmount: number; currencyCode: string; currency?: string }
  | { centAmount: number; currency: string; currencyCode?: string };

export type BalanceState =
  | "Valid"
  | "NotFound"
  | "Expired"
  | "CurrencyNotMatch"
  | "ZeroBalance"
  | "GenericError";

export type BalanceType = {
  status: {
    state: BalanceState;
    errors?: { code: string; message: string }[];
  };
  /** Present when the card was found; both spellings of the currency are filled in. */
  amount?: { centAmount: number; currency: string; currencyCode: string; fractionDigits?: number };
};

/** What onComplete receives: `isSuccess` is a boolean, never the processor's result string. */
export type PaymentResult =
  | { isSuccess: true; paymentReference: string }
  | { isSuccess: false; paymentReference?: string };

/** What onError and the `giftcard:error` event receive. */
export interface EnablerError extends Error {
  name: "EnablerError";
  /** The processor's first error code in the template's words (tender's InvalidGiftCard is
   * NotFound, CurrencyMismatch is CurrencyNotMatch; the processor's own are in `errors`), or
   * the enabler's own (NetworkError: no answer, or none within 30 seconds; TooManyRequests,
   * CodeRequired, PinRequired, AmountRequired, InvalidAmount, NotMounted, MountTargetNotFound,
   * InvalidOptions; CallbackFailed: a callback of the page's threw or rejected, what it threw
   * is the `cause`). */
  code: string;
  /** The HTTP status when the processor answered. */
  statusCode?: number;
  errors: { code: string; message: string; field?: string }[];
  /** Seconds to wait, for TooManyRequests (absent when the processor did not say). */
  retryAfter?: number;
}

export type EnablerOptions = {
  processorUrl: string;
  sessionId: string;
  /** "en" or "de" (by default the session's locale, which the merchant's backend sets, else
   * "en"); a regional tag such as "de-CH" formats amounts for it. */
  locale?: string;
  onComplete?: (result: PaymentResult) => void;
  onError?: (error: EnablerError) => void;
};

/** Every callback is optional; one that throws or rejects is reported to onError. */
export type GiftCardOptions = {
  onGiftCardReady?: () => Promise<void> | void;
  onGiftCardSubmit?: () => Promise<void> | void;
  /** Any input changed; `isDirty` is true while a field holds something. */
  onChange?: (isDirty: boolean) => void;
  /** The code field went from empty to filled or back (the template's callback). */
  onValueChange?: (hasValue: boolean) => Promise<void> | void;
  /** Enter was pressed in a field; the component checks the balance at the same time, and a
   * balance() call made here joins that check. */
  onEnter?: () => Promise<void> | void;
};

export interface GiftCardComponent {
  /** Renders the fields into the element (or the first element the selector matches). */
  mount(selector: string | Element): void;
  /** Rejects with NotMounted before mount(). Only the latest check is shown to the shopper. */
  balance(): Promise<BalanceType>;
  /** Redeems at most `amount` (default: the cart's amount still to pay); the outcome goes to
   * onComplete or onError. An amount that is not a positive integer of minor units with a
   * currency is refused (InvalidAmount), never replaced by another. Calls while one is in
   * flight join it. */
  submit(opts?: { amount?: Amount }): Promise<void>;
  getState(): { code?: string };
}

export interface GiftCardBuilder {
  build(config?: GiftCardOptions): GiftCardComponent;
}

export interface GiftCardEnabler {
  createGiftCardBuilder(type?: string): Promise<GiftCardBuilder>;
}

export declare class Enabler implements GiftCardEnabler {
  constructor(options: EnablerOptions);
  createGiftCardBuilder(type?: string): Promise<GiftCardBuilder>;
}

export declare const EnablerError: {
  new (code: string, message: string, details?: Partial<EnablerError>): EnablerError;
  prototype: EnablerError;
};

/** The detail of each DOM event dispatched (bubbling) on the mount element. */
export interface GiftCardEventMap {
  "giftcard:ready": CustomEvent<Record<string, never>>;
  "giftcard:balance": CustomEvent<BalanceType>;
  "giftcard:submit": CustomEvent<{ amount?: Amount }>;
  "giftcard:complete": CustomEvent<PaymentResult>;
  "giftcard:error": CustomEvent<EnablerError>;
}

declare global {
  // So that `element.addEventListener("giftcard:balance", …)` knows its event's detail.
  interface HTMLElementEventMap extends GiftCardEventMap {}
}

export default Enabler;

/** The UMD build's global. */
export as namespace TenderEnabler;
