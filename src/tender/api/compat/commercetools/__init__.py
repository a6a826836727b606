"""The commercetools gift card connector's processor, browser side: the calls the connector's
enabler makes with ``X-Session-Id`` (``POST /balance``, ``POST /redeem``,
``GET /operations/config``), in the wire format of the public connector template
(``BalanceType``, ``{result, paymentReference, redemptionId}``). The money work is
``tender.services.redemption``'s; ``wire`` holds the template's documents and their names.
"""

from tender.api.compat.commercetools.processor import router

__all__ = ["router"]
