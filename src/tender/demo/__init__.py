"""The demo storefront: a shop page and the small backend a merchant would run beside it.

It is a client of tender and nothing more: the backend talks to tender's HTTP API with an API
client's credentials, exactly as a merchant's server does, and imports nothing of tender. The
page gets a browser session from that backend and uses the seeds' browser calls (Glue's
``/checkout-data`` and ``/checkout``, the gift card enabler's ``/balance`` and ``/redeem``).
"""
