/*
 * tender's gift card enabler: the browser half of the commercetools gift card connector
 * (Enabler → createGiftCardBuilder() → build(options) → {mount, balance, submit}).
 *
 * Plain JavaScript with no dependencies and no build step: tender serves this file, minified
 * when it starts, at /enabler/connector-enabler.es.js and derives its UMD twin from it, so the
 * file ends with its one export block and uses nothing else only a module may use.
 * Money stays in integer minor units: amounts are shown with Intl.NumberFormat from a decimal
 * string, never from a float.
 */

/** How long a message repeated word for word stays away before it is said again. */
const REPEAT_DELAY_MS = 150;

const STATES = ["Valid", "NotFound", "Expired", "CurrencyNotMatch", "ZeroBalance", "GenericError"];

/** Refusals caused by what the shopper typed: the field is marked invalid. */
/** The balance states a refused redemption's first error may name that tell the shopper more
 * than "could not be charged". */
const REFUSAL_STATES = ["ZeroBalance", "Expired", "CurrencyNotMatch"];
const FIELD_ERRORS = [
  "CodeRequired", "PinRequired", "NotFound", "Expired", "ZeroBalance", "CurrencyNotMatch",
  "GiftCardAlreadyAdded",
];

/** tender's own codes for refusals of a redemption that the template names otherwise, so a
 * redemption refused is told like the same card's balance check. */
const ALIASES = {
  InvalidGiftCard: "NotFound",
  GiftCardNotFound: "NotFound",
  GiftCardExpired: "Expired",
  CurrencyMismatch: "CurrencyNotMatch",
  InsufficientFunds: "ZeroBalance",
};

const TEXTS = {
  en: {
    legend: "Gift card",
    code: "Gift card number",
    pin: "PIN",
    pinOptional: "PIN (if your card has one)",
    balance: "Available balance: {amount}",
    paid: "{amount} paid with your gift card.",
    errors: {
      CodeRequired: "Please enter your gift card number.",
      PinRequired: "Please enter your gift card PIN.",
      NotFound: "The gift card number you entered is invalid. Please try again.",
      NotFoundWithPin: "The gift card number or PIN you entered is invalid. Please try again.",
      Expired: "The gift card you entered has expired.",
      CurrencyNotMatch: "The currency of the gift card does not match the currency of the cart.",
      ZeroBalance: "The gift card you entered has no balance.",
      GenericError: "We cannot process your gift card at the moment. Please try again.",
      TooManyRequests: "Too many attempts. Please try again in {seconds} seconds.",
      TooManyRequestsOne: "Too many attempts. Please try again in 1 second.",
      TooManyRequestsLater: "Too many attempts. Please try again later.",
      Failure: "The gift card could not be charged. Please try again.",
      GiftCardAlreadyAdded: "This gift card is already applied to your order.",
      TooManyGiftCards: "No more gift cards can be applied to this order.",
      CartPaidInFull: "Your order is already paid in full.",
      PaymentMethodNotAllowed: "Gift cards cannot be used for this order.",
    },
  },
  de: {
    legend: "Geschenkkarte",
    code: "Geschenkkartennummer",
    pin: "PIN",
    pinOptional: "PIN (falls vorhanden)",
    balance: "Verfügbares Guthaben: {amount}",
    paid: "{amount} mit Ihrer Geschenkkarte bezahlt.",
    errors: {
      CodeRequired: "Bitte geben Sie Ihre Geschenkkartennummer ein.",
      PinRequired: "Bitte geben Sie die PIN Ihrer Geschenkkarte ein.",
      NotFound: "Die eingegebene Geschenkkartennummer ist ungültig. Bitte versuchen Sie es erneut.",
      NotFoundWithPin:
        "Die eingegebene Geschenkkartennummer oder PIN ist ungültig. Bitte versuchen Sie es erneut.",
      Expired: "Die eingegebene Geschenkkarte ist abgelaufen.",
      CurrencyNotMatch:
        "Die Währung der Geschenkkarte stimmt nicht mit der Währung des Warenkorbs überein.",
      ZeroBalance: "Die eingegebene Geschenkkarte hat kein Guthaben.",
      GenericError:
        "Ihre Geschenkkarte kann gerade nicht verarbeitet werden. Bitte versuchen Sie es erneut.",
      TooManyRequests: "Zu viele Versuche. Bitte versuchen Sie es in {seconds} Sekunden erneut.",
      TooManyRequestsOne: "Zu viele Versuche. Bitte versuchen Sie es in 1 Sekunde erneut.",
      TooManyRequestsLater: "Zu viele Versuche. Bitte versuchen Sie es später erneut.",
      Failure: "Die Geschenkkarte konnte nicht belastet werden. Bitte versuchen Sie es erneut.",
      GiftCardAlreadyAdded: "Diese Geschenkkarte ist bereits für Ihre Bestellung verwendet.",
      TooManyGiftCards: "Für diese Bestellung können keine weiteren Geschenkkarten verwendet werden.",
      CartPaidInFull: "Ihre Bestellung ist bereits vollständig bezahlt.",
      PaymentMethodNotAllowed: "Geschenkkarten können für diese Bestellung nicht verwendet werden.",
    },
  },
};

