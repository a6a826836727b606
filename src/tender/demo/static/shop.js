// The demo shop's page. It holds one credential, the browser session its backend opened for
// the cart, and uses the seeds' browser calls with it: Glue's /checkout-data and /checkout,
// and the gift card enabler (which calls the processor's /balance and /redeem).
const TEXT = {
  en: {
    demo: "demo shop", products: "Our teas", basket: "Your basket", subtotal: "Subtotal",
    checkout: "Checkout", checkoutTitle: "Checkout", address: "Delivery address",
    salutation: "Title", ms: "Ms", mr: "Mr", dr: "Dr", email: "Email", firstName: "First name",
    lastName: "Last name", street: "Street", number: "No.", zip: "Postcode", city: "City",
    country: "Country", continue: "Continue", shipping: "Shipping", payment: "Payment",
    checkBalance: "Check balance", apply: "Apply gift card", another: "Use another gift card",
    grandTotal: "Total", covered: "Gift cards", remaining: "To pay by invoice",
    place: "Place order", thanks: "Thank you for your order", reference: "Order reference",
    again: "Shop again", add: "Add", remove: "Remove", empty: "Your basket is empty.",
    footer: "A demo of tender: nothing is shipped, no money moves but test gift cards.",
    card: "Gift card", invoice: "Invoice", failed: "Something went wrong. Please try again.",
    notApplied: "The gift card could not be applied.", covers: (amount) => `covers ${amount}`,
    shippingFixed: "Shipping is fixed once a gift card has paid part of the order.",
    title: "Teahouse — tender demo shop", language: "Language", germany: "Germany",
  },
  de: {
    demo: "Demo-Shop", products: "Unsere Tees", basket: "Ihr Warenkorb", subtotal: "Zwischensumme",
    checkout: "Zur Kasse", checkoutTitle: "Kasse", address: "Lieferadresse",
    salutation: "Anrede", ms: "Frau", mr: "Herr", dr: "Dr.", email: "E-Mail", firstName: "Vorname",
    lastName: "Nachname", street: "Straße", number: "Nr.", zip: "PLZ", city: "Ort",
    country: "Land", continue: "Weiter", shipping: "Versand", payment: "Zahlung",
    checkBalance: "Guthaben prüfen", apply: "Geschenkkarte einlösen", another: "Weitere Geschenkkarte verwenden",
    grandTotal: "Gesamt", covered: "Geschenkkarten", remaining: "Per Rechnung zu zahlen",
    place: "Bestellung aufgeben", thanks: "Vielen Dank für Ihre Bestellung", reference: "Bestellnummer",
    again: "Weiter einkaufen", add: "Hinzufügen", remove: "Entfernen", empty: "Ihr Warenkorb ist leer.",
    footer: "Eine Demo von tender: Es wird nichts versandt, es bewegt sich nur Testguthaben.",
    card: "Geschenkkarte", invoice: "Rechnung", failed: "Etwas ist schiefgegangen. Bitte erneut versuchen.",
    notApplied: "Die Geschenkkarte konnte nicht eingelöst werden.", covers: (amount) => `deckt ${amount}`,
    shippingFixed: "Der Versand steht fest, sobald eine Geschenkkarte einen Teil der Bestellung bezahlt hat.",
    title: "Teahouse — tender Demo-Shop", language: "Sprache", germany: "Deutschland",
  },
};
const locale = new URLSearchParams(location.search).get("lang") === "de" ? "de" : "en";
const text = (key) => TEXT[locale][key] ?? TEXT.en[key];
const $ = (selector) => document.querySelector(selector);

/** Cents as the locale writes them, exactly: the digits go to Intl as a decimal string. */
function money(cents, currency) {
  const sign = cents < 0 ? "-" : "";
  const whole = Math.floor(Math.abs(cents) / 100);
  const frac = String(Math.abs(cents) % 100).padStart(2, "0");
  const tag = locale === "de" ? "de-DE" : "en-GB";
  return new Intl.NumberFormat(tag, { style: "currency", currency }).format(`${sign}${whole}.${frac}`);
}

const state = {
  products: [],
  basket: new Map(),
  session: null,
  shipment: null,
  component: null,
  appliedFrom: null, // what the cards covered before a card that paid, until the totals say more
  shippingFixed: false, // a card paid for this total: another shipping price would not match it
  focusAfterApply: false, // "Apply" had the keyboard's focus when the card paid
};

