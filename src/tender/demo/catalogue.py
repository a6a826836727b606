"""What the demo shop sells. Prices live here, on the server: the page names products and
quantities only, so a shopper cannot set a price by editing the page."""

from __future__ import annotations

from dataclasses import dataclass

CURRENCY = "EUR"
COUNTRY = "DE"
TAX_RATE = "19.00"
MAX_QUANTITY = 10


@dataclass(frozen=True, slots=True)
class Product:
    sku: str
    names: dict[str, str]
    unit_price: int
    """Gross, in cents."""
    colour: str

    def name(self, locale: str) -> str:
        return self.names.get(locale, self.names["en"])


PRODUCTS = (
    Product(
        "TEA-SENCHA",
        {"en": "Sencha green tea, 100 g", "de": "Sencha Grüntee, 100 g"},
        1290,
        "#7a9a3a",
    ),
    Product(
        "TEA-ASSAM",
        {"en": "Assam black tea, 250 g", "de": "Assam Schwarztee, 250 g"},
        1650,
        "#8a4b2a",
    ),
    Product(
        "POT-CAST", {"en": "Cast iron teapot", "de": "Teekanne aus Gusseisen"}, 4900, "#3c4a55"
    ),
    Product("CUP-SET", {"en": "Two porcelain cups", "de": "Zwei Porzellantassen"}, 2400, "#c9b8a0"),
)
BY_SKU = {p.sku: p for p in PRODUCTS}