const STYLES = `
.tender-gc{display:grid;gap:var(--tender-gc-gap,.75rem);margin:0;padding:0;border:0;min-width:0;
font:inherit;color:var(--tender-gc-color,inherit)}
.tender-gc__legend{position:absolute;width:1px;height:1px;overflow:hidden;clip-path:inset(50%);
white-space:nowrap}
.tender-gc__field{display:grid;gap:.25rem}
.tender-gc__label{font-weight:var(--tender-gc-label-weight,600)}
.tender-gc__input{box-sizing:border-box;min-height:2.75rem;font:inherit;color:inherit;
padding:var(--tender-gc-input-padding,.5rem .75rem);background:var(--tender-gc-input-background,#fff);
border:1px solid var(--tender-gc-border-color,#767676);border-radius:var(--tender-gc-radius,.375rem)}
.tender-gc__input:focus-visible{outline:2px solid var(--tender-gc-focus-color,#005fcc);outline-offset:2px}
.tender-gc__input[aria-invalid=true]{border-color:var(--tender-gc-error-color,#b3261e)}
.tender-gc[aria-busy=true] .tender-gc__input{opacity:.7}
.tender-gc__message{margin:0}
.tender-gc__message[data-kind=error]{color:var(--tender-gc-error-color,#b3261e)}
.tender-gc__message[data-kind=success]{color:var(--tender-gc-success-color,#1b6b32)}
`;

/** What the enabler hands to onError and to the giftcard:error event: an Error that also
 * carries tender's error shape (statusCode, errors) when the processor sent one. */
class EnablerError extends Error {
  constructor(code, message, details) {
    super(message);
    const extra = details || {};
    this.name = "EnablerError";
    this.code = code;
    this.statusCode = extra.statusCode;
    this.errors = extra.errors || [{ code, message }];
    this.retryAfter = extra.retryAfter;
  }
}

class Enabler {
  #options;
  #setup = null;

  constructor(options) {
    this.#options = { ...(options || {}) };
  }