function translate() {
  document.documentElement.lang = locale;
  document.title = text("title");
  $("nav.langs").setAttribute("aria-label", text("language"));
  $("input[name=country]").value = text("germany");
  for (const node of document.querySelectorAll("[data-t]")) {
    const value = text(node.dataset.t);
    if (typeof value === "string") node.textContent = value;
  }
  for (const link of document.querySelectorAll("[data-lang]")) {
    if (link.dataset.lang === locale) link.setAttribute("aria-current", "true");
  }
  // Back to the shop in the language the shopper chose.
  for (const link of document.querySelectorAll("a[data-home]")) link.href = `/demo?lang=${locale}`;
}

async function call(path, { method = "POST", body, session = true } = {}) {
  const headers = { "Content-Type": "application/json", "Accept-Language": locale };
  if (session && state.session) headers["X-Session-Id"] = state.session.sessionId;
  const response = await fetch(path, { method, headers, body: body && JSON.stringify(body) });
  const answer = await response.json().catch(() => ({}));
  if (!response.ok) {
    const first = answer.errors?.[0];
    throw new Error(first?.detail ?? first?.message ?? answer.message ?? text("failed"));
  }
  return answer;
}

function problem(message) {
  $("#problem").textContent = message ?? "";
}

/** What went wrong, told once: an error the card form's own line already gave is not
 * repeated in the alert (a screen reader would read it twice). */
function report(error) {
  if (!error?.told) problem(error?.message);
}

function renderProducts() {
  const list = $("#products");
  list.replaceChildren(...state.products.map((product) => {
    const item = document.createElement("li");
    item.className = "product";
    item.innerHTML = `<span class="swatch" aria-hidden="true"></span><h2></h2><p class="price"></p>
      <button type="button" class="add"></button>`;
    item.querySelector(".swatch").style.background = product.colour;
    item.querySelector("h2").textContent = product.name;
    item.querySelector(".price").textContent = money(product.price.centAmount, product.price.currencyCode);
    const add = item.querySelector(".add");
    add.textContent = text("add");
    add.setAttribute("aria-label", `${text("add")}: ${product.name}`);
    add.dataset.sku = product.sku;
    add.addEventListener("click", () => changeQuantity(product.sku, 1));
    return item;
  }));
}

function changeQuantity(sku, delta) {
  const quantity = Math.min(10, (state.basket.get(sku) ?? 0) + delta);
  if (quantity > 0) state.basket.set(sku, quantity);
  else state.basket.delete(sku);
  renderBasket();
}

function renderBasket() {
  const lines = [...state.basket].map(([sku, quantity]) => {
    const product = state.products.find((p) => p.sku === sku);
    const item = document.createElement("li");
    item.innerHTML = `<span class="name"></span> <span class="qty"></span> <button type="button" class="remove"></button>`;
    item.querySelector(".name").textContent = product.name;
    item.querySelector(".qty").textContent = `× ${quantity}`;
    const remove = item.querySelector(".remove");
    remove.textContent = "−";
    remove.setAttribute("aria-label", `${text("remove")}: ${product.name}`);
    remove.addEventListener("click", () => changeQuantity(sku, -1));
    return { item, cents: product.price.centAmount * quantity };
  });
  $("#lines").replaceChildren(...lines.map((l) => l.item));
  if (!lines.length) $("#lines").innerHTML = `<li class="muted">${text("empty")}</li>`;
  $("#subtotal").textContent = money(lines.reduce((sum, l) => sum + l.cents, 0), "EUR");
  $("#to-checkout").disabled = !lines.length || state.session !== null;
}

async function startCheckout() {
  problem();
  const lines = [...state.basket].map(([sku, quantity]) => ({ sku, quantity }));
  state.session = await call("/demo/api/checkout", { body: { lines, locale }, session: false });
  for (const button of document.querySelectorAll("#products button, #lines button")) button.disabled = true;
  $("#to-checkout").disabled = true;
  $("#checkout").hidden = false;
  $("#address").querySelector("input[name=email]").focus();
}

