"""The merchant's test page: plain HTML on its own origin that loads the enabler from tender
and uses it by its documented API alone. Query parameters choose the locale, the callbacks and
the amount; everything the enabler reports lands in ``window.calls`` for the test to read."""

from __future__ import annotations

import html
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

CHECKOUT_SCRIPT = """
window.calls = [];
function plain(value) {
  if (value instanceof Error) {
    return { name: value.name, code: value.code ?? null, message: value.message,
             statusCode: value.statusCode ?? null, retryAfter: value.retryAfter ?? null };
  }
  return value === undefined ? null : JSON.parse(JSON.stringify(value));
}
function record(name, detail) { window.calls.push({ name, detail: plain(detail) }); }

window.startCheckout = async function (Enabler) {
  const params = new URLSearchParams(location.search);
  const mode = params.get("callbacks") || "all";
  const options = { processorUrl: params.get("processorUrl"), sessionId: params.get("sessionId") };
  if (params.get("locale")) options.locale = params.get("locale");
  if (mode !== "none") {
    options.onComplete = (result) => record("onComplete", result);
    options.onError = (error) => record("onError", error);
  }
  const host = document.getElementById("giftcard");
  for (const name of ["ready", "balance", "submit", "complete", "error"]) {
    host.addEventListener("giftcard:" + name, (event) => record("giftcard:" + name, event.detail));
  }
  const callback = (name) => (value) => {
    record(name, value);
    if (mode === "throwing") throw new Error(name + " failed on purpose");
    if (mode === "rejecting") return Promise.reject(new Error(name + " rejected on purpose"));
    if (mode === "rejecting-text") return Promise.reject(name + " rejected with a string");
    return Promise.resolve();
  };
  const builder = await new Enabler(options).createGiftCardBuilder();
  const component = mode === "none" ? builder.build() : builder.build({
    onGiftCardReady: callback("onGiftCardReady"),
    onGiftCardSubmit: callback("onGiftCardSubmit"),
    onChange: callback("onChange"),
    onValueChange: callback("onValueChange"),
    onEnter: callback("onEnter"),
  });
  component.mount("#giftcard");
  window.component = component;
  document.getElementById("balance").addEventListener("click", async () => {
    record("balance()", await component.balance());
  });
  document.getElementById("pay").addEventListener("click", () => {
    const cents = params.get("amount");
    const currency = params.get("currency") || "EUR";
    const amount = { centAmount: Number(cents), currencyCode: currency };
    component.submit(cents ? { amount } : {});
  });
  document.body.dataset.ready = "true";
};
"""

PAGE = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Shop: pay with a gift card</title>
<style>
  body { font: 16px/1.5 system-ui, sans-serif; max-width: 28rem; margin: 2rem auto; }
  #giftcard { margin: 1rem 0; }
</style>
<script>{checkout}</script>
</head>
<body>
<main>
<a id="before" href="#top">Back to the cart</a>
<h1>Payment</h1>
<div id="giftcard"></div>
<button id="balance" type="button">Check balance</button>
<button id="pay" type="button">Pay</button>
</main>
{loader}
</body>
</html>
"""

LOADERS = {
    "esm": """<script type="module">
import {{ Enabler }} from "{base}/enabler/connector-enabler.es.js";
window.startCheckout(Enabler).catch((error) => record("startFailed", error));
</script>""",
    "umd": """<script src="{base}/enabler/connector-enabler.umd.js"></script>
<script>
window.startCheckout(window.TenderEnabler.Enabler)
  .catch((error) => record("startFailed", error));
</script>""",
}


def page(kind: str, enabler_base: str) -> bytes:
    loader = LOADERS[kind].format(base=html.escape(enabler_base))
    return PAGE.replace("{checkout}", CHECKOUT_SCRIPT).replace("{loader}", loader).encode()


@contextmanager
def shop_server(enabler_base: str) -> Iterator[str]:
    """Serves ``/esm.html`` and ``/umd.html`` on a free port; yields the shop's origin."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            kind = urlsplit(self.path).path.strip("/").removesuffix(".html")
            if kind not in LOADERS:
                self.send_error(404)
                return
            body = page(kind, enabler_base)
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