  /** Resolves once the processor's configuration is read; rejects (and calls onError) when
   * the options are unusable or the processor refuses the session. */
  async createGiftCardBuilder(type) {
    void type; // one kind of component; the argument is accepted for the template's signature
    if (!this.#setup) {
      this.#setup = setUp(this.#options);
    }
    try {
      return new GiftCardBuilder(await this.#setup);
    } catch (error) {
      this.#setup = null; // a later call may succeed (a network that came back)
      report(this.#options, null, error);
      throw error;
    }
  }
}

class GiftCardBuilder {
  #context;

  constructor(context) {
    this.#context = context;
  }

  build(options) {
    return new GiftCardComponent(this.#context, { ...(options || {}) });
  }
}

let mounted = 0;

class GiftCardComponent {
  #context;
  #options;
  #host = null;
  #root = null;
  #code = null;
  #pin = null;
  #message = null;
  #hasValue = false;
  #balancing = null;
  #submitting = null;
  #submission = null;
  #turn = 0;
  #pending = 0;
  #said = 0;

  constructor(context, options) {
    this.#context = context;
    this.#options = options;
  }

  mount(selector) {
    const host = typeof selector === "string" ? findTarget(selector) : selector;
    if (!host || typeof host.appendChild !== "function") {
      throw new EnablerError("MountTargetNotFound", `no element matches ${String(selector)}`);
    }
    if (this.#root) {
      this.#root.remove();
    }
    this.#turn += 1; // a balance still on its way is about the old form's input
    installStyles(host.ownerDocument || document);
    const texts = this.#context.texts;
    const id = `tender-gc-${++mounted}`;
    const root = element("fieldset", { class: "tender-gc", lang: this.#context.language });
    root.append(element("legend", { class: "tender-gc__legend" }, texts.legend));
    this.#message = element("p", {
      class: "tender-gc__message",
      id: `${id}-message`,
      role: "status",
      "aria-live": "polite",
      "aria-atomic": "true",
    });
    this.#code = field(root, `${id}-code`, texts.code, {
      type: "text",
      name: "giftCardCode",
      inputmode: "text",
      autocapitalize: "characters",
      spellcheck: "false",
      "aria-required": "true",
    });
    const pinField = this.#context.pinField;
    this.#pin =
      pinField === "none"
        ? null
        : field(root, `${id}-pin`, pinField === "optional" ? texts.pinOptional : texts.pin, {
            type: "password",
            name: "giftCardPin",
            inputmode: "numeric",
            "aria-required": pinField === "required" ? "true" : "false",
          });
    root.append(this.#message);
    for (const input of this.#inputs()) {
      input.setAttribute("aria-describedby", this.#message.id);
      input.addEventListener("input", () => this.#changed());
      input.addEventListener("keydown", (event) => this.#keydown(event));
    }
    if (this.#pending > 0) root.setAttribute("aria-busy", "true"); // a redemption in flight
    host.appendChild(root);
    this.#host = host;
    this.#root = root;
    this.#emit("giftcard:ready", {});
    this.#call("onGiftCardReady");
    if (this.#hasValue) {
      this.#hasValue = false; // the new code field is empty
      this.#call("onValueChange", false);
    }
  }

  /** The balance of the card typed in; a second call while one is in flight for the same
   * input shares its request, so Enter and the checkout's own call cost one lookup. */
  balance() {
    let input;
    try {
      input = this.#read();
    } catch (error) {
      this.#report(error);
      return Promise.reject(error);
    }
    const key = JSON.stringify(input);
    if (this.#balancing && this.#balancing.key === key) {
      return this.#balancing.promise;
    }
    const promise = this.#checkBalance(input).finally(() => {
      if (this.#balancing && this.#balancing.promise === promise) {
        this.#balancing = null;
      }
    });
    this.#balancing = { key, promise };
    return promise;
  }

  /** Redeems at most `amount` (the cart's amount to pay when none is given). A call while a
   * redemption is in flight joins it: a double click makes one redemption. */
  submit(options) {
    if (!this.#submitting) {
      this.#submitting = this.#redeem((options || {}).amount).finally(() => {
        this.#submitting = null;
      });
    }
    return this.#submitting;
  }

  getState() {
    return { code: this.#code ? normalised(this.#code.value) : undefined };
  }

  /** Only the latest check speaks: an answer that comes after a newer check, or after the
   * shopper changed the input, still resolves its promise but shows and announces nothing. */
  async #checkBalance(input) {
    const turn = ++this.#turn;
    const missing = this.#missing(input);
    if (missing) {
      return this.#showBalance(outcome("NotFound", missing, this.#context.texts.errors[missing]));
    }
    const body = input.pin ? input : { code: input.code };
    let result;
    this.#busy(true);
    try {
      const answer = await call(this.#context, "POST", "/balance", body);
      const state = answer.data && answer.data.status && answer.data.status.state;
      if (STATES.includes(state)) {
        result = balanceFrom(answer.data);
      } else {
        const error = errorFrom(answer, this.#context.texts);
        this.#report(error);
        result = outcome("GenericError", error.code, error.message);
      }
    } catch (failure) {
      const error = networkError(failure, this.#context.texts);
      this.#report(error);
      result = outcome("GenericError", error.code, error.message);
    } finally {
      this.#busy(false);
    }
    return turn === this.#turn ? this.#showBalance(result) : result;
  }

  async #redeem(amount) {
    this.#turn += 1; // a balance answer still on its way must not speak over the redemption
    this.#emit("giftcard:submit", { amount });
    this.#call("onGiftCardSubmit");
    const texts = this.#context.texts;
    let input;
    try {
      input = this.#read();
    } catch (error) {
      this.#report(error);
      return;
    }
    const missing = this.#missing(input);
    if (missing) {
      this.#invalid(missing, undefined, true);
      this.#report(new EnablerError(missing, texts.errors[missing]));
      return;
    }
    let redeemAmount = this.#context.amountToPay;
    if (amount !== undefined && amount !== null) {
      // An amount that cannot be read is refused, never replaced by the whole amount to pay.
      redeemAmount = amountFrom(amount);
      if (!redeemAmount || redeemAmount.centAmount <= 0) {
        const wanted = "{centAmount: a positive integer of minor units, currencyCode}";
        this.#report(new EnablerError("InvalidAmount", `submit() needs amount as ${wanted}`));
        return;
      }
    }
    if (!redeemAmount) {
      this.#report(new EnablerError("AmountRequired", "submit() needs an amount to redeem"));
      return;
    }
    const { centAmount, currencyCode } = redeemAmount;
    const body = {
      code: input.code,
      ...(input.pin ? { pin: input.pin } : {}),
      redeemAmount: { centAmount, currencyCode },
    };
    const fingerprint = JSON.stringify(body);
    if (!this.#submission || this.#submission.fingerprint !== fingerprint || this.#submission.final) {
      this.#submission = { fingerprint, key: newKey(), final: false };
    }
    const submission = this.#submission;
    let settle;
    this.#busy(true);
    try {
      const answer = await call(this.#context, "POST", "/redeem", body, {
        "Idempotency-Key": submission.key,
      });
      if (answer.ok && answer.data && typeof answer.data.result === "string") {
        settle = () => this.#completed(answer.data, redeemAmount, submission);
      } else {
        // A refusal is final: the same key would replay it. An unknown outcome (5xx, a key
        // still in flight, a budget spent before the kept answer could be replayed) keeps
        // the key, so a retry cannot redeem twice and gets the first answer.
        const status = answer.response.status;
        submission.final = status >= 400 && status < 500 && status !== 409 && status !== 429;
        const error = errorFrom(answer, texts);
        settle = () => this.#refused(error);
      }
    } catch (failure) {
      const error = networkError(failure, texts);
      settle = () => this.#refused(error);
    } finally {
      this.#busy(false);
    }
    settle(); // once the form is no longer busy, so assistive technology announces it
  }

  #refused(error) {
    this.#invalid(error.code, error, true);
    this.#report(error);
  }

  #completed(data, redeemAmount, submission) {
    const texts = this.#context.texts;
    const isSuccess = data.result === "Success";
    const result = { isSuccess };
    if (typeof data.paymentReference === "string" && data.paymentReference) {
      result.paymentReference = data.paymentReference;
    }
    if (isSuccess) {
      const taken = amountFrom(data.redeemedAmount) || redeemAmount; // less when less was needed
      this.#show(fill(texts.paid, { amount: money(taken, this.#context.locale) }), "success");
    } else {
      submission.final = true;
      // Why, when the card's state says it (no balance left, expired); else "not charged".
      const first = Array.isArray(data.errors) ? data.errors[0] : undefined;
      const told = first && REFUSAL_STATES.includes(first.code) ? first.code : undefined;
      if (told) this.#invalid(told, first, true);
      else this.#show(texts.errors.Failure, "error");
    }
    this.#emit("giftcard:complete", result);
    invoke(this.#context.onComplete, [result], (failure) =>
      this.#report(callbackFailed("onComplete", failure)),
    );
  }

  #showBalance(result) {
    const texts = this.#context.texts;
    const state = result.status.state;
    if (state === "Valid" && result.amount) {
      const amount = money(result.amount, this.#context.locale);
      this.#show(fill(texts.balance, { amount }), "success");
    } else {
      const first = (result.status.errors || [])[0];
      this.#invalid(first && Object.hasOwn(texts.errors, first.code) ? first.code : state, first);
    }
    this.#emit("giftcard:balance", result);
    return result;
  }

  #read() {
    if (!this.#code) {
      throw new EnablerError("NotMounted", "mount() the component before using it");
    }
    const input = { code: normalised(this.#code.value) };
    if (this.#pin) {
      input.pin = this.#pin.value.trim();
    }
    return input;
  }

  #missing(input) {
    if (!input.code) return "CodeRequired";
    if (this.#pin && !input.pin && this.#context.pinField === "required") return "PinRequired";
    return null;
  }

  #inputs() {
    return this.#pin ? [this.#code, this.#pin] : [this.#code];
  }

  #changed() {
    this.#turn += 1; // an answer still on its way is about the input as it was
    const values = this.#inputs().map((input) => input.value);
    for (const input of this.#inputs()) {
      input.removeAttribute("aria-invalid");
    }
    this.#show("", ""); // what it said (or was about to say again) was about the input as it was
    this.#call("onChange", values.some((value) => value !== ""));
    const hasValue = normalised(values[0]) !== "";
    if (hasValue !== this.#hasValue) {
      this.#hasValue = hasValue;
      this.#call("onValueChange", hasValue);
    }
  }