function glueAttributes(extra = {}) {
  const form = new FormData($("#address"));
  const address = {
    salutation: form.get("salutation"), firstName: form.get("firstName"), lastName: form.get("lastName"),
    address1: form.get("street"), address2: form.get("number"), zipCode: form.get("zip"),
    city: form.get("city"), iso2Code: "DE",
  };
  const attributes = {
    idCart: state.session.cartId,
    customer: { email: form.get("email"), salutation: address.salutation, firstName: address.firstName, lastName: address.lastName },
    billingAddress: address,
    shippingAddress: address,
    ...extra,
  };
  if (state.shipment !== null) attributes.shipment = { idShipmentMethod: state.shipment };
  return attributes;
}

async function checkoutData() {
  const document_ = { data: { type: "checkout-data", attributes: glueAttributes() } };
  const answer = await call("/checkout-data", { body: document_ });
  return answer.data.attributes;
}

function renderMethods(methods) {
  const box = $("#methods");
  box.replaceChildren(...methods.map((m) => {
    const label = document.createElement("label");
    label.className = "method";
    label.innerHTML = `<input type="radio" name="shipment"> <span></span> <strong></strong>`;
    const input = label.querySelector("input");
    input.value = String(m.id);
    input.checked = m.id === state.shipment;
    input.disabled = state.shippingFixed;
    input.addEventListener("change", () => chooseShipment(m.id).catch(report));
    label.querySelector("span").textContent = `${m.name} (${m.carrierName})`;
    label.querySelector("strong").textContent = money(m.defaultGrossPrice, m.currencyIsoCode);
    return label;
  }));
  $("#shipping-fixed").hidden = !state.shippingFixed;
  $("#shipping").hidden = false;
}

function renderTotals(totals) {
  $("#grand").textContent = money(totals.grandTotal, totals.currencyIsoCode);
  $("#covered").textContent = money(totals.giftCardTotal, totals.currencyIsoCode);
  $("#remaining").textContent = money(totals.priceToPay, totals.currencyIsoCode);
  state.totals = totals;
  if (state.appliedFrom !== null) showApplied(totals);
}

async function submitAddress(event) {
  event.preventDefault();
  problem();
  if (!$("#address").reportValidity()) return;
  try {
    const attributes = await checkoutData();
    if (state.shipment === null && attributes.shipmentMethods.length) {
      await chooseShipment(attributes.shipmentMethods[0].id, attributes.shipmentMethods);
    } else {
      renderMethods(attributes.shipmentMethods);
      renderTotals(attributes.totals);
      // The card form could not start the first time: Continue is what the shopper presses again.
      if (state.shipment !== null && !state.component) await mountGiftCard();
    }
  } catch (error) {
    report(error);
  }
}

async function chooseShipment(id, methods) {
  state.shipment = id;
  const attributes = await checkoutData();
  renderMethods(methods ?? attributes.shipmentMethods);
  renderTotals(attributes.totals);
  $("#payment").hidden = false;
  if (!state.component) await mountGiftCard(); // again, if the first try failed
}

async function mountGiftCard() {
  const { Enabler } = await import("/enabler/connector-enabler.es.js");
  const enabler = new Enabler({
    processorUrl: state.session.processorUrl,
    sessionId: state.session.sessionId,
    locale,
    onComplete: (result) => redeemed(result),
    // The component tells the shopper what went wrong with a card itself; this line speaks
    // only when there is no component to do so (it could not start).
    onError: (error) => {
      $("#card-status").textContent = state.component ? "" : error?.message ?? text("notApplied");
    },
  });
  let builder;
  try {
    builder = await enabler.createGiftCardBuilder();
  } catch (error) {
    error.told = $("#card-status").textContent !== ""; // by onError, beside the card form
    throw error;
  }
  state.component = builder.build({});
  $("#giftcard").replaceChildren();
  state.component.mount("#giftcard");
  $("#card-status").textContent = ""; // it said why an earlier start failed
  $("#apply").disabled = false;
  $("#check").disabled = false;
}

async function checkBalance() {
  await state.component.balance(); // the card form shows and announces the balance, or why not
}

