"""The commercetools gift card connector's processor, in the wire format of the public
connector template.

Browser side (``processor``): the calls the connector's enabler makes with ``X-Session-Id``
(``POST /balance``, ``POST /redeem``, ``GET /operations/config``), answering ``BalanceType``
and ``{result, paymentReference, redemptionId}``; the money work is
``tender.services.redemption``'s, and ``wire`` holds the template's documents and names.
Merchant side (``operations``): ``/operations/status`` and ``/operations/payment-intents``.
"""

from tender.api.compat.commercetools.processor import router

__all__ = ["router"]