  #keydown(event) {
    if (event.key !== "Enter" || event.isComposing) return;
    event.preventDefault(); // never submits a form the merchant wrapped around the fields
    this.balance().catch(() => {}); // balance() reports its own failures
    this.#call("onEnter");
  }

  /** Shows why the card was refused, in the shopper's language, and marks the field at
   * fault when the input is what was wrong (and moves the focus there, with ``focus``: the
   * shopper pressed the page's pay button). */
  #invalid(code, error, focus) {
    const errors = this.#context.texts.errors;
    let text = Object.hasOwn(errors, code) ? errors[code] : errors.GenericError;
    if (error && error.message && (code === "TooManyRequests" || !Object.hasOwn(errors, code))) {
      text = error.message;
    }
    if (code === "NotFound" && this.#pin) text = errors.NotFoundWithPin;
    this.#show(text, "error");
    if (FIELD_ERRORS.includes(code)) {
      const input = code === "PinRequired" ? this.#pin : this.#code;
      if (input) input.setAttribute("aria-invalid", "true");
      // "The number or PIN": either may be wrong, so a PIN typed in is marked as well.
      if (code === "NotFound" && this.#pin && this.#pin.value) {
        this.#pin.setAttribute("aria-invalid", "true");
      }
      if (input && focus) input.focus();
    }
  }

  #show(text, kind) {
    const message = this.#message;
    if (!message) return;
    const said = ++this.#said; // a repeat still waiting to be said is dropped by anything newer
    if (kind) message.dataset.kind = kind;
    else delete message.dataset.kind;
    if (text && message.textContent === text) {
      // The same words again (a second try, refused alike): a live region whose text does
      // not change is not read again, so it is emptied and then said anew.
      message.textContent = "";
      setTimeout(() => {
        if (this.#said === said) message.textContent = text;
      }, REPEAT_DELAY_MS);
      return;
    }
    message.textContent = text;
  }

  #busy(on) {
    this.#pending += on ? 1 : -1;
    if (!this.#root) return;
    if (this.#pending > 0) this.#root.setAttribute("aria-busy", "true");
    else this.#root.removeAttribute("aria-busy");
  }

  #emit(name, detail) {
    if (this.#host) {
      this.#host.dispatchEvent(new CustomEvent(name, { detail, bubbles: true }));
    }
  }

  #call(name, ...args) {
    invoke(this.#options[name], args, (failure) => this.#report(callbackFailed(name, failure)));
  }

  #report(error) {
    report(this.#context, this.#host, error);
  }
}