async function applyCard() {
  const totals = state.totals;
  const apply = $("#apply");
  const focused = document.activeElement === apply;
  apply.disabled = true; // which takes the focus from it
  state.paid = false;
  state.focusAfterApply = focused;
  try {
    await state.component.submit({ amount: { centAmount: totals.priceToPay, currency: totals.currencyIsoCode } });
  } finally {
    if (!state.paid) {
      apply.disabled = false; // refused: the shopper may correct and retry
      // Where the shopper was, unless they went elsewhere meanwhile: a keyboard user would
      // otherwise start again from the top of the page.
      if (focused && (document.activeElement === document.body || document.activeElement === null)) apply.focus();
    }
  }
}

async function redeemed(result) {
  state.paid = Boolean(result?.isSuccess);
  if (!result?.isSuccess) {
    $("#apply").disabled = false; // the card form says why
    return;
  }
  state.appliedFrom = state.totals.giftCardTotal;
  try {
    renderTotals((await checkoutData()).totals);
  } catch (error) {
    // The card paid; only the totals are behind. Said here (the enabler keeps a callback's
    // failure to itself), and Continue, which reads them again, shows what the card covers.
    problem(error.message);
  }
}

/** What the card covers, beside the totals; the card form has said what it paid. */
function showApplied(totals) {
  const amount = money(totals.giftCardTotal - state.appliedFrom, totals.currencyIsoCode);
  state.appliedFrom = null;
  const item = document.createElement("li");
  item.textContent = `${text("card")} ${text("covers")(amount)}`;
  $("#applied").append(item);
  $("#another").hidden = totals.priceToPay === 0;
  $("#check").disabled = true;
  if (!state.shippingFixed) {
    state.shippingFixed = true;
    for (const input of document.querySelectorAll("#methods input")) input.disabled = true;
    $("#shipping-fixed").hidden = false;
  }
  // "Apply" is disabled for good: a keyboard user goes on from the next step, not the top.
  const lost = document.activeElement === document.body || document.activeElement === null;
  if (state.focusAfterApply && lost) ($("#another").hidden ? $("#place") : $("#another")).focus();
  state.focusAfterApply = false;
}

async function anotherCard() {
  $("#another").hidden = true;
  $("#card-status").textContent = "";
  $("#giftcard").replaceChildren(); // the used card's form goes at once, not when the next is ready
  state.component = null;
  try {
    await mountGiftCard();
  } catch (error) {
    $("#another").hidden = false; // the one way to try again, where the focus was
    $("#another").focus();
    throw error;
  }
  // The button pressed is gone: without this the focus falls to the page, and Tab from there
  // skips the new form and lands on "Place order".
  $("#giftcard input").focus();
}

async function placeOrder() {
  problem();
  $("#place").disabled = true;
  const methods = state.totals.priceToPay > 0 ? ["invoice"] : ["giftcard"];
  const payments = methods.map((name) => ({ paymentMethodName: name, paymentProviderName: "tender" }));
  try {
    const document_ = { data: { type: "checkout", attributes: glueAttributes({ payments }) } };
    const answer = await call("/checkout?include=orders", { body: document_ });
    showConfirmation(answer);
  } catch (error) {
    problem(error.message);
    $("#place").disabled = false;
  }
}

function showConfirmation(answer) {
  $("#reference").textContent = answer.data.attributes.orderReference;
  const order = (answer.included ?? []).find((r) => r.type === "orders");
  const payments = order?.attributes?.payments ?? [];
  const currency = order?.attributes?.currencyIsoCode ?? "EUR";
  $("#paid").replaceChildren(...payments.map((p) => {
    const item = document.createElement("li");
    const name = p.paymentMethod === "giftcard" ? text("card") : text("invoice");
    item.textContent = `${name}: ${money(p.amount, currency)}`;
    return item;
  }));
  $("#checkout").hidden = true;
  $("#basket").hidden = true;
  $("#shop").hidden = true;
  $("#done").hidden = false;
  $("#done-title").focus();
}

async function main() {
  translate();
  state.products = await call(`/demo/api/products?locale=${locale}`, { method: "GET", session: false });
  renderProducts();
  renderBasket();
  $("#to-checkout").addEventListener("click", () => startCheckout().catch(report));
  $("#address").addEventListener("submit", submitAddress);
  $("#check").addEventListener("click", () => checkBalance().catch(report));
  $("#apply").addEventListener("click", () => applyCard().catch(report));
  $("#another").addEventListener("click", () => anotherCard().catch(report));
  $("#place").addEventListener("click", placeOrder);
}

main().catch((error) => problem(error.message));