async function setUp(options) {
  if (typeof options.processorUrl !== "string" || !options.processorUrl) {
    throw new EnablerError("InvalidOptions", "processorUrl is required");
  }
  if (typeof options.sessionId !== "string" || !options.sessionId) {
    throw new EnablerError("InvalidOptions", "sessionId is required");
  }
  const context = {
    base: options.processorUrl.replace(/\/+$/, ""),
    sessionId: options.sessionId,
    onComplete: options.onComplete,
    onError: options.onError,
    pinField: "none",
    amountToPay: null,
  };
  // Until the processor names the session's language, the page's own names it.
  const early = TEXTS[languageOf(usableLocale(options.locale || "en"))] || TEXTS.en;
  let answer;
  try {
    answer = await call(context, "GET", "/operations/config");
  } catch (failure) {
    throw networkError(failure, early);
  }
  // A processor without the configuration route (404) gets the template's form: code only.
  if (answer.ok && answer.data) {
    const config = answer.data;
    // "optional": cards with and without a PIN are in use, the shopper leaves it empty for
    // a card without one; "required": every card has one.
    context.pinField =
      config.pinRequired === true ? "required" : config.pin === "optional" ? "optional" : "none";
    context.amountToPay = amountFrom(config.amountToPay);
    context.configLocale = typeof config.locale === "string" ? config.locale : undefined;
  } else if (answer.response.status !== 404) {
    throw errorFrom(answer, early);
  }
  // A language without texts falls back to English as a whole, amounts included.
  const locale = usableLocale(options.locale || context.configLocale || "en");
  const language = languageOf(locale);
  context.locale = Object.hasOwn(TEXTS, language) ? locale : "en";
  context.language = Object.hasOwn(TEXTS, language) ? language : "en";
  context.texts = TEXTS[context.language];
  return context;
}

/** How long a request may go unanswered. A browser never gives up on a stalled connection by
 * itself: the form would stay busy, every later submit() would join the stalled one, and the
 * shopper would be told nothing. A redemption given up on keeps its key, so trying again
 * replays it (or waits for it) rather than paying twice. */
const TIMEOUT_MS = 30000;

/** The element a selector names; none for a selector the browser cannot parse, which it
 * reports with a SyntaxError of its own, not the EnablerError the page was promised. */
function findTarget(selector) {
  try {
    return document.querySelector(selector);
  } catch {
    return null;
  }
}

async function call(context, method, path, body, headers) {
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), TIMEOUT_MS);
  const init = {
    method,
    headers: { Accept: "application/json", "X-Session-Id": context.sessionId, ...(headers || {}) },
    credentials: "omit", // the session id is the only credential a page ever sends
    cache: "no-store",
    signal: abort.signal,
  };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  try {
    const response = await fetch(context.base + path, init);
    let data = null;
    try {
      data = await response.json();
    } catch {
      data = null;
    }
    return { ok: response.ok, response, data };
  } finally {
    clearTimeout(timer);
  }
}

function errorFrom(answer, texts) {
  const status = answer.response.status;
  const data = answer.data && typeof answer.data === "object" ? answer.data : {};
  const errors = Array.isArray(data.errors) ? data.errors : undefined;
  if (status === 429) {
    const seconds = retryAfter(answer.response.headers.get("Retry-After"));
    const message =
      seconds === undefined
        ? texts.errors.TooManyRequestsLater
        : seconds === 1
          ? texts.errors.TooManyRequestsOne
          : fill(texts.errors.TooManyRequests, { seconds });
    return new EnablerError("TooManyRequests", message, { statusCode: status, errors, retryAfter: seconds });
  }
  const given = (errors && errors[0] && errors[0].code) || "GenericError";
  const code = Object.hasOwn(ALIASES, given) ? ALIASES[given] : given;
  const message = Object.hasOwn(texts.errors, code) ? texts.errors[code] : texts.errors.GenericError;
  return new EnablerError(code, message, { statusCode: status, errors });
}

/** Seconds to wait, from ``Retry-After`` as seconds or as an HTTP date; none when absent. */
function retryAfter(header) {
  const text = (header || "").trim();
  const seconds = /^\d+$/.test(text) ? Number(text) : Math.ceil((Date.parse(text) - Date.now()) / 1000);
  return Number.isFinite(seconds) && seconds > 0 ? seconds : undefined;
}

function networkError(failure, texts) {
  if (failure instanceof EnablerError) return failure;
  const error = new EnablerError("NetworkError", texts.errors.GenericError);
  error.cause = failure;
  return error;
}

/** A callback of the page's that threw or rejected, as onError's one kind of argument: an
 * EnablerError whose `cause` is what was thrown (anything at all, a string included). */
function callbackFailed(name, failure) {
  const said = failure instanceof Error ? failure.message : String(failure);
  const error = new EnablerError("CallbackFailed", `${name} failed: ${said}`);
  error.cause = failure;
  return error;
}

function report(context, host, error) {
  if (host) {
    host.dispatchEvent(new CustomEvent("giftcard:error", { detail: error, bubbles: true }));
  }
  invoke(context.onError, [error], (failure) => console.error("gift card onError failed", failure));
}

/** Calls an optional callback; a missing one is skipped, and one that throws or rejects is
 * reported instead of breaking the component. */
function invoke(callback, args, onFailure) {
  if (typeof callback !== "function") return;
  try {
    const result = callback(...args);
    if (result && typeof result.then === "function") {
      result.then(undefined, onFailure);
    }
  } catch (error) {
    onFailure(error);
  }
}

function balanceFrom(data) {
  const result = { status: { state: data.status.state } };
  if (Array.isArray(data.status.errors)) {
    result.status.errors = data.status.errors;
  }
  const amount = amountFrom(data.amount);
  if (amount) {
    result.amount = { centAmount: amount.centAmount, currency: amount.currencyCode, currencyCode: amount.currencyCode };
    if (amount.fractionDigits !== undefined) result.amount.fractionDigits = amount.fractionDigits;
  }
  return result;
}

function outcome(state, code, message) {
  return { status: { state, errors: [{ code, message }] } };
}

/** The seed spells an amount's currency `currency`, the template `currencyCode`: both work. */
function amountFrom(amount) {
  if (!amount || typeof amount !== "object") return null;
  const currencyCode = amount.currencyCode || amount.currency;
  if (!Number.isSafeInteger(amount.centAmount) || typeof currencyCode !== "string") return null;
  const found = { centAmount: amount.centAmount, currencyCode };
  if (Number.isInteger(amount.fractionDigits)) found.fractionDigits = amount.fractionDigits;
  return found;
}

/** An amount in the shopper's format, built from a decimal string (Intl formats strings
 * exactly), with the currency's own number of minor digits. */
function money(amount, locale) {
  const currency = amount.currencyCode || amount.currency;
  try {
    const digits = Number.isInteger(amount.fractionDigits)
      ? amount.fractionDigits
      : new Intl.NumberFormat("en", { style: "currency", currency }).resolvedOptions()
          .maximumFractionDigits;
    const options = { style: "currency", currency, minimumFractionDigits: digits, maximumFractionDigits: digits };
    return new Intl.NumberFormat(locale, options).format(decimal(amount.centAmount, digits));
  } catch {
    const digits = Number.isInteger(amount.fractionDigits) ? amount.fractionDigits : 2;
    return `${decimal(amount.centAmount, digits)} ${currency}`;
  }
}

function decimal(minor, digits) {
  const text = String(Math.abs(minor)).padStart(digits + 1, "0");
  const whole = digits ? text.slice(0, -digits) : text;
  return (minor < 0 ? "-" : "") + whole + (digits ? `.${text.slice(-digits)}` : "");
}

function languageOf(locale) {
  return locale.split("-")[0].toLowerCase();
}

function usableLocale(locale) {
  try {
    return Intl.getCanonicalLocales(String(locale).replace("_", "-"))[0] || "en";
  } catch {
    return "en";
  }
}

function fill(text, values) {
  return text.replace(/\{(\w+)\}/g, (_, name) => String(values[name]));
}

function normalised(code) {
  return code.replace(/\s+/g, "");
}

/** A random UUID, also on plain-http pages where crypto.randomUUID() is missing. */
function newKey() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[6] = (bytes[6] & 0x0f) | 0x40;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

function element(tag, attributes, text) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    node.setAttribute(name, value);
  }
  if (text) node.textContent = text;
  return node;
}

function field(root, id, label, attributes) {
  const wrapper = element("div", { class: "tender-gc__field" });
  wrapper.append(element("label", { class: "tender-gc__label", for: id }, label));
  const input = element("input", { ...attributes, id, class: "tender-gc__input", autocomplete: "off" });
  wrapper.append(input);
  root.append(wrapper);
  return input;
}

/** One shared stylesheet per document; a constructed sheet needs no 'unsafe-inline' style
 * source in the merchant's Content-Security-Policy. */
const styled = new WeakSet();

function installStyles(doc) {
  if (styled.has(doc)) return;
  styled.add(doc);
  const view = doc.defaultView;
  if (view && "adoptedStyleSheets" in doc && typeof view.CSSStyleSheet === "function") {
    const sheet = new view.CSSStyleSheet();
    sheet.replaceSync(STYLES);
    doc.adoptedStyleSheets = [...doc.adoptedStyleSheets, sheet];
    return;
  }
  const style = doc.createElement("style");
  style.textContent = STYLES;
  doc.head.append(style);
}

export { Enabler, EnablerError };
export default Enabler;
